/**
 * Processes an org's inbox: its queued events in arrival order, each through the same use case
 * as its synchronous route (a run of consecutive transactions as one purchase batch, a refund,
 * a member update), under the org's inbox lock so that no two workers, in any process, work on
 * one org at once (membership/inbox/processing.ts says why a lock and not row locks).
 *
 * An event ends `processed` with the use case's result, or `failed` with the domain error that
 * refused it (an unknown member is `not_found`). A dependency that does not answer (Postgres, the
 * ledger) is not the event's fault: the outcomes so far are recorded, the rest stay queued, and
 * the error goes up so the job is retried with backoff.
 */
import { AssertionError } from "node:assert";
import assert from "node:assert/strict";
import type { Logger } from "pino";
import {
  DomainError,
  findMemberByExternalRef,
  getMember,
  type InboxEventError,
  type InboxEventOutcome,
  type InboxEventResult,
  isDomainError,
  type LedgerDeps,
  listQueuedEvents,
  membershipLimits,
  type PurchaseBatchOutcome,
  type QueuedInboxEvent,
  recordEventOutcomes,
  recordPurchases,
  refundPurchase,
  updateMember,
  withInboxLock,
} from "../../membership/index.ts";
import { memberPatchOf, purchaseOf, refundOf } from "./decode.ts";

export interface IngestDeps extends LedgerDeps {
  logger: Logger;
}

/**
 * Reads of `inboxEventsPerReadMax` events one job makes before handing over: a bound on how long
 * one org holds a worker while others wait. More left: `more` is true and the caller re-announces.
 */
export const inboxReadsPerJobMax = 50;

export type ProcessOrgEventsResult =
  | { status: "busy" }
  | { status: "done"; processed: number; failed: number; more: boolean };

/**
 * Reads whose purchases may be posted at once. Each is a purchase batch of its own; the
 * synchronous batch route serves its callers' batches concurrently in the same way. Measured with
 * bench/workers/ingest.ts: one at a time reached about half the batch route's rate, three at once
 * over 90% of it.
 */
export const inboxReadsInFlightMax = 3;

/**
 * Processes the org's queued events until none is left (bounded); see the module header.
 *
 * Reads overlap: while one read's purchases are posted, the next read (the events after it, by
 * `seq`) is taken, and when it too holds nothing but transactions its batch starts as well, up to
 * `inboxReadsInFlightMax` at once. That is safe because purchases commute: each earns on its own,
 * and its time is its `occurred_at`, not the order of posting. Anything that depends on what came
 * before (a refund, a profile change) waits until every earlier read is done. Outcomes are
 * written in order, one read's while the next is processed; the outbox announces them in order.
 *
 * When a dependency stops a read, its outcomes so far are written and the job fails; the reads
 * after it are let finish but not recorded, so all its remaining events stay queued and are
 * processed again (the use cases' idempotency makes that a replay).
 */
export async function processOrgEvents(
  deps: IngestDeps,
  orgId: string,
): Promise<ProcessOrgEventsResult> {
  const locked = await withInboxLock(deps, orgId, async () => {
    const counts = { processed: 0, failed: 0 };
    const inFlight: Array<Promise<ProcessedEvents>> = [];
    let recording: Promise<void> = Promise.resolve();
    let stoppedBy: unknown;

    /** Waits for the oldest read in flight and starts writing its outcomes after the last's. */
    const settleOldest = async (): Promise<void> => {
      const oldest = inFlight.shift();
      assert.ok(oldest !== undefined, "a read is in flight");
      const result = await oldest;
      if (stoppedBy !== undefined) {
        return;
      }
      await recording;
      recording = recordEventOutcomes(deps, orgId, result.outcomes);
      // Awaited before the next write or the end; until then a failure must not go unhandled.
      recording.catch(() => undefined);
      for (const outcome of result.outcomes) {
        counts[outcome.status] += 1;
      }
      stoppedBy = result.stoppedBy;
    };

    let more = true;
    try {
      let afterSeq: string | undefined;
      for (let read = 0; read < inboxReadsPerJobMax && stoppedBy === undefined; read += 1) {
        const events = await listQueuedEvents(
          deps,
          orgId,
          afterSeq === undefined ? {} : { afterSeq },
        );
        if (events.length === 0) {
          more = false;
          break;
        }
        afterSeq = events.at(-1)?.seq;
        // A read with anything but transactions runs alone: after every earlier read, and
        // before any later one.
        const alone = !events.every((event) => event.eventType === "pos.transaction");
        const room = alone ? 1 : inboxReadsInFlightMax;
        while (inFlight.length >= room && stoppedBy === undefined) {
          await settleOldest();
        }
        if (stoppedBy !== undefined) {
          break;
        }
        const processing = processEvents(deps, orgId, events);
        processing.catch(() => undefined);
        inFlight.push(processing);
        while (alone && inFlight.length > 0 && stoppedBy === undefined) {
          await settleOldest();
        }
      }
      while (inFlight.length > 0) {
        await settleOldest();
      }
    } finally {
      // Reads still in flight (after a failure) finish before the lock is let go.
      await Promise.allSettled(inFlight);
      await recording;
    }
    if (stoppedBy !== undefined) {
      throw stoppedBy;
    }
    return { ...counts, more };
  });
  return locked.locked ? { status: "done", ...locked.value } : { status: "busy" };
}

interface ProcessedEvents {
  /** In the events' order; a prefix of them when a dependency stopped the read. */
  outcomes: InboxEventOutcome[];
  /** The error of a dependency that stopped processing: the events left stay queued. */
  stoppedBy?: unknown;
}

