/**
 * Members: enroll, read, look up by external ref, update, balances, history, and holding points
 * for a redemption. Mounted at /v1/members.
 *
 * Roles: admin and pos enroll, read, update and redeem (a till looks members up and enrols them);
 * finance reads balances and history but not personal data. Changing `status` (suspend, close)
 * is admin only. Another org's member is 404, exactly like an unknown one.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  createRedemption,
  DomainError,
  enrollMemberWithLedger,
  findMemberByExternalRef,
  getMember,
  getMemberBalances,
  getMemberHistory,
  getMemberRfm,
  referralCodeInputLengthMax,
  updateMember,
} from "../../membership/index.ts";
import { principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import {
  cursorLengthMax,
  historyPageDefault,
  historyPageMax,
  holdSecondsMaxValue,
  redemptionPointsMax,
  rewardQuantityMax,
} from "../limits.ts";
import { requireRole } from "../middleware.ts";
import {
  BalancesSchema,
  balancesDto,
  externalId,
  externalRef,
  HistoryEntrySchema,
  historyEntryDto,
  IdempotencyHeaders,
  MemberSchema,
  memberDto,
  personalData,
  RedemptionSchema,
  redemptionDto,
  uuidParam,
  wireInteger,
} from "../wire.ts";
import { registerAdjustmentRoutes } from "./adjustments.ts";
import { registerAutoRedemptionRoutes } from "./auto-redemptions.ts";
import { registerMemberBenefitRoutes } from "./benefits.ts";
import { registerCodeRedeemRoutes } from "./codes.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";
import { registerMemberInsightRoutes } from "./insights.ts";
import { registerMemberSessionRoutes } from "./me.ts";
import { registerMemberPinRoutes } from "./member-auth.ts";
import { registerPrivacyRoutes } from "./privacy.ts";
import { registerMemberRedemptionList } from "./redemptions.ts";
import { registerMemberReferralRoutes } from "./referrals.ts";
import { MemberRfmSchema, memberRfmDto, memberRfmExample } from "./segments.ts";
import { registerStampCardRoutes } from "./stamp-programs.ts";
import { registerTierRoutes } from "./tiers.ts";

const tags = ["members"];
const memberIdExample = "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57";
const MemberParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The member's id.",
    example: memberIdExample,
  }),
});

export const memberExample = {
  id: memberIdExample,
  external_ref: "card-000123",
  status: "active",
  tier_id: "1d3f5a7c-9e0b-4c2d-8f6a-0b2c4e6a8d1f",
  email: "ada@example.org",
  phone: "+33 6 12 34 56 78",
  first_name: "Ada",
  last_name: "Lovelace",
  date_of_birth: "1990-04-12",
  preferences: { notifications: { email: true, sms: false, push: true }, marketing_opt_in: false },
  referral_code: "K7M2QX9PTA",
  erased_at: null,
  created_at: "2026-01-31T12:00:00.000Z",
  updated_at: "2026-01-31T12:00:00.000Z",
} satisfies z.output<typeof MemberSchema>;

export const redemptionExample = {
  id: "6e8a0c2e-4f6b-4d8a-a0c2-e4f6b8d0a2c4",
  member_id: memberIdExample,
  external_id: "store-7:till-3:redeem-0009",
  status: "pending",
  points: 100,
  reward_id: null,
  quantity: null,
  expires_at: "2026-01-31T12:15:00.000Z",
  created_at: "2026-01-31T12:00:00.000Z",
  resolved_at: null,
} satisfies z.output<typeof RedemptionSchema>;

const EnrollBody = z
  .strictObject({
    external_ref: externalRef.openapi({
      description: "The org's identifier of the member (e.g. a card number), unique in the org.",
      example: "card-000123",
    }),
    email: personalData.email.optional(),
    phone: personalData.phone.optional(),
    first_name: personalData.first_name.optional(),
    last_name: personalData.last_name.optional(),
    referral_code: z
      .string()
      .min(1)
      .max(referralCodeInputLengthMax)
      .optional()
      .openapi({
        description:
          "Another member's `referral_code` (any case; spaces and dashes ignored): the new " +
          "member is their referral. A code of no member of this org, or of this very " +
          "`external_ref`, is 422 `referral_code_invalid` and nothing is enrolled.",
        example: "K7M2QX9PTA",
      }),
  })
  .openapi("EnrollMember");

/** PATCH fields; `customer.updated` events reuse the profile part (routes/events.ts). */
export const PatchBody = z
  .strictObject({
    email: personalData.email.nullable().optional(),
    phone: personalData.phone.nullable().optional(),
    first_name: personalData.first_name.nullable().optional(),
    last_name: personalData.last_name.nullable().optional(),
    status: z
      .enum(["active", "suspended", "closed"])
      .optional()
      .openapi({ description: "Admin keys only. `closed` is final." }),
  })
  .openapi("UpdateMember");

