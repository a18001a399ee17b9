/**
 * Automatic redemption: a member opted in (by an admin) to have a reward redeemed whenever their
 * available points cross a threshold from below.
 *
 * What triggers it: the outbox events of postings that credit a wallet (`points.earned`,
 * `points.adjusted`, `points.promotion`), relayed to a worker that calls `runAutoRedemption`.
 * The outbox row is written in the posting's own mark transaction and relayed at least once, so
 * a crash anywhere after the posting still delivers it; a job enqueued after posting could be
 * lost between the two.
 *
 * How a crossing is found, once: the wallet keeps its balance after every transfer (the
 * `history` flag). The config row holds a cursor over that history (the last ledger timestamp
 * looked at and the available points it left); a run locks the row, walks the balances after
 * the cursor in ledger order, and redeems for each step from below the threshold to at least it.
 * The redemption's external id is derived from the crossing (reward and ledger timestamp), so a
 * run repeated after a crash, or two runs racing (the row lock serialises them), redeem each
 * crossing once: the second attempt replays the first. The hold the redemption places is itself
 * a step down in the history: once the balance has dropped below the threshold again, the next
 * crossing redeems again.
 */
import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import { ledgerLimits, walletBalancesSince, walletLatestBalance } from "../../ledger/index.ts";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError, isDomainError } from "../errors.ts";
import { invalidInput, loadOrgLedger } from "../intents/support.ts";
import type { Redemption } from "../ledger-types.ts";
import { documentPointsMax } from "../limits.ts";
import { autoRedemptions, members, rewards } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { createRedemption } from "./create-redemption.ts";

export interface AutoRedemption {
  memberId: string;
  rewardId: string;
  thresholdPoints: bigint;
  createdAt: Date;
  updatedAt: Date;
}

type AutoRedemptionRow = typeof autoRedemptions.$inferSelect;

function toAutoRedemption(row: AutoRedemptionRow): AutoRedemption {
  assert.ok(row.thresholdPoints > 0n, "a threshold is positive");
  return {
    memberId: row.memberId,
    rewardId: row.rewardId,
    thresholdPoints: row.thresholdPoints,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function auditView(row: AutoRedemption): Record<string, unknown> {
  return { reward_id: row.rewardId, threshold_points: row.thresholdPoints.toString() };
}

async function requireMember(deps: LedgerDeps, orgId: string, memberId: string): Promise<void> {
  const notFound = new DomainError("not_found", "member not found", { memberId });
  if (!isUuid(memberId)) {
    throw notFound;
  }
  const [member] = await deps.db
    .select({ id: members.id })
    .from(members)
    .where(and(eq(members.orgId, orgId), eq(members.id, memberId)))
    .limit(1);
  if (member === undefined) {
    throw notFound;
  }
}

/**
 * Sets (or replaces) the member's automatic redemption, audited `auto_redemption.set` in the
 * same transaction. The cursor starts at the wallet's latest balance: a member already above
 * the threshold is redeemed for at the next crossing, not for where they stand.
 * Errors: `not_found` (member or reward), `invalid_input`.
 */
export async function setAutoRedemption(
  deps: LedgerDeps,
  input: {
    orgId: string;
    memberId: string;
    rewardId: string;
    thresholdPoints: bigint;
    actor: AuditActor;
  },
): Promise<AutoRedemption> {
  if (input.thresholdPoints < 1n || input.thresholdPoints > documentPointsMax) {
    throw invalidInput("threshold_points out of range", { field: "threshold_points" });
  }
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  await requireMember(deps, org.id, input.memberId);
  const rewardNotFound = new DomainError("not_found", "reward not found", {
    rewardId: input.rewardId,
  });
  if (!isUuid(input.rewardId)) {
    throw rewardNotFound;
  }
  const [reward] = await deps.db
    .select({ id: rewards.id })
    .from(rewards)
    .where(and(eq(rewards.orgId, org.id), eq(rewards.id, input.rewardId)))
    .limit(1);
  if (reward === undefined) {
    throw rewardNotFound;
  }
  const latest = await walletLatestBalance(deps.ledger, {
    ledger: pointsLedger,
    memberId: input.memberId,
  });
  return deps.db.transaction(async (tx) => {
    const [before] = await tx
      .select()
      .from(autoRedemptions)
      .where(and(eq(autoRedemptions.orgId, org.id), eq(autoRedemptions.memberId, input.memberId)))
      .for("update");
    const values = {
      rewardId: input.rewardId,
      thresholdPoints: input.thresholdPoints,
      scannedUntil: latest?.timestamp ?? 0n,
      availableAtScan: latest?.available ?? 0n,
    };
    const [row] = await tx
      .insert(autoRedemptions)
      .values({ orgId: org.id, memberId: input.memberId, ...values })
      .onConflictDoUpdate({
        target: [autoRedemptions.orgId, autoRedemptions.memberId],
        set: { ...values, updatedAt: sql`now()` },
      })
      .returning();
    assert.ok(row !== undefined, "the upsert returned its row");
    const after = toAutoRedemption(row);
    await writeAudit(tx, {
      orgId: org.id,
      actor: input.actor,
      action: "auto_redemption.set",
      targetType: "member",
      targetId: input.memberId,
      before: before === undefined ? null : auditView(toAutoRedemption(before)),
      after: auditView(after),
    });
    return after;
  });
}

/** The member's automatic redemption; `not_found` when the member has none (or is unknown). */
export async function getAutoRedemption(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<AutoRedemption> {
  await requireMember(deps, input.orgId, input.memberId);
  const [row] = await deps.db
    .select()
    .from(autoRedemptions)
    .where(
      and(eq(autoRedemptions.orgId, input.orgId), eq(autoRedemptions.memberId, input.memberId)),
    )
    .limit(1);
  if (row === undefined) {
    throw new DomainError("not_found", "the member has no automatic redemption", {
      memberId: input.memberId,
    });
  }
  return toAutoRedemption(row);
}

/** Removes it, audited `auto_redemption.cleared`; `not_found` when there is none. */
export async function clearAutoRedemption(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string; actor: AuditActor },
): Promise<void> {
  await requireMember(deps, input.orgId, input.memberId);
  await deps.db.transaction(async (tx) => {
    const [deleted] = await tx
      .delete(autoRedemptions)
      .where(
        and(eq(autoRedemptions.orgId, input.orgId), eq(autoRedemptions.memberId, input.memberId)),
      )
      .returning();
    if (deleted === undefined) {
      throw new DomainError("not_found", "the member has no automatic redemption", {
        memberId: input.memberId,
      });
    }
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "auto_redemption.cleared",
      targetType: "member",
      targetId: input.memberId,
      before: auditView(toAutoRedemption(deleted)),
      after: null,
    });
  });
}

