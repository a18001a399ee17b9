import assert from "node:assert/strict";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { MembershipDeps } from "../deps.ts";
import { apiKeyNameLengthMax } from "../limits.ts";
import { keyedHash } from "../store/crypto.ts";
import { toApiKey } from "../store/records.ts";
import { apiKeys } from "../store/schema.ts";
import type { ApiKey, ApiKeyRole, CreatedApiKey } from "../types.ts";
import { apiKeyPrefixOf, newApiKeyId, newApiKeyToken } from "./ids.ts";

export interface CreateApiKeyInput {
  orgId: string;
  role: ApiKeyRole;
  name: string;
  /** When it stops authenticating; never when absent. */
  expiresAt?: Date | null;
  actor: AuditActor;
}

/** The hex HMAC under which a token is stored and looked up. */
export function apiKeyHash(key: Buffer, token: string): string {
  return keyedHash(key, token).toString("hex");
}

/**
 * Creates an API key for the org. The returned `token` is the only copy of the secret: only its
 * HMAC is stored, so it cannot be shown again.
 */
export async function createApiKey(
  deps: MembershipDeps,
  input: CreateApiKeyInput,
): Promise<CreatedApiKey> {
  assert.ok(input.name.length > 0 && input.name.length <= apiKeyNameLengthMax, "bad key name");
  const token = newApiKeyToken();
  // In the caller's transaction when it runs in one (org creation), else in its own.
  const row = await deps.db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(apiKeys)
      .values({
        id: newApiKeyId(),
        orgId: input.orgId,
        role: input.role,
        name: input.name,
        prefix: apiKeyPrefixOf(token),
        hash: apiKeyHash(deps.secrets.apiKeyHashKey, token),
        expiresAt: input.expiresAt ?? null,
      })
      .returning();
    assert.ok(inserted, "insert into api_keys returned no row");
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "api_key.created",
      targetType: "api_key",
      targetId: inserted.id,
      before: null,
      after: apiKeyAuditView(toApiKey(inserted)),
    });
    return inserted;
  });
  assert.equal(row.orgId, input.orgId);
  return { ...toApiKey(row), token };
}

/** What the audit log keeps of a key: never its token or hash. */
export function apiKeyAuditView(key: ApiKey): Record<string, unknown> {
  return {
    role: key.role,
    name: key.name,
    prefix: key.prefix,
    expires_at: key.expiresAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}
