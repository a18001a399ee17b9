/**
 * A member's referrals: GET /v1/members/{id}/referrals (admin, pos). Who the member referred,
 * each with its status and the points it credited, and who referred the member. Another org's
 * member is 404, like an unknown one.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { listMemberReferrals, type Referral } from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { principalOf } from "../env.ts";
import { requireRole } from "../middleware.ts";
import { instant, type uuidParam, wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonContent } from "./common.ts";

const tags = ["members"];

const ReferralSchema = z
  .object({
    id: z.string(),
    referrer_member_id: z.string(),
    referred_member_id: z.string(),
    status: z.enum(["pending", "rewarded", "limit_reached"]).openapi({
      description:
        "`pending` until the referred member's first qualifying purchase; then `rewarded` (both " +
        "got their bonus) or `limit_reached` (the referrer had reached the org's monthly " +
        "maximum: only the referred member got theirs).",
    }),
    referrer_points: z.number().int(),
    referred_points: z.number().int(),
    posted: z.boolean().openapi({
      description: "The bonus is on the ledger (false while pending or just decided).",
    }),
    purchase_id: z.string().nullable(),
    decided_at: instant.nullable(),
    created_at: instant,
  })
  .openapi("Referral");

const MemberReferralsSchema = z
  .object({
    referrals: z.array(ReferralSchema).openapi({
      description: "The members this member referred, newest first (at most 500).",
    }),
    referred_by: ReferralSchema.nullable().openapi({
      description: "The referral that brought this member in; null when no one referred them.",
    }),
  })
  .openapi("MemberReferrals");

function referralDto(referral: Referral): z.infer<typeof ReferralSchema> {
  return {
    id: referral.id,
    referrer_member_id: referral.referrerMemberId,
    referred_member_id: referral.referredMemberId,
    status: referral.status,
    referrer_points: wireInteger(referral.referrerPoints),
    referred_points: wireInteger(referral.referredPoints),
    posted: referral.postingStatus === "posted",
    purchase_id: referral.purchaseId,
    decided_at: referral.decidedAt?.toISOString() ?? null,
    created_at: referral.createdAt.toISOString(),
  };
}

const referralExample = {
  id: "01935c4e-8a10-7c3e-9f21-4b6d8e0a2c4f",
  referrer_member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
  referred_member_id: "5a7c9e1b-3d5f-4a6c-8e0b-2d4f6a8c0e1b",
  status: "rewarded",
  referrer_points: 500,
  referred_points: 250,
  posted: true,
  purchase_id: "0b6f3a52-5d1e-4c8e-9a43-7f2d8c1e6b90",
  decided_at: "2026-02-03T10:15:00.000Z",
  created_at: "2026-02-01T09:00:00.000Z",
} satisfies z.output<typeof ReferralSchema>;

export function registerMemberReferralRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/referrals",
      operationId: "listMemberReferrals",
      tags,
      summary: "A member's referrals",
      description:
        "The members this member referred (with each referral's status and the points it " +
        "credited) and the referral that brought this member in. Unknown and another org's " +
        "member are 404. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos"),
      request: { params: Params },
      responses: {
        200: jsonContent(MemberReferralsSchema, "The member's referrals.", {
          referrals: [referralExample],
          referred_by: {
            ...referralExample,
            id: "01934a2b-6c8d-7e0f-8a1b-2c3d4e5f6a7b",
            referrer_member_id: "3e5a7c9e-1b3d-4f5a-8c7e-9a1b3c5d7e9f",
            referred_member_id: referralExample.referrer_member_id,
            created_at: "2026-01-10T08:00:00.000Z",
            decided_at: "2026-01-12T18:30:00.000Z",
            purchase_id: "2c4e6a8c-0e2a-4c6e-8a0c-2e4a6c8e0a2c",
          },
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const found = await listMemberReferrals(deps.domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
      });
      return c.json(
        {
          referrals: found.referred.map(referralDto),
          referred_by: found.referredBy === null ? null : referralDto(found.referredBy),
        },
        200,
      );
    },
  );
}
