/** Domain values returned by the membership use cases. Points are bigint; nothing is a float. */
import type { OrgSettings } from "./orgs/settings.ts";

export type ApiKeyRole = "admin" | "pos" | "finance";
export type MemberStatus = "active" | "suspended" | "closed";

export interface Org {
  id: string;
  name: string;
  slug: string;
  currency: string;
  timezone: string;
  settings: OrgSettings;
  createdAt: Date;
}

/** API key metadata; the token itself is never stored and never returned again. */
export interface ApiKey {
  id: string;
  orgId: string;
  role: ApiKeyRole;
  name: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

/** A key just created: the only time its plaintext `token` exists outside the caller. */
export interface CreatedApiKey extends ApiKey {
  token: string;
}

/** Who is calling, as resolved from an API key. */
export interface ApiKeyPrincipal {
  orgId: string;
  role: ApiKeyRole;
  keyId: string;
}

export interface Tier {
  id: string;
  orgId: string;
  name: string;
  rank: number;
  qualifyingPointsMin: bigint;
  /** 10000 = 1.0x. */
  multiplierBps: number;
  /** Members in an immutable tier keep it: tier evaluation leaves them alone. */
  immutable: boolean;
  /** The ladder (tier set) it belongs to. */
  tierSetId: string;
  /** False: evaluation never moves a member up into it; only an override places them there. */
  climbable: boolean;
  activeFrom: Date | null;
  activeUntil: Date | null;
  createdAt: Date;
}

export interface MemberPreferences {
  notifications: { email: boolean; sms: boolean; push: boolean };
  marketingOptIn: boolean;
}

export const defaultMemberPreferences: MemberPreferences = Object.freeze({
  notifications: Object.freeze({ email: false, sms: false, push: false }),
  marketingOptIn: false,
}) as MemberPreferences;

/** A member with personal data decrypted. */
export interface Member {
  id: string;
  orgId: string;
  externalRef: string;
  status: MemberStatus;
  tierId: string;
  email: string | null;
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
  /** ISO 8601 calendar date (YYYY-MM-DD), encrypted at rest like the other personal data. */
  dateOfBirth: string | null;
  /** What the member agreed to be sent (all off until they say otherwise). */
  preferences: MemberPreferences;
  /** The code this member hands out to refer others (unique within the org). */
  referralCode: string;
  /** When the personal data was erased; null while it is kept. */
  erasedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** One row of a member's tier history. */
export interface MemberTierEntry {
  /** Increases with every assignment; orders the history. */
  id: bigint;
  orgId: string;
  memberId: string;
  tierId: string;
  reason: string;
  effectiveAt: Date;
}
