/**
 * Starts the BullMQ workers of a process: one Worker per queue that has a processor, each on its
 * own Redis connection (BullMQ blocks on it), and the job schedulers, upserted at every start
 * (idempotent: the same id and options change nothing, so any number of processes may start).
 * `close(graceMs)` stops taking jobs, lets running ones finish within the grace, then forces.
 */
import assert from "node:assert/strict";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { WorkerDeps } from "./deps.ts";
import type { WorkerMetrics } from "./metrics.ts";
import { processors, type QueueProcessor } from "./processors.ts";
import {
  jobOptions,
  jobSchemas,
  type QueueName,
  queueConcurrency,
  queueNames,
  type Schedule,
  schedules,
} from "./queues.ts";

const schedulerRetryMs = 5_000;

/** Upserts each schedule: the same id with the same options changes nothing. */
async function registerSchedules(deps: WorkerDeps, entries: readonly Schedule[]): Promise<void> {
  for (const schedule of entries) {
    assert.ok(
      (schedule.everyMs === undefined) !== (schedule.pattern === undefined),
      "every or pattern",
    );
    await deps.producer
      .queue(schedule.queue)
      .upsertJobScheduler(
        schedule.id,
        schedule.everyMs === undefined
          ? { pattern: schedule.pattern, tz: "UTC" }
          : { every: schedule.everyMs },
        {
          name: schedule.name,
          data: jobSchemas[schedule.queue].parse(schedule.data),
          opts: jobOptions[schedule.queue],
        },
      );
  }
}

export interface StartWorkersOptions {
  redisUrl: string;
  /** Which queues this process works; every queue with a processor by default. */
  queues?: readonly QueueName[];
  /** Upsert the job schedulers (default true). Tests that drive jobs by hand turn them off. */
  schedulers?: boolean;
  metrics?: WorkerMetrics;
  /** Override processors (tests). */
  processors?: Partial<Record<QueueName, QueueProcessor>>;
  /** Override concurrency per queue (tests, benchmarks). */
  concurrency?: Partial<Record<QueueName, number>>;
}

export interface WorkerRuntime {
  readonly queues: readonly QueueName[];
  /** Resolves once every worker is connected and waiting for jobs. */
  ready(): Promise<void>;
  close(graceMs: number): Promise<void>;
}

export async function startWorkers(
  deps: WorkerDeps,
  options: StartWorkersOptions,
): Promise<WorkerRuntime> {
  const table = { ...processors, ...options.processors };
  const wanted = options.queues ?? queueNames.filter((name) => table[name] !== undefined);
  const workers: Worker[] = [];
  const connections: Redis[] = [];
  for (const name of wanted) {
    const processor = table[name];
    assert.ok(processor !== undefined, `queue ${name} has a processor`);
    // Blocking commands need a connection that retries forever (BullMQ requires it).
    const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    connection.on("error", () => {});
    connections.push(connection);
    const worker = new Worker(
      name,
      async (job: Job) => {
        // Validated where it was made and again where it runs: a job written by another version
        // with another shape fails here, visibly, instead of half-running.
        jobSchemas[name].parse(job.data);
        const started = performance.now();
        try {
          const result = await processor.process(job, deps);
          options.metrics?.jobSeconds.observe(
            { queue: name, outcome: "completed" },
            (performance.now() - started) / 1000,
          );
          return result;
        } catch (error) {
          // A broken invariant does not heal on retry: fail the job at once (it stays in the
          // failed set, logged, for a person to look at) instead of spending its attempts.
          if (error instanceof assert.AssertionError) {
            options.metrics?.jobSeconds.observe(
              { queue: name, outcome: "failed" },
              (performance.now() - started) / 1000,
            );
            throw new UnrecoverableError(`invariant broken: ${error.message}`);
          }
          options.metrics?.jobSeconds.observe(
            { queue: name, outcome: "failed" },
            (performance.now() - started) / 1000,
          );
          throw error;
        }
      },
      {
        connection,
        prefix: deps.producer.prefix,
        concurrency: options.concurrency?.[name] ?? queueConcurrency[name],
        autorun: true,
      },
    );
    worker.on("failed", (job, error) => {
      const attempts = job?.opts.attempts ?? jobOptions[name].attempts ?? 1;
      const final = job !== undefined && job.attemptsMade >= attempts;
      options.metrics?.jobsFailed.inc({ queue: name, final: String(final) });
      deps.logger[final ? "error" : "warn"](
        {
          queue: name,
          jobId: job?.id,
          job: job?.name,
          attemptsMade: job?.attemptsMade,
          err: error,
        },
        final ? "job failed; no attempts left" : "job attempt failed; will retry",
      );
    });
    worker.on("error", (error) => deps.logger.warn({ queue: name, err: error }, "worker error"));
    workers.push(worker);
  }
  let schedulersRegistered: Promise<void> = Promise.resolve();
  let retryTimer: NodeJS.Timeout | undefined;
  let closing = false;
  if (options.schedulers ?? true) {
    // Redis may be down at start: keep trying in the background, so the process still starts
    // (and its API, in one process, still serves) and the schedules appear when Redis does.
    const mine = schedules.filter((entry) => wanted.includes(entry.queue));
    schedulersRegistered = new Promise<void>((resolve) => {
      const attempt = () => {
        registerSchedules(deps, mine).then(resolve, (error: unknown) => {
          deps.logger.warn({ err: error }, "could not register job schedulers; retrying in 5 s");
          if (!closing) {
            retryTimer = setTimeout(attempt, schedulerRetryMs);
            retryTimer.unref();
          }
        });
      };
      attempt();
    });
  }
  return {
    queues: wanted,
    async ready() {
      await Promise.all(workers.map((worker) => worker.waitUntilReady()));
      await schedulersRegistered;
    },
    async close(graceMs: number) {
      closing = true;
      clearTimeout(retryTimer);
      assert.ok(Number.isSafeInteger(graceMs) && graceMs >= 0);
      const graceful = Promise.all(workers.map((worker) => worker.close()));
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<"expired">((resolve) => {
        timer = setTimeout(() => resolve("expired"), graceMs);
      });
      const outcome = await Promise.race([graceful.then(() => "closed" as const), expired]);
      clearTimeout(timer);
      if (outcome === "expired") {
        deps.logger.warn({ graceMs }, "jobs still running at the end of the grace; closing anyway");
        await Promise.all(workers.map((worker) => worker.close(true)));
      }
      await Promise.all(
        connections.map((connection) => connection.quit().catch(() => connection.disconnect())),
      );
    },
  };
}
