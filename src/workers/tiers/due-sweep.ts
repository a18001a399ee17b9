/**
 * One walk along a due-time index of members (scheduled downgrades, expiring overrides): pages of
 * `batch` members after a cursor, each visited once per run, so a member that stays due (a
 * domain error, logged) is never visited in a loop. Bounded by `batchesMax`; what is left waits
 * for the next run.
 */
import assert from "node:assert/strict";
import { type DueMember, isDomainError } from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";

export interface DueSweep {
  visited: number;
  /** Members the visit changed (downgraded, override ended). */
  changed: number;
}

export async function sweepDueMembers(
  deps: WorkerDeps,
  walk: {
    /** A page of due members after the cursor. */
    page(input: {
      after: { at: Date; memberId: string } | null;
      limit: number;
    }): Promise<DueMember[]>;
    /** Acts on one member; true when it changed something. */
    visit(member: DueMember): Promise<boolean>;
    batch: number;
    batchMax: number;
    batchesMax: number;
    /** For the log: what a member left undone is, and what is left for the next run. */
    what: { failed: string; leftover: string };
    onBatch?: (sweep: DueSweep) => Promise<void>;
  },
): Promise<DueSweep> {
  const { batch } = walk;
  assert.ok(Number.isInteger(batch) && batch >= 1 && batch <= walk.batchMax, "batch size");
  const sweep: DueSweep = { visited: 0, changed: 0 };
  let after: { at: Date; memberId: string } | null = null;
  for (let round = 0; round < walk.batchesMax; round++) {
    const due = await walk.page({ after, limit: batch });
    for (const member of due) {
      sweep.visited += 1;
      try {
        if (await walk.visit(member)) {
          sweep.changed += 1;
        }
      } catch (error) {
        if (!isDomainError(error)) {
          throw error;
        }
        deps.logger.warn({ err: error, memberId: member.memberId }, walk.what.failed);
      }
    }
    await walk.onBatch?.(sweep);
    const last = due[due.length - 1];
    if (due.length < batch || last === undefined) {
      return sweep;
    }
    after = { at: last.at, memberId: last.memberId };
  }
  deps.logger.warn({ sweep }, walk.what.leftover);
  return sweep;
}
