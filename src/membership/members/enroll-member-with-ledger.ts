import assert from "node:assert/strict";
import { and, eq } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { interrupt, loadOrgLedger } from "../intents/support.ts";
import { writeOutbox } from "../store/outbox.ts";
import { members } from "../store/schema.ts";
import type { Member } from "../types.ts";
import { type EnrollMemberInput, enrollMember } from "./enroll-member.ts";
import { finishEnrollments } from "./ledger-enrollment.ts";

export interface EnrollMemberWithLedgerResult {
  member: Member;
  /** Points credited on enrollment (the org's `welcomeBonusPoints` at that moment). */
  welcomeBonus: bigint;
}

/**
 * Enrols a member end to end. First, in one Postgres transaction: the member (see
 * `enrollMember`), the welcome bonus it is owed, and the `member.enrolled` event. Then the
 * ledger: the wallet opens and the bonus is credited. Then the member row is marked posted.
 * A crash in between leaves `ledger_status = 'pending'`, which recovery (or the member's next
 * purchase or redemption) finishes with the same transfer ids.
 */
export async function enrollMemberWithLedger(
  deps: LedgerDeps,
  input: EnrollMemberInput,
): Promise<EnrollMemberWithLedgerResult> {
  const { org } = await loadOrgLedger(deps, input.orgId);
  const welcomeBonus = BigInt(org.settings.welcomeBonusPoints);
  assert.ok(welcomeBonus >= 0n, "welcome bonus is not negative");

  const member = await deps.db.transaction(async (tx) => {
    const created = await enrollMember({ db: tx, secrets: deps.secrets }, input);
    const [row] = await tx
      .update(members)
      .set({ welcomeBonusPoints: welcomeBonus })
      .where(and(eq(members.orgId, org.id), eq(members.id, created.id)))
      .returning({ ledgerStatus: members.ledgerStatus });
    assert.equal(row?.ledgerStatus, "pending", "a new member waits for the ledger");
    await writeOutbox(tx, [
      {
        orgId: org.id,
        topic: "member.enrolled",
        payload: {
          member_id: created.id,
          external_ref: created.externalRef,
          tier_id: created.tierId,
          welcome_bonus_points: welcomeBonus.toString(),
        },
      },
    ]);
    return created;
  });
  await interrupt(deps, "after_intent", { table: "members", id: member.id });

  await finishEnrollments(deps, [
    { id: member.id, orgId: org.id, welcomeBonusPoints: welcomeBonus },
  ]);
  return { member, welcomeBonus };
}
