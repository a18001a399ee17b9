/**
 * One delivery attempt of one webhook delivery, driven by a `webhooks` queue job that names it.
 * The job is only a wake-up: the delivery row holds the truth (status, schedule step, next
 * attempt time, a lease), so duplicate, early or late jobs are harmless.
 *
 * Order per member: a delivery for (webhook, member) is not attempted while an earlier one
 * (smaller outbox id) for the same pair is still `pending`; it is deferred, and woken as soon as
 * the earlier one is delivered or dead. A dead delivery no longer holds later ones back.
 *
 * Retries follow schedule.ts. When the schedule is spent the delivery is `dead` and this throws
 * `DeadDeliveryError`, which the processor turns into a failed job: listed by the failed-jobs
 * route, and retrying that job starts the delivery over (a fresh schedule).
 */
import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import type { LedgerDeps } from "../../membership/index.ts";
import { webhookSigningKey, webhookUrlProblem } from "../../membership/index.ts";
import { type Coalesced, coalesce } from "../coalesce.ts";
import { createWebhookHttpClient, type WebhookHttpClient } from "./http-client.ts";
import { nextRetryAt } from "./schedule.ts";
import { signedHeaders } from "./signing.ts";

/** A 2xx within this is delivered; anything else, or nothing, is a failed attempt. */
export const deliveryTimeoutMs = 10_000;
/** How long an attempt holds its delivery: longer than any attempt can take. */
const leaseMs = deliveryTimeoutMs * 3;
/** A job may fire this much before the row's next attempt time and still attempt. */
const earlyToleranceMs = 250;
/** A deferred delivery looks again after this, if no earlier delivery woke it first. */
export const deferMs = 1_000;
/** Bytes of an error message kept per attempt. */
const errorLengthMax = 500;

export interface WebhookDeliveryOptions {
  nodeEnv: "development" | "test" | "production";
  webhookAllowPrivate: boolean;
  webhookRetryDelaysMs: readonly number[];
}

/** Schedules the wake-up job `wakeup` of a delivery (idempotent by its job id). */
export type ScheduleWakeup = (
  wake: { orgId: string; deliveryId: string; wakeup: number },
  delayMs: number,
) => Promise<void>;

export interface DeliverDeps extends LedgerDeps {
  options: WebhookDeliveryOptions;
  scheduleWakeup: ScheduleWakeup;
  delivery: WebhookDelivery;
}

export class DeadDeliveryError extends Error {
  override readonly name = "DeadDeliveryError";
}

/** The queue job id of a delivery's `wakeup`-th job: unique per scheduling. */
export function wakeupJobId(deliveryId: string, wakeup: number): string {
  return `wh-${deliveryId}-${wakeup}`;
}

export type DeliveryOutcome =
  | "delivered"
  | "retry_scheduled"
  | "deferred"
  | "not_due"
  | "busy"
  | "finished"
  | "webhook_deleted";

interface DeliveryState {
  id: string;
  org_id: string;
  webhook_id: string;
  member_id: string | null;
  outbox_id: string;
  event_id: string;
  body: string;
  status: "pending" | "delivered" | "dead";
  schedule_step: number;
  wakeups: number;
  first_attempt_at: string | Date | null;
  next_attempt_at: string | Date;
  leased_until: string | Date | null;
  url: string;
  secret_encrypted: Buffer;
  deleted: boolean;
}

function toDate(value: string | Date): Date {
  return value instanceof Date ? value : new Date(value);
}

async function rows<T>(deps: Pick<LedgerDeps, "db">, query: ReturnType<typeof sql>): Promise<T[]> {
  return (await deps.db.execute(query)) as unknown as T[];
}

async function loadState(deps: LedgerDeps, deliveryId: string): Promise<DeliveryState | null> {
  const [state] = await rows<DeliveryState>(
    deps,
    sql`select d.id::text as id, d.org_id, d.webhook_id, d.member_id, d.outbox_id::text as outbox_id,
          d.event_id, d.body, d.status, d.schedule_step, d.wakeups, d.first_attempt_at,
          d.next_attempt_at, d.leased_until, w.url, w.secret_encrypted,
          w.deleted_at is not null as deleted
        from webhook_deliveries d
        join webhooks w on w.org_id = d.org_id and w.id = d.webhook_id
        where d.id = ${deliveryId}::bigint`,
  );
  return state ?? null;
}

/** Deliveries claimed, or recorded, in one statement at most (see coalesce.ts). */
const statementBatchMax = 64;

/** A Postgres bigint[] literal of delivery ids (asserted digits). */
function idArray(ids: readonly string[]): string {
  for (const id of ids) {
    assert.ok(/^[1-9][0-9]*$/.test(id), "a delivery id is a positive integer");
  }
  return `{${ids.join(",")}}`;
}

