/**
 * The daily sweep of due downgrades: every member whose scheduled downgrade date has passed is
 * re-evaluated (so a member who qualifies again keeps the tier) in bounded batches, walking the
 * partial index on `tier_downgrade_at` with a cursor, so that a member left due (closed, or put
 * in an immutable tier) is visited once per run, never in a loop.
 */
import assert from "node:assert/strict";
import { dueDowngrades, evaluateMemberTier, isDomainError } from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";

/** Members one batch reads and evaluates. */
export const downgradeBatchMax = 500;
/** Batches one run may take: 500 × 2,000 = a million due members, far beyond a day's share. */
export const downgradeBatchesPerRunMax = 2_000;

export interface DowngradeSweep {
  visited: number;
  downgraded: number;
}

export async function applyDueDowngrades(
  deps: WorkerDeps,
  options: { batch?: number; onBatch?: (sweep: DowngradeSweep) => Promise<void> } = {},
): Promise<DowngradeSweep> {
  const batch = options.batch ?? downgradeBatchMax;
  assert.ok(Number.isInteger(batch) && batch >= 1 && batch <= downgradeBatchMax, "batch size");
  const sweep: DowngradeSweep = { visited: 0, downgraded: 0 };
  let after: { at: Date; memberId: string } | null = null;
  for (let round = 0; round < downgradeBatchesPerRunMax; round++) {
    const due = await dueDowngrades(deps, { after, limit: batch });
    for (const member of due) {
      sweep.visited += 1;
      try {
        const evaluation = await evaluateMemberTier(deps, member);
        if (evaluation.action === "downgraded") {
          sweep.downgraded += 1;
        }
      } catch (error) {
        if (!isDomainError(error)) {
          throw error;
        }
        deps.logger.warn({ err: error, memberId: member.memberId }, "due downgrade not evaluated");
      }
    }
    await options.onBatch?.(sweep);
    const last = due[due.length - 1];
    if (due.length < batch || last === undefined) {
      return sweep;
    }
    after = { at: last.at, memberId: last.memberId };
  }
  deps.logger.warn({ sweep }, "due downgrades left for the next run");
  return sweep;
}
