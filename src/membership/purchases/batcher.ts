/**
 * Coalescing single purchases. Each purchase on its own costs a handful of Postgres round trips
 * and a ledger request; under load, those costs dominate. The batcher queues purchases that
 * arrive while batches are in flight and sends them together as the next batch, through the
 * same intake as `recordPurchases`: one member lookup, one intent insert, one ledger request,
 * one mark for the whole batch. When idle, a purchase goes out at once: no timer, no delay.
 *
 * Nothing of the protocol changes: every purchase's intent is committed before its transfers
 * are posted, and its caller hears back only after its row is marked posted (with its outbox
 * event). Each caller gets its own outcome: a refused purchase (unknown member, conflict, ...)
 * is that caller's error alone. A failure of a dependency fails the batch it hit, as it would
 * have failed each purchase alone; the next batch starts afresh.
 */
import assert from "node:assert/strict";
import { walletBalance } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { loadOrgLedger, mapBounded } from "../intents/support.ts";
import type { WalletBalance } from "../ledger-types.ts";
import {
  coalescedBatchesInFlightMax,
  coalescedPurchasesMax,
  ledgerRequestsInFlightMax,
  purchaseBatchItemsMax,
  purchaseQueueMax,
} from "../limits.ts";
import { memberKey } from "../store/caches.ts";
import {
  type IntakeResult,
  type PurchaseInput,
  type StagedPurchases,
  stagePurchaseRequests,
} from "./intake.ts";

export interface PurchaseBatcherOptions {
  /** Purchases per batch, 1..purchaseBatchItemsMax. */
  batchItemsMax: number;
  /** Batches in flight at once, >= 1. */
  batchesInFlightMax: number;
  /** Purchases waiting, >= batchItemsMax; beyond it `submit` refuses. */
  queueMax: number;
}

export interface PurchaseBatcherStats {
  /** Purchases waiting for a batch. */
  queued: number;
  /** Batches being recorded now. */
  inFlight: number;
  /** Batches started so far, and the purchases they carried. */
  batches: number;
  purchases: number;
}

/** One purchase's result, with its member's points wallet read after its batch was posted. */
export type BatchedPurchaseResult =
  | (Extract<IntakeResult, { status: "created" | "replayed" }> & { balance: WalletBalance })
  | Extract<IntakeResult, { status: "error" | "thrown" }>;

export interface PurchaseBatcher {
  /** Records one purchase of `orgId` in the next batch; resolves with its own result. */
  submit(orgId: string, purchase: PurchaseInput): Promise<BatchedPurchaseResult>;
  stats(): PurchaseBatcherStats;
}

/** The queue is full: the process is overloaded, the purchase was not recorded. */
export class PurchaseQueueFullError extends Error {
  override readonly name = "PurchaseQueueFullError";
  /** Read by the HTTP edge, which answers 503 to it as to any dependency that cannot serve. */
  readonly code = "ERR_PURCHASE_QUEUE_FULL";

  constructor(queueMax: number) {
    super(`${queueMax} purchases are already waiting; retry later`);
  }
}

interface Waiting {
  orgId: string;
  purchase: PurchaseInput;
  resolve: (result: BatchedPurchaseResult) => void;
  reject: (error: unknown) => void;
}

export const defaultPurchaseBatcherOptions: Readonly<PurchaseBatcherOptions> = Object.freeze({
  batchItemsMax: coalescedPurchasesMax,
  batchesInFlightMax: coalescedBatchesInFlightMax,
  queueMax: purchaseQueueMax,
});

/**
 * A batcher recording through `deps` (its pool, ledger, clock and test seam). Built once by the
 * composition (createApp, the bench) and passed to `recordPurchase` as `deps.purchaseBatcher`.
 *
 * @example
 * const batcher = createPurchaseBatcher(deps);
 * const result = await batcher.submit(orgId, { externalId, memberId, amountMinor, currency });
 */
