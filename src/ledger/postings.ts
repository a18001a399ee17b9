/**
 * Submitting linked chains of transfers, and reading TigerBeetle's per-event answers back as one
 * outcome per chain. Every loyalty operation is one chain; a batch of operations is packed into
 * as few requests as possible without ever splitting a chain across requests (a chain cannot
 * span requests in TigerBeetle).
 *
 * Invariants asserted here, before anything is sent: a chain is non-empty, bounded, and linked
 * on every transfer but the last; ids are non-zero and unique within a request; every amount is
 * within (0, amountMax] except the sentinels TigerBeetle defines for post/void.
 */
import assert from "node:assert/strict";
import {
  amount_max,
  type Client,
  CreateTransferStatus,
  type Transfer,
  TransferFlags,
} from "tigerbeetle-node";
import { TransferCode, zeroAmountTransferCodes } from "./codes.ts";
import { batchEventsMax } from "./limits.ts";

/** Legs in one operation's chain. The largest today is a stamp-card completion (2). */
export const chainLegsMax = 32;
/** Largest amount of points or stamps one transfer may move. 10^15 leaves room for 10^12 minor
 * units × a rate × a tier multiplier, and stays far below u64. */
export const pointsPerTransferMax = 10n ** 15n;

assert.ok(chainLegsMax <= batchEventsMax, "a chain fits in one request");
assert.ok(pointsPerTransferMax < 2n ** 63n, "points per transfer fit in a signed 64-bit column");

export type ChainOutcome =
  /** Every leg was posted now. */
  | { kind: "created"; timestamps: bigint[] }
  /** The same chain was posted before (a retry): its first leg answered `exists`. */
  | { kind: "exists"; timestamp: bigint }
  /** The chain failed at `leg` with `status`; nothing of it was posted. */
  | { kind: "failed"; leg: number; status: CreateTransferStatus };

const postOrVoid = TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer;

function assertChain(chain: readonly Transfer[]): void {
  assert.ok(chain.length > 0, "a chain has at least one transfer");
  assert.ok(chain.length <= chainLegsMax, "chain longer than chainLegsMax");
  chain.forEach((transfer, index) => {
    const last = index === chain.length - 1;
    const linked = (transfer.flags & TransferFlags.linked) !== 0;
    assert.equal(linked, !last, "every leg but the last is linked, the last is not");
    assert.ok(transfer.id !== 0n, "transfer id must not be zero");
    if ((transfer.flags & postOrVoid) !== 0) {
      // Post/void amounts: amount_max (everything) or an explicit amount; 0 for a full void.
      assert.ok(transfer.pending_id !== 0n, "post/void names its pending transfer");
      assert.ok(transfer.timeout === 0, "post/void has no timeout");
    } else {
      // 0 only where the transfer records a document whatever it moves (a purchase, a refund).
      assert.ok(
        transfer.amount > 0n ||
          (transfer.amount === 0n && zeroAmountTransferCodes.includes(transfer.code)),
        "amounts are positive",
      );
      assert.ok(transfer.amount <= pointsPerTransferMax, "amount above pointsPerTransferMax");
      assert.ok(transfer.debit_account_id !== 0n && transfer.credit_account_id !== 0n);
      assert.notEqual(transfer.debit_account_id, transfer.credit_account_id, "two sides");
      assert.ok(transfer.ledger > 0, "ledger must be set");
      assert.ok(transfer.code > 0, "code must be set");
      const pending = (transfer.flags & TransferFlags.pending) !== 0;
      // The negative space: holds always expire; nothing else carries a timeout. A cap
      // reservation is the one pending transfer without one: the purchase's own next step (or
      // recovery) posts it, and an expiry would let a recovered purchase overrun the cap.
      const expires = pending && transfer.code !== TransferCode.capReservation;
      assert.equal(transfer.timeout > 0, expires, "holds, and only they, time out");
    }
  });
}