export const RedeemBody = z
  .strictObject({
    points: z
      .number()
      .int()
      .min(1)
      .max(redemptionPointsMax)
      .optional()
      .openapi({ description: "Points to hold; or name a `reward_id` instead." }),
    reward_id: z
      .uuid()
      .optional()
      .openapi({
        description:
          "A catalog reward: its `cost_points` × `quantity` are held, and with a limited " +
          "inventory its units too (409 `out_of_stock` when they are not there).",
      }),
    quantity: z
      .number()
      .int()
      .min(1)
      .max(rewardQuantityMax)
      .optional()
      .openapi({ description: "Units of the reward, default 1; only with `reward_id`." }),
    external_id: externalId.optional().openapi({
      description: "Your id of this redemption: a retry with it returns the same redemption.",
    }),
    hold_seconds: z
      .number()
      .int()
      .min(1)
      .max(holdSecondsMaxValue)
      .optional()
      .openapi({ description: "How long the points stay held; the org's default when absent." }),
  })
  .superRefine((body, ctx) => {
    if ((body.points === undefined) === (body.reward_id === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["points"],
        message: "give exactly one of points and reward_id",
      });
    }
    if (body.quantity !== undefined && body.reward_id === undefined) {
      ctx.addIssue({ code: "custom", path: ["quantity"], message: "only with reward_id" });
    }
  })
  .openapi("CreateRedemption");

/** The domain's redemption request for a validated `RedeemBody`. */
export function redemptionRequest(body: z.output<typeof RedeemBody>) {
  return {
    ...(body.points === undefined ? {} : { points: BigInt(body.points) }),
    ...(body.reward_id === undefined
      ? {}
      : {
          reward: {
            rewardId: body.reward_id,
            ...(body.quantity === undefined ? {} : { quantity: body.quantity }),
          },
        }),
    ...(body.external_id === undefined ? {} : { externalId: body.external_id }),
    ...(body.hold_seconds === undefined ? {} : { holdSeconds: body.hold_seconds }),
  };
}

export const balancesExample = {
  points: { available: 19, pending: 100, lifetime_earned: 219, lifetime_redeemed: 100 },
  stamps: [
    {
      program_id: "3f1d2c4b-7a9e-4f60-9b8d-2e5c1a7f0d34",
      name: "Coffee card",
      balance: 7,
      stamps_required: 10,
    },
  ],
  expiring: [{ points: 19, at: "2027-01-31T12:00:00.000Z" }],
} satisfies z.output<typeof BalancesSchema>;

export const HistoryPageSchema = z.object({
  entries: z.array(HistoryEntrySchema),
  next_cursor: z.string().nullable(),
});

export const historyExample = {
  entries: [
    {
      transfer_id: "340282366920938463463374607431768211",
      operation: "purchase_earn",
      direction: "credit",
      points: 19,
      occurred_at: "2026-01-31T12:00:00.000Z",
      document_id: "0b6f3a52-5d1e-4c8e-9a43-7f2d8c1e6b90",
      spend_minor: 1999,
      location_number: 1,
      pending_id: null,
    },
  ],
  next_cursor: "MTc2OTg2MDgwMDAwMDAwMDAwMA",
} satisfies z.output<typeof HistoryPageSchema>;

