/**
 * The outbox relay: moves committed outbox rows to the `events` queue, in id order, at least once.
 *
 * One pass, in one Postgres transaction:
 * 1. take the relay's advisory lock (transaction-scoped) or return: one relay at a time across
 *    every worker process, so rows leave in id order;
 * 2. read the oldest undelivered rows (bounded);
 * 3. add one `events` job per row to Redis, with job id `outbox-<id>`;
 * 4. mark the rows delivered and commit.
 * If Redis refuses (3), the transaction rolls back and the rows wait in the outbox: Redis being
 * down never loses an event. If the commit fails after Redis accepted (4), the next pass adds them
 * again; the job id makes that a no-op while the first job is kept (an hour after it completes),
 * and handlers are idempotent beyond that, so delivery is at least once.
 *
 * Order per member: a member's events are written by operations that each commit before the next
 * begins (enrolment before a purchase, a purchase before its refund), so their ids ascend in that
 * order and the relay hands them over in it. Rows of two transactions in flight at the same time
 * for one member have no order between them to keep.
 */
import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import type { WorkerDeps } from "./deps.ts";

/** Rows per pass, and passes per relay job, so one tick is bounded. */
export const relayBatchMax = 1_000;
export const relayPassesMax = 20;
/** The advisory lock key of the relay (any constant, fixed forever). */
const relayLockKey = 7_310_113_001;

interface OutboxRow extends Record<string, unknown> {
  id: string;
  org_id: string;
  topic: string;
  payload: Record<string, unknown>;
  created_at: string;
}

/** One pass: returns how many rows it relayed (0 when another process holds the lock). */
export async function relayOutboxPass(deps: WorkerDeps, batch = relayBatchMax): Promise<number> {
  assert.ok(Number.isSafeInteger(batch) && batch >= 1 && batch <= relayBatchMax);
  return await deps.db.transaction(async (tx) => {
    const [lock] = (await tx.execute(
      sql`select pg_try_advisory_xact_lock(${relayLockKey}) as locked`,
    )) as unknown as Array<{ locked: boolean }>;
    if (lock?.locked !== true) {
      return 0;
    }
    const rows = (await tx.execute(sql`
      select id::text as id, org_id, topic::text as topic, payload,
             to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at
        from outbox
       where delivered_at is null
       order by outbox.id -- the column, not the text alias: ids in numeric order
       limit ${batch}`)) as unknown as OutboxRow[];
    if (rows.length === 0) {
      return 0;
    }
    await deps.producer.addBulk(
      "events",
      rows.map((row) => ({
        jobId: `outbox-${row.id}`,
        name: row.topic,
        data: {
          orgId: row.org_id,
          outboxId: row.id,
          topic: row.topic,
          memberId: typeof row.payload.member_id === "string" ? row.payload.member_id : null,
          payload: row.payload,
          createdAt: row.created_at,
        },
      })),
    );
    const ids = rows.map((row) => row.id);
    await tx.execute(sql`
      update outbox set delivered_at = now(), attempts = attempts + 1
       where id = any(${`{${ids.join(",")}}`}::bigint[])`);
    return rows.length;
  });
}

/** Passes until the outbox is drained or the bound is reached; returns rows relayed. */
export async function relayOutbox(deps: WorkerDeps): Promise<number> {
  let relayed = 0;
  for (let pass = 0; pass < relayPassesMax; pass += 1) {
    const moved = await relayOutboxPass(deps);
    relayed += moved;
    if (moved < relayBatchMax) {
      break;
    }
  }
  return relayed;
}
