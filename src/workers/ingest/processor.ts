/**
 * The `ingest` queue's processor. Two kinds of job:
 * - `ingest` `{orgId}`: added by `POST /v1/events` after it stored events (and by this processor
 *   when an org has more left than one job takes): processes that org's queued events.
 * - `sweep` `{orgId: null}`: a job scheduler tick, every second. Events are durable before any
 *   job announces them, so an announcement can be missing (Redis was down at accept time) or
 *   lost; the sweep finds orgs whose events have waited longer than `sweepAgeMs` and announces
 *   them. It adds jobs rather than processing, so orgs spread over every worker.
 * A job for an org another worker is processing ends at once (`busy`): that worker reads the
 * org's queue until it is empty, and the sweep covers the instant between its last read and its
 * release of the lock.
 */
import type { Job } from "bullmq";
import { listOrgsWithQueuedEvents } from "../../membership/index.ts";
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
    if (result.status === "done" && result.more) {
      // This job took its share; the rest goes to the back of the queue, behind other orgs.
      await deps.producer.add("ingest", { orgId });
    }
    return result;
  },
};
