/**
 * Rewarding a referral when the referred member's first qualifying purchase has posted: the
 * referrer and the referred member get the org's referral bonuses (`referralSettingsOf`) in one
 * linked chain (promotions → each wallet, transfer code `referralBonus`), at most once per
 * referred member, and the referrer at most `maxPerReferrerPerMonth` times per calendar month of
 * the org's time zone. Beyond that the referral is `limit_reached`: the referred member still
 * gets their bonus (they did nothing wrong), the referrer gets nothing for it.
 *
 * Driven by the `points.earned` event of each purchase (the workers' referral handler), so a
 * crash loses nothing: the event is delivered at least once, and this verb is idempotent.
 *
 * Intent protocol (docs/consistency.md), the referral row being the intent:
 * 1. decide, in one transaction: the referral (row locked, still `pending`), the bonuses, the
 *    transfer ids (derived from the referral id), `posting_status = 'pending'`;
 * 2. post the chain; 3. mark `posting_status = 'posted'` with the `referral.rewarded` event.
 *
 * Concurrency of the monthly limit: step 1 first locks the REFERRER's member row
 * (`FOR NO KEY UPDATE`, which does not block the foreign-key checks of other writes naming the
 * member), then counts the referrer's rewarded referrals of the month. Two referred members of
 * one referrer deciding at once therefore decide one after the other, and the second one counts
 * the first: the limit holds however many purchases post in parallel. The lock is held only for
 * the decision, never across the ledger call.
 */
import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import { creditReferralBonus, referralBonusTransferId } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { countFailed, markAfterPosting, refusedForGood } from "../intents/protocol.ts";
import { idText, interrupt, loadOrgLedger, nowOf, pointsLedgersOf } from "../intents/support.ts";
import { ensureEnrolled } from "../members/ledger-enrollment.ts";
import { referralSettingsOf } from "../orgs/settings.ts";
import { writeOutbox } from "../store/outbox.ts";
import { members, referrals } from "../store/schema.ts";

export type ReferralRow = typeof referrals.$inferSelect;

/** A posted purchase, as its `points.earned` event names it. */
export interface PostedPurchase {
  orgId: string;
  memberId: string;
  purchaseId: string;
  amountMinor: bigint;
}

export type RewardReferralOutcome =
  /** The member was not referred, or the purchase is below the org's minimum amount. */
  | { kind: "not_referred" }
  | { kind: "not_qualifying" }
  /** An earlier purchase rewarded the referral (a second purchase, a redelivered event). */
  | { kind: "already_decided"; referral: ReferralRow }
  /** This purchase decided the referral (`rewarded` or `limit_reached`). */
  | { kind: "decided"; referral: ReferralRow };

/**
 * Rewards the referral of `purchase.memberId` if this is its first qualifying purchase.
 * Idempotent: a referral decided before is only driven to `posted` (when a crash left it).
 */
export async function rewardReferral(
  deps: LedgerDeps,
  purchase: PostedPurchase,
): Promise<RewardReferralOutcome> {
  assert.ok(purchase.amountMinor >= 0n, "a purchase amount is not negative");
  const [found] = await deps.db
    .select()
    .from(referrals)
    .where(
      and(eq(referrals.orgId, purchase.orgId), eq(referrals.referredMemberId, purchase.memberId)),
    )
    .limit(1);
  if (found === undefined) {
    return { kind: "not_referred" };
  }
  if (found.status !== "pending") {
    const referral =
      found.postingStatus === "pending" ? await postReferralBonus(deps, found) : found;
    return { kind: "already_decided", referral };
  }
  const { org } = await loadOrgLedger(deps, purchase.orgId);
  const settings = referralSettingsOf(org);
  const minimum = BigInt(settings.minPurchaseAmountMinor ?? "0");
  if (purchase.amountMinor < minimum) {
    return { kind: "not_qualifying" };
  }
  await ensureEnrolled(deps, deps.db, [
    { orgId: org.id, memberId: found.referrerMemberId },
    { orgId: org.id, memberId: found.referredMemberId },
  ]);
  const now = nowOf(deps);

  const decided = await deps.db.transaction(async (tx) => {
    // The referrer first (see the header): every decision for this referrer waits here.
    const [referrer] = await tx
      .select({ id: members.id })
      .from(members)
      .where(and(eq(members.orgId, org.id), eq(members.id, found.referrerMemberId)))
      .for("no key update");
    assert.ok(referrer !== undefined, "a referral's referrer exists (foreign key)");
    const [row] = await tx
      .select()
      .from(referrals)
      .where(and(eq(referrals.orgId, org.id), eq(referrals.id, found.id)))
      .for("update");
    assert.ok(row !== undefined, "a referral is never deleted");
    if (row.status !== "pending") {
      return { row, decidedNow: false };
    }
    const [counted] = await tx
      .select({ rewarded: sql<number>`count(*)::int` })
      .from(referrals)
      .where(
        and(
          eq(referrals.orgId, org.id),
          eq(referrals.referrerMemberId, row.referrerMemberId),
          eq(referrals.status, "rewarded"),
          sql`date_trunc('month', ${referrals.decidedAt} at time zone ${org.timezone})
            = date_trunc('month', ${now.toISOString()}::timestamptz at time zone ${org.timezone})`,
        ),
      );
    assert.ok(counted !== undefined && counted.rewarded >= 0, "a count is a count");
    const withinLimit = counted.rewarded < settings.maxPerReferrerPerMonth;
    const referrerPoints = withinLimit ? BigInt(settings.referrerPoints) : 0n;
    const referredPoints = BigInt(settings.referredPoints);
    const legId = (leg: "referrer" | "referred", points: bigint) =>
      points > 0n
        ? idText(referralBonusTransferId({ orgId: org.id, referralId: row.id, leg }))
        : null;
    const [updated] = await tx
      .update(referrals)
      .set({
        status: withinLimit ? "rewarded" : "limit_reached",
        referrerPoints,
        referredPoints,
        purchaseId: purchase.purchaseId,
        decidedAt: now,
        postingStatus: "pending",
        postingRequestedAt: sql`now()`,
        referrerTransferId: legId("referrer", referrerPoints),
        referredTransferId: legId("referred", referredPoints),
      })
      .where(and(eq(referrals.id, row.id), eq(referrals.status, "pending")))
      .returning();
    assert.ok(updated !== undefined, "a locked pending referral is decided");
    assert.ok(updated.status !== "pending", "a decided referral is no longer pending");
    return { row: updated, decidedNow: true };
  });

  let referral = decided.row;
  if (decided.decidedNow) {
    await interrupt(deps, "after_intent", { table: "referrals", id: referral.id });
  }
  if (referral.postingStatus === "pending") {
    referral = await postReferralBonus(deps, referral);
  }
  return decided.decidedNow ? { kind: "decided", referral } : { kind: "already_decided", referral };
}

