/**
 * Lookups by id of many transfers or accounts at once, split into requests TigerBeetle accepts
 * (at most `batchEventsMax` ids each), answered as maps by id. What a reconciliation asks: "does
 * each of these recorded ids exist, and what does it hold?". An id the ledger does not know is
 * simply absent from the map (TigerBeetle leaves it out of the reply).
 */
import assert from "node:assert/strict";
import type { Account, Client, Transfer } from "tigerbeetle-node";
import { TransferFlags } from "tigerbeetle-node";
import { batchEventsMax } from "./limits.ts";

/** Ids one call may look up (in several requests); callers pass bounded pages. */
export const lookupIdsMax = 16 * batchEventsMax;

async function lookupByIds<T extends { id: bigint }>(
  ids: readonly bigint[],
  lookup: (batch: bigint[]) => Promise<T[]>,
): Promise<Map<bigint, T>> {
  assert.ok(ids.length <= lookupIdsMax, "lookups come in bounded pages");
  const unique = [...new Set(ids)];
  const found = new Map<bigint, T>();
  for (let start = 0; start < unique.length; start += batchEventsMax) {
    const batch = unique.slice(start, start + batchEventsMax);
    assert.ok(batch.length > 0 && batch.length <= batchEventsMax, "one request holds a batch");
    const answers = await lookup(batch);
    assert.ok(answers.length <= batch.length, "the ledger answers at most what was asked");
    for (const answer of answers) {
      found.set(answer.id, answer);
    }
  }
  return found;
}

/** The transfers with these ids that exist, by id. */
export function lookupTransfersById(
  client: Client,
  ids: readonly bigint[],
): Promise<Map<bigint, Transfer>> {
  return lookupByIds(ids, (batch) => client.lookupTransfers(batch));
}

/** The accounts with these ids that exist, by id. */
export function lookupAccountsById(
  client: Client,
  ids: readonly bigint[],
): Promise<Map<bigint, Account>> {
  return lookupByIds(ids, (batch) => client.lookupAccounts(batch));
}

/** Which phase of a two-phase transfer a transfer is, from its flags. */
export type TransferPhase = "single" | "pending" | "post" | "void";

export function transferPhase(flags: number): TransferPhase {
  const pending = (flags & TransferFlags.pending) !== 0;
  const post = (flags & TransferFlags.post_pending_transfer) !== 0;
  const isVoid = (flags & TransferFlags.void_pending_transfer) !== 0;
  assert.ok(Number(pending) + Number(post) + Number(isVoid) <= 1, "one phase per transfer");
  if (pending) {
    return "pending";
  }
  if (post) {
    return "post";
  }
  return isVoid ? "void" : "single";
}
