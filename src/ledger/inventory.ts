/**
 * Rewards' stock on an org's inventory ledger (unit "inventory", one unit = one reward item).
 * Each reward with a limited inventory has an account that can never be overdrawn; stocking moves
 * units into it from the ledger's control account, and a redemption holds units out of it in the
 * same linked chain as its points (see `holdRedemption`). Ids are derived from (reward, move
 * number), so re-sending a move is answered `exists` and never stocks twice.
 */
import assert from "node:assert/strict";
import { type Client, CreateAccountStatus, TransferFlags } from "tigerbeetle-node";
import {
  AccountCode,
  controlAccountFlags,
  rewardInventoryAccountFlags,
  TransferCode,
} from "./codes.ts";
import {
  inventoryControlAccountId,
  rewardInventoryAccountId,
  transferId,
  uuidToU128,
} from "./ids.ts";
import { batchEventsMax } from "./limits.ts";
import { LedgerRefusedError } from "./loyalty.ts";
import { link, pointsPerTransferMax, submitChains, transfer } from "./postings.ts";

function account(id: bigint, ledger: number, code: AccountCode, flags: number, userData: bigint) {
  return {
    id,
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: userData,
    user_data_64: 0n,
    user_data_32: 0,
    reserved: 0,
    ledger,
    code,
    flags,
    timestamp: 0n,
  };
}

/**
 * Creates the inventory ledger's control account and the reward's stock account. Idempotent: a
 * reward's account is opened before any of its units move.
 */
export async function openRewardInventory(
  client: Client,
  input: { ledger: number; rewardId: string },
): Promise<void> {
  const results = await client.createAccounts([
    account(
      inventoryControlAccountId(input.ledger),
      input.ledger,
      AccountCode.inventoryControl,
      controlAccountFlags,
      0n,
    ),
    account(
      rewardInventoryAccountId(input.ledger, input.rewardId),
      input.ledger,
      AccountCode.rewardInventory,
      rewardInventoryAccountFlags,
      uuidToU128(input.rewardId),
    ),
  ]);
  assert.equal(results.length, 2, "one result per account");
  for (const result of results) {
    if (
      result.status !== CreateAccountStatus.created &&
      result.status !== CreateAccountStatus.exists
    ) {
      assert.fail(`openRewardInventory: ${CreateAccountStatus[result.status]}`);
    }
  }
}

export interface RewardStockMove {
  orgId: string;
  /** The org's inventory ledger. */
  ledger: number;
  rewardId: string;
  /** The reward's move number (1, 2, ...): part of the transfer id, so a retry is `exists`. */
  moveNumber: number;
  /** Stock: units in (inventory set or raised). Withdraw: units out (lowered), at most on hand. */
  direction: "stock" | "withdraw";
  units: bigint;
}

export function rewardStockTransferId(move: RewardStockMove): bigint {
  assert.ok(Number.isSafeInteger(move.moveNumber) && move.moveNumber >= 1, "moves count from 1");
  return transferId({
    orgId: move.orgId,
    source: "reward_stock",
    externalId: `${move.rewardId}:${move.moveNumber}`,
    leg: move.direction,
  });
}

/**
 * Moves units into (stock) or out of (withdraw) a reward's account and returns how many moved.
 * A withdrawal is a balancing debit: it never takes units that are held by a pending redemption
 * or already given out, and moves what is on hand when less than asked.
 */
export async function moveRewardStock(
  client: Client,
  move: RewardStockMove,
): Promise<{ moved: bigint }> {
  assert.ok(move.units > 0n && move.units <= pointsPerTransferMax, "units within bounds");
  const id = rewardStockTransferId(move);
  const control = inventoryControlAccountId(move.ledger);
  const reward = rewardInventoryAccountId(move.ledger, move.rewardId);
  const stock = move.direction === "stock";
  const chain = link([
    transfer({
      id,
      debit_account_id: stock ? control : reward,
      credit_account_id: stock ? reward : control,
      amount: move.units,
      user_data_128: uuidToU128(move.rewardId),
      ledger: move.ledger,
      code: stock ? TransferCode.inventoryStock : TransferCode.inventoryHold,
      flags: stock ? TransferFlags.none : TransferFlags.balancing_debit,
    }),
  ]);
  const [outcome] = await submitChains(client, [chain]);
  assert.ok(outcome !== undefined, "one outcome per chain");
  if (outcome.kind === "failed") {
    throw new LedgerRefusedError("rejected", outcome.status, "moveRewardStock");
  }
  // The transfer stores the amount it moved (a balancing debit may move less than asked).
  const [posted] = await client.lookupTransfers([id]);
  assert.ok(posted !== undefined, "a posted stock move can be looked up");
  assert.ok(posted.amount <= move.units, "a move never exceeds what was asked");
  assert.ok(stock ? posted.amount === move.units : true, "stocking moves exactly what was asked");
  return { moved: posted.amount };
}

/** Rewards whose stock one read looks up at most. */
export const rewardStockLookupsMax = 1_000;
assert.ok(rewardStockLookupsMax <= batchEventsMax, "one lookup request");

/**
 * Units on hand (stocked, not held and not given out) of each reward's account; a reward whose
 * account was never opened has none.
 */
export async function rewardStockOnHand(
  client: Client,
  input: { ledger: number; rewardIds: readonly string[] },
): Promise<Map<string, bigint>> {
  assert.ok(input.rewardIds.length <= rewardStockLookupsMax, "lookups within one request");
  const result = new Map<string, bigint>();
  if (input.rewardIds.length === 0) {
    return result;
  }
  const ids = input.rewardIds.map((rewardId) => rewardInventoryAccountId(input.ledger, rewardId));
  const accounts = await client.lookupAccounts(ids);
  const byId = new Map(accounts.map((found) => [found.id, found]));
  input.rewardIds.forEach((rewardId, index) => {
    const found = byId.get(ids[index] as bigint);
    if (found === undefined) {
      result.set(rewardId, 0n);
      return;
    }
    assert.equal(found.code, AccountCode.rewardInventory, "a reward's stock account");
    const spent = found.debits_posted + found.debits_pending;
    assert.ok(spent <= found.credits_posted, "a reward's stock is never overdrawn");
    result.set(rewardId, found.credits_posted - spent);
  });
  return result;
}
