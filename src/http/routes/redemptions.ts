/**
 * Resolving a redemption hold: fulfil (the held points are spent) or cancel (they are given
 * back). Mounted at /v1/redemptions; holds are created under the member, see members.ts.
 * Roles: admin, pos. Both are idempotent: resolving twice the same way returns the redemption.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { cancelRedemption, fulfilRedemption } from "../../membership/index.ts";
import { principalOf } from "../env.ts";
import { IdempotencyHeaders, RedemptionSchema, redemptionDto, uuidParam } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";

const tags = ["redemptions"];
const RedemptionParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The redemption id.",
    example: "6e8a0c2e-4f6b-4d8a-a0c2-e4f6b8d0a2c4",
  }),
});

const redemptionExample = {
  id: "6e8a0c2e-4f6b-4d8a-a0c2-e4f6b8d0a2c4",
  member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
  external_id: "store-7:till-3:redeem-0009",
  points: 100,
  expires_at: "2026-01-31T12:15:00.000Z",
  created_at: "2026-01-31T12:00:00.000Z",
  resolved_at: "2026-01-31T12:03:00.000Z",
} satisfies Omit<z.output<typeof RedemptionSchema>, "status">;

export function redemptionsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/fulfill",
      operationId: "fulfillRedemption",
      tags,
      summary: "Fulfil a redemption",
      description:
        "Spends the held points. A hold that expired, or a cancelled redemption, is 409 " +
        "`invalid_state`. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin", "pos"]),
      request: { headers: IdempotencyHeaders, params: RedemptionParams },
      responses: {
        200: jsonContent(z.object({ redemption: RedemptionSchema }), "The fulfilled redemption.", {
          redemption: { ...redemptionExample, status: "fulfilled" },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const redemption = await fulfilRedemption(domain, {
        orgId: principalOf(c).orgId,
        redemptionId: id,
      });
      return c.json({ redemption: redemptionDto(redemption) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/cancel",
      operationId: "cancelRedemption",
      tags,
      summary: "Cancel a redemption",
      description:
        "Releases the held points back to the member. A fulfilled or expired redemption is 409 " +
        "`invalid_state`. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin", "pos"]),
      request: { headers: IdempotencyHeaders, params: RedemptionParams },
      responses: {
        200: jsonContent(z.object({ redemption: RedemptionSchema }), "The cancelled redemption.", {
          redemption: { ...redemptionExample, status: "cancelled" },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const redemption = await cancelRedemption(domain, {
        orgId: principalOf(c).orgId,
        redemptionId: id,
      });
      return c.json({ redemption: redemptionDto(redemption) }, 200);
    },
  );

  return app;
}