/**
 * Posts a decided referral's bonus chain (idempotent: the recorded ids) and marks it posted with
 * its `referral.rewarded` event, or `failed` when the ledger refused it for good (counted). A
 * referral crediting nothing (bonuses of 0) is marked without a ledger call. Returns the row as
 * it now stands (as posted, when the mark could not be written yet: recovery writes it).
 */
export async function postReferralBonus(deps: LedgerDeps, row: ReferralRow): Promise<ReferralRow> {
  assert.equal(row.postingStatus, "pending", "only a pending referral bonus is posted");
  assert.notEqual(row.status, "pending", "only a decided referral is posted");
  const legs: Array<{ memberId: string; points: bigint; transferId: bigint }> = [];
  for (const [memberId, points, transferId] of [
    [row.referrerMemberId, row.referrerPoints, row.referrerTransferId],
    [row.referredMemberId, row.referredPoints, row.referredTransferId],
  ] as const) {
    assert.equal(points > 0n, transferId !== null, "a leg has an id exactly when it credits");
    if (transferId !== null) {
      legs.push({ memberId, points, transferId: BigInt(transferId) });
    }
  }
  const ref = { table: "referrals", id: row.id } as const;
  if (legs.length > 0) {
    const ledger = (await pointsLedgersOf(deps, [row.orgId])).get(row.orgId);
    assert.ok(ledger !== undefined, "every org has a points ledger");
    try {
      await creditReferralBonus(deps.ledger, {
        orgId: row.orgId,
        ledger,
        referralId: row.id,
        legs,
      });
    } catch (error) {
      const refused = refusedForGood(error);
      if (refused === null) {
        throw error;
      }
      await deps.db
        .update(referrals)
        .set({ postingStatus: "failed", failureReason: refused.reason })
        .where(and(eq(referrals.id, row.id), eq(referrals.postingStatus, "pending")));
      countFailed(deps, ref, refused.reason);
      return reload(deps, row.id);
    }
  }
  const posted: ReferralRow = { ...row, postingStatus: "posted" };
  return markAfterPosting(deps, ref, posted, async () => {
    await deps.db.transaction(async (tx) => {
      const [updated] = await tx
        .update(referrals)
        .set({ postingStatus: "posted", postedAt: sql`now()` })
        .where(and(eq(referrals.id, row.id), eq(referrals.postingStatus, "pending")))
        .returning({ id: referrals.id });
      if (updated !== undefined) {
        await writeOutbox(tx, [
          {
            orgId: row.orgId,
            topic: "referral.rewarded",
            payload: {
              // The referred member: their purchase is what this event follows.
              member_id: row.referredMemberId,
              referral_id: row.id,
              referrer_member_id: row.referrerMemberId,
              referred_member_id: row.referredMemberId,
              status: row.status,
              referrer_points: row.referrerPoints.toString(),
              referred_points: row.referredPoints.toString(),
              purchase_id: row.purchaseId,
              referrer_transfer_id: row.referrerTransferId,
              referred_transfer_id: row.referredTransferId,
            },
          },
        ]);
      }
    });
    return reload(deps, row.id);
  });
}

async function reload(deps: LedgerDeps, id: string): Promise<ReferralRow> {
  const [current] = await deps.db.select().from(referrals).where(eq(referrals.id, id));
  assert.ok(current !== undefined, "a referral is never deleted");
  assert.ok(current.postingStatus !== "pending", "the referral bonus is settled");
  return current;
}
