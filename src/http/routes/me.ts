/**
 * The member app: `POST /v1/members/{id}/sessions` (an admin or pos key issues a short-lived
 * member token) and the routes that token opens, mounted at /v1/me: the member, their personal
 * data (PATCH), balances, history, tier, benefits, spending insights, and logout.
 *
 * A member token reaches its own member only, and only here: the member and the org come from
 * the token, never from the request, and org-scoped routes refuse it (it is not an API key),
 * as these refuse API keys. The answers have the same shapes as the admin routes' for the same
 * data, built by the same use cases and DTOs.
 */

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { listSourcedMemberBenefits } from "../../membership/earning-rules/campaign-benefits.ts";
import {
  createRedemption,
  DomainError,
  getMember,
  getMemberBalances,
  getMemberHistory,
  getMemberInsights,
  getMemberTier,
  listMemberRewards,
  memberRewardReasons,
  updateMember,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { memberPrincipalOf, principalOf } from "../env.ts";
import { historyPageDefault } from "../limits.ts";
import { authenticateMember, revokeMemberToken } from "../member-token.ts";
import { limitBody, requireRole } from "../middleware.ts";
import { rateLimit } from "../rate-limit.ts";
import {
  BalancesSchema,
  balancesDto,
  historyEntryDto,
  instant,
  MemberSchema,
  memberDto,
  personalData,
  RedemptionSchema,
  redemptionDto,
  type uuidParam,
  wireInteger,
} from "../wire.ts";
import { MemberBenefitSchema, memberBenefitDto, memberBenefitsExample } from "./benefits.ts";
import { RedeemBody as CodeRedeemBody, RedeemResult, redeemBraked } from "./codes.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  memberTokenSecurity,
  validationHook,
} from "./common.ts";
import {
  InsightsQuery,
  InsightsSchema,
  insightsDescription,
  insightsDto,
  insightsExample,
  periodOf,
} from "./insights.ts";
import {
  balancesExample,
  HistoryPageSchema,
  HistoryQuery,
  historyExample,
  memberExample,
  RedeemBody,
  redemptionExample,
  redemptionRequest,
} from "./members.ts";
import { RedemptionListQuery, RedemptionPageSchema, redemptionPage } from "./redemptions.ts";
import { RewardSchema, rewardDto, rewardExample } from "./rewards.ts";
import { MemberTierSchema, memberTierDto, memberTierExample } from "./tiers.ts";

const tags = ["member app"];

const MyRewardsSchema = z
  .object({
    rewards: z.array(
      RewardSchema.extend({
        on_hand: z
          .number()
          .int()
          .nullable()
          .openapi({ description: "Units left; null: unlimited." }),
        redeemed: z.number().int().openapi({
          description: "Units this member has in pending or fulfilled redemptions.",
        }),
        reasons: z.array(z.enum(memberRewardReasons)).openapi({
          description: "Why this member cannot redeem one now; empty: redeemable.",
        }),
      }),
    ),
  })
  .openapi("MyRewards");

export const SessionSchema = z
  .object({
    token: z.string().openapi({
      description:
        "The member token (a JWT, HS256). Send it as `Authorization: Bearer <token>` to the " +
        "/v1/me routes. Keep it secret: it is never shown again.",
    }),
    expires_at: instant.openapi({ description: "When the token stops working." }),
  })
  .openapi("MemberSession");

export const sessionExample = {
  token:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI4YzJlNGYxYS0zYjVkLTRlN2YtOWExYy02ZDhiMGUy" +
    "ZjRhNTciLCJvcmdfaWQiOiIxYjNkNWY3YS05YzFlLTRhM2MtOGU1Zi03YTljMWUzYzVlN2EiLCJqdGkiOiJxN1hj" +
    "M2VaZ0ZfNU5yV3A5dEJrMmxBIiwiaWF0IjoxNzY5ODYwODAwLCJleHAiOjE3Njk4NjE3MDB9.2Jw0nQe1qD8cVf4m" +
    "Yx6sLk3tHp9aRz7uBi5oGv1dNcE",
  expires_at: "2026-01-31T12:15:00.000Z",
} satisfies z.output<typeof SessionSchema>;

