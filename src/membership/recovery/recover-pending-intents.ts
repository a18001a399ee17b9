import assert from "node:assert/strict";
import { and, asc, eq, isNotNull, lte, ne, type SQL, sql } from "drizzle-orm";
import { postAdjustment } from "../adjustments/adjust-member-points.ts";
import { postCodeRedemption } from "../codes/redeem-code.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { postExpiries } from "../expiry/expire-member-points.ts";
import { pointsLedgersOf } from "../intents/support.ts";
import { recoveryBatchMax } from "../limits.ts";
import { finishEnrollments } from "../members/ledger-enrollment.ts";
import { postPurchases } from "../purchases/posting.ts";
import { driveHold, driveResolution } from "../redemptions/redemption-ledger.ts";
import { postReferralBonus } from "../referrals/reward-referral.ts";
import { postRefund } from "../refunds/refund-purchase.ts";
import { settleStockLocked } from "../rewards/reward-stock.ts";
import { createMembershipCaches } from "../store/caches.ts";
import type { DbExecutor } from "../store/db.ts";
import { expiries } from "../store/expiry-schema.ts";
import {
  adjustments,
  codeRedemptions,
  members,
  posTransactions,
  redemptions,
  referrals,
  rewards,
} from "../store/schema.ts";

export interface RecoverPendingIntentsOptions {
  /** Only intents at least this old (by Postgres's clock): younger ones are likely in flight. */
  olderThanMs: number;
  /** Intents re-driven by this pass, across all kinds, 1..recoveryBatchMax. */
  limit: number;
}

/** How many intents of each kind this pass finished. */
export interface RecoveryReport {
  enrollments: number;
  purchases: number;
  refunds: number;
  adjustments: number;
  codeRedemptions: number;
  /** Rewards whose stock move (a changed inventory) was owed: made and recorded. */
  rewardStock: number;
  referrals: number;
  holds: number;
  resolutions: number;
  expiries: number;
}

type Kind = keyof RecoveryReport;

/**
 * Finishes intents a crash (or a failed request, or a posted mark that could not be written) left
 * pending, oldest first. A document the ledger refuses for good moves to `failed` with the
 * ledger's reason and never blocks the others: re-posts the same
 * transfer ids (the ledger answers `exists` for what was already done) and marks the rows posted
 * with their outbox events. Kinds go in dependency order: enrollments before purchases (wallets
 * must exist), purchases before refunds.
 *
 * Each kind is claimed in its own transaction with `FOR UPDATE SKIP LOCKED`, held while its rows
 * are posted and marked, so two recoverers never take the same row and a live request marking
 * the same row waits and then finds it posted. Run it at start-up and periodically; it is
 * bounded by `limit`, so call it again while it reports work done.
 *
 * @example
 * const report = await recoverPendingIntents(deps, { olderThanMs: 3_000, limit: 500 });
 */
export async function recoverPendingIntents(
  deps: LedgerDeps,
  options: RecoverPendingIntentsOptions,
): Promise<RecoveryReport> {
  assert.ok(Number.isSafeInteger(options.olderThanMs) && options.olderThanMs >= 0, "olderThanMs");
  assert.ok(Number.isSafeInteger(options.limit) && options.limit >= 1, "limit is positive");
  assert.ok(options.limit <= recoveryBatchMax, "limit within recoveryBatchMax");
  const cutoff = sql`now() - (${options.olderThanMs}::bigint * interval '1 millisecond')`;
  const report: RecoveryReport = {
    enrollments: 0,
    purchases: 0,
    refunds: 0,
    adjustments: 0,
    codeRedemptions: 0,
    rewardStock: 0,
    referrals: 0,
    holds: 0,
    resolutions: 0,
    expiries: 0,
  };
  const kinds: Kind[] = [
    "enrollments",
    "purchases",
    "refunds",
    "adjustments",
    "codeRedemptions",
    "rewardStock",
    "referrals",
    "holds",
    "resolutions",
    "expiries",
  ];
  let remaining = options.limit;
  for (const kind of kinds) {
    if (remaining === 0) {
      break;
    }
    const done = await deps.db.transaction((tx) =>
      // Caches of its own: nothing this transaction saw is remembered if it rolls back.
      recoverKind(
        { ...deps, db: tx, caches: createMembershipCaches(), inTransaction: true },
        kind,
        cutoff,
        remaining,
      ),
    );
    assert.ok(done <= remaining, "a pass never exceeds its limit");
    report[kind] = done;
    remaining -= done;
  }
  return report;
}

/**
 * A document the ledger refused for good is now `failed` (and counted): that is its outcome, not
 * an error of the pass, which goes on with the other documents.
 */
function keepRefusal(error: unknown): void {
  if (!(error instanceof DomainError)) {
    throw error;
  }
}

