/**
 * The `imports` queue's processor. Two kinds of job:
 * - `import` `{orgId, importId}`: added by `POST /v1/imports/members` once the file is staged;
 *   enrolls a share of the import's batches (`importBatchesPerJobMax`) and, when rows are left,
 *   adds a job for the rest, so a large import does not hold a worker from the others.
 * - `imports-sweep` `{orgId: null}`: a job scheduler tick. The staged rows are durable before
 *   any job announces them, so an announcement can be missing (Redis down when the file was
 *   accepted) or lost (a worker gone mid-job); the sweep announces imports untouched for a while.
 * A run is idempotent (enroll-import.ts): a duplicate job, a retry or the sweep's announcement
 * of an import another worker runs all converge, batches waiting on the import's row lock. A
 * failed assertion cannot be fixed by retrying: the import is recorded failed at once; any other
 * error is retried, and the import is recorded failed when the last attempt fails.
 */
import { AssertionError } from "node:assert/strict";
import { UnrecoverableError } from "bullmq";
import { enrollImport, failImport, listStalledImports } from "../../membership/index.ts";
import type { QueueProcessor } from "../processors.ts";
import { importJobNames, jobSchemas } from "../queues.ts";

/** An unfinished import untouched this long is announced again by the sweep. */
export const importStalledMs = 60_000;
/** Imports one sweep announces. */
export const importSweepMax = 100;

export const importsProcessor: QueueProcessor = {
  async process(job, deps) {
    const data = jobSchemas.imports.parse(job.data);
    if (data.orgId === null) {
      const stalled = await listStalledImports(deps, {
        idleMs: importStalledMs,
        limit: importSweepMax,
      });
      if (stalled.length > 0) {
        await deps.producer.addBulk(
          "imports",
          stalled.map((found) => ({ name: importJobNames.run, data: found })),
        );
      }
      return { announced: stalled.length };
    }
    if (!("importId" in data)) {
      throw new UnrecoverableError("an import job names its import");
    }
    const ref = { orgId: data.orgId, importId: data.importId };
    try {
      const result = await enrollImport(deps, ref);
      if (result.more) {
        await deps.producer.add("imports", ref, { name: importJobNames.run });
      }
      return result;
    } catch (error) {
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (error instanceof AssertionError || last) {
        const reason = error instanceof Error ? error.message : String(error);
        await failImport(deps, { ...ref, reason });
      }
      if (error instanceof AssertionError) {
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
  },
};
