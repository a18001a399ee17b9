/**
 * A member's tier: `GET /v1/members/{id}/tier` (the tier, its source, any override, the
 * qualifying value now, the next tier and any scheduled downgrade) and
 * `GET /v1/members/{id}/tier/explain` (the value with every ledger transfer it was computed
 * from), roles admin, pos, finance (as balances and history); and manual overrides,
 * `PUT /v1/members/{id}/tier` and `DELETE /v1/members/{id}/tier/override`, admin only, audited.
 * Registered on the members sub-app, so they share its authentication and rate limit. Another
 * org's member or tier is 404, exactly like an unknown one.
 */
import assert from "node:assert/strict";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  clearTierOverride,
  explainMemberTier,
  getMemberTier,
  type MemberTierStatus,
  membershipLimits,
  setTierOverride,
  type Tier,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import { idLengthMax } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { instant, type uuidParam, wireInteger, wireLedgerTime } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonBody, jsonContent, writeGuards } from "./common.ts";

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

export const MemberTierSchema = z
  .object({
    tier: TierSchema,
    since: instant,
    source: z.enum(["earned", "override", "default"]),
    override: z
      .object({
        reason: z.string(),
        expires_at: instant.nullable().openapi({ description: "Null: held until cleared." }),
        set_at: instant,
      })
      .nullable()
      .openapi({
        description:
          "The manual override holding the member in `tier`, null without one. An override " +
          "past its `expires_at` shows as ended (null, the earned tier) at once; the member's " +
          "row follows within about a minute.",
      }),
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

export function memberTierDto(status: MemberTierStatus): z.infer<typeof MemberTierSchema> {
  return {
    tier: tierDto(status.tier),
    since: status.since.toISOString(),
    source: status.source,
    override:
      status.override === null
        ? null
        : {
            reason: status.override.reason,
            expires_at: status.override.expiresAt?.toISOString() ?? null,
            set_at: status.override.setAt.toISOString(),
          },
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

const goldExample: z.infer<typeof TierSchema> = {
  id: "5b7d9f1a-2c4e-4a6b-8d0f-1a3c5e7a9b2d",
  name: "Gold",
  rank: 2,
  multiplier: "1.50",
};

const qualifyingExample: z.infer<typeof MemberTierSchema>["qualifying"] = {
  metric: "points",
  value: 1_840,
  window_start: "2025-12-07T06:00:00.000Z",
  window_end: "2026-12-07T06:00:00.000Z",
};

export const memberTierExample: z.infer<typeof MemberTierSchema> = {
  tier: tierExample,
  since: "2026-03-02T09:15:00.000Z",
  source: "earned",
  override: null,
  qualifying: qualifyingExample,
  next: { tier: goldExample, threshold: 5_000, missing: 3_160 },
  downgrade: null,
};

const TierOverrideBody = z
  .strictObject({
    tier_id: z.string().min(1).max(idLengthMax).openapi({
      description: "One of the org's tiers; another org's or an unknown tier is 404.",
      example: goldExample.id,
    }),
    reason: z.string().min(1).max(membershipLimits.tierOverrideReasonLengthMax).openapi({
      description: "Why, kept on the member, in the tier history and in the audit log.",
      example: "Compensation for the March outage",
    }),
    expires_at: z.iso
      .datetime({ offset: true })
      .nullable()
      .optional()
      .openapi({
        description:
          "When the override ends by itself (the member returns to the earned tier within " +
          "about a minute); in the future, at most ten years ahead. Absent or null: held " +
          "until cleared.",
        example: "2026-06-30T23:59:59.000Z",
      }),
  })
  .openapi("SetTierOverride");

const overriddenExample: z.infer<typeof MemberTierSchema> = {
  tier: goldExample,
  since: "2026-03-02T09:15:00.000Z",
  source: "override",
  override: {
    reason: "Compensation for the March outage",
    expires_at: "2026-06-30T23:59:59.000Z",
    set_at: "2026-03-02T09:15:00.000Z",
  },
  qualifying: qualifyingExample,
  next: null,
  downgrade: null,
};

/** A 400 naming `expires_at`, shaped like the schema's own refusals. */
function expiresAtRefused(message: string): ApiError {
  return new ApiError(400, "validation_failed", "invalid request body", {
    target: "body",
    issues: [{ path: "expires_at", message }],
  });
}

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
        "member's ledger history over the org's rolling window, any manual override, what the " +
        "next tier still needs (null at the top or under an override), and any scheduled " +
        "downgrade. Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: Params },
      responses: {
        200: jsonContent(MemberTierSchema, "The member's tier.", memberTierExample),
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

  app.openapi(
    createRoute({
      method: "put",
      path: "/{id}/tier",
      operationId: "setMemberTierOverride",
      tags,
      summary: "Hold a member in a tier by hand",
      description:
        "Moves the member to `tier_id` at once (a `tier.changed` event with reason `override` " +
        "when the tier changes; the next purchase earns its multiplier) and holds them there, " +
        "whatever their qualifying value, until the override is cleared or `expires_at` " +
        "passes. Replaces any override in place. A member placed in an immutable tier is 409 " +
        "`invalid_state`; a closed member 422 `member_inactive`. Written to the tier history " +
        "and the audit log. Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: Params,
        body: jsonBody(TierOverrideBody, {
          tier_id: goldExample.id,
          reason: "Compensation for the March outage",
          expires_at: "2026-06-30T23:59:59.000Z",
        }),
      },
      responses: {
        200: jsonContent(
          MemberTierSchema,
          "The member's tier, under the override.",
          overriddenExample,
        ),
        ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const orgId = principalOf(c).orgId;
      const expiresAt =
        body.expires_at === undefined || body.expires_at === null
          ? null
          : new Date(body.expires_at);
      if (expiresAt !== null) {
        // The domain checks it again; here it is refused as the field it is, by the same clock.
        const now = (deps.app.clock?.() ?? new Date()).getTime();
        if (expiresAt.getTime() <= now) {
          throw expiresAtRefused("must be in the future");
        }
        if (expiresAt.getTime() > now + membershipLimits.tierOverrideDaysMax * 86_400_000) {
          throw expiresAtRefused("must be at most ten years ahead");
        }
      }
      await setTierOverride(domain, {
        orgId,
        memberId: id,
        tierId: body.tier_id,
        reason: body.reason,
        expiresAt,
        actor: actorOf(c),
      });
      const status = await getMemberTier(domain, { orgId, memberId: id });
      return c.json(memberTierDto(status), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}/tier/override",
      operationId: "clearMemberTierOverride",
      tags,
      summary: "End a member's tier override",
      description:
        "Returns the member at once to the tier their ledger history earns, up or down, " +
        "without the grace period a downgrade gets (the override's tier was never earned), " +
        "with a `tier.changed` event (reason `override_cleared`) when the tier changes. " +
        "Idempotent: without an override in place it changes nothing and answers the same " +
        "200. Written to the tier history and the audit log. Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: Params },
      responses: {
        200: jsonContent(MemberTierSchema, "The member's tier, earned.", {
          tier: tierExample,
          since: "2026-03-02T09:15:00.000Z",
          source: "earned",
          override: null,
          qualifying: qualifyingExample,
          next: { tier: goldExample, threshold: 5_000, missing: 3_160 },
          downgrade: null,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const orgId = principalOf(c).orgId;
      await clearTierOverride(domain, {
        orgId,
        memberId: id,
        actor: actorOf(c),
        cause: "cleared",
      });
      const status = await getMemberTier(domain, { orgId, memberId: id });
      return c.json(memberTierDto(status), 200);
    },
  );
}