/** Balances one page of a run reads. */
export const autoRedemptionPageBalancesMax = 1_000;
/** Pages one run reads at most; the rest waits for the next event of the member. */
export const autoRedemptionPagesMax = 16;
/** Redemptions one run places at most (each crossing is one). */
export const autoRedemptionsPerRunMax = 100;
assert.ok(autoRedemptionPageBalancesMax <= ledgerLimits.queryLimitMax, "a page is one query");

export interface AutoRedemptionRun {
  /** Crossings found in this run. */
  crossings: number;
  /** The redemptions they placed (or replayed). */
  redemptions: Redemption[];
  /** Crossings the reward refused (not active, tier, limit, stock, points), by error code. */
  refused: string[];
}

/** The external id of the redemption a crossing places: one per (reward, ledger timestamp). */
export function autoRedemptionExternalId(rewardId: string, timestamp: bigint): string {
  return `auto:${rewardId}:${timestamp.toString()}`;
}

/**
 * Walks the member's balance history since the cursor and redeems the reward for every
 * crossing of the threshold from below; moves the cursor. Nothing to do without a config.
 */
export async function runAutoRedemption(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<AutoRedemptionRun> {
  const run: AutoRedemptionRun = { crossings: 0, redemptions: [], refused: [] };
  const { pointsLedger } = await loadOrgLedger(deps, input.orgId);
  await deps.db.transaction(async (tx) => {
    const [config] = await tx
      .select()
      .from(autoRedemptions)
      .where(
        and(eq(autoRedemptions.orgId, input.orgId), eq(autoRedemptions.memberId, input.memberId)),
      )
      .for("update");
    if (config === undefined) {
      return;
    }
    let scannedUntil = config.scannedUntil;
    let available = config.availableAtScan;
    pages: for (let page = 0; page < autoRedemptionPagesMax; page++) {
      const balances = await walletBalancesSince(deps.ledger, {
        ledger: pointsLedger,
        memberId: input.memberId,
        timestampAfter: scannedUntil,
        limit: autoRedemptionPageBalancesMax,
      });
      for (const point of balances) {
        assert.ok(point.timestamp > scannedUntil, "balances come in ledger order");
        const crossed =
          available < config.thresholdPoints && point.available >= config.thresholdPoints;
        if (crossed && run.crossings >= autoRedemptionsPerRunMax) {
          break pages;
        }
        if (crossed) {
          run.crossings += 1;
          try {
            run.redemptions.push(
              await createRedemption(deps, {
                orgId: input.orgId,
                memberId: input.memberId,
                reward: { rewardId: config.rewardId },
                externalId: autoRedemptionExternalId(config.rewardId, point.timestamp),
              }),
            );
          } catch (error) {
            if (!isDomainError(error)) {
              throw error;
            }
            run.refused.push(error.code);
          }
        }
        scannedUntil = point.timestamp;
        available = point.available;
      }
      if (balances.length < autoRedemptionPageBalancesMax) {
        break;
      }
    }
    await tx
      .update(autoRedemptions)
      .set({ scannedUntil, availableAtScan: available })
      .where(
        and(eq(autoRedemptions.orgId, input.orgId), eq(autoRedemptions.memberId, input.memberId)),
      );
  });
  return run;
}
