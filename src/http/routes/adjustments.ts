/**
 * Manual point adjustments by the org's staff: `POST /v1/members/{id}/adjustments` (admin). A
 * signed number of points through the ledger's adjustments account; a debit never takes more
 * than the available balance (422 `insufficient_points`, final for its `external_id`). Each
 * posted adjustment writes an audit entry in the transaction that marks it posted.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createRoute, z } from "@hono/zod-openapi";
import { adjustMemberPoints, membershipLimits } from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf } from "../env.ts";
import { redemptionPointsMax } from "../limits.ts";
import {
  externalId,
  IdempotencyHeaders,
  type uuidParam,
  WalletSchema,
  walletDto,
  wireInteger,
} from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonBody, jsonContent, writeGuards } from "./common.ts";

const AdjustmentBody = z
  .strictObject({
    external_id: externalId.openapi({
      description: "Your id of this adjustment: a retry with it returns the same adjustment.",
    }),
    points: z
      .number()
      .int()
      .min(-redemptionPointsMax)
      .max(redemptionPointsMax)
      .refine((points) => points !== 0, "a non-zero number of points")
      .openapi({ description: "Positive credits the member, negative debits.", example: 250 }),
    reason: z.string().min(1).max(membershipLimits.adjustmentReasonLengthMax).openapi({
      description: "Why, kept on the document, in the event and in the audit log.",
    }),
  })
  .openapi("CreateAdjustment");

const AdjustmentSchema = z
  .object({
    id: z.string(),
    member_id: z.string(),
    external_id: z.string(),
    points: z.number().int().openapi({ description: "Signed: negative for a debit." }),
    reason: z.string(),
    balance: WalletSchema.openapi({ description: "The member's points right after it." }),
  })
  .openapi("Adjustment");

const adjustmentExample: z.output<typeof AdjustmentSchema> = {
  id: "01936f2e-7b40-7c3a-9d1e-5a6b7c8d9e0f",
  member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
  external_id: "support-ticket-4711",
  points: 250,
  reason: "goodwill: late delivery",
  balance: { available: 1_250, pending: 0, lifetime_earned: 1_250, lifetime_redeemed: 0 },
};

export function registerAdjustmentRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/adjustments",
      operationId: "adjustMemberPoints",
      tags: ["members"],
      summary: "Credit or debit a member's points by hand",
      description:
        "A correction through the ledger's adjustments account: positive `points` credit the " +
        "member, negative ones debit. A debit beyond the available balance is 422 " +
        "`insufficient_points` and changes nothing (final for its `external_id`). 201 when " +
        "recorded, 200 with the same adjustment when `external_id` was recorded before with the " +
        "same body; another body under it is 409. Written to the audit log. Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        params: Params,
        body: jsonBody(AdjustmentBody, {
          external_id: "support-ticket-4711",
          points: 250,
          reason: "goodwill: late delivery",
        }),
      },
      responses: {
        201: jsonContent(z.object({ adjustment: AdjustmentSchema }), "The adjustment.", {
          adjustment: adjustmentExample,
        }),
        200: jsonContent(z.object({ adjustment: AdjustmentSchema }), "Recorded before.", {
          adjustment: adjustmentExample,
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const result = await adjustMemberPoints(deps.domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
        direction: body.points > 0 ? "credit" : "debit",
        points: BigInt(Math.abs(body.points)),
        reason: body.reason,
        externalId: body.external_id,
        actor: actorOf(c),
      });
      const signed = result.direction === "credit" ? result.points : -result.points;
      const adjustment = {
        id: result.adjustmentId,
        member_id: id,
        external_id: body.external_id,
        points: wireInteger(signed),
        reason: body.reason,
        balance: walletDto(result.balance),
      };
      return result.replayed ? c.json({ adjustment }, 200) : c.json({ adjustment }, 201);
    },
  );
}
