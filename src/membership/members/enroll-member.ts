import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { uuidV7 } from "../../ledger/index.ts";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { externalRefLengthMax } from "../limits.ts";
import { newReferralCode, normalizeReferralCode } from "../referrals/referral-code.ts";
import {
  emailLookupHash,
  encryptPii,
  memberCipher,
  phoneLookupHash,
  toMember,
} from "../store/records.ts";
import { members, memberTiers, referrals } from "../store/schema.ts";
import { earningEntryTier } from "../tiers/progression.ts";
import type { Member } from "../types.ts";

export interface EnrollMemberInput {
  orgId: string;
  /** The org's identifier for the member, e.g. a card number; unique within the org. */
  externalRef: string;
  email?: string | null;
  phone?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  /**
   * Another member's referral code, as typed: the new member is recorded as referred by them
   * (`referrals`, status `pending`). Unknown, another org's or the member's own: refused.
   */
  referralCode?: string | null;
}

function referralCodeInvalid(reason: "unknown" | "self"): DomainError {
  return new DomainError(
    "referral_code_invalid",
    reason === "self"
      ? "a member cannot be referred by their own referral code"
      : "no member of this org has this referral code",
    { field: "referral_code", reason },
  );
}

/**
 * Enrols a member (the Postgres part: crediting a welcome bonus is the ledger's). In one
 * transaction: the member with encrypted personal data and lookup hashes, placed in the org's
 * entry tier (rank 0), and the first row of its tier history, its own new referral code and,
 * when `referralCode` names a referrer, the pending referral. A taken `externalRef` is a
 * `conflict`; a referral code of no member of the org, or of the same external ref, is
 * `referral_code_invalid` (nothing is written).
 */
export async function enrollMember(
  deps: MembershipDeps,
  input: EnrollMemberInput,
): Promise<Member> {
  assert.ok(
    input.externalRef.length > 0 && input.externalRef.length <= externalRefLengthMax,
    "bad external ref",
  );
  const cipher = memberCipher(deps.secrets);
  // Chosen here, not by the database, because the ciphertexts are bound to it.
  const memberId = randomUUID();
  const { orgId } = input;
  const email = input.email ?? null;
  const phone = input.phone ?? null;

  return deps.db.transaction(async (tx) => {
    const entryTierId = await earningEntryTier(tx, orgId);
    if (entryTierId === null) {
      // Every org is created with its tiers, so no entry tier means no such org.
      throw new DomainError("not_found", "org not found", { orgId });
    }
    const referrer = await findReferrer(tx, orgId, input);

    const [row] = await tx
      .insert(members)
      .values({
        id: memberId,
        orgId,
        externalRef: input.externalRef,
        tierId: entryTierId,
        status: "active",
        emailEncrypted: encryptPii(cipher, "email", orgId, memberId, email),
        phoneEncrypted: encryptPii(cipher, "phone", orgId, memberId, phone),
        firstNameEncrypted: encryptPii(
          cipher,
          "first_name",
          orgId,
          memberId,
          input.firstName ?? null,
        ),
        lastNameEncrypted: encryptPii(cipher, "last_name", orgId, memberId, input.lastName ?? null),
        emailHash: email === null ? null : emailLookupHash(deps.secrets, orgId, email),
        phoneHash: phone === null ? null : phoneLookupHash(deps.secrets, orgId, phone),
        referralCode: newReferralCode(),
      })
      .onConflictDoNothing({ target: [members.orgId, members.externalRef] })
      .returning();
    if (row === undefined) {
      throw new DomainError("conflict", "a member with this external ref already exists", {
        externalRef: input.externalRef,
      });
    }
    assert.equal(row.id, memberId);

    await tx
      .insert(memberTiers)
      .values({ orgId, memberId, tierId: entryTierId, reason: "enrollment" });
    if (referrer !== null) {
      assert.notEqual(referrer.id, memberId, "a member is never their own referrer");
      await tx.insert(referrals).values({
        id: uuidV7(Date.now()),
        orgId,
        referrerMemberId: referrer.id,
        referredMemberId: memberId,
        status: "pending",
      });
    }
    return toMember(cipher, row);
  });
}

/** The member whose referral code the input names, or null when it names none. */
async function findReferrer(
  tx: MembershipDeps["db"],
  orgId: string,
  input: EnrollMemberInput,
): Promise<{ id: string } | null> {
  if (input.referralCode === undefined || input.referralCode === null) {
    return null;
  }
  const code = normalizeReferralCode(input.referralCode);
  if (code === null) {
    throw referralCodeInvalid("unknown");
  }
  // Scoped to the org: another org's code is unknown here, exactly like a code no one has.
  const [referrer] = await tx
    .select({ id: members.id, externalRef: members.externalRef })
    .from(members)
    .where(and(eq(members.orgId, orgId), eq(members.referralCode, code)))
    .limit(1);
  if (referrer === undefined) {
    throw referralCodeInvalid("unknown");
  }
  // The new member cannot hold a code yet; a code of the member with this very external ref is
  // someone re-enrolling themself (a conflict otherwise): refused as a self-referral.
  if (referrer.externalRef === input.externalRef) {
    throw referralCodeInvalid("self");
  }
  return { id: referrer.id };
}
