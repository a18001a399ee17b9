import { and, eq, sql } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { toApiKey } from "../store/records.ts";
import { apiKeys } from "../store/schema.ts";
import type { ApiKey } from "../types.ts";

export interface RevokeApiKeyInput {
  orgId: string;
  keyId: string;
}

/**
 * Revokes a key of the org; it stops authenticating at once. Revoking twice keeps the first
 * revocation time. Another org's key is `not_found`, like an unknown one.
 */
export async function revokeApiKey(deps: DbDeps, input: RevokeApiKeyInput): Promise<ApiKey> {
  const [row] = await deps.db
    .update(apiKeys)
    .set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, now())` })
    .where(and(eq(apiKeys.orgId, input.orgId), eq(apiKeys.id, input.keyId)))
    .returning();
  if (row === undefined) {
    throw new DomainError("not_found", "API key not found", { keyId: input.keyId });
  }
  return toApiKey(row);
}
