/**
 * Which function runs each queue's jobs. Only the worker runtime imports this file: HTTP and the
 * other producers add jobs through `producer.ts` and never import a processor.
 */
import assert from "node:assert/strict";
import type { Job } from "bullmq";
import type { WorkerDeps } from "./deps.ts";
import { runEventHandlers } from "./events/handlers.ts";
import { expiryProcessor } from "./expiry/processor.ts";
import { importsProcessor } from "./imports/processor.ts";
import { ingestProcessor } from "./ingest/processor.ts";
import {
  jobSchemas,
  type QueueName,
  tierDowngradesJob,
  tierOverrideExpiriesJob,
  tierReevaluateJob,
} from "./queues.ts";
import { reconcileProcessor } from "./reconcile/processor.ts";
import { relayOutbox } from "./relay.ts";
import { rfmProcessor } from "./rfm/jobs.ts";
import { applyDueDowngrades } from "./tiers/downgrades.ts";
import { endExpiredOverrides } from "./tiers/override-expiries.ts";
import { reevaluateJobData, reevaluateTierSet } from "./tiers/reevaluate.ts";
import { webhookProcessor } from "./webhooks/index.ts";

export interface QueueProcessor {
  process(job: Job, deps: WorkerDeps): Promise<unknown>;
}

/** Queues without an entry have no worker in this version. */
export const processors: Partial<Record<QueueName, QueueProcessor>> = {
  relay: {
    process: async (_job, deps) => ({ relayed: await relayOutbox(deps) }),
  },
  events: {
    process: async (job, deps) => {
      const event = jobSchemas.events.parse(job.data);
      return { handlers: await runEventHandlers(deps, event) };
    },
  },
  rfm: rfmProcessor,
  ingest: ingestProcessor,
  webhooks: webhookProcessor,
  tiers: {
    // The daily sweep (job "downgrades") applies due downgrades; the job every minute
    // ("override-expiries") ends expired overrides. Both in bounded batches.
    process: async (job, deps) => {
      jobSchemas.tiers.parse(job.data);
      if (job.name === tierOverrideExpiriesJob) {
        return endExpiredOverrides(deps, {
          onBatch: async (sweep) => {
            await job.updateProgress({ ...sweep });
          },
        });
      }
      if (job.name === tierReevaluateJob) {
        return reevaluateTierSet(deps, reevaluateJobData.parse(job.data), async (sweep) => {
          await job.updateProgress({ ...sweep });
        });
      }
      assert.equal(job.name, tierDowngradesJob, "the tiers queue runs its three jobs only");
      return applyDueDowngrades(deps, {
        onBatch: async (sweep) => {
          await job.updateProgress({ ...sweep });
        },
      });
    },
  },
  expiry: expiryProcessor,
  reconcile: reconcileProcessor,
  imports: importsProcessor,
};
