/**
 * Resolving a redemption hold: fulfil (the held points are spent) or cancel (they are given
 * back). Mounted at /v1/redemptions; holds are created under the member, see members.ts.
 * Roles: admin, pos. Both are idempotent: resolving twice the same way returns the redemption.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createRoute, z } from "@hono/zod-openapi";
import {
  cancelRedemption,
  fulfilRedemption,
  listMemberRedemptions,
  memberRedemptionsPageMax,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { principalOf } from "../env.ts";
import { requireRole } from "../middleware.ts";
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
  reward_id: null,
  quantity: null,
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

const redemptionStatuses = ["pending", "fulfilled", "cancelled", "expired", "failed"] as const;

/** The query of a redemption list: status, page size, cursor. */
export const RedemptionListQuery = z.object({
  status: z.enum(redemptionStatuses).optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(memberRedemptionsPageMax)
    .optional()
    .openapi({ description: "Redemptions per page, default 50." }),
  cursor: z.uuid().optional().openapi({ description: "`next_cursor` of the previous page." }),
});

/** A page of redemptions, newest first. */
export async function redemptionPage(
  deps: RouteDeps,
  input: { orgId: string; memberId: string; query: z.output<typeof RedemptionListQuery> },
) {
  const page = await listMemberRedemptions(deps.domain, {
    orgId: input.orgId,
    memberId: input.memberId,
    limit: input.query.limit ?? 50,
    ...(input.query.status === undefined ? {} : { status: input.query.status }),
    ...(input.query.cursor === undefined ? {} : { before: input.query.cursor }),
  });
  const last = page.redemptions.at(-1);
  return {
    redemptions: page.redemptions.map(redemptionDto),
    next_cursor: page.more && last !== undefined ? last.id : null,
  };
}

export const RedemptionPageSchema = z.object({
  redemptions: z.array(RedemptionSchema),
  next_cursor: z.string().nullable(),
});

/** `GET /v1/members/{id}/redemptions`, on the members sub-app. */
export function registerMemberRedemptionList(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/redemptions",
      operationId: "listMemberRedemptions",
      tags,
      summary: "A member's redemptions",
      description:
        "Newest first, optionally of one `status`; `next_cursor` pages on. Unknown and another " +
        "org's member are 404. Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: {
        params: Params,
        query: RedemptionListQuery,
      },
      responses: {
        200: jsonContent(RedemptionPageSchema, "A page of the member's redemptions.", {
          redemptions: [{ ...redemptionExample, status: "fulfilled" }],
          next_cursor: null,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const query = c.req.valid("query");
      const page = await redemptionPage(deps, { orgId: principalOf(c).orgId, memberId: id, query });
      return c.json(page, 200);
    },
  );
}
