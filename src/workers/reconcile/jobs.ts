/**
 * The reconciliation's two jobs, free of the queue's types so they can be driven directly:
 * a run (one org's reconciliation, recorded on its `reconciliations` row), and the nightly tick
 * that records a scheduled run per org and hands them to `enqueue`.
 */
import assert, { AssertionError } from "node:assert/strict";
import type { Logger } from "pino";
import {
  beginReconciliationAttempt,
  failAbandonedReconciliations,
  failReconciliation,
  finishReconciliation,
  type ReconciliationRef,
  type ReconciliationStatus,
  scheduledOrgsPageMax,
  scheduleReconciliations,
} from "../../membership/index.ts";
import { reconciliationAbandonedAfterMs, scheduledOrgPagesMax } from "./limits.ts";
import { type ReconcileOrgDeps, reconcileOrg } from "./reconcile-org.ts";

export interface ReconcileJobDeps extends ReconcileOrgDeps {
  logger: Logger;
  /** Wall clock; `new Date()` when absent. */
  clock?: () => Date;
}

/** Which attempt of its job this is (1-based), of how many the queue makes at most. */
export interface JobAttempt {
  number: number;
  max: number;
}

/** The id of a run's job: adding it twice while it is stored adds it once. */
export function reconcileRunJobId(reconciliationId: string): string {
  return `reconcile-${reconciliationId}`;
}

function nowOf(deps: Pick<ReconcileJobDeps, "clock">): Date {
  const now = deps.clock?.() ?? new Date();
  assert.ok(!Number.isNaN(now.getTime()), "the clock returned a date");
  return now;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Runs one reconciliation and records its outcome. Each attempt starts the comparison over; an
 * attempt that throws is retried by the queue, and the last one records the run `failed` before
 * rethrowing (so does a failed assertion, which no retry fixes). A run no longer `running` (a
 * job delivered again after it finished) is left alone.
 */
export async function runReconciliation(
  deps: ReconcileJobDeps,
  ref: ReconciliationRef,
  attempt: JobAttempt,
): Promise<ReconciliationStatus | "not_running"> {
  assert.ok(Number.isInteger(attempt.max) && attempt.max >= 1, "at least one attempt");
  assert.ok(attempt.number >= 1, "attempts count from 1");
  const run = await beginReconciliationAttempt(deps, ref);
  if (run === null) {
    return "not_running";
  }
  try {
    const result = await reconcileOrg(deps, { orgId: ref.orgId, now: nowOf(deps) });
    const finished = await finishReconciliation(deps, { ...ref, ...result });
    deps.logger.info(
      { ...ref, checked: result.checked, mismatchCount: result.mismatchCount },
      "reconciliation finished",
    );
    return finished?.status ?? "not_running";
  } catch (error) {
    // A failed assertion is a bug: another attempt would fail the same way.
    const last = attempt.number >= attempt.max || error instanceof AssertionError;
    deps.logger.warn({ ...ref, attempt, err: error }, "reconciliation attempt failed");
    if (last) {
      await failReconciliation(deps, { ...ref, error: messageOf(error) });
    }
    throw error;
  }
}

export interface ReconcileTickDeps extends Pick<ReconcileJobDeps, "db" | "logger" | "clock"> {
  /** Puts the runs' jobs on the queue (job ids de-duplicate a run enqueued twice). */
  enqueue(runs: ReadonlyArray<{ orgId: string; reconciliationId: string }>): Promise<void>;
}

/**
 * The nightly tick: fails runs whose job is long gone, then records today's scheduled run for
 * every org (one per org and UTC day, so a retried tick adds none) and enqueues those still
 * running, a page of orgs at a time.
 */
export async function fanOutReconciliations(
  deps: ReconcileTickDeps,
): Promise<{ enqueued: number; abandoned: number }> {
  const now = nowOf(deps);
  const abandoned = await failAbandonedReconciliations(deps, {
    startedBefore: new Date(now.getTime() - reconciliationAbandonedAfterMs),
  });
  const scheduledFor = now.toISOString().slice(0, 10);
  let afterOrgId: string | null = null;
  let enqueued = 0;
  for (let page = 0; page < scheduledOrgPagesMax; page += 1) {
    const { runs, nextAfterOrgId } = await scheduleReconciliations(deps, {
      scheduledFor,
      afterOrgId,
      limit: scheduledOrgsPageMax,
    });
    if (runs.length > 0) {
      await deps.enqueue(runs);
      enqueued += runs.length;
    }
    if (nextAfterOrgId === null) {
      deps.logger.info({ scheduledFor, enqueued, abandoned }, "reconciliations scheduled");
      return { enqueued, abandoned };
    }
    afterOrgId = nextAfterOrgId;
  }
  assert.fail("more orgs than the nightly fan-out is bounded to");
}
