/**
 * The ledger half of enrolling a member: provision the org's points ledger, open the wallet,
 * post the welcome bonus decided at enrollment, then mark the member row posted. Idempotent, so
 * the live path, a use case that finds the member unfinished, and recovery all use it.
 */
import assert from "node:assert/strict";
import { and, eq, inArray, sql } from "drizzle-orm";
import { enroll } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { interrupt, mapBounded, pointsLedgersOf } from "../intents/support.ts";
import { ledgerRequestsInFlightMax } from "../limits.ts";
import { memberKey } from "../store/caches.ts";
import type { DbExecutor } from "../store/db.ts";
import { members } from "../store/schema.ts";

export interface PendingEnrollment {
  id: string;
  orgId: string;
  welcomeBonusPoints: bigint;
}

/** Posts each member's enrollment to the ledger and marks it posted. */
export async function finishEnrollments(
  deps: LedgerDeps,
  pending: readonly PendingEnrollment[],
): Promise<void> {
  if (pending.length === 0) {
    return;
  }
  const ledgers = await pointsLedgersOf(
    deps,
    pending.map((member) => member.orgId),
  );
  await mapBounded(pending, ledgerRequestsInFlightMax, async (member) => {
    assert.ok(member.welcomeBonusPoints >= 0n, "welcome bonus is not negative");
    const ledger = ledgers.get(member.orgId);
    assert.ok(ledger !== undefined, "points ledger read for every org");
    await enroll(deps.ledger, {
      orgId: member.orgId,
      ledger,
      memberId: member.id,
      welcomeBonusPoints: member.welcomeBonusPoints,
    });
  });
  for (const member of pending) {
    await interrupt(deps, "after_ledger", { table: "members", id: member.id });
  }
  // Concurrent finishers both reach here; `where pending` makes the second a no-op.
  await deps.db
    .update(members)
    .set({ ledgerStatus: "posted", ledgerPostedAt: sql`now()` })
    .where(
      and(
        inArray(
          members.id,
          pending.map((member) => member.id),
        ),
        eq(members.ledgerStatus, "pending"),
      ),
    );
  const { enrolled } = deps.caches;
  for (const member of pending) {
    enrolled.set(memberKey(member.orgId, member.id), true);
  }
}

/**
 * Finishes the enrollment of any of these members the ledger has not seen yet, so a purchase or
 * a redemption never posts to a wallet that is not open. A member seen enrolled once is
 * remembered (enrollment never goes back to pending), so this is usually no statement at all.
 */
export async function ensureEnrolled(
  deps: LedgerDeps,
  db: DbExecutor,
  memberRefs: ReadonlyArray<{ orgId: string; memberId: string }>,
): Promise<void> {
  const { enrolled } = deps.caches;
  const unknown = new Map<string, { orgId: string; memberId: string }>();
  for (const ref of memberRefs) {
    const key = memberKey(ref.orgId, ref.memberId);
    if (!enrolled.has(key)) {
      unknown.set(key, ref);
    }
  }
  if (unknown.size === 0) {
    return;
  }
  const orgIds = [...new Set([...unknown.values()].map((ref) => ref.orgId))];
  const pending = await db
    .select({
      id: members.id,
      orgId: members.orgId,
      welcomeBonusPoints: members.welcomeBonusPoints,
    })
    .from(members)
    .where(
      and(
        inArray(members.orgId, orgIds),
        inArray(
          members.id,
          [...unknown.values()].map((ref) => ref.memberId),
        ),
        eq(members.ledgerStatus, "pending"),
      ),
    );
  const stillPending = new Set(pending.map((member) => memberKey(member.orgId, member.id)));
  for (const [key] of unknown) {
    if (!stillPending.has(key)) {
      enrolled.set(key, true);
    }
  }
  await finishEnrollments({ ...deps, db }, pending);
}
