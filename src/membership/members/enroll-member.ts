import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { externalRefLengthMax } from "../limits.ts";
import {
  emailLookupHash,
  encryptPii,
  memberCipher,
  phoneLookupHash,
  toMember,
} from "../store/records.ts";
import { members, memberTiers } from "../store/schema.ts";
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
}

/**
 * Enrols a member (the Postgres part: crediting a welcome bonus is the ledger's). In one
 * transaction: the member with encrypted personal data and lookup hashes, placed in the org's
 * entry tier (rank 0), and the first row of its tier history. A taken `externalRef` is a
 * `conflict`.
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
    return toMember(cipher, row);
  });
}
