/**
 * A member's tier: `GET /v1/members/{id}/tier` (the tier, its source, the qualifying value now,
 * the next tier and any scheduled downgrade) and `GET /v1/members/{id}/tier/explain` (the value
 * with every ledger transfer it was computed from). Registered on the members sub-app, so they
 * share its authentication and rate limit. Roles: admin, pos, finance (as balances and history).
 * Another org's member is 404, exactly like an unknown one.
 */
import assert from "node:assert/strict";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  explainMemberTier,
  getMemberTier,
  type MemberTierStatus,
  type Tier,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { principalOf } from "../env.ts";
import { requireRole } from "../middleware.ts";
import { instant, type uuidParam, wireInteger, wireLedgerTime } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonContent } from "./common.ts";

const tags = ["members"];
const memberIdExample = "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57";

/** Basis points as a decimal string with at least two decimals: 12500 → "1.25", 10000 → "1.00". */
export function multiplierText(bps: number): string {
  assert.ok(Number.isSafeInteger(bps) && bps > 0, "a multiplier is a positive integer of bps");
  const whole = Math.floor(bps / 10_000);
  const fraction = String(bps % 10_000)
    .padStart(4, "0")
    .replace(/0{1,2}$/, "");
  return `${whole}.${fraction}`;
}

const TierSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    rank: z.number().int(),
    multiplier: z.string().openapi({ description: "Earning multiplier, a decimal string." }),
  })
  .openapi("TierRef");

function tierDto(tier: Tier): z.infer<typeof TierSchema> {
  return {
    id: tier.id,
    name: tier.name,
    rank: tier.rank,
    multiplier: multiplierText(tier.multiplierBps),
  };
}

const metric = z.enum(["points", "spend"]).openapi({
  description: "What qualifies: purchase points net of refunds, or net spend in minor units.",
});

const MemberTierSchema = z
  .object({
    tier: TierSchema,
    since: instant,
    source: z.enum(["earned", "override", "default"]),
    qualifying: z.object({
      metric,
      value: z.number().int(),
      window_start: instant,
      window_end: instant,
    }),
    next: z
      .object({ tier: TierSchema, threshold: z.number().int(), missing: z.number().int() })
      .nullable(),
    downgrade: z.object({ to: TierSchema, at: instant }).nullable(),
  })
  .openapi("MemberTier");

function memberTierDto(status: MemberTierStatus): z.infer<typeof MemberTierSchema> {
  return {
    tier: tierDto(status.tier),
    since: status.since.toISOString(),
    source: status.source,
    qualifying: {
      metric: status.qualifying.metric,
      value: wireInteger(status.qualifying.value),
      window_start: status.qualifying.windowStart.toISOString(),
      window_end: status.qualifying.windowEnd.toISOString(),
    },
    next:
      status.next === null
        ? null
        : {
            tier: tierDto(status.next.tier),
            threshold: wireInteger(status.next.threshold),
            missing: wireInteger(status.next.missing),
          },
    downgrade:
      status.downgrade === null
        ? null
        : { to: tierDto(status.downgrade.to), at: status.downgrade.at.toISOString() },
  };
}

const ExplainSchema = z
  .object({
    member_id: z.string(),
    metric,
    value: z.number().int(),
    window_start: instant,
    window_end: instant,
    transfers: z.array(
      z.object({
        transfer_id: z.string().openapi({ description: "The ledger transfer id, a decimal u128." }),
        timestamp: instant.openapi({ description: "When the ledger posted it." }),
        operation: z.string().openapi({ example: "purchase_earn" }),
        document_id: z.string().openapi({ description: "The purchase (also for a reversal)." }),
        document_time: instant.openapi({
          description: "The purchase's occurred_at: what the window is about.",
        }),
        amount_counted: z
          .number()
          .int()
          .openapi({ description: "Added to the value; negative for a reversal." }),
      }),
    ),
  })
  .openapi("MemberTierExplanation");

const tierExample: z.infer<typeof TierSchema> = {
  id: "1d3f5a7c-9e0b-4c2d-8f6a-0b2c4e6a8d1f",
  name: "Silver",
  rank: 1,
  multiplier: "1.25",
};

/** Registers the routes on the members sub-app, with its `{id}` path parameter schema. */
export function registerTierRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  const { domain } = deps;
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/tier",
      operationId: "getMemberTier",
      tags,
      summary: "A member's tier and progress",
      description:
        "The current tier and where it comes from, the qualifying value computed now from the " +
        "member's ledger history over the org's rolling window, what the next tier still needs " +
        "(null at the top or under an override), and any scheduled downgrade. Roles: admin, " +
        "pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: Params },
      responses: {
        200: jsonContent(MemberTierSchema, "The member's tier.", {
          tier: tierExample,
          since: "2026-03-02T09:15:00.000Z",
          source: "earned",
          qualifying: {
            metric: "points",
            value: 1_840,
            window_start: "2025-12-07T06:00:00.000Z",
            window_end: "2026-12-07T06:00:00.000Z",
          },
          next: {
            tier: {
              id: "5b7d9f1a-2c4e-4a6b-8d0f-1a3c5e7a9b2d",
              name: "Gold",
              rank: 2,
              multiplier: "1.50",
            },
            threshold: 5_000,
            missing: 3_160,
          },
          downgrade: null,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const status = await getMemberTier(domain, { orgId: principalOf(c).orgId, memberId: id });
      return c.json(memberTierDto(status), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/tier/explain",
      operationId: "explainMemberTier",
      tags,
      summary: "How a member's qualifying value was computed",
      description:
        "The qualifying value with every ledger transfer it was computed from (purchases and " +
        "refund reversals whose purchase falls in the window), oldest first, so the tier can be " +
        "reproduced from the ledger. Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: Params },
      responses: {
        200: jsonContent(ExplainSchema, "The value and its transfers.", {
          member_id: memberIdExample,
          metric: "points",
          value: 1_840,
          window_start: "2025-12-07T06:00:00.000Z",
          window_end: "2026-12-07T06:00:00.000Z",
          transfers: [
            {
              transfer_id: "227982526969767258155097572644982847612",
              timestamp: "2026-03-02T09:15:01.000Z",
              operation: "purchase_earn",
              document_id: "019cae4b-2d18-7a3c-9b1e-5f0d2c4a6e81",
              document_time: "2026-03-02T09:15:00.000Z",
              amount_counted: 2_000,
            },
            {
              transfer_id: "96740374753759705872856027253555387000",
              timestamp: "2026-03-05T17:40:12.000Z",
              operation: "refund_reversal",
              document_id: "019cae4b-2d18-7a3c-9b1e-5f0d2c4a6e81",
              document_time: "2026-03-02T09:15:00.000Z",
              amount_counted: -160,
            },
          ],
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const explained = await explainMemberTier(domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
      });
      return c.json(
        {
          member_id: id,
          metric: explained.metric,
          value: wireInteger(explained.value),
          window_start: explained.windowStart.toISOString(),
          window_end: explained.windowEnd.toISOString(),
          transfers: explained.transfers.map((transfer) => ({
            transfer_id: transfer.transferId.toString(10),
            timestamp: wireLedgerTime(transfer.timestamp),
            operation: transfer.operation,
            document_id: transfer.documentId,
            document_time: new Date(transfer.documentTimeMs).toISOString(),
            amount_counted: wireInteger(transfer.counted),
          })),
        },
        200,
      );
    },
  );
}
