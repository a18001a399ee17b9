/**
 * Ends tier overrides whose expiry has passed: each member returns at once to the tier their
 * ledger history earns (membership's `clearTierOverride` with cause "expired", audited with the
 * platform as the actor). Runs every minute on the `tiers` queue, in bounded batches walking the
 * partial index on `tier_override_expires_at` with a cursor, so a member it cannot end (a domain
 * error, logged) is visited once per run, never in a loop. Idempotent: an override already ended,
 * or replaced by one that has not expired, is left as it is.
 */
import { clearTierOverride, dueOverrideExpiries, platformActor } from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";
import { type DueSweep, sweepDueMembers } from "./due-sweep.ts";

/** Members one batch reads and ends. */
export const overrideExpiryBatchMax = 500;
/** Batches one run may take; what is left waits for the next run, a minute later. */
export const overrideExpiryBatchesPerRunMax = 200;

export interface OverrideExpirySweep {
  visited: number;
  ended: number;
}

export async function endExpiredOverrides(
  deps: WorkerDeps,
  options: { batch?: number; onBatch?: (sweep: OverrideExpirySweep) => Promise<void> } = {},
): Promise<OverrideExpirySweep> {
  const named = (sweep: DueSweep): OverrideExpirySweep => ({
    visited: sweep.visited,
    ended: sweep.changed,
  });
  const { onBatch } = options;
  const sweep = await sweepDueMembers(deps, {
    page: (input) => dueOverrideExpiries(deps, input),
    visit: async (member) =>
      (await clearTierOverride(deps, { ...member, actor: platformActor, cause: "expired" }))
        .action === "cleared",
    batch: options.batch ?? overrideExpiryBatchMax,
    batchMax: overrideExpiryBatchMax,
    batchesMax: overrideExpiryBatchesPerRunMax,
    what: {
      failed: "expired override not ended",
      leftover: "expired overrides left for the next run",
    },
    ...(onBatch === undefined ? {} : { onBatch: (progress) => onBatch(named(progress)) }),
  });
  return named(sweep);
}
