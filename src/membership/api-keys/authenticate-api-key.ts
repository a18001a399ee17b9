import { and, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { MembershipDeps } from "../deps.ts";
import { apiKeyTokenLengthMax } from "../limits.ts";
import { apiKeys } from "../store/schema.ts";
import type { ApiKeyPrincipal } from "../types.ts";
import { apiKeyHash } from "./create-api-key.ts";

/** `last_used_at` is refreshed at most this often, so authenticating is not a write per call. */
const lastUsedRefreshMs = 60_000;

export interface AuthenticateApiKeyInput {
  /** The bearer token as presented by the caller; untrusted. */
  token: string;
}

/**
 * Resolves a token to the org and role it acts for, or null when the token is unknown, revoked,
 * expired or malformed. The lookup is by HMAC, so comparing in constant time is not needed: an attacker
 * cannot steer the hash of a guess towards a stored one.
 */
export async function authenticateApiKey(
  deps: MembershipDeps,
  input: AuthenticateApiKeyInput,
): Promise<ApiKeyPrincipal | null> {
  const { token } = input;
  if (token.length === 0 || token.length > apiKeyTokenLengthMax) {
    return null;
  }
  const hash = apiKeyHash(deps.secrets.apiKeyHashKey, token);
  const [row] = await deps.db
    .select({
      id: apiKeys.id,
      orgId: apiKeys.orgId,
      role: apiKeys.role,
      revokedAt: apiKeys.revokedAt,
      expiresAt: apiKeys.expiresAt,
      lastUsedAt: apiKeys.lastUsedAt,
    })
    .from(apiKeys)
    .where(eq(apiKeys.hash, hash))
    .limit(1);
  if (row === undefined || row.revokedAt !== null) {
    return null;
  }
  if (row.expiresAt !== null && row.expiresAt.getTime() <= Date.now()) {
    return null;
  }
  const stale =
    row.lastUsedAt === null || Date.now() - row.lastUsedAt.getTime() >= lastUsedRefreshMs;
  if (stale) {
    // Conditional, so concurrent requests with the same key write once per interval at most.
    await deps.db
      .update(apiKeys)
      .set({ lastUsedAt: sql`now()` })
      .where(
        and(
          eq(apiKeys.orgId, row.orgId),
          eq(apiKeys.id, row.id),
          or(
            isNull(apiKeys.lastUsedAt),
            lt(apiKeys.lastUsedAt, sql`now() - make_interval(secs => ${lastUsedRefreshMs / 1000})`),
          ),
        ),
      );
  }
  return { orgId: row.orgId, role: row.role, keyId: row.id };
}