/** What a member may change about themselves: personal data only, never status or tier. */
const MePatchBody = z
  .strictObject({
    email: personalData.email.nullable().optional(),
    phone: personalData.phone.nullable().optional(),
    first_name: personalData.first_name.nullable().optional(),
    last_name: personalData.last_name.nullable().optional(),
    date_of_birth: z.iso
      .date()
      .refine((day) => day >= "1900-01-01" && new Date(`${day}T00:00:00Z`) <= new Date(), {
        message: "a date of birth between 1900-01-01 and today",
      })
      .nullable()
      .optional(),
    preferences: z
      .strictObject({
        notifications: z
          .strictObject({
            email: z.boolean().optional(),
            sms: z.boolean().optional(),
            push: z.boolean().optional(),
          })
          .optional(),
        marketing_opt_in: z.boolean().optional(),
      })
      .optional()
      .openapi({ description: "Merged: the flags given change, the others stay." }),
  })
  .openapi("UpdateMe");

/** Registers `POST /{id}/sessions` on the members sub-app (API keys, admin or pos). */
export function registerMemberSessionRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  const { domain } = deps;
  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/sessions",
      operationId: "createMemberSession",
      tags,
      summary: "Issue a member token",
      description:
        "Signs a short-lived token (MEMBER_TOKEN_TTL_SECONDS, 15 minutes by default) with which " +
        "the member's own app reads and edits that member through the /v1/me routes. No body. " +
        "A closed or erased member gets none (422 `member_inactive`); a suspended member may " +
        "still sign in and read. Not idempotent: each call issues a new token, and none is " +
        "stored. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: [requireRole("admin", "pos"), limitBody(0)] as const,
      request: { params: Params },
      responses: {
        201: jsonContent(SessionSchema, "The token and its expiry.", sessionExample),
        ...errorResponses(400, 401, 403, 404, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const orgId = principalOf(c).orgId;
      const member = await getMember(domain, { orgId, memberId: id });
      if (member.status === "closed" || member.erasedAt !== null) {
        throw new DomainError("member_inactive", "a closed or erased member cannot sign in", {
          status: member.status,
          erased: member.erasedAt !== null,
        });
      }
      const { token, expiresAt } = await deps.memberTokens.issue({ orgId, memberId: id });
      // A credential: no cache, no intermediary, may keep it.
      return c.json({ token, expires_at: expiresAt.toISOString() }, 201, {
        "Cache-Control": "no-store",
      });
    },
  );
}

