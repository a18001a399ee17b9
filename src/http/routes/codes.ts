/**
 * Promo codes: `POST`, `GET /v1/codes` and `PATCH /v1/codes/{id}` for the org's admins, and
 * `POST /v1/members/{id}/codes/redeem` (admin, pos). Codes are stored hashed: no answer and no
 * audit entry ever shows one, only its first three characters. Failed redemptions are braked
 * per member and per key (code-failures.ts).
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createRoute, z } from "@hono/zod-openapi";
import {
  type AuditActor,
  type CodePatch,
  createCode,
  DomainError,
  listCodes,
  membershipLimits,
  type PromoCode,
  redeemCode,
  updateCode,
} from "../../membership/index.ts";
import { codeFailuresMax, codeFailureWindowSeconds } from "../code-failures.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf } from "../env.ts";
import { redemptionPointsMax } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { IdempotencyHeaders, uuidParam, WalletSchema, walletDto, wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  windowOrdered,
  writeGuards,
} from "./common.ts";

const tags = ["codes"];
const dateTime = z.iso.datetime({ offset: true });
const codeText = z.string().refine((text) => {
  const normalized = text.normalize("NFKC").toUpperCase();
  return (
    /^[A-Z0-9-]+$/.test(normalized) &&
    normalized.length >= membershipLimits.codeLengthMin &&
    normalized.length <= membershipLimits.codeLengthMax
  );
}, `${membershipLimits.codeLengthMin} to ${membershipLimits.codeLengthMax} characters of A-Z, 0-9 and - (case-insensitive)`);

const CodeSchema = z
  .object({
    id: z.string(),
    prefix: z.string().openapi({ description: "The code's first three characters." }),
    points: z.number().int(),
    max_uses_total: z.number().int().nullable(),
    uses: z.number().int().openapi({ description: "Redemptions so far." }),
    once_per_member: z.literal(true),
    valid_from: z.string().nullable(),
    valid_until: z.string().nullable(),
    min_tier_id: z.string().nullable(),
    active: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("PromoCode");

const CodeEnvelope = z.object({ code: CodeSchema });

const codeExample: z.output<typeof CodeSchema> = {
  id: "5b0e3c1a-8d4f-4e2a-9c7b-1f6d2e8a4b90",
  prefix: "SUM",
  points: 500,
  max_uses_total: 1000,
  uses: 0,
  once_per_member: true,
  valid_from: "2026-06-01T00:00:00.000Z",
  valid_until: "2026-09-01T00:00:00.000Z",
  min_tier_id: null,
  active: true,
  created_at: "2026-05-20T09:00:00.000Z",
  updated_at: "2026-05-20T09:00:00.000Z",
};

const windowOrder = windowOrdered("valid_from", "valid_until");

const maxUses = z.number().int().min(1).max(redemptionPointsMax);

const CreateBody = z
  .strictObject({
    code: codeText.openapi({
      description:
        "The code members type: case-insensitive (stored upper-case after Unicode NFKC), 4–64 " +
        "characters of A-Z, 0-9 and -. Stored only as a keyed hash: this request is the last " +
        "time the server sees it in clear.",
      example: "SUMMER-25",
    }),
    points: z.number().int().min(1).max(redemptionPointsMax).openapi({
      description: "Points credited on each redemption (through the promotions account).",
    }),
    max_uses_total: maxUses.optional().openapi({
      description: "Redemptions allowed across all members; unlimited when absent.",
    }),
    once_per_member: z.literal(true).openapi({
      description:
        "Must be `true`: each member redeems a code at most once. It is the only mode offered.",
    }),
    valid_from: dateTime.optional().openapi({
      description: "Redeemable from this instant (RFC 3339); open when absent.",
    }),
    valid_until: dateTime.optional().openapi({
      description: "Redeemable before this instant (RFC 3339); open when absent.",
    }),
    min_tier_id: uuidParam.optional().openapi({
      description: "Members whose tier ranks below this tier are refused (422 `tier_too_low`).",
    }),
  })
  .superRefine(windowOrder)
  .openapi("CreatePromoCode");

const PatchBody = z
  .strictObject({
    valid_from: dateTime.nullable().optional().openapi({
      description: "A new start of the window (RFC 3339); `null` opens it.",
    }),
    valid_until: dateTime.nullable().optional().openapi({
      description: "A new end of the window (RFC 3339); `null` opens it.",
    }),
    max_uses_total: maxUses.nullable().optional().openapi({
      description: "A new total (not below `uses`); `null`: unlimited.",
    }),
    active: z.boolean().optional().openapi({ description: "`false` stops redemptions." }),
  })
  .superRefine(windowOrder)
  .openapi("UpdatePromoCode");

const CodeParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The code's id.",
    example: codeExample.id,
  }),
});

export const RedeemBody = z
  .strictObject({
    code: z
      .string()
      .min(1)
      .max(membershipLimits.codeLengthMax * 4)
      .openapi({
        description: "The code as the member typed it (case-insensitive).",
        example: "summer-25",
      }),
  })
  .openapi("RedeemPromoCode");

export const RedeemResult = z
  .object({
    redemption_id: z.string(),
    code_id: z.string(),
    points: z.number().int().openapi({ description: "Points credited." }),
    balance: WalletSchema.openapi({ description: "The member's points right after it." }),
  })
  .openapi("PromoCodeRedemption");

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

function codeDto(code: PromoCode): z.output<typeof CodeSchema> {
  return {
    id: code.id,
    prefix: code.prefix,
    points: wireInteger(code.points),
    max_uses_total: code.maxUsesTotal === null ? null : wireInteger(code.maxUsesTotal),
    uses: wireInteger(code.uses),
    once_per_member: true,
    valid_from: iso(code.validFrom),
    valid_until: iso(code.validUntil),
    min_tier_id: code.minTierId,
    active: code.active,
    created_at: code.createdAt.toISOString(),
    updated_at: code.updatedAt.toISOString(),
  };
}

function toPatch(body: z.output<typeof PatchBody>): CodePatch {
  const date = (value: string | null | undefined) =>
    value === undefined ? undefined : value === null ? null : new Date(value);
  const patch: CodePatch = {};
  const validFrom = date(body.valid_from);
  const validUntil = date(body.valid_until);
  if (validFrom !== undefined) {
    patch.validFrom = validFrom;
  }
  if (validUntil !== undefined) {
    patch.validUntil = validUntil;
  }
  if (body.max_uses_total !== undefined) {
    patch.maxUsesTotal = body.max_uses_total === null ? null : BigInt(body.max_uses_total);
  }
  if (body.active !== undefined) {
    patch.active = body.active;
  }
  return patch;
}

export function codesRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createPromoCode",
      tags,
      summary: "Create a promo code",
      description:
        "A code members redeem once each for `points`, within an optional window, total number " +
        "of uses and minimum tier. Only once-per-member codes are offered (`once_per_member` " +
        "must be `true`). The code is stored as a keyed hash scoped to the org: answers and the " +
        "audit log show its first three characters only. The same code (case-insensitive) " +
        "twice in one org is 409. Written to the audit log (`code.created`). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateBody, {
          code: "SUMMER-25",
          points: 500,
          max_uses_total: 1000,
          once_per_member: true,
          valid_from: "2026-06-01T00:00:00Z",
          valid_until: "2026-09-01T00:00:00Z",
        }),
      },
      responses: {
        201: jsonContent(CodeEnvelope, "The code (its prefix only).", { code: codeExample }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const code = await createCode(domain, {
        orgId: principalOf(c).orgId,
        code: body.code,
        points: BigInt(body.points),
        maxUsesTotal: body.max_uses_total === undefined ? null : BigInt(body.max_uses_total),
        oncePerMember: true,
        validFrom: body.valid_from === undefined ? null : new Date(body.valid_from),
        validUntil: body.valid_until === undefined ? null : new Date(body.valid_until),
        minTierId: body.min_tier_id ?? null,
        actor: actorOf(c),
      });
      return c.json({ code: codeDto(code) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listPromoCodes",
      tags,
      summary: "List the org's promo codes",
      description:
        `All of them, oldest first (at most ${membershipLimits.codesPerOrgMax} per org), with ` +
        "their prefix and uses so far; never the code itself. Role: admin.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      responses: {
        200: jsonContent(z.object({ codes: z.array(CodeSchema) }), "The codes.", {
          codes: [codeExample],
        }),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const found = await listCodes(domain, { orgId: principalOf(c).orgId });
      return c.json({ codes: found.map(codeDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/{id}",
      operationId: "updatePromoCode",
      tags,
      summary: "Change a promo code",
      description:
        "Only the fields given change: the window (`valid_from`, `valid_until`; `null` opens a " +
        "side), `max_uses_total` (not below the uses so far; `null`: unlimited) and `active`. " +
        "Points, the code and the minimum tier are fixed. A window ending before it starts is " +
        "400 (`invalid_input` when only the stored bound shows it). Written to the audit log " +
        "(`code.updated`, before and after). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: CodeParams,
        body: jsonBody(PatchBody, { valid_until: "2026-10-01T00:00:00Z", active: true }),
      },
      responses: {
        200: jsonContent(CodeEnvelope, "The code as changed.", {
          code: { ...codeExample, valid_until: "2026-10-01T00:00:00.000Z" },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const code = await updateCode(domain, {
        orgId: principalOf(c).orgId,
        codeId: id,
        patch: toPatch(body),
        actor: actorOf(c),
      });
      return c.json({ code: codeDto(code) }, 200);
    },
  );

  return app;
}

/** `POST /v1/members/{id}/codes/redeem`, mounted on the members sub-app. */
export function registerCodeRedeemRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/codes/redeem",
      operationId: "redeemPromoCode",
      tags: ["members"],
      summary: "Redeem a promo code for a member",
      description:
        "Credits the code's points through the ledger's promotions account, once per member: " +
        "a second redemption of the same code by the same member is 409 `code_already_used` " +
        "(with the first redemption's id) and credits nothing. Unknown, expired, not yet valid, " +
        "inactive and used-up codes all answer 404 `code_not_found` with the same message. A " +
        "member whose tier ranks below the code's minimum is 422 `tier_too_low`. Of concurrent " +
        "redemptions of a code's last use exactly one succeeds. After " +
        `${codeFailuresMax} failed redemptions (\`code_not_found\`) within ` +
        `${codeFailureWindowSeconds} s for the member or by the key, further ones are 429 with ` +
        "`Retry-After` until the window ends; successes are not counted. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin", "pos"]),
      request: {
        headers: IdempotencyHeaders,
        params: Params,
        body: jsonBody(RedeemBody, { code: "summer-25" }),
      },
      responses: {
        201: jsonContent(RedeemResult, "The points credited and the balance after.", {
          redemption_id: "01936f2e-7b40-7c3a-9d1e-5a6b7c8d9e0f",
          code_id: codeExample.id,
          points: 500,
          balance: { available: 1_500, pending: 0, lifetime_earned: 1_500, lifetime_redeemed: 0 },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const principal = principalOf(c);
      const result = await redeemBraked(deps, {
        orgId: principal.orgId,
        memberId: id,
        code: body.code,
        actor: actorOf(c),
        subjects: [`member:${principal.orgId}:${id}`, `key:${principal.keyId}`],
      });
      return c.json(result, 201);
    },
  );
}

/**
 * Redeems a code behind the failure brake of `subjects` (the member, and the key when one acts):
 * refused with 429 once they failed too often, and a `code_not_found` counted against them.
 * `POST /v1/me/codes/redeem` brakes the member alone.
 */
export async function redeemBraked(
  deps: RouteDeps,
  input: { orgId: string; memberId: string; code: string; actor: AuditActor; subjects: string[] },
): Promise<z.output<typeof RedeemResult>> {
  await deps.codeFailures.check(input.subjects);
  try {
    const result = await redeemCode(deps.domain, {
      orgId: input.orgId,
      memberId: input.memberId,
      code: input.code,
      actor: input.actor,
    });
    return {
      redemption_id: result.redemptionId,
      code_id: result.codeId,
      points: wireInteger(result.points),
      balance: walletDto(result.balance),
    };
  } catch (error) {
    if (error instanceof DomainError && error.code === "code_not_found") {
      await deps.codeFailures.recordFailure(input.subjects);
    }
    throw error;
  }
}
