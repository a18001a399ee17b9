/**
 * A member's automatic redemption, on the members sub-app: `PUT`, `GET` and `DELETE
 * /v1/members/{id}/auto-redemption`. Admin keys only; the writes are audited
 * (`auto_redemption.set`, `auto_redemption.cleared`). The redemptions it places are ordinary
 * ones: listed with the member's redemptions, announced by `redemption.created`.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  type AutoRedemption,
  clearAutoRedemption,
  getAutoRedemption,
  setAutoRedemption,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf } from "../env.ts";
import { redemptionPointsMax } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { instant, type uuidParam, wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonBody, jsonContent, writeGuards } from "./common.ts";

const tags = ["redemptions"];

const AutoRedemptionBody = z
  .strictObject({
    reward_id: z.uuid().openapi({ description: "The org's reward to redeem at each crossing." }),
    threshold_points: z
      .number()
      .int()
      .min(1)
      .max(redemptionPointsMax)
      .openapi({
        description:
          "When a posting takes the member's available points from below this to at least it, " +
          "the reward is redeemed once.",
      }),
  })
  .openapi("SetAutoRedemption");

const AutoRedemptionSchema = z
  .object({
    member_id: z.string(),
    reward_id: z.string(),
    threshold_points: z.number().int(),
    created_at: instant,
    updated_at: instant,
  })
  .openapi("AutoRedemption");

const example = {
  member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
  reward_id: "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b",
  threshold_points: 1_000,
  created_at: "2026-01-31T12:00:00.000Z",
  updated_at: "2026-01-31T12:00:00.000Z",
} satisfies z.output<typeof AutoRedemptionSchema>;

function dto(config: AutoRedemption): z.output<typeof AutoRedemptionSchema> {
  return {
    member_id: config.memberId,
    reward_id: config.rewardId,
    threshold_points: wireInteger(config.thresholdPoints),
    created_at: config.createdAt.toISOString(),
    updated_at: config.updatedAt.toISOString(),
  };
}

export function registerAutoRedemptionRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  const { domain } = deps;
  app.openapi(
    createRoute({
      method: "put",
      path: "/{id}/auto-redemption",
      operationId: "setAutoRedemption",
      tags,
      summary: "Redeem a reward automatically at a points threshold",
      description:
        "Sets (or replaces) the member's automatic redemption: after a posting that takes " +
        "their available points from below `threshold_points` to at least it, a worker redeems " +
        "the reward once for that crossing (the redemption's `external_id` is " +
        "`auto:<reward_id>:<ledger timestamp of the crossing>`), with the usual " +
        "`redemption.created` event. Counted from now: a member already above the threshold is " +
        "redeemed for at their next crossing. A crossing the reward refuses (stock, tier, " +
        "window, limit, points) is skipped. Unknown or another org's member or reward: 404. " +
        "Audited. Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: Params,
        body: jsonBody(AutoRedemptionBody, {
          reward_id: example.reward_id,
          threshold_points: 1_000,
        }),
      },
      responses: {
        200: jsonContent(z.object({ auto_redemption: AutoRedemptionSchema }), "The setting.", {
          auto_redemption: example,
        }),
        ...errorResponses(400, 401, 403, 404, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const config = await setAutoRedemption(domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
        rewardId: body.reward_id,
        thresholdPoints: BigInt(body.threshold_points),
        actor: actorOf(c),
      });
      return c.json({ auto_redemption: dto(config) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/auto-redemption",
      operationId: "getAutoRedemption",
      tags,
      summary: "A member's automatic redemption",
      description: "404 when the member has none (or is unknown, or another org's). Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: Params },
      responses: {
        200: jsonContent(z.object({ auto_redemption: AutoRedemptionSchema }), "The setting.", {
          auto_redemption: example,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const config = await getAutoRedemption(domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
      });
      return c.json({ auto_redemption: dto(config) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}/auto-redemption",
      operationId: "clearAutoRedemption",
      tags,
      summary: "Stop a member's automatic redemption",
      description:
        "Redemptions it placed stay as they are. 404 when the member has none. Audited. " +
        "Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: { params: Params },
      responses: {
        204: { description: "Cleared." },
        ...errorResponses(400, 401, 403, 404, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await clearAutoRedemption(domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
        actor: actorOf(c),
      });
      return c.body(null, 204);
    },
  );
}