/** The /v1/me sub-app: member tokens only. */
export function meRoutes(deps: RouteDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const { domain } = deps;
  const keyPrefix = deps.app.options.redisKeyPrefix;
  app.use(
    "*",
    authenticateMember({ tokens: deps.memberTokens, redis: deps.app.redis, keyPrefix, domain }),
    rateLimit(deps.limiter, deps.app.metrics, (c) => `member:${memberPrincipalOf(c).memberId}`),
  );
  const now = () => deps.app.clock?.() ?? new Date();
  const ownMember = (c: Parameters<typeof memberPrincipalOf>[0]) => {
    const { orgId, memberId } = memberPrincipalOf(c);
    return { orgId, memberId };
  };

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "getMe",
      tags,
      summary: "The signed-in member",
      description: "The member the token speaks for, as `GET /v1/members/{id}` shows it.",
      security: memberTokenSecurity,
      responses: {
        200: jsonContent(MemberSchema, "The member.", memberExample),
        ...errorResponses(401, 429, 503),
      },
    }),
    async (c) => c.json(memberDto(await getMember(domain, ownMember(c))), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/",
      operationId: "updateMe",
      tags,
      summary: "Update the signed-in member's personal data",
      description:
        "Absent fields are unchanged; `null` clears one. Status and tier are not the member's " +
        "to change. An erased member's personal data cannot be set (409 `invalid_state`; such " +
        "a member's tokens are refused first, 401, so this answers only a request racing the " +
        "erasure).",
      security: memberTokenSecurity,
      middleware: [limitBody(4_096)] as const,
      request: { body: jsonBody(MePatchBody, { email: "ada.lovelace@example.org", phone: null }) },
      responses: {
        200: jsonContent(MemberSchema, "The member as updated.", {
          ...memberExample,
          email: "ada.lovelace@example.org",
          phone: null,
          updated_at: "2026-02-01T09:30:00.000Z",
        }),
        ...errorResponses(400, 401, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const member = await updateMember(domain, {
        ...ownMember(c),
        patch: {
          ...(body.email === undefined ? {} : { email: body.email }),
          ...(body.phone === undefined ? {} : { phone: body.phone }),
          ...(body.first_name === undefined ? {} : { firstName: body.first_name }),
          ...(body.last_name === undefined ? {} : { lastName: body.last_name }),
          ...(body.date_of_birth === undefined ? {} : { dateOfBirth: body.date_of_birth }),
          ...(body.preferences === undefined
            ? {}
            : {
                preferences: {
                  ...(body.preferences.notifications === undefined
                    ? {}
                    : { notifications: body.preferences.notifications }),
                  ...(body.preferences.marketing_opt_in === undefined
                    ? {}
                    : { marketingOptIn: body.preferences.marketing_opt_in }),
                },
              }),
        },
      });
      return c.json(memberDto(member), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/balances",
      operationId: "getMyBalances",
      tags,
      summary: "The signed-in member's balances",
      description: "As `GET /v1/members/{id}/balances`.",
      security: memberTokenSecurity,
      responses: {
        200: jsonContent(BalancesSchema, "The balances.", balancesExample),
        ...errorResponses(401, 429, 503),
      },
    }),
    async (c) => c.json(balancesDto(await getMemberBalances(domain, ownMember(c))), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/history",
      operationId: "getMyHistory",
      tags,
      summary: "The signed-in member's points history",
      description: "As `GET /v1/members/{id}/history`: newest first, paged with `cursor`.",
      security: memberTokenSecurity,
      request: { query: HistoryQuery },
      responses: {
        200: jsonContent(HistoryPageSchema, "One page of history.", historyExample),
        ...errorResponses(400, 401, 429, 503),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await getMemberHistory(domain, {
        ...ownMember(c),
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
      method: "get",
      path: "/tier",
      operationId: "getMyTier",
      tags,
      summary: "The signed-in member's tier and progress",
      description: "As `GET /v1/members/{id}/tier`.",
      security: memberTokenSecurity,
      responses: {
        200: jsonContent(MemberTierSchema, "The member's tier.", memberTierExample),
        ...errorResponses(401, 429, 503),
      },
    }),
    async (c) => c.json(memberTierDto(await getMemberTier(domain, ownMember(c))), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/benefits",
      operationId: "listMyBenefits",
      tags,
      summary: "The signed-in member's active benefits",
      description: "As `GET /v1/members/{id}/benefits`.",
      security: memberTokenSecurity,
      responses: {
        200: jsonContent(
          z.object({ benefits: z.array(MemberBenefitSchema) }),
          "The benefits.",
          memberBenefitsExample,
        ),
        ...errorResponses(401, 429, 503),
      },
    }),
    async (c) => {
      const found = await listSourcedMemberBenefits(domain, ownMember(c));
      return c.json({ benefits: found.map(memberBenefitDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/insights",
      operationId: "getMyInsights",
      tags,
      summary: "The signed-in member's spending insights",
      description: `As \`GET /v1/members/{id}/insights\`. ${insightsDescription}`,
      security: memberTokenSecurity,
      request: { query: InsightsQuery },
      responses: {
        200: jsonContent(InsightsSchema, "The member's insights.", insightsExample),
        ...errorResponses(400, 401, 429, 503),
      },
    }),
    async (c) => {
      const insights = await getMemberInsights(domain, {
        ...ownMember(c),
        period: periodOf(c.req.valid("query")),
      });
      return c.json(insightsDto(insights), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/rewards",
      operationId: "listMyRewards",
      tags,
      summary: "The catalog, as the signed-in member can redeem it now",
      description:
        "Every reward of the org, each with `reasons` this member cannot redeem one now " +
        "(`insufficient_points`, `tier_too_low`, `out_of_stock`, `limit_reached`, " +
        "`not_active`); empty `reasons`: redeemable, with `POST /v1/me/redemptions` and its " +
        "`reward_id`. `on_hand` is the units left (null: unlimited), `redeemed` the units this " +
        "member has in pending or fulfilled redemptions. A snapshot: the redemption checks " +
        "everything again.",
      security: memberTokenSecurity,
      responses: {
        200: jsonContent(MyRewardsSchema, "The catalog with this member's reasons.", {
          rewards: [{ ...rewardExample, on_hand: 12, redeemed: 1, reasons: [] }],
        }),
        ...errorResponses(401, 429, 503),
      },
    }),
    async (c) => {
      const found = await listMemberRewards(domain, ownMember(c));
      return c.json(
        {
          rewards: found.map((entry) => ({
            ...rewardDto(entry.reward),
            on_hand: entry.onHand === null ? null : wireInteger(entry.onHand),
            redeemed: wireInteger(entry.redeemed),
            reasons: entry.reasons,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/redemptions",
      operationId: "listMyRedemptions",
      tags,
      summary: "The signed-in member's redemptions",
      description:
        "As `GET /v1/members/{id}/redemptions` lists them: newest first, optionally of one " +
        "`status`, paged.",
      security: memberTokenSecurity,
      request: { query: RedemptionListQuery },
      responses: {
        200: jsonContent(RedemptionPageSchema, "A page of redemptions.", {
          redemptions: [redemptionExample],
          next_cursor: null,
        }),
        ...errorResponses(400, 401, 429, 503),
      },
    }),
    async (c) =>
      c.json(await redemptionPage(deps, { ...ownMember(c), query: c.req.valid("query") }), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/redemptions",
      operationId: "createMyRedemption",
      tags,
      summary: "Hold points for a redemption",
      description:
        "As `POST /v1/members/{id}/redemptions`, for the signed-in member: the points are held " +
        "until the org fulfils or cancels the redemption, or the hold lapses. Never overdraws " +
        "(422 `insufficient_points`); a refusal is final for its `external_id`.",
      security: memberTokenSecurity,
      middleware: [limitBody(4_096)] as const,
      request: {
        body: jsonBody(RedeemBody, { points: 100, external_id: "app-7f3a-0001" }),
      },
      responses: {
        201: jsonContent(z.object({ redemption: RedemptionSchema }), "The pending redemption.", {
          redemption: redemptionExample,
        }),
        ...errorResponses(400, 401, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const redemption = await createRedemption(domain, {
        ...ownMember(c),
        ...redemptionRequest(body),
      });
      return c.json({ redemption: redemptionDto(redemption) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/codes/redeem",
      operationId: "redeemMyPromoCode",
      tags,
      summary: "Redeem a promo code",
      description:
        "As `POST /v1/members/{id}/codes/redeem`, for the signed-in member, with the same " +
        "answers (404 `code_not_found` for any code that cannot be redeemed now) and the same " +
        "brake on failures, counted for the member.",
      security: memberTokenSecurity,
      middleware: [limitBody(1_024)] as const,
      request: { body: jsonBody(CodeRedeemBody, { code: "summer-25" }) },
      responses: {
        201: jsonContent(RedeemResult, "The points credited and the balance after.", {
          redemption_id: "01936f2e-7b40-7c3a-9d1e-5a6b7c8d9e0f",
          code_id: "3f1d2c4b-7a9e-4f60-9b8d-2e5c1a7f0d34",
          points: 500,
          balance: { available: 1_500, pending: 0, lifetime_earned: 1_500, lifetime_redeemed: 0 },
        }),
        ...errorResponses(400, 401, 404, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const { orgId, memberId } = ownMember(c);
      const result = await redeemBraked(deps, {
        orgId,
        memberId,
        code: c.req.valid("json").code,
        // The member acted, with no API key.
        actor: { keyId: null, requestId: c.get("requestId") ?? null },
        subjects: [`member:${orgId}:${memberId}`],
      });
      return c.json(result, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/logout",
      operationId: "logoutMe",
      tags,
      summary: "Log the token out",
      description:
        "This token stops working at once, on every replica: its id is deny-listed in Redis " +
        "until it would have expired. Other tokens of the member keep working. No body. When " +
        "Redis cannot record it the answer is 503 and the token still works: retry.",
      security: memberTokenSecurity,
      middleware: [limitBody(0)] as const,
      responses: {
        204: { description: "Logged out." },
        ...errorResponses(401, 413, 429, 503),
      },
    }),
    async (c) => {
      await revokeMemberToken(
        c,
        { redis: deps.app.redis, keyPrefix, now: now() },
        memberPrincipalOf(c),
      );
      return c.body(null, 204);
    },
  );

  return app;
}
