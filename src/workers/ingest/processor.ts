/**
 * The `ingest` queue's processor. Two kinds of job:
 * - `ingest` `{orgId}`: added by `POST /v1/events` after it stored events (and by this processor
 *   when an org has more left than one job takes): processes that org's queued events.
 * - `sweep` `{orgId: null}`: a job scheduler tick, every second. Events are durable before any
 *   job announces them, so an announcement can be missing (Redis was down at accept time) or
 *   lost; the sweep finds orgs whose events have waited longer than `sweepAgeMs` and announces
 *   them. It adds jobs rather than processing, so orgs spread over every worker.
 * A job for an org another worker is processing ends at once (`busy`): that worker reads the
 * org's queue until it is empty, and after letting the lock go looks once more. Events stored
 * between its last read and its release were announced by a job that found the lock busy; the
 * look after the release (which comes after that job, so after their insert) finds them and
 * announces the org again. The sweep remains the net under both.
 */
import type { Job } from "bullmq";
import { listOrgsWithQueuedEvents, listQueuedEvents } from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";
import type { QueueProcessor } from "../processors.ts";
import { jobSchemas } from "../queues.ts";
import { processOrgEvents } from "./process-org-events.ts";

/** How long an event waits before the sweep announces its org: above a wake-up's usual delay. */
export const sweepAgeMs = 1_000;

export const ingestProcessor: QueueProcessor = {
  async process(job: Job, deps: WorkerDeps) {
    const { orgId } = jobSchemas.ingest.parse(job.data);
    if (orgId === null) {
      const orgIds = await listOrgsWithQueuedEvents(deps, sweepAgeMs);
      if (orgIds.length > 0) {
        await deps.producer.addBulk(
          "ingest",
          orgIds.map((id) => ({ data: { orgId: id } })),
        );
      }
      return { announced: orgIds.length };
    }
    const result = await processOrgEvents(deps, orgId);
    if (result.status === "busy") {
      return result;
    }
    // More left: this job took its share, the rest goes to the back of the queue, behind other
    // orgs. None left at the last read: look again now that the lock is free (see above).
    const again = result.more || (await listQueuedEvents(deps, orgId, { limit: 1 })).length > 0;
    if (again) {
      await deps.producer.add("ingest", { orgId });
    }
    return { ...result, again };
  },
};
