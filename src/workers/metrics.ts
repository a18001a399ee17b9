/**
 * The workers' metrics, on the process's registry (the same /metrics as the API when both run in
 * one process): queue depth by state (read from Redis at scrape time), job duration and outcomes.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { JobProducer } from "./producer.ts";
import { type QueueName, queueNames } from "./queues.ts";

export interface WorkerMetrics {
  jobSeconds: Histogram<"queue" | "outcome">;
  jobsFailed: Counter<"queue" | "final">;
}

const depthStates = ["waiting", "active", "delayed", "failed", "prioritized"] as const;

export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  return {
    jobSeconds: new Histogram({
      name: "loyalty_job_duration_seconds",
      help: "Time a worker spent on a job, by queue and outcome (completed, failed).",
      labelNames: ["queue", "outcome"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    jobsFailed: new Counter({
      name: "loyalty_jobs_failed_total",
      help: "Failed job attempts by queue; final=true when no attempt is left (the job is in the failed set).",
      labelNames: ["queue", "final"],
      registers: [registry],
    }),
  };
}

/**
 * Queue depth by state, asked from Redis when scraped. Registered once per registry, by whichever
 * side (API or workers) holds a producer; a scrape with Redis down reports nothing rather than
 * failing the whole scrape.
 */
export function registerQueueDepth(registry: Registry, producer: JobProducer): void {
  new Gauge({
    name: "loyalty_queue_jobs",
    help: "Jobs in each queue by state, read from Redis at scrape time.",
    labelNames: ["queue", "state"],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const counts = await Promise.all(
          queueNames.map(
            async (name: QueueName) =>
              [name, await producer.queue(name).getJobCounts(...depthStates)] as const,
          ),
        );
        for (const [queue, byState] of counts) {
          for (const state of depthStates) {
            this.set({ queue, state }, byState[state] ?? 0);
          }
        }
      } catch {
        // Redis down: no depth this scrape (the Redis status is on /ready).
      }
    },
  });
}
