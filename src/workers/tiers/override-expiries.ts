/**
 * Ends tier overrides whose expiry has passed: each member returns at once to the tier their
 * ledger history earns (membership's `clearTierOverride` with cause "expired", audited with the
 * platform as the actor). Runs every minute on the `tiers` queue, in bounded batches walking the
 * partial index on `tier_override_expires_at` with a cursor, so a member it cannot end (a domain
 * error, logged) is visited once per run, never in a loop. Idempotent: an override already ended,
 * or replaced by one that has not expired, is left as it is.
 */
import assert from "node:assert/strict";
import {
  clearTierOverride,
  dueOverrideExpiries,
  isDomainError,
  platformActor,
} from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";

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
  const batch = options.batch ?? overrideExpiryBatchMax;
  assert.ok(Number.isInteger(batch) && batch >= 1 && batch <= overrideExpiryBatchMax, "batch");
  const sweep: OverrideExpirySweep = { visited: 0, ended: 0 };
  let after: { at: Date; memberId: string } | null = null;
  for (let round = 0; round < overrideExpiryBatchesPerRunMax; round++) {
    const due = await dueOverrideExpiries(deps, { after, limit: batch });
    for (const member of due) {
      sweep.visited += 1;
      try {
        const ended = await clearTierOverride(deps, {
          ...member,
          actor: platformActor,
          cause: "expired",
        });
        if (ended.action === "cleared") {
          sweep.ended += 1;
        }
      } catch (error) {
        if (!isDomainError(error)) {
          throw error;
        }
        deps.logger.warn({ err: error, memberId: member.memberId }, "expired override not ended");
      }
    }
    await options.onBatch?.(sweep);
    const last = due[due.length - 1];
    if (due.length < batch || last === undefined) {
      return sweep;
    }
    after = { at: last.at, memberId: last.memberId };
  }
  deps.logger.warn({ sweep }, "expired overrides left for the next run");
  return sweep;
}
