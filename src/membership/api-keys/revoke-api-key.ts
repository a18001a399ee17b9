import { and, eq, gt, isNull, or, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { toApiKey } from "../store/records.ts";
import { apiKeys } from "../store/schema.ts";
import type { ApiKey } from "../types.ts";
import { apiKeyAuditView } from "./create-api-key.ts";

export interface RevokeApiKeyInput {
  orgId: string;
  keyId: string;
  actor: AuditActor;
}

/**
 * Revokes a key of the org; it stops authenticating at once (processes that cached it within
 * their key cache's TTL). Revoking twice keeps the first revocation time. Another org's key is
 * `not_found`, like an unknown one. The org's last live admin key cannot be revoked (`conflict`):
 * that would lock the org out; create another admin key first, then revoke this one.
 */
export async function revokeApiKey(deps: DbDeps, input: RevokeApiKeyInput): Promise<ApiKey> {
  return deps.db.transaction(async (tx) => {
    // Every live admin key of the org, locked: two revocations at once cannot both take the last.
    const liveAdmins = await tx
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(
        and(
          eq(apiKeys.orgId, input.orgId),
          eq(apiKeys.role, "admin"),
          isNull(apiKeys.revokedAt),
          or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, sql`now()`)),
        ),
      )
      .for("update");
    const [current] = await tx
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.orgId, input.orgId), eq(apiKeys.id, input.keyId)))
      .for("update");
    if (current === undefined) {
      throw new DomainError("not_found", "API key not found", { keyId: input.keyId });
    }
    if (current.revokedAt !== null) {
      return toApiKey(current);
    }
    if (liveAdmins.length === 1 && liveAdmins[0]?.id === current.id) {
      throw new DomainError("conflict", "the org's last admin key cannot be revoked", {
        keyId: input.keyId,
        hint: "create another admin key first",
      });
    }
    const [row] = await tx
      .update(apiKeys)
      .set({ revokedAt: sql`now()` })
      .where(and(eq(apiKeys.orgId, input.orgId), eq(apiKeys.id, input.keyId)))
      .returning();
    if (row === undefined) {
      throw new DomainError("not_found", "API key not found", { keyId: input.keyId });
    }
    const before = toApiKey(current);
    const after = toApiKey(row);
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "api_key.revoked",
      targetType: "api_key",
      targetId: row.id,
      before: apiKeyAuditView(before),
      after: apiKeyAuditView(after),
    });
    return after;
  });
}
