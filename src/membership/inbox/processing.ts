/**
 * The worker's side of the inbox: the per-org lock that keeps one org's events in order, the
 * read of its queued events, and the outcome write that also announces each outcome on the
 * outbox (`event.processed` / `event.failed`).
 */
import assert from "node:assert/strict";
import { and, asc, eq, lt, sql } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { inboxEventsPerReadMax, inboxSweepOrgsMax } from "../limits.ts";
import { type OutboxEvent, writeOutbox } from "../store/outbox.ts";
import { inboxEvents } from "../store/schema.ts";
import type { InboxEventOutcome, InboxPayload, QueuedInboxEvent } from "./types.ts";

/**
 * First key of the inbox's advisory locks (the second is the org's hash): a fixed int4 that no
 * other lock of this database uses (the migration lock is a single int8).
 */
const inboxLockNamespace = 1_768_841_003;

export type InboxLockResult<T> = { locked: true; value: T } | { locked: false };

/**
 * Runs `work` while this process alone processes the org's inbox, or returns `locked: false` at
 * once when another worker (in any process) holds it.
 *
 * Why a lock per org and not `FOR UPDATE SKIP LOCKED` on rows: two workers taking disjoint rows
 * of one org would post a member's refund before the purchase it refunds, or apply profile
 * changes out of order. With the lock, one worker at a time walks an org's queue in `seq` order;
 * orgs proceed in parallel, and one org still goes fast because a run of transactions is posted
 * as one purchase batch. It is a transaction-level advisory lock, held by a transaction that
 * does nothing else: Postgres releases it when that transaction ends, also when the process or
 * its connection dies, so a crashed worker never strands an org. The work itself runs on the
 * pool, committing as it goes; a crash after a use case committed and before its outcome was
 * written re-runs that event, which the use cases' own idempotency (external ids) absorbs.
 * Two orgs whose hashes collide merely share a lock.
 */
export async function withInboxLock<T>(
  deps: DbDeps,
  orgId: string,
  work: () => Promise<T>,
): Promise<InboxLockResult<T>> {
  return deps.db.transaction(async (tx) => {
    const rows = await tx.execute<{ locked: boolean }>(
      sql`select pg_try_advisory_xact_lock(${inboxLockNamespace}, hashtext(${orgId})) as locked`,
    );
    const [row] = rows as unknown as { locked: boolean }[];
    assert.ok(row !== undefined, "the lock query answers one row");
    if (!row.locked) {
      return { locked: false };
    }
    return { locked: true, value: await work() };
  });
}

/** The org's oldest queued events, in order, at most `limit` (≤ `inboxEventsPerReadMax`). */
export async function listQueuedEvents(
  deps: DbDeps,
  orgId: string,
  limit: number = inboxEventsPerReadMax,
): Promise<QueuedInboxEvent[]> {
  assert.ok(Number.isInteger(limit) && limit >= 1, "limit is a positive integer");
  assert.ok(limit <= inboxEventsPerReadMax, "limit within the read bound");
  const rows = await deps.db
    .select({
      seq: inboxEvents.seq,
      eventId: inboxEvents.eventId,
      eventType: inboxEvents.eventType,
      occurredAt: inboxEvents.occurredAt,
      location: inboxEvents.location,
      memberId: inboxEvents.memberId,
      memberExternalRef: inboxEvents.memberExternalRef,
      payload: inboxEvents.payload,
    })
    .from(inboxEvents)
    .where(and(eq(inboxEvents.orgId, orgId), eq(inboxEvents.status, "queued")))
    .orderBy(asc(inboxEvents.seq))
    .limit(limit);
  return rows.map((row) => ({
    ...row,
    seq: row.seq.toString(),
    payload: row.payload as InboxPayload,
  }));
}

/**
 * Writes the outcomes of processed events and their outbox events in one transaction, so an
 * outcome is announced exactly when it is recorded. Only queued rows change: the caller holds
 * the org's lock, so every one of them must still be queued (asserted).
 */
export async function recordEventOutcomes(
  deps: DbDeps,
  orgId: string,
  outcomes: readonly InboxEventOutcome[],
): Promise<void> {
  if (outcomes.length === 0) {
    return;
  }
  assert.ok(outcomes.length <= inboxEventsPerReadMax, "outcomes of one read at most");
  const values = outcomes.map((outcome) =>
    outcome.status === "processed"
      ? { seq: outcome.seq, status: outcome.status, result: outcome.result, error: null }
      : { seq: outcome.seq, status: outcome.status, result: null, error: outcome.error },
  );
  const events = outcomes.map(
    (outcome): OutboxEvent => ({
      orgId,
      topic: outcome.status === "processed" ? "event.processed" : "event.failed",
      payload:
        outcome.status === "processed"
          ? { event_id: outcome.eventId, status: outcome.status, result: outcome.result }
          : {
              event_id: outcome.eventId,
              status: outcome.status,
              error: { code: outcome.error.code, message: outcome.error.message },
            },
    }),
  );
  await deps.db.transaction(async (tx) => {
    // One statement for the whole read: the outcomes travel as one JSON parameter.
    const updated = await tx.execute(sql`
      update inbox_events as e
         set status = v.status, result = v.result, error = v.error, processed_at = now()
        from jsonb_to_recordset(${JSON.stringify(values)}::jsonb)
             as v(seq bigint, status inbox_event_status, result jsonb, error jsonb)
       where e.org_id = ${orgId} and e.seq = v.seq and e.status = 'queued'
      returning e.seq`);
    assert.equal(updated.length, outcomes.length, "every outcome found its queued event");
    await writeOutbox(tx, events);
  });
}

/**
 * Orgs with an event queued for longer than `queuedForMs`: the backlog no announcement reached
 * (Redis was down when it was accepted) or that a worker left behind. The age is measured by the
 * database's clock, which also stamped `received_at`. At most `inboxSweepOrgsMax`.
 */
export async function listOrgsWithQueuedEvents(
  deps: DbDeps,
  queuedForMs: number,
): Promise<string[]> {
  assert.ok(Number.isSafeInteger(queuedForMs) && queuedForMs >= 0, "an age in milliseconds");
  const rows = await deps.db
    .selectDistinct({ orgId: inboxEvents.orgId })
    .from(inboxEvents)
    .where(
      and(
        eq(inboxEvents.status, "queued"),
        lt(inboxEvents.receivedAt, sql`now() - make_interval(secs => ${queuedForMs / 1000})`),
      ),
    )
    .limit(inboxSweepOrgsMax);
  return rows.map((row) => row.orgId);
}