export const HistoryQuery = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(historyPageMax)
    .optional()
    .openapi({
      description: `Entries per page, 1..${historyPageMax}; ${historyPageDefault} by default.`,
    }),
  cursor: z
    .string()
    .min(1)
    .max(cursorLengthMax)
    .optional()
    .openapi({ description: "`next_cursor` of the previous page." }),
});

export function membersRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;
  const readers = requireRole("admin", "pos");
  registerTierRoutes(app, deps, MemberParams);
  registerMemberBenefitRoutes(app, deps, MemberParams);
  registerMemberInsightRoutes(app, deps, MemberParams);
  registerAdjustmentRoutes(app, deps, MemberParams);
  registerCodeRedeemRoutes(app, deps, MemberParams);
  registerPrivacyRoutes(app, deps, MemberParams);
  registerMemberRedemptionList(app, deps, MemberParams);
  registerAutoRedemptionRoutes(app, deps, MemberParams);
  registerStampCardRoutes(app, deps, MemberParams);
  registerMemberSessionRoutes(app, deps, MemberParams);
  registerMemberReferralRoutes(app, deps, MemberParams);
  registerMemberPinRoutes(app, deps, MemberParams);

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "enrollMember",
      tags,
      summary: "Enroll a member",
      description:
        "Creates the member, opens their points wallet on the ledger and credits the org's " +
        "welcome bonus. A duplicate `external_ref` is 409; a `referral_code` of no member of " +
        "the org is 422 `referral_code_invalid`. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin", "pos"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(EnrollBody, {
          external_ref: "card-000123",
          email: "ada@example.org",
          phone: "+33 6 12 34 56 78",
          first_name: "Ada",
          last_name: "Lovelace",
        }),
      },
      responses: {
        201: jsonContent(
          z.object({ member: MemberSchema, welcome_bonus: z.number().int() }),
          "The member, and the points credited on enrollment.",
          { member: memberExample, welcome_bonus: 100 },
        ),
        ...errorResponses(400, 401, 403, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const { member, welcomeBonus } = await enrollMemberWithLedger(domain, {
        orgId: principalOf(c).orgId,
        externalRef: body.external_ref,
        email: body.email ?? null,
        phone: body.phone ?? null,
        firstName: body.first_name ?? null,
        lastName: body.last_name ?? null,
        referralCode: body.referral_code ?? null,
      });
      return c.json({ member: memberDto(member), welcome_bonus: wireInteger(welcomeBonus) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "findMemberByExternalRef",
      tags,
      summary: "Find a member by external ref",
      description: "The org's member with this `external_ref` (e.g. a scanned card), or 404.",
      security: apiKeySecurity,
      middleware: readers,
      request: {
        query: z.strictObject({
          external_ref: externalRef.openapi({
            description: "The member's `external_ref` (e.g. a scanned card number).",
            example: "card-000123",
          }),
        }),
      },
      responses: {
        200: jsonContent(MemberSchema, "The member.", memberExample),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { external_ref } = c.req.valid("query");
      const member = await findMemberByExternalRef(domain, {
        orgId: principalOf(c).orgId,
        externalRef: external_ref,
      });
      if (member === null) {
        throw new DomainError("not_found", "member not found", { external_ref });
      }
      return c.json(memberDto(member), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getMember",
      tags,
      summary: "Get a member",
      description: "Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: readers,
      request: { params: MemberParams },
      responses: {
        200: jsonContent(MemberSchema, "The member.", memberExample),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const member = await getMember(domain, { orgId: principalOf(c).orgId, memberId: id });
      return c.json(memberDto(member), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/{id}",
      operationId: "updateMember",
      tags,
      summary: "Update a member",
      description:
        "Absent fields are unchanged; `null` clears one. Changing `status` needs an admin key. " +
        "A closed member cannot be changed (409 `invalid_state`). Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin", "pos"]),
      request: {
        params: MemberParams,
        body: jsonBody(PatchBody, { email: "ada.lovelace@example.org", phone: null }),
      },
      responses: {
        200: jsonContent(MemberSchema, "The member as updated.", {
          ...memberExample,
          email: "ada.lovelace@example.org",
          phone: null,
          updated_at: "2026-02-01T09:30:00.000Z",
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const principal = principalOf(c);
      if (body.status !== undefined && principal.role !== "admin") {
        throw new ApiError(403, "forbidden", "changing a member's status needs an admin key", {
          role: principal.role,
        });
      }
      const member = await updateMember(domain, {
        orgId: principal.orgId,
        memberId: id,
        patch: {
          ...(body.email === undefined ? {} : { email: body.email }),
          ...(body.phone === undefined ? {} : { phone: body.phone }),
          ...(body.first_name === undefined ? {} : { firstName: body.first_name }),
          ...(body.last_name === undefined ? {} : { lastName: body.last_name }),
          ...(body.status === undefined ? {} : { status: body.status }),
        },
      });
      return c.json(memberDto(member), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/balances",
      operationId: "getMemberBalances",
      tags,
      summary: "A member's balances",
      description:
        "Points (available = earned − spent − held), one card per stamp program, and the " +
        "available points still to expire under the org's expiry policy, read from the ledger. " +
        "Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: MemberParams },
      responses: {
        200: jsonContent(BalancesSchema, "The balances.", balancesExample),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const balances = await getMemberBalances(domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
      });
      return c.json(balancesDto(balances), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/history",
      operationId: "getMemberHistory",
      tags,
      summary: "A member's points history",
      description:
        "Ledger transfers of the member's points wallet, newest first, each named by its " +
        "operation. Page with `cursor`. Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: MemberParams, query: HistoryQuery },
      responses: {
        200: jsonContent(HistoryPageSchema, "One page of history.", historyExample),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const query = c.req.valid("query");
      const page = await getMemberHistory(domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
        limit: query.limit ?? historyPageDefault,
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
      return c.json(
        { entries: page.entries.map(historyEntryDto), next_cursor: page.nextCursor },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/redemptions",
      operationId: "createRedemption",
      tags: ["redemptions"],
      summary: "Hold points for a redemption",
      description:
        "Holds the points (a pending ledger transfer) until fulfilled, cancelled or expired. " +
        "With `reward_id` (and `quantity`) instead of `points`, holds the reward's cost and, " +
        "for a limited inventory, its units in the same ledger chain: a reward is never " +
        "oversold (409 `out_of_stock`), and a cancel or a lapsed hold puts the units back. The " +
        "reward must be in its window (422 `reward_not_active`), the member's tier at least its " +
        "minimum (422 `tier_too_low`), and within its per-member limit (409 `limit_reached`). " +
        "Concurrent redemptions can never overdraw: the ledger refuses a hold beyond the " +
        "available balance (422 `insufficient_points`). Roles: admin, pos. " +
        "A refusal (`insufficient_points`, `member_inactive`) is final for its `external_id`: " +
        "a retry answers the same refusal; send a new `external_id` once the points are there.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin", "pos"]),
      request: {
        headers: IdempotencyHeaders,
        params: MemberParams,
        body: jsonBody(RedeemBody, {
          points: 100,
          external_id: "store-7:till-3:redeem-0009",
          hold_seconds: 900,
        }),
      },
      responses: {
        201: jsonContent(z.object({ redemption: RedemptionSchema }), "The pending redemption.", {
          redemption: redemptionExample,
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const redemption = await createRedemption(domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
        ...redemptionRequest(body),
      });
      return c.json({ redemption: redemptionDto(redemption) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/rfm",
      operationId: "getMemberRfm",
      tags: ["rfm"],
      summary: "A member's RFM scores and segment",
      description:
        "Recency (whole days since the last counted purchase), frequency and monetary value " +
        "in the org's RFM window, their scores 1–5 and the segment, as of the last rebuild or " +
        "the member's last re-score (after each purchase or refund). A member never scored is " +
        "`none` with null scores. Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: MemberParams },
      responses: {
        200: jsonContent(MemberRfmSchema, "The member's RFM.", memberRfmExample),
        ...errorResponses(401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const rfm = await getMemberRfm(domain, { orgId: principalOf(c).orgId, memberId: id });
      return c.json(memberRfmDto(rfm), 200);
    },
  );

  return app;
}
