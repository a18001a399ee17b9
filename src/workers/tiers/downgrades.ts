/**
 * The daily sweep of due downgrades: every member whose scheduled downgrade date has passed is
 * re-evaluated (so a member who qualifies again keeps the tier) in bounded batches, walking the
 * partial index on `tier_downgrade_at` with a cursor, so that a member left due (closed, or put
 * in an immutable tier) is visited once per run, never in a loop.
 */
import { dueDowngrades, evaluateMemberTier } from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";
import { type DueSweep, sweepDueMembers } from "./due-sweep.ts";

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
  const named = (sweep: DueSweep): DowngradeSweep => ({
    visited: sweep.visited,
    downgraded: sweep.changed,
  });
  const { onBatch } = options;
  const sweep = await sweepDueMembers(deps, {
    page: (input) => dueDowngrades(deps, input),
    visit: async (member) => (await evaluateMemberTier(deps, member)).action === "downgraded",
    batch: options.batch ?? downgradeBatchMax,
    batchMax: downgradeBatchMax,
    batchesMax: downgradeBatchesPerRunMax,
    what: {
      failed: "due downgrade not evaluated",
      leftover: "due downgrades left for the next run",
    },
    ...(onBatch === undefined ? {} : { onBatch: (progress) => onBatch(named(progress)) }),
  });
  return named(sweep);
}
