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

async function rows<T>(deps: LedgerDeps, query: ReturnType<typeof sql>): Promise<T[]> {
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

/**
 * Leases the delivery for one attempt when it is pending, due, free, first in its order and its
 * webhook live; returns its state then, null otherwise.
 */
async function claim(deps: LedgerDeps, deliveryId: string): Promise<DeliveryState | null> {
  const [claimed] = await rows<DeliveryState>(
    deps,
    sql`update webhook_deliveries d
        set leased_until = now() + make_interval(secs => ${leaseMs / 1000}::double precision)
        from webhooks w
        where d.id = ${deliveryId}::bigint and d.status = 'pending'
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
  return claimed ?? null;
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
  const problem = await webhookUrlProblem(state.url, {
    requireHttps: deps.options.nodeEnv === "production",
    allowPrivate: deps.options.webhookAllowPrivate,
  });
  if (problem !== null) {
    return { statusCode: null, error: `url ${problem}`, durationMs: elapsed() };
  }
  const key = webhookSigningKey(deps, {
    id: state.webhook_id,
    orgId: state.org_id,
    secretEncrypted: state.secret_encrypted,
  });
  try {
    const response = await fetch(state.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "loyalty-ledger-webhooks",
        ...signedHeaders(key, state.event_id, now, state.body),
      },
      body: state.body,
      redirect: "manual",
      signal: AbortSignal.timeout(deliveryTimeoutMs),
    });
    // Read to the end (bounded by the timeout) so the connection can be reused.
    await response.arrayBuffer();
    const ok = response.status >= 200 && response.status < 300;
    return {
      statusCode: response.status,
      error: ok ? null : `HTTP ${response.status}`,
      durationMs: elapsed(),
    };
  } catch (error) {
    const cause =
      error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
    const message =
      error instanceof Error ? `${error.name}: ${error.message}${cause}` : String(error);
    return { statusCode: null, error: message.slice(0, errorLengthMax), durationMs: elapsed() };
  }
}

/**
 * Records the attempt and the delivery's new state in one statement. When the delivery is
 * finished (delivered or dead) the same statement wakes the earliest pending delivery of the
 * same (webhook, member), which the order rule held back: its id and wake-up are returned.
 */
async function record(
  deps: DeliverDeps,
  state: DeliveryState,
  attemptedAt: Date,
  result: AttemptResult,
  next: { status: "delivered" | "pending" | "dead"; at: Date | null },
): Promise<{ wakeups: number; next: { id: string; wakeups: number } | null }> {
  const at = attemptedAt.toISOString();
  const nextAt = next.at === null ? null : next.at.toISOString();
  const finished = next.status !== "pending";
  const [updated] = await rows<{
    wakeups: number;
    next_id: string | null;
    next_wakeups: number | null;
  }>(
    deps,
    sql`with d as (
          update webhook_deliveries
          set status = ${next.status}::webhook_delivery_status, attempts = attempts + 1,
            schedule_step = schedule_step + ${next.status === "delivered" ? 0 : 1}::int,
            first_attempt_at = coalesce(first_attempt_at, ${at}::timestamptz),
            last_attempt_at = ${at}::timestamptz,
            next_attempt_at = coalesce(${nextAt}::timestamptz, next_attempt_at),
            wakeups = wakeups + ${finished ? 0 : 1}::int,
            finished_at = ${finished ? at : null}::timestamptz,
            leased_until = null
          where id = ${state.id}::bigint
          returning id, org_id, wakeups, webhook_id, member_id)
        , a as (
          insert into webhook_attempts
            (org_id, delivery_id, attempted_at, status_code, duration_ms, error, next_retry_at)
          select org_id, id, ${at}::timestamptz, ${result.statusCode}::int,
            ${result.durationMs}::int, ${result.error}::text, ${nextAt}::timestamptz
          from d)
        , n as (
          update webhook_deliveries
          set next_attempt_at = now(), wakeups = wakeups + 1
          where ${finished}::boolean and id = (
            select e.id from webhook_deliveries e, d
            where e.webhook_id = d.webhook_id and e.member_id = d.member_id
              and e.status = 'pending' and e.id <> d.id
            order by e.outbox_id limit 1)
          returning id::text as id, wakeups)
        select d.wakeups, (select id from n) as next_id, (select wakeups from n) as next_wakeups
        from d`,
  );
  assert.ok(updated !== undefined, "a leased delivery is still there");
  return {
    wakeups: updated.wakeups,
    next:
      updated.next_id === null || updated.next_wakeups === null
        ? null
        : { id: updated.next_id, wakeups: updated.next_wakeups },
  };
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
  let state = await claim(deps, deliveryId);
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
      state = await claim(deps, deliveryId);
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
        : await rows<{ next_attempt_at: string | Date }>(
            deps,
            sql`select next_attempt_at from webhook_deliveries
                where webhook_id = ${found.webhook_id}::uuid and member_id = ${found.member_id}::uuid
                  and status = 'pending' and outbox_id < ${found.outbox_id}::bigint
                order by outbox_id limit 1`,
          );
    if (earlier !== undefined) {
      const untilEarlier = toDate(earlier.next_attempt_at).getTime() - Date.now();
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