async function processEvents(
  deps: IngestDeps,
  orgId: string,
  events: readonly QueuedInboxEvent[],
): Promise<ProcessedEvents> {
  const outcomes: InboxEventOutcome[] = [];
  let index = 0;
  while (index < events.length) {
    const event = events[index];
    assert.ok(event !== undefined);
    // A run of consecutive transactions is one purchase batch: as few ledger requests as the
    // batch allows, and still in order, since a batch's items are checked and posted in order
    // and nothing of another type sits between them.
    let end = index + 1;
    if (event.eventType === "pos.transaction") {
      while (end < events.length && events[end]?.eventType === "pos.transaction") {
        end += 1;
      }
    }
    const run = events.slice(index, end);
    try {
      outcomes.push(...(await processRun(deps, orgId, run)));
    } catch (error) {
      const refusal = refusalOf(deps, error, run);
      if (refusal === undefined) {
        return { outcomes, stoppedBy: error };
      }
      outcomes.push(...run.map((item) => failedOutcome(item, refusal)));
    }
    index = end;
  }
  assert.equal(outcomes.length, events.length, "every event read has its outcome");
  return { outcomes };
}

/** One event, or one run of transactions; throws what refuses (or stops) all of it. */
async function processRun(
  deps: IngestDeps,
  orgId: string,
  run: readonly QueuedInboxEvent[],
): Promise<InboxEventOutcome[]> {
  const [first] = run;
  assert.ok(first !== undefined, "a run has an event");
  switch (first.eventType) {
    case "pos.transaction": {
      assert.ok(run.length <= membershipLimits.purchaseBatchItemsMax, "a run is one batch");
      const results = await recordPurchases(deps, { orgId, items: run.map(purchaseOf) });
      assert.equal(results.length, run.length, "one purchase outcome per event");
      return run.map((event, position) => {
        const result = results[position];
        assert.ok(result !== undefined);
        return purchaseOutcome(event, result);
      });
    }
    case "pos.refund": {
      assert.equal(run.length, 1);
      // The member names the event's place in the member's order; the refund itself is of the
      // purchase it names, as on the synchronous route. An unknown member is `not_found`.
      await resolveMemberId(deps, orgId, first);
      const refund = await refundPurchase(deps, { orgId, ...refundOf(first) });
      return [
        processedOutcome(first, {
          transaction_id: refund.transactionId,
          purchase_id: refund.purchaseId,
          points_to_reverse: refund.pointsToReverse.toString(),
          points_reversed: refund.pointsReversed.toString(),
          shortfall: refund.shortfall.toString(),
          replayed: refund.replayed,
        }),
      ];
    }
    case "customer.updated": {
      assert.equal(run.length, 1);
      const memberId = await resolveMemberId(deps, orgId, first);
      const member = await updateMember(deps, { orgId, memberId, patch: memberPatchOf(first) });
      return [
        processedOutcome(first, {
          member_id: member.id,
          updated_at: member.updatedAt.toISOString(),
        }),
      ];
    }
  }
}

function purchaseOutcome(event: QueuedInboxEvent, result: PurchaseBatchOutcome): InboxEventOutcome {
  if (result.status === "error") {
    return failedOutcome(event, { code: result.code, message: result.message });
  }
  const { outcome } = result;
  return processedOutcome(event, {
    transaction_id: outcome.transactionId,
    points_earned: outcome.pointsEarned.toString(),
    stamps_earned: outcome.stampsEarned.map((earned) => ({
      program_id: earned.programId,
      stamps: earned.stamps.toString(),
      completed: earned.completed,
    })),
    replayed: result.status === "replayed",
  });
}

async function resolveMemberId(
  deps: IngestDeps,
  orgId: string,
  event: QueuedInboxEvent,
): Promise<string> {
  if (event.memberId !== null) {
    return (await getMember(deps, { orgId, memberId: event.memberId })).id;
  }
  assert.ok(event.memberExternalRef !== null, "an event names its member");
  const member = await findMemberByExternalRef(deps, {
    orgId,
    externalRef: event.memberExternalRef,
  });
  if (member === null) {
    throw new DomainError("not_found", "member not found", {
      memberExternalRef: event.memberExternalRef,
    });
  }
  return member.id;
}

/**
 * The refusal an error stands for, or undefined when it is a dependency's failure (retry). A
 * domain error is the use case's answer. A failed assertion is a bug: retrying cannot fix it,
 * and leaving the event queued would hold every later event of the org behind it for good, so
 * it fails as `internal_error`, logged loudly.
 */
function refusalOf(
  deps: IngestDeps,
  error: unknown,
  run: readonly QueuedInboxEvent[],
): InboxEventError | undefined {
  if (isDomainError(error)) {
    return { code: error.code, message: error.message };
  }
  if (error instanceof AssertionError) {
    deps.logger.error(
      { err: error, eventIds: run.map((event) => event.eventId) },
      "inbox event failed an assertion",
    );
    return { code: "internal_error", message: "the event could not be processed" };
  }
  return undefined;
}

function processedOutcome(event: QueuedInboxEvent, result: InboxEventResult): InboxEventOutcome {
  return { seq: event.seq, eventId: event.eventId, status: "processed", result };
}

function failedOutcome(event: QueuedInboxEvent, error: InboxEventError): InboxEventOutcome {
  return { seq: event.seq, eventId: event.eventId, status: "failed", error };
}
