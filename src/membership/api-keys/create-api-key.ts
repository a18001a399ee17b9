import assert from "node:assert/strict";
import type { MembershipDeps } from "../deps.ts";
import { apiKeyNameLengthMax } from "../limits.ts";
import { keyedHash } from "../store/crypto.ts";
import { toApiKey } from "../store/records.ts";
import { apiKeys } from "../store/schema.ts";
import type { ApiKeyRole, CreatedApiKey } from "../types.ts";
import { apiKeyPrefixOf, newApiKeyId, newApiKeyToken } from "./ids.ts";

export interface CreateApiKeyInput {
  orgId: string;
  role: ApiKeyRole;
  name: string;
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
  const [row] = await deps.db
    .insert(apiKeys)
    .values({
      id: newApiKeyId(),
      orgId: input.orgId,
      role: input.role,
      name: input.name,
      prefix: apiKeyPrefixOf(token),
      hash: apiKeyHash(deps.secrets.apiKeyHashKey, token),
    })
    .returning();
  assert.ok(row, "insert into api_keys returned no row");
  assert.equal(row.orgId, input.orgId);
  return { ...toApiKey(row), token };
}
