/**
 * The `reconcile` queue's processor: the nightly tick (`orgId: null`) fans out one run per org;
 * a run job reconciles one org and records the outcome on its row (jobs.ts). A failed assertion
 * cannot be fixed by retrying: the run is recorded failed at once and the job is not retried.
 */
import { AssertionError } from "node:assert/strict";
import { UnrecoverableError } from "bullmq";
import type { QueueProcessor } from "../processors.ts";
import { jobSchemas } from "../queues.ts";
import { fanOutReconciliations, reconcileRunJobId, runReconciliation } from "./jobs.ts";

export const reconcileProcessor: QueueProcessor = {
  async process(job, deps) {
    const data = jobSchemas.reconcile.parse(job.data);
    if (data.orgId === null) {
      return fanOutReconciliations({
        ...deps,
        enqueue: async (runs) => {
          await deps.producer.addBulk(
            "reconcile",
            runs.map((run) => ({
              data: run,
              name: "reconcile-run",
              jobId: reconcileRunJobId(run.reconciliationId),
            })),
          );
        },
      });
    }
    const ref = { orgId: data.orgId, reconciliationId: data.reconciliationId };
    try {
      const status = await runReconciliation(deps, ref, {
        // BullMQ counts the attempts that failed so far; this one comes next.
        number: job.attemptsMade + 1,
        max: job.opts.attempts ?? 1,
      });
      return { status };
    } catch (error) {
      if (error instanceof AssertionError) {
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
  },
};
