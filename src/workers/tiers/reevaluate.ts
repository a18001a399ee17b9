/**
 * Re-evaluates every member of an org in one tier set after its ladder or its metric changed (a
 * tier created, a threshold, `climbable` or a rank changed, a tier deleted, the set's metric or
 * window changed): job `reevaluate` on the `tiers` queue, `{orgId, tierSetId}`, queued by the
 * admin routes after their change committed. The request itself moves no member.
 *
 * The earning set goes through `evaluateMemberTier` (upgrade at once, downgrade scheduled with
 * grace), other sets through `evaluateMemberSetTier`. Members are walked in bounded pages by id;
 * a member that cannot be evaluated (a domain error) is logged and skipped. Idempotent: running it
 * twice changes nothing the first run did not.
 */
import { z } from "zod";
import {
  evaluateMemberSetTier,
  evaluateMemberTier,
  getTierSet,
  isDomainError,
  walkMembers,
} from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";

export const reevaluateJobData = z.object({ orgId: z.uuid(), tierSetId: z.uuid() }).strict();

export interface ReevaluateSweep {
  visited: number;
  changed: number;
}

export async function reevaluateTierSet(
  deps: WorkerDeps,
  input: z.infer<typeof reevaluateJobData>,
  onPage?: (sweep: ReevaluateSweep) => Promise<void>,
): Promise<ReevaluateSweep> {
  const sweep: ReevaluateSweep = { visited: 0, changed: 0 };
  let tierSet: Awaited<ReturnType<typeof getTierSet>>;
  try {
    tierSet = await getTierSet(deps, { orgId: input.orgId, tierSetId: input.tierSetId });
  } catch (error) {
    if (isDomainError(error) && error.code === "not_found") {
      // Deleted since the job was queued: nothing left to evaluate.
      return sweep;
    }
    throw error;
  }
  await walkMembers(deps, { orgId: input.orgId }, async (memberIds) => {
    for (const memberId of memberIds) {
      sweep.visited += 1;
      try {
        if (tierSet.earning) {
          const outcome = await evaluateMemberTier(deps, { orgId: input.orgId, memberId });
          if (outcome.action === "upgraded" || outcome.action === "downgraded") {
            sweep.changed += 1;
          }
        } else {
          const outcome = await evaluateMemberSetTier(deps, {
            orgId: input.orgId,
            memberId,
            tierSet,
          });
          if (outcome === "upgraded" || outcome === "downgraded") {
            sweep.changed += 1;
          }
        }
      } catch (error) {
        if (!isDomainError(error)) {
          throw error;
        }
        deps.logger.warn({ err: error, memberId }, "tier re-evaluation skipped a member");
      }
    }
    await onPage?.({ ...sweep });
  });
  return sweep;
}
