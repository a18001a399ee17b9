/**
 * The worker's side of the inbox: the per-org lock that keeps one org's events in order, the
 * read of its queued events, and the outcome write that also announces each outcome on the
 * outbox (`event.processed` / `event.failed`).
 */
import assert from "node:assert/strict";
import { and, asc, eq, gt, lt, sql } from "drizzle-orm";
import type { DbDeps, MembershipDeps } from "../deps.ts";
import { inboxEventsPerReadMax, inboxSweepOrgsMax } from "../limits.ts";
import { executeStatement } from "../store/db.ts";
import { assertOutboxEvent, type OutboxEvent } from "../store/outbox.ts";
import { inboxEvents } from "../store/schema.ts";
import { openPayload } from "./payload-crypto.ts";
import type { InboxEventOutcome, InboxPayload, QueuedInboxEvent } from "./types.ts";

/**
 * First key of the inbox's advisory locks (the second is the org's hash): a fixed int4 that no
 * other lock of this database uses (the migration lock is a single int8).
 */
export const inboxLockNamespace = 1_768_841_003;

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

export interface ListQueuedEventsOptions {
  /** Only events after this one (`seq`): those up to it are being recorded. */
  afterSeq?: string;
  /** At most this many, ≤ `inboxEventsPerReadMax` (the default). */
  limit?: number;
}

/** The org's oldest queued events, in order. */
export async function listQueuedEvents(
  deps: Pick<MembershipDeps, "db" | "secrets">,
  orgId: string,
  options: ListQueuedEventsOptions = {},
): Promise<QueuedInboxEvent[]> {
  const limit = options.limit ?? inboxEventsPerReadMax;
  assert.ok(Number.isInteger(limit) && limit >= 1, "limit is a positive integer");
  assert.ok(limit <= inboxEventsPerReadMax, "limit within the read bound");
  const after = options.afterSeq === undefined ? undefined : BigInt(options.afterSeq);
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
    .where(
      and(
        eq(inboxEvents.orgId, orgId),
        eq(inboxEvents.status, "queued"),
        after === undefined ? undefined : gt(inboxEvents.seq, after),
      ),
    )
    .orderBy(asc(inboxEvents.seq))
    .limit(limit);
  return rows.map((row) => ({
    ...row,
    seq: row.seq.toString(),
    payload: openPayload(deps.secrets, {
      orgId,
      eventId: row.eventId,
      eventType: row.eventType,
      payload: row.payload as InboxPayload,
    }),
  }));
}

/**
 * Records outcomes (`$1`: a JSON array of rows) and announces each on the outbox, in one
 * statement, so in one transaction: an outcome is announced exactly when it is recorded. Only
 * queued rows change; announcements follow the events' order.
 */
const outcomeUpdate = `
  with v as (
    select * from jsonb_to_recordset($1::jsonb)
      as v(org_id uuid, seq bigint, status inbox_event_status, result jsonb, error jsonb)
  ),
  updated as (
    update inbox_events e
       set status = v.status, result = v.result, error = v.error, processed_at = now()
      from v
     where e.org_id = v.org_id and e.seq = v.seq and e.status = 'queued'
    returning e.org_id, e.seq, e.event_id, e.status, e.result, e.error
  ),
  announced as (
    insert into outbox (org_id, topic, payload)
    select u.org_id, ('event.' || u.status::text)::outbox_topic,
      case when u.status = 'processed'
        then jsonb_build_object('event_id', u.event_id, 'status', u.status, 'result', u.result)
        else jsonb_build_object('event_id', u.event_id, 'status', u.status, 'error', u.error)
      end
    from updated u
    order by u.seq
    returning 1
  )
  select (select count(*) from updated)::int as updated,
         (select count(*) from announced)::int as announced`;

/**
 * Writes the outcomes of processed events and their outbox events (`event.processed` /
 * `event.failed` `{event_id, status, result | error}`) at once. The caller holds the org's lock,
 * so every one of them must still be queued (asserted).
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
  const rows = outcomes.map((outcome) => {
    const announced: OutboxEvent =
      outcome.status === "processed"
        ? { orgId, topic: "event.processed", payload: outcome.result }
        : { orgId, topic: "event.failed", payload: { ...outcome.error } };
    assertOutboxEvent(announced);
    return outcome.status === "processed"
      ? { org_id: orgId, seq: outcome.seq, status: outcome.status, result: outcome.result }
      : { org_id: orgId, seq: outcome.seq, status: outcome.status, error: outcome.error };
  });
  const [counts] = await executeStatement<{ updated: number; announced: number }>(
    deps.db,
    outcomeUpdate,
    JSON.stringify(rows),
  );
  assert.ok(counts !== undefined, "the statement answers one row");
  assert.equal(counts.updated, outcomes.length, "every outcome found its queued event");
  assert.equal(counts.announced, outcomes.length, "every outcome is announced");
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
