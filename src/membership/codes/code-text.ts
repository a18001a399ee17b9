/**
 * What a promo code is as text, and how it is kept: normalised (Unicode NFKC, upper-case), then
 * stored only as an HMAC scoped by the org, with its first characters in clear. Shared by the
 * admin use cases and the redemption.
 */
import assert from "node:assert/strict";
import type { MembershipSecrets } from "../deps.ts";
import { codeLengthMax, codeLengthMin, codePrefixLength } from "../limits.ts";
import { keyedHash } from "../store/crypto.ts";
import type { codes } from "../store/schema.ts";

const codePattern = new RegExp(`^[A-Z0-9-]{${codeLengthMin},${codeLengthMax}}$`);

/**
 * The code as stored and compared: NFKC folds full-width and compatibility characters, upper
 * case makes "summer-25" and "SUMMER-25" one code. Null when the result is not 4–64 characters of
 * [A-Z0-9-].
 *
 * @example normalizeCode(" summer-25") === null; normalizeCode("ｓｕｍｍｅｒ-25") === "SUMMER-25"
 */
export function normalizeCode(text: string): string | null {
  // Bounded before normalising: NFKC may expand a character, never by more than 18x.
  if (text.length > codeLengthMax * 4) {
    return null;
  }
  const normalized = text.normalize("NFKC").toUpperCase();
  return codePattern.test(normalized) ? normalized : null;
}

/**
 * HMAC-SHA256 of the normalised code under the API key hash key, scoped by the org: the same code
 * in two orgs hashes apart, and a stolen database does not give the codes away.
 */
export function codeHash(secrets: MembershipSecrets, orgId: string, normalized: string): Buffer {
  assert.ok(codePattern.test(normalized), "only a normalised code is hashed");
  assert.ok(orgId.length > 0, "a code hash is scoped by an org");
  return keyedHash(secrets.apiKeyHashKey, `promo-code\u0000${orgId}\u0000${normalized}`);
}

export function codePrefix(normalized: string): string {
  assert.ok(normalized.length >= codePrefixLength, "a code is longer than its prefix");
  return normalized.slice(0, codePrefixLength);
}

export type CodeRow = typeof codes.$inferSelect;

/** A promo code as callers see it: never the code itself, only its prefix. */
export interface PromoCode {
  id: string;
  prefix: string;
  points: bigint;
  maxUsesTotal: bigint | null;
  uses: bigint;
  oncePerMember: true;
  validFrom: Date | null;
  validUntil: Date | null;
  minTierId: string | null;
  active: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export function toPromoCode(row: CodeRow): PromoCode {
  assert.equal(row.oncePerMember, true, "codes are once per member");
  return {
    id: row.id,
    prefix: row.prefix,
    points: row.points,
    maxUsesTotal: row.maxUsesTotal,
    uses: row.uses,
    oncePerMember: true,
    validFrom: row.validFrom,
    validUntil: row.validUntil,
    minTierId: row.minTierId,
    active: row.active,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The audit log's view of a code: its prefix, never the code (nor its hash). */
export function codeAuditView(code: PromoCode): Record<string, unknown> {
  return {
    id: code.id,
    prefix: code.prefix,
    points: code.points.toString(),
    max_uses_total: code.maxUsesTotal?.toString() ?? null,
    once_per_member: code.oncePerMember,
    valid_from: code.validFrom?.toISOString() ?? null,
    valid_until: code.validUntil?.toISOString() ?? null,
    min_tier_id: code.minTierId,
    active: code.active,
  };
}
