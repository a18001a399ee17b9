/**
 * Erasure of a member's personal data (a data subject's right to be forgotten): names, e-mail and
 * phone are deleted, ciphertexts and lookup hashes alike, so the member can no longer be found by
 * e-mail or phone and nothing decrypts to them again; profile changes the member sent through
 * `POST /v1/events` (`customer.updated` payloads) are scrubbed, and one still queued is failed.
 * What remains is anonymous: the id, the org's external reference (the card number), the tier,
 * the ledger and its balances, and the documents, which carry no personal data.
 *
 * One transaction: the erasure, a `member.erased` event and its audit entry. Erasing an erased
 * member changes nothing and answers the member as it is. The HTTP layer also purges stored
 * idempotent answers that contained the member (routes/members-privacy.ts).
 */
import { and, eq, or, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { inboxLockNamespace } from "../inbox/processing.ts";
import { writeOutbox } from "../store/outbox.ts";
import { memberCipher, toMember } from "../store/records.ts";
import { inboxEvents, members } from "../store/schema.ts";
import type { Member } from "../types.ts";
import { isUuid } from "../validation.ts";

export interface EraseMemberInput {
  orgId: string;
  memberId: string;
  actor: AuditActor;
}

export async function eraseMember(
  deps: MembershipDeps,
  input: EraseMemberInput,
): Promise<{ member: Member; erased: boolean }> {
  const { orgId, memberId } = input;
  const notFound = new DomainError("not_found", "member not found", { memberId });
  if (!isUuid(memberId)) {
    throw notFound;
  }
  const cipher = memberCipher(deps.secrets);
  return deps.db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(members)
      .where(and(eq(members.orgId, orgId), eq(members.id, memberId)))
      .for("update");
    if (current === undefined) {
      throw notFound;
    }
    if (current.erasedAt !== null) {
      return { member: toMember(cipher, current), erased: false };
    }
    // Which fields held data, by name: the audit entry keeps no value.
    const held = (
      [
        ["email", current.emailEncrypted],
        ["phone", current.phoneEncrypted],
        ["first_name", current.firstNameEncrypted],
        ["last_name", current.lastNameEncrypted],
        ["date_of_birth", current.dateOfBirthEncrypted],
      ] as const
    )
      .filter(([, value]) => value !== null)
      .map(([name]) => name);
    const [row] = await tx
      .update(members)
      .set({
        emailEncrypted: null,
        phoneEncrypted: null,
        firstNameEncrypted: null,
        lastNameEncrypted: null,
        dateOfBirthEncrypted: null,
        preferences: {},
        emailHash: null,
        phoneHash: null,
        // The member app PIN goes too: an erased member never signs in again.
        pinHash: null,
        pinSalt: null,
        erasedAt: sql`now()`,
        updatedAt: sql`now()`,
      })
      .where(and(eq(members.orgId, orgId), eq(members.id, memberId)))
      .returning();
    if (row === undefined || row.erasedAt === null) {
      throw notFound;
    }
    // The org's inbox lock, waited for: no worker is between reading a profile event of this
    // member and recording its outcome while the events are failed and scrubbed here.
    await tx.execute(sql`select pg_advisory_xact_lock(${inboxLockNamespace}, hashtext(${orgId}))`);
    const naming = or(
      eq(inboxEvents.memberId, memberId),
      eq(inboxEvents.memberExternalRef, current.externalRef),
    );
    const failure = { code: "member_erased", message: "the member's personal data was erased" };
    const failed = await tx
      .update(inboxEvents)
      .set({ status: "failed", error: failure, processedAt: sql`now()` })
      .where(
        and(
          eq(inboxEvents.orgId, orgId),
          eq(inboxEvents.eventType, "customer.updated"),
          eq(inboxEvents.status, "queued"),
          naming,
        ),
      )
      .returning({ eventId: inboxEvents.eventId, seq: inboxEvents.seq });
    // Announced as any failed event is (`event.failed`), in the events' order.
    await writeOutbox(
      tx,
      failed
        .sort((a, b) => (a.seq < b.seq ? -1 : 1))
        .map((event) => ({
          orgId,
          topic: "event.failed" as const,
          payload: { event_id: event.eventId, status: "failed", error: failure },
        })),
    );
    await tx
      .update(inboxEvents)
      .set({ payload: { erased: true } })
      .where(
        and(eq(inboxEvents.orgId, orgId), eq(inboxEvents.eventType, "customer.updated"), naming),
      );
    const erasedAt = row.erasedAt.toISOString();
    await writeOutbox(tx, [
      {
        orgId,
        topic: "member.erased",
        payload: { member_id: memberId, external_ref: row.externalRef, erased_at: erasedAt },
      },
    ]);
    await writeAudit(tx, {
      orgId,
      actor: input.actor,
      action: "member.erased",
      targetType: "member",
      targetId: memberId,
      before: { fields_held: held },
      after: { erased_at: erasedAt },
    });
    return { member: toMember(cipher, row), erased: true };
  });
}