/**
 * Leases each delivery for one attempt when it is pending, due, free, first in its order and its
 * webhook live; answers its state then, null otherwise. One statement for the batch; an id asked
 * for twice in one batch (two jobs of one delivery) is leased to the first asker only.
 */
async function claimBatch(
  deps: Pick<LedgerDeps, "db">,
  ids: readonly string[],
): Promise<Array<DeliveryState | null>> {
  const claimed = await rows<DeliveryState>(
    deps,
    sql`update webhook_deliveries d
        set leased_until = now() + make_interval(secs => ${leaseMs / 1000}::double precision)
        from webhooks w
        where d.id = any(${idArray([...new Set(ids)])}::bigint[]) and d.status = 'pending'
          and w.org_id = d.org_id and w.id = d.webhook_id and w.deleted_at is null
          and d.next_attempt_at <= now() + make_interval(secs => ${earlyToleranceMs / 1000}::double precision)
          and (d.leased_until is null or d.leased_until < now())
          and (d.member_id is null or not exists (
            select 1 from webhook_deliveries e
            where e.webhook_id = d.webhook_id and e.member_id = d.member_id
              and e.status = 'pending' and e.outbox_id < d.outbox_id))
        returning d.id::text as id, d.org_id, d.webhook_id, d.member_id,
          d.outbox_id::text as outbox_id, d.event_id, d.body, d.status, d.schedule_step,
          d.wakeups, d.first_attempt_at, d.next_attempt_at, d.leased_until, w.url,
          w.secret_encrypted, false as deleted`,
  );
  const byId = new Map(claimed.map((state) => [state.id, state]));
  return ids.map((id) => {
    const state = byId.get(id) ?? null;
    byId.delete(id);
    return state;
  });
}

/** Moves the delivery's next attempt to `delayMs` from now and schedules a job for it. */
async function reschedule(deps: DeliverDeps, state: DeliveryState, delayMs: number): Promise<void> {
  const [moved] = await rows<{ wakeups: number }>(
    deps,
    sql`update webhook_deliveries
        set next_attempt_at = now() + make_interval(secs => ${delayMs / 1000}::double precision),
          wakeups = wakeups + 1
        where id = ${state.id}::bigint and status = 'pending'
        returning wakeups`,
  );
  if (moved !== undefined) {
    await deps.scheduleWakeup(
      { orgId: state.org_id, deliveryId: state.id, wakeup: moved.wakeups },
      delayMs,
    );
  }
}

/** What one POST came to. */
interface AttemptResult {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

async function post(deps: DeliverDeps, state: DeliveryState, now: Date): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = (): number => Math.max(0, Math.round(performance.now() - started));
  const allowPrivate = deps.options.webhookAllowPrivate;
  const problem = await webhookUrlProblem(state.url, {
    requireHttps: deps.options.nodeEnv === "production",
    allowPrivate,
    // The client checks the address it connects to (http-client.ts).
    resolveNames: false,
  });
  if (problem !== null) {
    return { statusCode: null, error: `url ${problem}`, durationMs: elapsed() };
  }
  const key = webhookSigningKey(deps, {
    id: state.webhook_id,
    orgId: state.org_id,
    secretEncrypted: state.secret_encrypted,
  });
  const result = await deps.delivery.http.post(
    state.url,
    {
      "content-type": "application/json",
      "user-agent": "loyalty-ledger-webhooks",
      ...signedHeaders(key, state.event_id, now, state.body),
    },
    state.body,
    deliveryTimeoutMs,
  );
  return {
    statusCode: result.statusCode,
    error: result.error === null ? null : result.error.slice(0, errorLengthMax),
    durationMs: elapsed(),
  };
}

/** One attempt to record: the delivery, its answer, and the state it leaves the delivery in. */
interface AttemptRecord {
  id: string;
  attemptedAt: Date;
  result: AttemptResult;
  next: { status: "delivered" | "pending" | "dead"; at: Date | null };
}

interface Recorded {
  wakeups: number;
  /** The delivery a finished one held back, now due: schedule it (see `recordBatch`). */
  next: { id: string; wakeups: number } | null;
}

/**
 * Records each attempt and its delivery's new state, all in one statement. When a delivery is
 * finished (delivered or dead) the same statement makes the earliest pending delivery of the
 * same (webhook, member), which the order rule held back, due now: its id and wake-up are
 * answered. One batch never holds two deliveries of one (webhook, member): only the first
 * pending one of a pair can be leased.
 */
