/**
 * Member app tokens: short-lived JWTs (HS256 under MEMBER_TOKEN_SECRET) that let a member's own
 * app read and edit that one member through /v1/me, and nothing else.
 *
 * A token names its member (`sub`), the member's org (`org_id`), itself (`jti`), and when it was
 * issued and ends (`iat`, `exp`). The org comes from the token only, never from the request.
 * Verification is pinned to HS256: a token whose header says anything else (`none`, RS256, HS512)
 * is refused before its signature is looked at. Time is the app's clock, not the JWT library's,
 * so that issuing and checking agree (and tests can move it).
 *
 * Logout deny-lists the token id in Redis until the token would have expired anyway. Every /v1/me
 * request asks Redis whether its token was logged out; when Redis cannot answer, the request is
 * refused with 503 rather than served: a logged-out token must never work again, and serving it
 * while the deny-list is unreadable could do exactly that. Tokens are never logged: the access
 * line has the path only, and the request log is bound to the org and member ids.
 */
import assert from "node:assert/strict";
import { randomBytes, webcrypto } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { sign, verify } from "hono/jwt";
import type { Redis } from "ioredis";
import { z } from "zod";
import type { LedgerDeps } from "../membership/index.ts";
import { getMember, isDomainError } from "../membership/index.ts";
import type { AppEnv, MemberPrincipal } from "./env.ts";
import { requestLogger } from "./env.ts";
import { ApiError, unavailableHeaders } from "./errors.ts";
import { memberTokenClockSkewSeconds, memberTokenLengthMax } from "./limits.ts";

/** The only algorithm accepted; `verify` refuses a header naming another. */
const algorithm = "HS256";
/** The longest lifetime any configuration allows (config.ts bounds MEMBER_TOKEN_TTL_SECONDS). */
export const memberTokenLifetimeSecondsMax = 24 * 60 * 60;
const tokenIdBytes = 16;

const bearerPattern = /^bearer +([A-Za-z0-9_.-]+)$/i;
const wwwAuthenticate = { "WWW-Authenticate": 'Bearer realm="loyalty-member"' };
const wwwAuthenticateInvalid = {
  "WWW-Authenticate": 'Bearer realm="loyalty-member", error="invalid_token"',
};

/** The claims we sign, and nothing else: an unknown claim means the token is not ours. */
const ClaimsSchema = z.strictObject({
  sub: z.uuid(),
  org_id: z.uuid(),
  jti: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  iat: z.number().int().nonnegative(),
  exp: z.number().int().positive(),
});

export interface MemberTokenIssuer {
  /** Signs a token for the member; `expiresAt` is when it stops working. */
  issue(input: { orgId: string; memberId: string }): Promise<{ token: string; expiresAt: Date }>;
  /** The member a token speaks for, or `null` when it is not a valid, unexpired token of ours. */
  verify(token: string): Promise<MemberPrincipal | null>;
}

/**
 * @example
 * const tokens = createMemberTokens({ secret, ttlSeconds: 900, now: () => new Date() });
 * const { token } = await tokens.issue({ orgId, memberId });
 * const member = await tokens.verify(token); // null when forged, expired or malformed
 */
