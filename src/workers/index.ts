/**
 * The workers' surface for HTTP and other producers: queues, the producer, metrics. It exports
 * no processor on purpose (HTTP enqueues, it never runs a job): the composition root and tests
 * import `runtime.ts` directly to start workers.
 */
export type { WorkerDeps, WorkerOptions } from "./deps.ts";
export type { EventHandler, RelayedEvent } from "./events/handlers.ts";
export { type JobStatus, type JobView, jobStatusOf, viewJob } from "./job-status.ts";
export { createWorkerMetrics, registerQueueDepth, type WorkerMetrics } from "./metrics.ts";
export {
  type AddOptions,
  bullPrefix,
  createJobProducer,
  type JobProducer,
  JobQueueUnavailableError,
} from "./producer.ts";
export {
  importJobId,
  importJobNames,
  isQueueName,
  type JobData,
  jobOptions,
  jobSchemas,
  type QueueName,
  queueNames,
  rfmJobNames,
  schedules,
  tierReevaluateJob,
} from "./queues.ts";
