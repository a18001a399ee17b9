/**
 * Simulation: what an action would do, with nothing written. `POST /v1/simulate/purchase`
 * computes a purchase's points and stamps by the same steps as `POST /v1/transactions`;
 * `POST /v1/simulate/tiers` places every member in another ladder from their ledger history.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { earningRuleBodySchema, toEarningRule } from "../../membership/earning-rules/index.ts";
import {
  simulatedPeriodDaysMax,
  simulateRule,
} from "../../membership/earning-rules/simulate-rule.ts";
import { membershipLimits, simulatePurchase, simulateTiers } from "../../membership/index.ts";
import { loadOrgLedger } from "../../membership/intents/support.ts";
import { principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import { requireRole } from "../middleware.ts";
import { breakdownDto, EarningLineSchema, uuidParam, wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonBody, jsonContent, orgScopedApp } from "./common.ts";
import { asValidation, bpsOf, multiplierInput } from "./tier-config.ts";
import {
  PurchaseFields,
  purchaseItemsInput,
  refineItemsWithinAmount,
  refineOneMember,
} from "./transactions.ts";

const SimulatedPurchaseBody = PurchaseFields.omit({ external_id: true })
  .extend({
    currency: PurchaseFields.shape.currency
      .optional()
      .openapi({ description: "The org's currency when absent." }),
  })
  .superRefine(refineOneMember)
  .superRefine(refineItemsWithinAmount)
  .openapi("SimulatedPurchaseRequest", {
    description:
      "A purchase as `POST /v1/transactions` takes it, without `external_id` (nothing is " +
      "recorded); `currency` defaults to the org's.",
    oneOf: [{ required: ["member_id"] }, { required: ["member_external_ref"] }],
  });

const SimulatedPurchaseResult = z
  .object({
    member_id: z.string(),
    points_earned: z.number().int(),
    breakdown: z.array(EarningLineSchema).openapi({
      description:
        "Where the points come from, exactly as the real purchase would answer it now (rules, " +
        "campaigns and caps included; caps as they stand, nothing reserved).",
    }),
    stamps_earned: z.array(z.object({ program_id: z.string(), stamps: z.number().int() })),
  })
  .openapi("SimulatedPurchase");

const SimulatedRuleBody = z
  .strictObject({
    rule: earningRuleBodySchema,
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
  })
  .openapi("SimulatedRuleRequest", {
    description: "A rule as `POST /v1/earning-rules` takes it, and a past period [from, to).",
  });

const SimulatedRuleResult = z
  .object({
    purchases_matched: z.number().int(),
    members: z.number().int(),
    points: z.number().int(),
  })
  .openapi("SimulatedRule");
const SimulatedTiersBody = z
  .strictObject({
    tier_set_id: uuidParam.openapi({ description: "The set; unknown or another org's: 404." }),
    tiers: z
      .array(
        z.strictObject({
          name: z.string().min(1).max(membershipLimits.tierNameLengthMax),
          rank: z.number().int().min(0).max(255),
          threshold: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
          multiplier: multiplierInput,
        }),
      )
      .min(1)
      .max(membershipLimits.tiersPerOrgMax),
  })
  .openapi("SimulatedTiersRequest");

const SimulatedTiersResult = z
  .object({
    members_total: z.number().int(),
    tiers: z.array(z.object({ name: z.string(), members: z.number().int() })),
    moves: z.object({
      up: z.number().int(),
      down: z.number().int(),
      same: z.number().int(),
    }),
  })
  .openapi("SimulatedTiers");

export function simulateRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "post",
      path: "/tiers",
      operationId: "simulateTiers",
      tags: ["simulation"],
      summary: "Where members would stand with another ladder",
      description:
        "Every member that is not closed, placed in the given ladder from their ledger " +
        "history with the set's metric and window (as the tiers worker computes it; members " +
        "without a purchase land in the base tier), and compared by rank with the tier they " +
        "hold in that set now. The ladder is checked as tier writes check it (400 " +
        "`validation_failed` at `tiers.<index>.<field>`). Reads every member's history, in " +
        "pages: its cost grows with the org. Nothing is written. Role: admin.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      request: {
        body: jsonBody(SimulatedTiersBody, {
          tier_set_id: "4e6a8c0e-2b4d-4f6a-8c0e-2b4d6f8a0c1e",
          tiers: [
            { name: "Bronze", rank: 0, threshold: 0, multiplier: "1" },
            { name: "Silver", rank: 1, threshold: 800, multiplier: "1.25" },
            { name: "Gold", rank: 2, threshold: 4_000, multiplier: "1.5" },
          ],
        }),
      },
      responses: {
        200: jsonContent(SimulatedTiersResult, "The members per simulated tier.", {
          members_total: 1_250,
          tiers: [
            { name: "Bronze", members: 900 },
            { name: "Silver", members: 280 },
            { name: "Gold", members: 70 },
          ],
          moves: { up: 95, down: 0, same: 1_155 },
        }),
        ...errorResponses(400, 401, 403, 404, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const simulated = await asValidation(
        "body",
        simulateTiers(deps.domain, {
          orgId: principalOf(c).orgId,
          tierSetId: body.tier_set_id,
          tiers: body.tiers.map((tier) => ({
            name: tier.name,
            rank: tier.rank,
            threshold: BigInt(tier.threshold),
            multiplierBps: bpsOf(tier.multiplier),
          })),
        }),
      );
      return c.json(
        {
          members_total: simulated.membersTotal,
          tiers: simulated.tiers,
          moves: simulated.moves,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/purchase",
      operationId: "simulatePurchase",
      tags: ["simulation"],
      summary: "What a purchase would earn now",
      description:
        "The points and stamps this purchase would earn if recorded now, for the member as they " +
        "stand (their tier, the org's settings and stamp programs), computed by the same steps " +
        "as `POST /v1/transactions`: the same checks and the same errors (404 unknown member, " +
        "422 `member_inactive`). Nothing is written. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos"),
      request: {
        body: jsonBody(SimulatedPurchaseBody, {
          member_external_ref: "card-000123",
          amount: 1999,
          items: [{ sku: "LATTE-L", category: "coffee", quantity: 2, amount: 900 }],
        }),
      },
      responses: {
        200: jsonContent(SimulatedPurchaseResult, "What it would earn.", {
          member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
          points_earned: 24,
          breakdown: [
            { kind: "base", points: 19 },
            { kind: "tier", points: 5 },
          ],
          stamps_earned: [{ program_id: "3f1d2c4b-7a9e-4f60-9b8d-2e5c1a7f0d34", stamps: 2 }],
        }),
        ...errorResponses(400, 401, 403, 404, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const simulated = await simulatePurchase(deps.domain, {
        orgId: principalOf(c).orgId,
        memberId: body.member_id,
        memberExternalRef: body.member_external_ref,
        amountMinor: BigInt(body.amount),
        ...(body.currency === undefined ? {} : { currency: body.currency }),
        occurredAt: body.occurred_at === undefined ? undefined : new Date(body.occurred_at),
        locationRef: body.location,
        items: purchaseItemsInput(body.items),
      });
      return c.json(
        {
          member_id: simulated.memberId,
          points_earned: wireInteger(simulated.points),
          breakdown: breakdownDto(simulated.breakdown),
          stamps_earned: simulated.stamps.map((grant) => ({
            program_id: grant.programId,
            stamps: wireInteger(grant.stamps),
          })),
        },
        200,
      );
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/rules",
      operationId: "simulateRule",
      tags: ["simulation"],
      summary: "What a rule would have added over a past period",
      description:
        "Every purchase recorded with `occurred_at` in [`from`, `to`) is earned again with this " +
        "rule alone (the org's base rate, rounding and timezone, the member's tier as it is " +
        "now), and the rule's own entries are added up — its own caps counted per member and " +
        "period in time order; the org's overall caps and other rules are left out. The rule " +
        "is written as for `POST /v1/earning-rules` and is not stored. At most " +
        `${simulatedPeriodDaysMax} days. Nothing is written. Roles: admin.`,
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      request: {
        body: jsonBody(SimulatedRuleBody, {
          rule: {
            name: "Coffee 3x",
            kind: "category_multiplier",
            categories: ["coffee"],
            multiplier: "3",
          },
          from: "2026-10-01T00:00:00Z",
          to: "2026-11-01T00:00:00Z",
        }),
      },
      responses: {
        200: jsonContent(SimulatedRuleResult, "What the rule would have added.", {
          purchases_matched: 812,
          members: 301,
          points: 9744,
        }),
        ...errorResponses(400, 401, 403, 404, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const { orgId } = principalOf(c);
      const context = await loadOrgLedger(deps.domain, orgId);
      const converted = toEarningRule(body.rule, context.org.timezone);
      if (!converted.ok) {
        throw new ApiError(400, "validation_failed", "invalid request body", {
          target: "body",
          issues: converted.issues.map((issue) => ({ ...issue, path: `rule.${issue.path}` })),
        });
      }
      const simulated = await simulateRule(deps.domain, {
        orgId,
        rule: { ...converted.rule, id: "00000000-0000-4000-8000-000000000000", version: 1 },
        from: new Date(body.from),
        to: new Date(body.to),
      });
      return c.json(
        {
          purchases_matched: simulated.purchasesMatched,
          members: simulated.members,
          points: wireInteger(simulated.points),
        },
        200,
      );
    },
  );

  return app;
}
