/**
 * A reward's stock on the org's inventory ledger, kept in step with the reward's `inventory`.
 *
 * `inventory` is the units offered in all (on hand, held, given out); `inventory_stocked` is what
 * the ledger confirmed moving into the reward's account. When the two differ, a stock move is
 * owed: move number `stock_moves + 1`, of the difference (in when raised, a balancing withdrawal
 * when lowered). It is made and recorded under the reward's row lock, so two drivers never make
 * different moves under one number, and the inventory never changes while a move is unrecorded
 * (`updateReward` first settles an owed move under the same lock). A crash after the ledger took
 * a move and before the row recorded it leaves the move owed with the same number and units: the
 * next driver re-sends it and the ledger answers `exists`.
 */
import assert from "node:assert/strict";
import { and, eq } from "drizzle-orm";
import { moveRewardStock, openRewardInventory, rewardStockOnHand } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { allocateLedger } from "../orgs/allocate-ledger.ts";
import type { DbExecutor } from "../store/db.ts";
import { rewards } from "../store/schema.ts";

export type RewardRow = typeof rewards.$inferSelect;

/** The org's inventory ledger, allocated the first time a reward has a limited inventory. */
export async function inventoryLedgerOf(deps: LedgerDeps, orgId: string): Promise<number> {
  return allocateLedger(deps, { orgId, unit: "inventory" });
}

/** Whether the reward's account lags its inventory (a move is owed). */
export function stockMoveOwed(row: RewardRow): boolean {
  return row.inventory !== null && row.inventory !== row.inventoryStocked;
}

/**
 * Makes the owed stock move of a reward whose row `tx` holds locked, and records it; returns the
 * row as it now stands. A withdrawal that finds fewer units on hand than asked (the rest are held
 * or given out) moves what is there, and the inventory stops at what the account was given.
 */
export async function settleStockLocked(
  deps: LedgerDeps,
  tx: DbExecutor,
  row: RewardRow,
): Promise<RewardRow> {
  if (row.inventory === null || !stockMoveOwed(row)) {
    return row;
  }
  const ledger = await inventoryLedgerOf(deps, row.orgId);
  const delta = row.inventory - row.inventoryStocked;
  const units = delta > 0n ? delta : -delta;
  const moveNumber = row.stockMoves + 1;
  await openRewardInventory(deps.ledger, { ledger, rewardId: row.id });
  const { moved } = await moveRewardStock(deps.ledger, {
    orgId: row.orgId,
    ledger,
    rewardId: row.id,
    moveNumber,
    direction: delta > 0n ? "stock" : "withdraw",
    units,
  });
  const stocked = delta > 0n ? row.inventoryStocked + moved : row.inventoryStocked - moved;
  assert.ok(stocked >= 0n, "a reward's account never holds a negative stock");
  const [updated] = await tx
    .update(rewards)
    .set({
      inventoryStocked: stocked,
      stockMoves: moveNumber,
      // Short of units to withdraw: the inventory cannot go below what is held or given out.
      inventory: moved === units ? row.inventory : stocked,
    })
    .where(
      and(
        eq(rewards.orgId, row.orgId),
        eq(rewards.id, row.id),
        eq(rewards.stockMoves, row.stockMoves),
      ),
    )
    .returning();
  assert.ok(updated !== undefined, "the locked reward recorded its move");
  assert.ok(!stockMoveOwed(updated), "no move is owed after one is recorded");
  return updated;
}

/** Locks the reward and makes its owed stock move, if any. */
export async function settleStock(
  deps: LedgerDeps,
  input: { orgId: string; rewardId: string },
): Promise<RewardRow> {
  return deps.db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(rewards)
      .where(and(eq(rewards.orgId, input.orgId), eq(rewards.id, input.rewardId)))
      .for("update");
    assert.ok(row !== undefined, "a reward is never deleted");
    return settleStockLocked(deps, tx, row);
  });
}

/**
 * Units on hand of each limited reward (null: unlimited). Reads only the ledger, and only for
 * the org's inventory ledger when one exists.
 */
export async function rewardsOnHand(
  deps: LedgerDeps,
  orgId: string,
  rows: readonly RewardRow[],
): Promise<Map<string, bigint | null>> {
  const result = new Map<string, bigint | null>();
  const limited = rows.filter((row) => row.inventory !== null);
  for (const row of rows) {
    result.set(row.id, null);
  }
  if (limited.length === 0) {
    return result;
  }
  const ledger = await inventoryLedgerOf(deps, orgId);
  const onHand = await rewardStockOnHand(deps.ledger, {
    ledger,
    rewardIds: limited.map((row) => row.id),
  });
  for (const row of limited) {
    result.set(row.id, onHand.get(row.id) ?? 0n);
  }
  return result;
}
