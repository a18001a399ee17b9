/**
 * Which function runs each queue's jobs. Only the worker runtime imports this file: HTTP and the
 * other producers add jobs through `producer.ts` and never import a processor.
 */
import type { Job } from "bullmq";
import type { WorkerDeps } from "./deps.ts";
import { runEventHandlers } from "./events/handlers.ts";
import { jobSchemas, type QueueName } from "./queues.ts";
import { reconcileProcessor } from "./reconcile/processor.ts";
import { relayOutbox } from "./relay.ts";

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
  reconcile: reconcileProcessor,
};
