/**
 * PIN login for the member app. Staff set a member's PIN with `PUT /v1/members/{id}/pin` (admin,
 * pos; audited); the member signs in with `POST /v1/member-auth/login {org_slug, external_ref,
 * pin}` when the org enabled `member_pin_login`, and gets the same `{token, expires_at}` as
 * `POST /v1/members/{id}/sessions`. There is no `PUT /v1/me/pin`: a member cannot change their
 * own PIN in this version.
 *
 * Every refused login is the same 401 `invalid_credentials` (membership/members/member-pin.ts).
 * Logins are rate limited per org slug with the API's request limit (the login has no API key or
 * token to count by, and the per-member lock already bounds guesses at one member); a spray over
 * many members of one org meets that limit. The PIN route has no idempotency store on purpose: a
 * stored request hash of a 4-digit PIN could be reversed by trying every PIN, and setting a PIN
 * twice is harmless.
 */
import { createRoute, OpenAPIHono, z, type z as zod } from "@hono/zod-openapi";
import { loginMemberWithPin, pinPattern, setMemberPin } from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf, requestLogger } from "../env.ts";
import { ApiError } from "../errors.ts";
import { limitBody, requireRole } from "../middleware.ts";
import { externalRef, type uuidParam } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonBody, jsonContent, validationHook } from "./common.ts";
import { SessionSchema, sessionExample } from "./me.ts";

const pinBodyBytesMax = 1_024;
const pin = z
  .string()
  .regex(pinPattern, "4 to 12 digits")
  .openapi({ description: "4 to 12 digits.", example: "482913" });

const PinBody = z.strictObject({ pin }).openapi("SetMemberPin");

const LoginBody = z
  .strictObject({
    org_slug: z.string().min(1).max(64).openapi({ example: "corner-coffee" }),
    external_ref: externalRef.openapi({ example: "card-000123" }),
    pin,
  })
  .openapi("MemberPinLogin");

/** Registers `PUT /{id}/pin` on the members sub-app (API keys, admin or pos). */
export function registerMemberPinRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: zod.ZodObject<{ id: typeof uuidParam }>,
): void {
  app.openapi(
    createRoute({
      method: "put",
      path: "/{id}/pin",
      operationId: "setMemberPin",
      tags: ["member app"],
      summary: "Set a member's app PIN",
      description:
        "Sets or replaces the PIN the member signs in with (`POST /v1/member-auth/login`) and " +
        "lifts a lock. Stored as a slow salted hash, never shown or logged; audited as " +
        "`member.pin_set` (without the PIN). A closed or erased member 422 `member_inactive`. " +
        "Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: [requireRole("admin", "pos"), limitBody(pinBodyBytesMax)] as const,
      request: { params: Params, body: jsonBody(PinBody, { pin: "482913" }) },
      responses: {
        200: jsonContent(
          z.object({ member_id: z.string(), pin_set: z.literal(true) }),
          "The PIN is set.",
          { member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57", pin_set: true },
        ),
        ...errorResponses(400, 401, 403, 404, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      await setMemberPin(deps.domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
        pin: body.pin,
        actor: actorOf(c),
      });
      return c.json({ member_id: id, pin_set: true as const }, 200);
    },
  );
}

/** The /v1/member-auth sub-app: no API key, no token. */
export function memberAuthRoutes(deps: RouteDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: "post",
      path: "/login",
      operationId: "loginMemberWithPin",
      tags: ["member app"],
      summary: "Sign in to the member app with a PIN",
      description:
        "When the org enabled `member_pin_login`: the member of `org_slug` with `external_ref` " +
        "and this PIN gets a member token, as from `POST /v1/members/{id}/sessions`. Anything " +
        "wrong (org, setting, member, PIN, a lock, a closed member) is the same 401 " +
        "`invalid_credentials`. The 5th attempt without a success locks the member's PIN for " +
        "15 minutes. Rate limited per org. No authentication.",
      security: [],
      middleware: [limitBody(pinBodyBytesMax)] as const,
      request: {
        body: jsonBody(LoginBody, {
          org_slug: "corner-coffee",
          external_ref: "card-000123",
          pin: "482913",
        }),
      },
      responses: {
        201: jsonContent(SessionSchema, "The token and its expiry.", sessionExample),
        ...errorResponses(400, 401, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      await limitLogins(deps, c, body.org_slug);
      const { orgId, memberId } = await loginMemberWithPin(deps.domain, {
        orgSlug: body.org_slug,
        externalRef: body.external_ref,
        pin: body.pin,
      });
      // A closed or erased member was refused above, as staff cannot issue them a session.
      const { token, expiresAt } = await deps.memberTokens.issue({ orgId, memberId });
      return c.json({ token, expires_at: expiresAt.toISOString() }, 201, {
        "Cache-Control": "no-store",
      });
    },
  );
  return app;
}

/** The request rate limit, per org slug; like every limit here it fails open without Redis. */
async function limitLogins(
  deps: RouteDeps,
  c: Parameters<typeof requestLogger>[0],
  orgSlug: string,
): Promise<void> {
  let decision: Awaited<ReturnType<RouteDeps["limiter"]["hit"]>>;
  try {
    decision = await deps.limiter.hit(`member-login:${orgSlug}`);
  } catch (error) {
    deps.app.metrics.rateLimitFailures.inc();
    requestLogger(c).warn({ err: error }, "login rate limit unavailable (Redis)");
    return;
  }
  if (!decision.allowed) {
    throw new ApiError(
      429,
      "rate_limited",
      `rate limit of ${decision.limit} logins exceeded; retry in ${decision.resetSeconds} s`,
      { limit: decision.limit, reset_seconds: decision.resetSeconds },
      { "Retry-After": String(decision.resetSeconds) },
    );
  }
}