/** Claims up to `limit` rows of one kind on `deps.db` (a transaction) and drives them. */
async function recoverKind(
  deps: LedgerDeps & { db: DbExecutor },
  kind: Kind,
  cutoff: SQL,
  limit: number,
): Promise<number> {
  const { db } = deps;
  const skipLocked = { skipLocked: true } as const;
  switch (kind) {
    case "enrollments": {
      const rows = await db
        .select({
          id: members.id,
          orgId: members.orgId,
          welcomeBonusPoints: members.welcomeBonusPoints,
        })
        .from(members)
        .where(and(eq(members.ledgerStatus, "pending"), lte(members.createdAt, cutoff)))
        .orderBy(asc(members.createdAt))
        .limit(limit)
        .for("update", skipLocked);
      await finishEnrollments(deps, rows);
      return rows.length;
    }
    case "purchases":
    case "refunds": {
      const rows = await db
        .select()
        .from(posTransactions)
        .where(
          and(
            eq(posTransactions.status, "pending"),
            eq(posTransactions.kind, kind === "purchases" ? "purchase" : "refund"),
            lte(posTransactions.createdAt, cutoff),
          ),
        )
        .orderBy(asc(posTransactions.createdAt))
        .limit(limit)
        .for("update", skipLocked);
      if (kind === "purchases") {
        await postPurchases(deps, rows);
      } else {
        const ledgers = await pointsLedgersOf(
          deps,
          rows.map((row) => row.orgId),
        );
        for (const row of rows) {
          const ledger = ledgers.get(row.orgId);
          assert.ok(ledger !== undefined, "points ledger read for every org");
          await postRefund(deps, ledger, row).catch(keepRefusal);
        }
      }
      return rows.length;
    }
    case "adjustments": {
      const rows = await db
        .select()
        .from(adjustments)
        .where(and(eq(adjustments.status, "pending"), lte(adjustments.createdAt, cutoff)))
        .orderBy(asc(adjustments.createdAt))
        .limit(limit)
        .for("update", skipLocked);
      for (const row of rows) {
        await postAdjustment(deps, row);
      }
      return rows.length;
    }
    case "rewardStock": {
      // Stock owed since a reward's inventory changed and the process stopped before the
      // ledger took the move: made now, under the row lock every stock move takes.
      const rows = await db
        .select()
        .from(rewards)
        .where(
          and(
            isNotNull(rewards.inventory),
            ne(rewards.inventory, rewards.inventoryStocked),
            lte(rewards.updatedAt, cutoff),
          ),
        )
        .orderBy(asc(rewards.updatedAt))
        .limit(limit)
        .for("update", skipLocked);
      for (const row of rows) {
        await settleStockLocked(deps, db, row);
      }
      return rows.length;
    }
    case "codeRedemptions": {
      const rows = await db
        .select()
        .from(codeRedemptions)
        .where(and(eq(codeRedemptions.status, "pending"), lte(codeRedemptions.createdAt, cutoff)))
        .orderBy(asc(codeRedemptions.createdAt))
        .limit(limit)
        .for("update", skipLocked);
      for (const row of rows) {
        await postCodeRedemption(deps, row);
      }
      return rows.length;
    }
    case "referrals": {
      // Decided referrals whose bonus chain a crash left unposted or unmarked.
      const rows = await db
        .select()
        .from(referrals)
        .where(
          and(eq(referrals.postingStatus, "pending"), lte(referrals.postingRequestedAt, cutoff)),
        )
        .orderBy(asc(referrals.postingRequestedAt))
        .limit(limit)
        .for("update", skipLocked);
      for (const row of rows) {
        await postReferralBonus(deps, row);
      }
      return rows.length;
    }
    case "holds": {
      const rows = await db
        .select()
        .from(redemptions)
        .where(and(eq(redemptions.holdStatus, "pending"), lte(redemptions.createdAt, cutoff)))
        .orderBy(asc(redemptions.createdAt))
        .limit(limit)
        .for("update", skipLocked);
      for (const row of rows) {
        await driveHold(deps, row);
      }
      return rows.length;
    }
    case "resolutions": {
      const rows = await db
        .select()
        .from(redemptions)
        .where(
          and(
            eq(redemptions.status, "pending"),
            eq(redemptions.holdStatus, "posted"),
            isNotNull(redemptions.resolution),
            lte(redemptions.resolutionRequestedAt, cutoff),
          ),
        )
        .orderBy(asc(redemptions.resolutionRequestedAt))
        .limit(limit)
        .for("update", skipLocked);
      for (const row of rows) {
        await driveResolution(deps, row);
      }
      return rows.length;
    }
    case "expiries": {
      const rows = await db
        .select()
        .from(expiries)
        .where(and(eq(expiries.status, "pending"), lte(expiries.createdAt, cutoff)))
        .orderBy(asc(expiries.createdAt))
        .limit(limit)
        .for("update", skipLocked);
      await postExpiries(deps, rows);
      return rows.length;
    }
  }
}
