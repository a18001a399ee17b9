/**
 * Identifiers and secrets for Postgres-only entities. API keys get a prefixed public id
 * ("key_...") and a separate secret token ("llk_..."), so ids can be logged and tokens cannot.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { apiKeyPrefixLength, apiKeyTokenLengthMax } from "../limits.ts";

const apiKeyIdPrefix = "key_";
const apiKeyTokenPrefix = "llk_";
/** 256 bits of randomness per token. */
const apiKeyTokenBytes = 32;

export function newApiKeyId(): string {
  return `${apiKeyIdPrefix}${randomBytes(16).toString("hex")}`;
}

export function newApiKeyToken(): string {
  const token = `${apiKeyTokenPrefix}${randomBytes(apiKeyTokenBytes).toString("base64url")}`;
  assert.ok(token.length <= apiKeyTokenLengthMax);
  return token;
}

/** The non-secret start of a token, shown to humans to tell keys apart. */
export function apiKeyPrefixOf(token: string): string {
  assert.ok(token.length > apiKeyPrefixLength * 2, "token too short to reveal a prefix");
  return token.slice(0, apiKeyPrefixLength);
}