async function recordBatch(
  deps: Pick<LedgerDeps, "db">,
  entries: readonly AttemptRecord[],
): Promise<Recorded[]> {
  assert.equal(new Set(entries.map((entry) => entry.id)).size, entries.length, "distinct ids");
  const input = JSON.stringify(
    entries.map((entry) => {
      assert.ok(/^[1-9][0-9]*$/.test(entry.id), "a delivery id is a positive integer");
      assert.ok((entry.next.status === "pending") === (entry.next.at !== null), "pending: when");
      return {
        id: entry.id,
        status: entry.next.status,
        step: entry.next.status === "delivered" ? 0 : 1,
        at: entry.attemptedAt.toISOString(),
        next_at: entry.next.at?.toISOString() ?? null,
        status_code: entry.result.statusCode,
        duration_ms: entry.result.durationMs,
        error: entry.result.error,
      };
    }),
  );
  const updated = await rows<{
    id: string;
    wakeups: number;
    next_id: string | null;
    next_wakeups: number | null;
  }>(
    deps,
    sql`with i as (
          select * from json_to_recordset(${input}::json) as i(
            id bigint, status webhook_delivery_status, step int, at timestamptz,
            next_at timestamptz, status_code int, duration_ms int, error text))
        , d as (
          update webhook_deliveries w
          set status = i.status, attempts = w.attempts + 1,
            schedule_step = w.schedule_step + i.step,
            first_attempt_at = coalesce(w.first_attempt_at, i.at),
            last_attempt_at = i.at,
            next_attempt_at = coalesce(i.next_at, w.next_attempt_at),
            wakeups = w.wakeups + (case when i.status = 'pending' then 1 else 0 end),
            finished_at = (case when i.status = 'pending' then null else i.at end),
            leased_until = null
          from i
          where w.id = i.id
          returning w.id, w.org_id, w.wakeups, w.webhook_id, w.member_id, w.status)
        , a as (
          insert into webhook_attempts
            (org_id, delivery_id, attempted_at, status_code, duration_ms, error, next_retry_at)
          select d.org_id, d.id, i.at, i.status_code, i.duration_ms, i.error, i.next_at
          from d join i on i.id = d.id)
        , held as (
          select d.id as finished_id, (
              select e.id from webhook_deliveries e
              where e.webhook_id = d.webhook_id and e.member_id = d.member_id
                and e.status = 'pending' and e.id <> d.id
              order by e.outbox_id limit 1) as next_id
          from d
          where d.status <> 'pending' and d.member_id is not null)
        , n as (
          update webhook_deliveries x
          set next_attempt_at = now(), wakeups = x.wakeups + 1
          from held
          where x.id = held.next_id
          returning held.finished_id, x.id::text as id, x.wakeups)
        select d.id::text as id, d.wakeups, n.id as next_id, n.wakeups as next_wakeups
        from d left join n on n.finished_id = d.id`,
  );
  const byId = new Map(updated.map((row) => [row.id, row]));
  return entries.map((entry) => {
    const row = byId.get(entry.id);
    assert.ok(row !== undefined, "a leased delivery is still there");
    return {
      wakeups: row.wakeups,
      next:
        row.next_id === null || row.next_wakeups === null
          ? null
          : { id: row.next_id, wakeups: row.next_wakeups },
    };
  });
}

/**
 * What every delivery of a process shares, built once by its composition (main.ts, the test
 * and bench set-ups) and passed in `WorkerDeps`: the HTTP client and its kept-alive connections,
 * and the claim and record statements, coalesced across the process's concurrent attempts.
 */
export interface WebhookDelivery {
  http: WebhookHttpClient;
  claim: Coalesced<string, DeliveryState | null>;
  record: Coalesced<AttemptRecord, Recorded>;
  close(): Promise<void>;
}

export function createWebhookDelivery(
  deps: Pick<LedgerDeps, "db">,
  options: { allowPrivate: boolean },
): WebhookDelivery {
  const http = createWebhookHttpClient(options);
  return {
    http,
    claim: coalesce(statementBatchMax, (ids) => claimBatch(deps, ids)),
    record: coalesce(statementBatchMax, (entries) => recordBatch(deps, entries)),
    close: () => http.close(),
  };
}

async function record(
  deps: DeliverDeps,
  state: DeliveryState,
  attemptedAt: Date,
  result: AttemptResult,
  next: { status: "delivered" | "pending" | "dead"; at: Date | null },
): Promise<Recorded> {
  return await deps.delivery.record({ id: state.id, attemptedAt, result, next });
}