export function createPurchaseBatcher(
  deps: LedgerDeps,
  options: PurchaseBatcherOptions = defaultPurchaseBatcherOptions,
): PurchaseBatcher {
  const { batchItemsMax, batchesInFlightMax, queueMax } = options;
  assert.ok(Number.isSafeInteger(batchItemsMax) && batchItemsMax >= 1, "batch bound >= 1");
  assert.ok(batchItemsMax <= purchaseBatchItemsMax, "a coalesced batch is a valid batch");
  assert.ok(Number.isSafeInteger(batchesInFlightMax) && batchesInFlightMax >= 1);
  assert.ok(Number.isSafeInteger(queueMax) && queueMax >= batchItemsMax, "queue holds a batch");

  // One FIFO per org (an array and a head index: shift() would copy the array on every batch),
  // and the orgs with purchases waiting, in turn: a batch never mixes orgs, so one org's failing
  // batch (its data, a refusal of its chains) can never fail another org's purchases.
  const queues = new Map<string, { items: Waiting[]; head: number }>();
  const turns: string[] = [];
  let turnHead = 0;
  let waitingCount = 0;
  let inFlight = 0;
  let staging = false;
  let batches = 0;
  let purchases = 0;

  const queued = (): number => waitingCount;

  /** Up to `batchItemsMax` purchases of the org whose turn it is; it goes to the back if more wait. */
  function take(): Waiting[] {
    assert.ok(turnHead < turns.length, "an org with purchases waiting has a turn");
    const orgId = turns[turnHead] as string;
    turnHead += 1;
    const queue = queues.get(orgId);
    assert.ok(queue !== undefined && queue.head < queue.items.length, "its queue is not empty");
    const count = Math.min(batchItemsMax, queue.items.length - queue.head);
    const batch = queue.items.slice(queue.head, queue.head + count);
    queue.head += count;
    waitingCount -= count;
    if (queue.head === queue.items.length) {
      queues.delete(orgId);
    } else {
      if (queue.head >= batchItemsMax && queue.head * 2 >= queue.items.length) {
        // Drop what was taken once it is at least half the array: amortised O(1) per purchase.
        queue.items = queue.items.slice(queue.head);
        queue.head = 0;
      }
      turns.push(orgId);
    }
    if (turnHead >= 64 && turnHead * 2 >= turns.length) {
      turns.splice(0, turnHead);
      turnHead = 0;
    }
    assert.ok(waitingCount >= 0, "never fewer than none waiting");
    return batch;
  }

  /**
   * Starts the next batch when no batch is staging (checking and inserting its intents) and
   * fewer than `batchesInFlightMax` are in flight. One staging at a time keeps batches whole:
   * purchases arriving meanwhile wait for the next batch instead of splitting into small ones,
   * while the staged batch posts and marks, overlapping the next one's insert.
   */
  function startBatches(): void {
    if (staging || inFlight >= batchesInFlightMax || queued() === 0) {
      return;
    }
    const batch = take();
    assert.ok(batch.length >= 1 && batch.length <= batchItemsMax, "batch within its bound");
    inFlight += 1;
    staging = true;
    batches += 1;
    purchases += batch.length;
    const staged = stage(batch).finally(() => {
      staging = false;
      startBatches();
    });
    const done = staged
      .then((intake) => intake.complete())
      .finally(() => {
        inFlight -= 1;
        assert.ok(inFlight >= 0, "batches in flight never negative");
        startBatches();
      });
    const rejectAll = (error: unknown): void => {
      // A settled promise ignores a second settlement: callers already answered keep theirs.
      for (const waiting of batch) {
        waiting.reject(error);
      }
    };
    // A broken invariant while answering reaches every caller still waiting, never nobody.
    void done.then((results) => answer(batch, results), rejectAll).catch(rejectAll);
  }

  function stage(batch: readonly Waiting[]): Promise<StagedPurchases> {
    return stagePurchaseRequests(
      deps,
      batch.map((waiting) => ({ orgId: waiting.orgId, input: waiting.purchase })),
      { thrownFailsBatch: false },
    );
  }

  /**
   * Reads each member's wallet once for the whole batch (after it was posted, so it includes
   * every purchase of the batch) and answers every caller. Runs after the batch's slot is free.
   */
  async function answer(batch: readonly Waiting[], results: IntakeResult[]): Promise<void> {
    assert.equal(results.length, batch.length, "one result per purchase");
    const balances = await walletsOf(
      deps,
      results.flatMap((result, index) =>
        result.status === "created" || result.status === "replayed"
          ? [{ orgId: batch[index]?.orgId ?? "", memberId: result.memberId }]
          : [],
      ),
    );
    batch.forEach((waiting, index) => {
      const result = results[index];
      assert.ok(result !== undefined);
      if (result.status === "error" || result.status === "thrown") {
        waiting.resolve(result);
        return;
      }
      const balance = balances.get(memberKey(waiting.orgId, result.memberId));
      assert.ok(balance !== undefined, "a member who earned has a wallet");
      waiting.resolve({
        status: result.status,
        externalId: result.externalId,
        memberId: result.memberId,
        outcome: result.outcome,
        balance,
      });
    });
  }

  return {
    submit(orgId, purchase) {
      if (queued() >= queueMax) {
        return Promise.reject(new PurchaseQueueFullError(queueMax));
      }
      const result = new Promise<BatchedPurchaseResult>((resolve, reject) => {
        let queue = queues.get(orgId);
        if (queue === undefined) {
          queue = { items: [], head: 0 };
          queues.set(orgId, queue);
          turns.push(orgId);
        }
        queue.items.push({ orgId, purchase, resolve, reject });
        waitingCount += 1;
      });
      startBatches();
      return result;
    },
    stats: () => ({ queued: queued(), inFlight, batches, purchases }),
  };
}

/** The points wallet of each member named, read once each, by "org:member". */
async function walletsOf(
  deps: LedgerDeps,
  members: ReadonlyArray<{ orgId: string; memberId: string }>,
): Promise<Map<string, WalletBalance>> {
  const wanted = new Map<string, { orgId: string; memberId: string }>();
  for (const member of members) {
    wanted.set(memberKey(member.orgId, member.memberId), member);
  }
  const entries = await mapBounded([...wanted], ledgerRequestsInFlightMax, async ([key, ref]) => {
    const { pointsLedger } = await loadOrgLedger(deps, ref.orgId);
    const balance = await walletBalance(deps.ledger, {
      ledger: pointsLedger,
      memberId: ref.memberId,
    });
    assert.ok(balance !== null, "a member who earned has a wallet");
    return [key, balance] as const;
  });
  return new Map(entries);
}