/**
 * Builds a transfer with every field TigerBeetle needs, zeroes where not given. Written out field
 * by field (not `{ ...defaults, ...fields }`): this runs for every transfer posted, and an object
 * spread costs microseconds where a literal costs nanoseconds.
 */
export function transfer(fields: Partial<Transfer> & Pick<Transfer, "id">): Transfer {
  return {
    id: fields.id,
    debit_account_id: fields.debit_account_id ?? 0n,
    credit_account_id: fields.credit_account_id ?? 0n,
    amount: fields.amount ?? 0n,
    pending_id: fields.pending_id ?? 0n,
    user_data_128: fields.user_data_128 ?? 0n,
    user_data_64: fields.user_data_64 ?? 0n,
    user_data_32: fields.user_data_32 ?? 0,
    timeout: fields.timeout ?? 0,
    ledger: fields.ledger ?? 0,
    code: fields.code ?? 0,
    flags: fields.flags ?? 0,
    timestamp: fields.timestamp ?? 0n,
  };
}

/** Sets `linked` on every leg but the last (on copies: the legs given are not changed). */
export function link(legs: Transfer[]): Transfer[] {
  return legs.map((leg, index) => {
    const copy = transfer(leg);
    copy.flags =
      index < legs.length - 1
        ? leg.flags | TransferFlags.linked
        : leg.flags & ~TransferFlags.linked;
    return copy;
  });
}

/**
 * Posts independent chains in as few requests as possible and returns one outcome per chain, in
 * order. Requests go out concurrently; TigerBeetle executes each atomically per chain.
 */
export async function submitChains(
  client: Client,
  chains: readonly Transfer[][],
): Promise<ChainOutcome[]> {
  const requests: Array<{ first: number; count: number }> = [];
  let current = { first: 0, count: 0 };
  let events = 0;
  const seen = new Set<bigint>();
  chains.forEach((chain, index) => {
    assertChain(chain);
    for (const leg of chain) {
      assert.ok(!seen.has(leg.id), "transfer ids are unique within a submission");
      seen.add(leg.id);
    }
    if (events + chain.length > batchEventsMax) {
      requests.push(current);
      current = { first: index, count: 0 };
      events = 0;
    }
    current.count += 1;
    events += chain.length;
  });
  if (current.count > 0) {
    requests.push(current);
  }
  const outcomes: ChainOutcome[] = new Array(chains.length);
  await Promise.all(
    requests.map(async ({ first, count }) => {
      const slice = chains.slice(first, first + count);
      const batch = slice.flat();
      assert.ok(batch.length <= batchEventsMax, "request within the batch limit");
      const results = await client.createTransfers(batch);
      assert.equal(results.length, batch.length, "one result per transfer");
      let offset = 0;
      slice.forEach((chain, index) => {
        outcomes[first + index] = chainOutcome(results.slice(offset, offset + chain.length));
        offset += chain.length;
      });
    }),
  );
  return outcomes;
}

function chainOutcome(
  results: ReadonlyArray<{ status: CreateTransferStatus; timestamp: bigint }>,
): ChainOutcome {
  const failing = results.findIndex(
    (result) =>
      result.status !== CreateTransferStatus.created &&
      result.status !== CreateTransferStatus.linked_event_failed,
  );
  if (failing < 0) {
    assert.ok(
      results.every((result) => result.status === CreateTransferStatus.created),
      "a chain without a failing leg was created whole",
    );
    return { kind: "created", timestamps: results.map((result) => result.timestamp) };
  }
  const failed = results[failing] as { status: CreateTransferStatus; timestamp: bigint };
  // A retried chain stops at its first leg, which exists; chains are atomic, so the rest exists
  // too. `exists` on a later leg would mean ids were reused across different chains: a conflict.
  if (failing === 0 && failed.status === CreateTransferStatus.exists) {
    return { kind: "exists", timestamp: failed.timestamp };
  }
  return { kind: "failed", leg: failing, status: failed.status };
}

export { amount_max as amountEverything };