export function createMemberTokens(options: {
  secret: Buffer;
  ttlSeconds: number;
  now: () => Date;
}): MemberTokenIssuer {
  assert.equal(options.secret.length, 32, "the member token key is 32 bytes");
  assert.ok(Number.isSafeInteger(options.ttlSeconds), "the lifetime is whole seconds");
  assert.ok(options.ttlSeconds > 0, "the lifetime is positive");
  assert.ok(options.ttlSeconds <= memberTokenLifetimeSecondsMax, "the lifetime is bounded");
  // Imported once, as raw bytes: the key is the 32 bytes, not a string made from them.
  const key = webcrypto.subtle.importKey(
    "raw",
    options.secret,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  const nowSeconds = () => Math.floor(options.now().getTime() / 1000);
  return {
    async issue({ orgId, memberId }) {
      const issuedAt = nowSeconds();
      const claims: z.infer<typeof ClaimsSchema> = {
        sub: memberId,
        org_id: orgId,
        jti: randomBytes(tokenIdBytes).toString("base64url"),
        iat: issuedAt,
        exp: issuedAt + options.ttlSeconds,
      };
      ClaimsSchema.parse(claims);
      const token = await sign(claims, await key, algorithm);
      assert.ok(token.length <= memberTokenLengthMax, "a token we sign fits our own bound");
      return { token, expiresAt: new Date(claims.exp * 1000) };
    },
    async verify(token) {
      if (token.length > memberTokenLengthMax) {
        return null;
      }
      let payload: unknown;
      try {
        // The library's time checks are off: ours below use the app's clock.
        payload = await verify(token, await key, {
          alg: algorithm,
          exp: false,
          nbf: false,
          iat: false,
        });
      } catch {
        return null;
      }
      const claims = ClaimsSchema.safeParse(payload);
      if (!claims.success) {
        return null;
      }
      const { sub, org_id, jti, iat, exp } = claims.data;
      const now = nowSeconds();
      if (exp <= now || iat > now + memberTokenClockSkewSeconds) {
        return null;
      }
      if (exp <= iat || exp - iat > memberTokenLifetimeSecondsMax) {
        return null;
      }
      return { orgId: org_id, memberId: sub, tokenId: jti, expiresAtSeconds: exp };
    },
  };
}

/** Where a logged-out token id is kept, under the app's key prefix. */
function revokedKey(keyPrefix: string, tokenId: string): string {
  return `${keyPrefix}member-token:revoked:${tokenId}`;
}

/** 503, with a log line: the error handler does not log an `ApiError`. */
function redisUnavailable(c: Context<AppEnv>, what: string, error: unknown): ApiError {
  requestLogger(c).warn({ err: error }, `${what}: Redis is unavailable`);
  return new ApiError(
    503,
    "unavailable",
    `${what}: Redis is unavailable; retry later`,
    undefined,
    unavailableHeaders,
  );
}

/**
 * Deny-lists the token until its own expiry. Throws 503 when Redis does not confirm: the caller
 * must not believe it is logged out when it is not.
 */
export async function revokeMemberToken(
  c: Context<AppEnv>,
  deps: { redis: Redis; keyPrefix: string; now: Date },
  member: MemberPrincipal,
): Promise<void> {
  const { redis, keyPrefix, now } = deps;
  const remainingSeconds = member.expiresAtSeconds - Math.floor(now.getTime() / 1000);
  // A token expiring this second is refused anyway; keep the entry a moment beyond it.
  const seconds = Math.max(1, remainingSeconds + 1);
  assert.ok(seconds <= memberTokenLifetimeSecondsMax + 1, "entries live no longer than a token");
  let reply: unknown;
  try {
    reply = await redis.set(revokedKey(keyPrefix, member.tokenId), "1", "EX", seconds);
  } catch (error) {
    throw redisUnavailable(c, "the logout could not be recorded", error);
  }
  if (reply !== "OK") {
    throw redisUnavailable(c, "the logout could not be recorded", new Error(String(reply)));
  }
}

/**
 * `Authorization: Bearer <member token>` → the member, for /v1/me routes. 401 for anything that
 * is not a valid token of ours (an API key included), a logged-out token, or a member who is
 * gone, closed or erased; 503 when Redis cannot say whether the token was logged out.
 */
export function authenticateMember(deps: {
  tokens: MemberTokenIssuer;
  redis: Redis;
  keyPrefix: string;
  domain: LedgerDeps;
}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("Authorization");
    const token =
      header !== undefined && header.length <= memberTokenLengthMax + 32
        ? (bearerPattern.exec(header)?.[1] ?? null)
        : null;
    if (token === null) {
      throw new ApiError(
        401,
        "unauthorized",
        "send a member token as Authorization: Bearer <token>",
        undefined,
        wwwAuthenticate,
      );
    }
    const member = await deps.tokens.verify(token);
    if (member === null) {
      throw invalidToken("invalid or expired member token");
    }
    let revoked: number;
    try {
      revoked = await deps.redis.exists(revokedKey(deps.keyPrefix, member.tokenId));
    } catch (error) {
      throw redisUnavailable(c, "cannot tell whether this token was logged out", error);
    }
    if (revoked !== 0) {
      throw invalidToken("this member token was logged out");
    }
    await requireUsableMember(deps.domain, member);
    c.set("memberPrincipal", member);
    c.get("log").bind({ orgId: member.orgId, memberId: member.memberId });
    await next();
  };
}

function invalidToken(message: string): ApiError {
  return new ApiError(401, "unauthorized", message, undefined, wwwAuthenticateInvalid);
}

/**
 * A token outlives nothing it was issued for: a member deleted, closed or erased since is 401,
 * the same answer as a bad token (the app signs in again and is told then).
 */
async function requireUsableMember(domain: LedgerDeps, member: MemberPrincipal): Promise<void> {
  try {
    const current = await getMember(domain, { orgId: member.orgId, memberId: member.memberId });
    if (current.status === "closed" || current.erasedAt !== null) {
      throw invalidToken("this member can no longer sign in");
    }
  } catch (error) {
    if (isDomainError(error) && error.code === "not_found") {
      throw invalidToken("invalid or expired member token");
    }
    throw error;
  }
}
