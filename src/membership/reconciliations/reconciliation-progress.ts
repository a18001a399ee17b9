/**
 * The steps a reconciliation job records on its run: an attempt begins, the run finishes with
 * its counts and mismatches, or it fails. Each step changes only a `running` row, so a job that
 * runs again after its run finished (a redelivered job) changes nothing.
 */
import assert from "node:assert/strict";
import { and, eq, inArray, lt, sql } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { reconciliations } from "../store/schema.ts";
import {
  type Reconciliation,
  type ReconciliationCounts,
  type ReconciliationMismatch,
  reconciliationMismatchesStoredMax,
  toReconciliation,
  toStoredMismatch,
} from "./reconciliation-records.ts";

/** Characters of a failure's message kept on the run. */
export const reconciliationErrorLengthMax = 500;

export interface ReconciliationRef {
  orgId: string;
  reconciliationId: string;
}

function whereRunning(ref: ReconciliationRef) {
  return and(
    eq(reconciliations.orgId, ref.orgId),
    eq(reconciliations.id, ref.reconciliationId),
    eq(reconciliations.status, "running"),
  );
}

/** Counts an attempt of a running run and returns it; null when the run is not running. */
export async function beginReconciliationAttempt(
  deps: DbDeps,
  ref: ReconciliationRef,
): Promise<Reconciliation | null> {
  const [row] = await deps.db
    .update(reconciliations)
    .set({ attempts: sql`${reconciliations.attempts} + 1` })
    .where(whereRunning(ref))
    .returning();
  return row === undefined ? null : toReconciliation(row);
}

export interface FinishReconciliationInput extends ReconciliationRef {
  checked: ReconciliationCounts;
  /** The mismatches kept (the first found), at most `reconciliationMismatchesStoredMax`. */
  mismatches: readonly ReconciliationMismatch[];
  /** All mismatches found. */
  mismatchCount: number;
}

/** The run ends `clean` (nothing found) or `mismatches`; null when it was no longer running. */
export async function finishReconciliation(
  deps: DbDeps,
  input: FinishReconciliationInput,
): Promise<Reconciliation | null> {
  assert.ok(input.mismatches.length <= reconciliationMismatchesStoredMax, "kept list bounded");
  assert.ok(input.mismatches.length <= input.mismatchCount, "every kept mismatch is counted");
  assert.ok(Number.isSafeInteger(input.mismatchCount) && input.mismatchCount >= 0);
  for (const count of Object.values(input.checked)) {
    assert.ok(Number.isSafeInteger(count) && count >= 0, "counts are whole numbers");
  }
  const [row] = await deps.db
    .update(reconciliations)
    .set({
      status: input.mismatchCount === 0 ? "clean" : "mismatches",
      checkedDocuments: input.checked.documents,
      checkedTransfers: input.checked.transfers,
      checkedWallets: input.checked.wallets,
      mismatches: input.mismatches.map(toStoredMismatch),
      mismatchCount: input.mismatchCount,
      finishedAt: sql`now()`,
    })
    .where(whereRunning(input))
    .returning();
  return row === undefined ? null : toReconciliation(row);
}

/** The run ends `failed` with why; null when it was no longer running. */
export async function failReconciliation(
  deps: DbDeps,
  input: ReconciliationRef & { error: string },
): Promise<Reconciliation | null> {
  const [row] = await deps.db
    .update(reconciliations)
    .set({
      status: "failed",
      error: input.error.slice(0, reconciliationErrorLengthMax),
      finishedAt: sql`now()`,
    })
    .where(whereRunning(input))
    .returning();
  return row === undefined ? null : toReconciliation(row);
}

/** Runs one sweep fails at most; the next sweep takes the rest. */
export const abandonedReconciliationsPerSweepMax = 1_000;

/**
 * Fails runs still `running` that started before `startedBefore`: their job is gone (its
 * process died on the last attempt, or the queue lost it), so nothing else would ever end them.
 * Returns how many it failed.
 */
export async function failAbandonedReconciliations(
  deps: DbDeps,
  input: { startedBefore: Date },
): Promise<number> {
  const abandoned = deps.db
    .select({ id: reconciliations.id })
    .from(reconciliations)
    .where(
      and(
        eq(reconciliations.status, "running"),
        lt(reconciliations.startedAt, input.startedBefore),
      ),
    )
    .limit(abandonedReconciliationsPerSweepMax);
  const failed = await deps.db
    .update(reconciliations)
    .set({ status: "failed", error: "abandoned: no job finished the run", finishedAt: sql`now()` })
    .where(and(inArray(reconciliations.id, abandoned), eq(reconciliations.status, "running")))
    .returning({ id: reconciliations.id });
  return failed.length;
}
