/**
 * Row ↔ domain value conversions shared by the use cases, including how member personal data is
 * encrypted (associated data binds each ciphertext to its org, member and column) and hashed
 * (the org and the kind of value are hashed in, so equal e-mails in two orgs do not match).
 */
import assert from "node:assert/strict";
import type { MembershipSecrets } from "../deps.ts";
import { orgSettingsSchema } from "../orgs/settings.ts";
import type { ApiKey, Member, MemberPreferences, MemberTierEntry, Org, Tier } from "../types.ts";
import type { FieldCipher } from "./crypto.ts";
import { createFieldCipher, keyedHash, normalizeEmail, normalizePhone } from "./crypto.ts";
import type { apiKeys, members, memberTiers, orgs, tiers } from "./schema.ts";

type MemberRow = typeof members.$inferSelect;
type PiiColumn = "email" | "phone" | "first_name" | "last_name" | "date_of_birth";

export function toOrg(row: typeof orgs.$inferSelect): Org {
  // Paired with the parse on write: settings read back must still be integers in range.
  const settings = orgSettingsSchema.parse(row.settings);
  return { ...row, settings };
}

export function toApiKey(row: typeof apiKeys.$inferSelect): ApiKey {
  const { hash: _hash, ...key } = row;
  return key;
}

export function toTier(row: typeof tiers.$inferSelect): Tier {
  assert.ok(row.rank >= 0, "tier rank is negative");
  assert.ok(row.multiplierBps > 0, "tier multiplier is not positive");
  return {
    id: row.id,
    orgId: row.orgId,
    name: row.name,
    rank: row.rank,
    qualifyingPointsMin: row.qualifyingPointsMin,
    multiplierBps: row.multiplierBps,
    immutable: row.immutable,
    tierSetId: row.tierSetId,
    climbable: row.climbable,
    activeFrom: row.activeFrom,
    activeUntil: row.activeUntil,
    createdAt: row.createdAt,
  };
}

export function toMemberTierEntry(row: typeof memberTiers.$inferSelect): MemberTierEntry {
  return row;
}

export function memberCipher(secrets: MembershipSecrets): FieldCipher {
  return createFieldCipher(secrets.piiEncryptionKey);
}

function associatedData(column: PiiColumn, orgId: string, memberId: string): string {
  return `members.${column}:${orgId}:${memberId}`;
}

export function encryptPii(
  cipher: FieldCipher,
  column: PiiColumn,
  orgId: string,
  memberId: string,
  value: string | null,
): Buffer | null {
  return value === null ? null : cipher.encrypt(value, associatedData(column, orgId, memberId));
}

function decryptPii(
  cipher: FieldCipher,
  column: PiiColumn,
  row: MemberRow,
  value: Buffer | null,
): string | null {
  return value === null ? null : cipher.decrypt(value, associatedData(column, row.orgId, row.id));
}

export function emailLookupHash(secrets: MembershipSecrets, orgId: string, email: string): Buffer {
  return keyedHash(secrets.piiHashKey, `members.email\u0000${orgId}\u0000${normalizeEmail(email)}`);
}

export function phoneLookupHash(secrets: MembershipSecrets, orgId: string, phone: string): Buffer {
  return keyedHash(secrets.piiHashKey, `members.phone\u0000${orgId}\u0000${normalizePhone(phone)}`);
}

/** Stored preferences, every field defaulting to off (`{}` for a member who never set any). */
export function preferencesOf(stored: unknown): MemberPreferences {
  const value = (stored ?? {}) as {
    notifications?: { email?: unknown; sms?: unknown; push?: unknown };
    marketingOptIn?: unknown;
  };
  const on = (flag: unknown): boolean => flag === true;
  return {
    notifications: {
      email: on(value.notifications?.email),
      sms: on(value.notifications?.sms),
      push: on(value.notifications?.push),
    },
    marketingOptIn: on(value.marketingOptIn),
  };
}

export function toMember(cipher: FieldCipher, row: MemberRow): Member {
  return {
    id: row.id,
    orgId: row.orgId,
    externalRef: row.externalRef,
    status: row.status,
    tierId: row.tierId,
    email: decryptPii(cipher, "email", row, row.emailEncrypted),
    phone: decryptPii(cipher, "phone", row, row.phoneEncrypted),
    firstName: decryptPii(cipher, "first_name", row, row.firstNameEncrypted),
    lastName: decryptPii(cipher, "last_name", row, row.lastNameEncrypted),
    dateOfBirth: decryptPii(cipher, "date_of_birth", row, row.dateOfBirthEncrypted),
    preferences: preferencesOf(row.preferences),
    referralCode: row.referralCode,
    erasedAt: row.erasedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
