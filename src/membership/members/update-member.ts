import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { writeOutbox } from "../store/outbox.ts";
import {
  emailLookupHash,
  encryptPii,
  memberCipher,
  phoneLookupHash,
  preferencesOf,
  toMember,
} from "../store/records.ts";
import { members } from "../store/schema.ts";
import type { Member, MemberStatus } from "../types.ts";
import { isUuid } from "../validation.ts";

/** PATCH semantics: an absent field is unchanged, `null` clears it. */
export interface MemberPatch {
  email?: string | null;
  phone?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  /** YYYY-MM-DD. */
  dateOfBirth?: string | null;
  /** Merged into the stored preferences: the fields given change, the others stay. */
  preferences?: {
    notifications?: { email?: boolean; sms?: boolean; push?: boolean };
    marketingOptIn?: boolean;
  };
  status?: MemberStatus;
}

export interface UpdateMemberInput {
  orgId: string;
  memberId: string;
  patch: MemberPatch;
}

const patchFieldNames: Record<keyof MemberPatch, string> = {
  email: "email",
  phone: "phone",
  firstName: "first_name",
  lastName: "last_name",
  dateOfBirth: "date_of_birth",
  preferences: "preferences",
  status: "status",
};

/** The wire names of the fields a patch sets, in a fixed order. */
function changedFields(patch: MemberPatch): string[] {
  return (Object.keys(patchFieldNames) as Array<keyof MemberPatch>)
    .filter((field) => patch[field] !== undefined)
    .map((field) => patchFieldNames[field]);
}

/**
 * Changes a member's personal data and/or status. `closed` is final: a closed member cannot be
 * changed any more (`invalid_state`); `suspended` ↔ `active` is free. Another org's member is
 * `not_found`. A change writes `member.updated` (field names, never values) in its transaction.
 */
export async function updateMember(
  deps: MembershipDeps,
  input: UpdateMemberInput,
): Promise<Member> {
  const { orgId, memberId, patch } = input;
  const notFound = new DomainError("not_found", "member not found", { memberId });
  if (!isUuid(memberId)) {
    throw notFound;
  }
  const cipher = memberCipher(deps.secrets);

  return deps.db.transaction(async (tx) => {
    // Locked so the status check and the write see the same row.
    const [current] = await tx
      .select()
      .from(members)
      .where(and(eq(members.orgId, orgId), eq(members.id, memberId)))
      .limit(1)
      .for("update");
    if (current === undefined) {
      throw notFound;
    }
    const changes: Partial<typeof members.$inferInsert> = {};
    if (patch.email !== undefined) {
      changes.emailEncrypted = encryptPii(cipher, "email", orgId, memberId, patch.email);
      changes.emailHash =
        patch.email === null ? null : emailLookupHash(deps.secrets, orgId, patch.email);
    }
    if (patch.phone !== undefined) {
      changes.phoneEncrypted = encryptPii(cipher, "phone", orgId, memberId, patch.phone);
      changes.phoneHash =
        patch.phone === null ? null : phoneLookupHash(deps.secrets, orgId, patch.phone);
    }
    if (patch.firstName !== undefined) {
      changes.firstNameEncrypted = encryptPii(
        cipher,
        "first_name",
        orgId,
        memberId,
        patch.firstName,
      );
    }
    if (patch.lastName !== undefined) {
      changes.lastNameEncrypted = encryptPii(cipher, "last_name", orgId, memberId, patch.lastName);
    }
    if (patch.dateOfBirth !== undefined) {
      changes.dateOfBirthEncrypted = encryptPii(
        cipher,
        "date_of_birth",
        orgId,
        memberId,
        patch.dateOfBirth,
      );
    }
    if (patch.preferences !== undefined) {
      const stored = preferencesOf(current.preferences);
      changes.preferences = {
        notifications: { ...stored.notifications, ...patch.preferences.notifications },
        marketingOptIn: patch.preferences.marketingOptIn ?? stored.marketingOptIn,
      };
    }
    if (patch.status !== undefined) {
      changes.status = patch.status;
    }
    if (Object.keys(changes).length === 0) {
      return toMember(cipher, current);
    }
    if (current.status === "closed") {
      throw new DomainError("invalid_state", "a closed member cannot be changed", {
        memberId,
        status: current.status,
      });
    }
    const personal = changes.emailEncrypted !== undefined || changes.phoneEncrypted !== undefined;
    const named =
      changes.firstNameEncrypted !== undefined ||
      changes.lastNameEncrypted !== undefined ||
      changes.dateOfBirthEncrypted !== undefined ||
      changes.preferences !== undefined;
    if (current.erasedAt !== null && (personal || named)) {
      throw new DomainError("invalid_state", "an erased member's personal data cannot be set", {
        memberId,
        erasedAt: current.erasedAt.toISOString(),
      });
    }

    const [row] = await tx
      .update(members)
      .set({ ...changes, updatedAt: sql`now()` })
      .where(and(eq(members.orgId, orgId), eq(members.id, memberId)))
      .returning();
    assert.ok(row, "locked member vanished during update");
    // Which fields changed, by name only: the event carries no personal data.
    await writeOutbox(tx, [
      {
        orgId,
        topic: "member.updated",
        payload: {
          member_id: memberId,
          external_ref: row.externalRef,
          changed: changedFields(patch),
          status: row.status,
        },
      },
    ]);
    return toMember(cipher, row);
  });
}