/** Schedules, now, the delivery the finished one held back (see `record`). */
async function wakeHeldBack(
  deps: DeliverDeps,
  state: DeliveryState,
  next: { id: string; wakeups: number } | null,
): Promise<void> {
  if (next !== null) {
    await deps.scheduleWakeup(
      { orgId: state.org_id, deliveryId: next.id, wakeup: next.wakeups },
      0,
    );
  }
}

/** Runs what the delivery's state calls for; see the module comment. */
export async function deliverWebhook(
  deps: DeliverDeps,
  deliveryId: string,
): Promise<DeliveryOutcome> {
  assert.ok(/^[1-9][0-9]*$/.test(deliveryId), "a delivery id is a positive integer");
  let state = await deps.delivery.claim(deliveryId);
  if (state === null) {
    const found = await loadState(deps, deliveryId);
    if (found?.status === "dead" && !found.deleted) {
      // Only a retried failed job finds its delivery dead: start it over.
      await deps.db.execute(
        sql`update webhook_deliveries
            set status = 'pending', schedule_step = 0, first_attempt_at = null,
              next_attempt_at = now(), finished_at = null
            where id = ${deliveryId}::bigint and status = 'dead'`,
      );
      state = await deps.delivery.claim(deliveryId);
    }
  }
  if (state === null) {
    const found = await loadState(deps, deliveryId);
    if (found === null || found.status !== "pending") {
      return "finished";
    }
    if (found.deleted) {
      return "webhook_deleted";
    }
    if (found.leased_until !== null && toDate(found.leased_until).getTime() > Date.now()) {
      // Another attempt holds it. Should that worker die, look again when its lease lapses.
      await deps.scheduleWakeup(
        { orgId: found.org_id, deliveryId: found.id, wakeup: found.wakeups },
        toDate(found.leased_until).getTime() - Date.now(),
      );
      return "busy";
    }
    const [earlier] =
      found.member_id === null
        ? []
        : await rows<{
            id: string;
            wakeups: number;
            next_attempt_at: string | Date;
            leased_until: string | Date | null;
          }>(
            deps,
            sql`select id::text as id, wakeups, next_attempt_at, leased_until
                from webhook_deliveries
                where webhook_id = ${found.webhook_id}::uuid and member_id = ${found.member_id}::uuid
                  and status = 'pending' and outbox_id < ${found.outbox_id}::bigint
                order by outbox_id limit 1`,
          );
    if (earlier !== undefined) {
      const untilEarlier = toDate(earlier.next_attempt_at).getTime() - Date.now();
      // The delivery holding this one back may have lost its wake-up (Redis refused the job
      // while its row moved on): when it is due and free, wake it too. Its job id makes this a
      // no-op when its wake-up is there.
      const leased =
        earlier.leased_until !== null && toDate(earlier.leased_until).getTime() > Date.now();
      if (untilEarlier <= 0 && !leased) {
        await deps.scheduleWakeup(
          { orgId: found.org_id, deliveryId: earlier.id, wakeup: earlier.wakeups },
          0,
        );
      }
      await reschedule(deps, found, Math.max(0, untilEarlier) + deferMs);
      return "deferred";
    }
    // Not due yet (an early or duplicate job): make sure its own job is there.
    const dueInMs = toDate(found.next_attempt_at).getTime() - Date.now();
    await deps.scheduleWakeup(
      { orgId: found.org_id, deliveryId: found.id, wakeup: found.wakeups },
      Math.max(0, dueInMs),
    );
    return "not_due";
  }
  const attemptedAt = new Date();
  const result = await post(deps, state, attemptedAt);
  if (result.error === null) {
    const recorded = await record(deps, state, attemptedAt, result, {
      status: "delivered",
      at: null,
    });
    await wakeHeldBack(deps, state, recorded.next);
    return "delivered";
  }
  const retryAt = nextRetryAt({
    failures: state.schedule_step + 1,
    firstAttemptAt: state.first_attempt_at === null ? attemptedAt : toDate(state.first_attempt_at),
    now: attemptedAt,
    overrideDelaysMs: deps.options.webhookRetryDelaysMs,
  });
  if (retryAt === null) {
    const recorded = await record(deps, state, attemptedAt, result, { status: "dead", at: null });
    await wakeHeldBack(deps, state, recorded.next);
    throw new DeadDeliveryError(
      `webhook delivery ${deliveryId} (${state.event_id}) is dead: ${result.error}`,
    );
  }
  const { wakeups } = await record(deps, state, attemptedAt, result, {
    status: "pending",
    at: retryAt,
  });
  await deps.scheduleWakeup(
    { orgId: state.org_id, deliveryId: state.id, wakeup: wakeups },
    Math.max(0, retryAt.getTime() - Date.now()),
  );
  return "retry_scheduled";
}
