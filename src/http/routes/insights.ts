/**
 * Spending insights: `GET /v1/members/{id}/insights?period=month|quarter|year` (admin, pos) and
 * `GET /v1/me/insights` (member token, registered by me.ts with this file's schema and DTO).
 * Computed on read by `getMemberInsights` (membership/insights/member-insights.ts), which says
 * how the numbers are made and what bounds the cost.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  getMemberInsights,
  type InsightPeriod,
  insightPeriods,
  type MemberInsights,
  membershipLimits,
  type PeriodInsight,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { principalOf } from "../env.ts";
import { requireRole } from "../middleware.ts";
import { instant, type uuidParam, wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonContent } from "./common.ts";

export const InsightsQuery = z.strictObject({
  period: z
    .enum(insightPeriods)
    .optional()
    .openapi({
      description:
        "The calendar period, in the org's time zone: the current one and the one before are " +
        "answered. `month` by default.",
      example: "month",
    }),
});

const decimal = z.string().regex(/^\d+$/);

const PeriodSchema = z.object({
  label: z.string().openapi({ description: '"2026-12", "2026-Q4" or "2026".' }),
  start: instant.openapi({ description: "The period's first instant." }),
  end: instant.openapi({ description: "The next period's first instant (exclusive)." }),
  categories: z.array(
    z.object({
      category: z
        .string()
        .nullable()
        .openapi({
          description:
            "null: uncategorised (lines without a category or an amount, and what the lines " +
            "leave of the purchase amount).",
        }),
      spend_minor: decimal.openapi({
        description: "Spend in minor units less refunds, a decimal string.",
      }),
      points: decimal.openapi({
        description: "Points earned here less what refunds took back, a decimal string.",
      }),
      purchases: z.number().int().openapi({
        description: "Purchases with a share in this category (a fully refunded one too).",
      }),
    }),
  ),
  totals: z.object({
    spend_minor: decimal,
    points: decimal,
    purchases: z.number().int(),
  }),
});

export const InsightsSchema = z
  .object({
    member_id: z.string(),
    period: z.enum(insightPeriods),
    timezone: z.string().openapi({ description: "The org's time zone the periods are read in." }),
    current: PeriodSchema,
    previous: PeriodSchema,
    truncated: z.boolean().openapi({
      description: `More than ${membershipLimits.insightPurchasesMax} purchases in the two periods: only the newest were counted.`,
    }),
    close_to: z
      .array(
        z.object({
          rule_id: z.string().nullable().openapi({ description: "null: the org's overall cap." }),
          name: z.string(),
          period: z.enum(["day", "week", "month"]),
          cap: z.number().int(),
          left: z.number().int(),
        }),
      )
      .openapi({
        description:
          "Caps of the current day, week and month with half or less left, and not used up " +
          "(0 < left ≤ cap / 2), read from the ledger.",
      }),
    campaigns: z
      .array(z.object({ rule_id: z.string(), name: z.string(), ends_at: instant }))
      .openapi({
        description:
          "Active campaigns running now whose tiers include the member's (or any tier); their " +
          "other conditions (days, locations, categories, minimum spend) are judged per purchase.",
      }),
  })
  .openapi("MemberInsights");

type InsightsDto = z.output<typeof InsightsSchema>;

function periodDto(insight: PeriodInsight): InsightsDto["current"] {
  return {
    label: insight.label,
    start: insight.start.toISOString(),
    end: insight.end.toISOString(),
    categories: insight.categories.map((entry) => ({
      category: entry.category,
      spend_minor: entry.spendMinor.toString(),
      points: entry.points.toString(),
      purchases: entry.purchases,
    })),
    totals: {
      spend_minor: insight.totals.spendMinor.toString(),
      points: insight.totals.points.toString(),
      purchases: insight.totals.purchases,
    },
  };
}

export function insightsDto(insights: MemberInsights): InsightsDto {
  return {
    member_id: insights.memberId,
    period: insights.period,
    timezone: insights.timezone,
    current: periodDto(insights.current),
    previous: periodDto(insights.previous),
    truncated: insights.truncated,
    close_to: insights.closeTo.map((entry) => ({
      rule_id: entry.ruleId,
      name: entry.name,
      period: entry.period,
      cap: wireInteger(entry.cap),
      left: wireInteger(entry.left),
    })),
    campaigns: insights.campaigns.map((entry) => ({
      rule_id: entry.ruleId,
      name: entry.name,
      ends_at: entry.endsAt.toISOString(),
    })),
  };
}

export const insightsExample: InsightsDto = {
  member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
  period: "month",
  timezone: "Europe/Paris",
  current: {
    label: "2026-12",
    start: "2026-11-30T23:00:00.000Z",
    end: "2026-12-31T23:00:00.000Z",
    categories: [
      { category: "coffee", spend_minor: "1800", points: "54", purchases: 4 },
      { category: null, spend_minor: "700", points: "7", purchases: 2 },
    ],
    totals: { spend_minor: "2500", points: "61", purchases: 4 },
  },
  previous: {
    label: "2026-11",
    start: "2026-10-31T23:00:00.000Z",
    end: "2026-11-30T23:00:00.000Z",
    categories: [{ category: "coffee", spend_minor: "900", points: "27", purchases: 2 }],
    totals: { spend_minor: "900", points: "27", purchases: 2 },
  },
  truncated: false,
  close_to: [
    {
      rule_id: "5b7d9f1a-2c4e-4a6c-8e0a-2c4e6a8c0e1f",
      name: "Triple points on coffee",
      period: "month",
      cap: 100,
      left: 40,
    },
  ],
  campaigns: [
    {
      rule_id: "9f1a3c5e-7a9c-4e1a-8c3e-5a7c9e1a3c5e",
      name: "Winter weekends",
      ends_at: "2027-01-10T22:59:59.000Z",
    },
  ],
};

export const insightsDescription =
  "Spend, points and purchase counts per category for the current calendar `period` (month, " +
  "quarter or year, in the org's time zone) and the one before; `close_to`: the caps of today, " +
  "this week and this month with half or less left (e.g. 40 points left of this month's coffee " +
  "cap); `campaigns`: the campaigns running now for the member's tier. A purchase counts in the " +
  "period of its `occurred_at`, with its refunds subtracted there pro rata; its points are split " +
  "over its categories in proportion to the line amounts (integer shares, the remainder to the " +
  `largest). At most ${membershipLimits.insightPurchasesMax} purchases are read, the newest ` +
  "first; `truncated` says when some were left out. Computed on read.";

export function periodOf(query: z.output<typeof InsightsQuery>): InsightPeriod {
  return query.period ?? "month";
}

/** `GET /{id}/insights` on the members sub-app with its `{id}` parameter schema. */
export function registerMemberInsightRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/insights",
      operationId: "getMemberInsights",
      tags: ["members"],
      summary: "A member's spending insights",
      description: `${insightsDescription} Roles: admin, pos.`,
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos"),
      request: { params: Params, query: InsightsQuery },
      responses: {
        200: jsonContent(InsightsSchema, "The member's insights.", insightsExample),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const insights = await getMemberInsights(deps.domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
        period: periodOf(c.req.valid("query")),
      });
      return c.json(insightsDto(insights), 200);
    },
  );
}
