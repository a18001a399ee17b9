/**
 * The one way to put a job on a queue (HTTP routes, the relay, processors): data validated with
 * the queue's schema, the queue's job options applied, every key under REDIS_KEY_PREFIX. Importing
 * this never imports a processor.
 */
import assert from "node:assert/strict";
import { type Job, type JobsOptions, Queue } from "bullmq";
import { Redis } from "ioredis";
import { type JobData, jobOptions, jobSchemas, type QueueName, queueNames } from "./queues.ts";

export interface AddOptions {
  /** Makes the add idempotent: a job with this id that still exists is not added again. */
  jobId?: string;
  delay?: number;
  /** The job's name (the kind of work, for queues that carry several); the queue's name by default. */
  name?: string;
  /** Overrides of the queue's job options (attempts, backoff…), rarely needed. */
  options?: JobsOptions;
}

export interface JobProducer {
  add<Q extends QueueName>(queue: Q, data: JobData<Q>, options?: AddOptions): Promise<string>;
  addBulk<Q extends QueueName>(
    queue: Q,
    items: ReadonlyArray<{ data: JobData<Q> } & AddOptions>,
  ): Promise<string[]>;
  getJob(queue: QueueName, id: string): Promise<Job | undefined>;
  queue(name: QueueName): Queue;
  /** The BullMQ key prefix, `${REDIS_KEY_PREFIX}bull`. */
  readonly prefix: string;
  close(): Promise<void>;
}

/** The BullMQ prefix under the deployment's Redis key prefix. */
export function bullPrefix(keyPrefix: string): string {
  return `${keyPrefix}bull`;
}

/** Jobs per `addBulk` call: one Redis pipeline each. */
export const addBulkMax = 1_000;
/**
 * How long an add may wait for Redis. BullMQ waits for a reconnecting client rather than failing,
 * so without a bound a caller would hang while Redis is down. Past it the add is reported failed;
 * it may still land later, which is why every job that matters has an idempotent job id.
 */
export const addTimeoutMs = 2_000;
export const addBulkTimeoutMs = 10_000;

export class JobQueueUnavailableError extends Error {
  override readonly name = "JobQueueUnavailableError";
  /** Read by the HTTP error mapping: a dependency that cannot serve now, 503. */
  readonly code = "JOB_QUEUE_UNAVAILABLE";
}

async function within<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new JobQueueUnavailableError(`${what}: Redis did not answer within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Producer connection: fails fast when Redis is down (no offline queue, one retry), so a caller
 * learns at once that a job could not be added instead of waiting.
 */
export function createJobProducer(options: { redisUrl: string; keyPrefix: string }): JobProducer {
  const connection = new Redis(options.redisUrl, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    lazyConnect: false,
  });
  // Errors surface on the calls; the connection reconnects by itself.
  connection.on("error", () => {});
  const prefix = bullPrefix(options.keyPrefix);
  const queues = new Map<QueueName, Queue>();
  const queue = (name: QueueName): Queue => {
    assert.ok(queueNames.includes(name), "a known queue");
    let found = queues.get(name);
    if (found === undefined) {
      found = new Queue(name, { connection, prefix, defaultJobOptions: jobOptions[name] });
      found.on("error", () => {});
      queues.set(name, found);
    }
    return found;
  };
  return {
    prefix,
    queue,
    async add(name, data, addOptions = {}) {
      const parsed = jobSchemas[name].parse(data);
      const job = await within(
        queue(name).add(addOptions.name ?? name, parsed, {
          ...addOptions.options,
          ...(addOptions.jobId === undefined ? {} : { jobId: addOptions.jobId }),
          ...(addOptions.delay === undefined ? {} : { delay: addOptions.delay }),
        }),
        addTimeoutMs,
        `adding a ${name} job`,
      );
      assert.ok(job.id !== undefined, "an added job has an id");
      return job.id;
    },
    async addBulk(name, items) {
      const ids: string[] = [];
      for (let start = 0; start < items.length; start += addBulkMax) {
        const slice = items.slice(start, start + addBulkMax);
        const jobs = await within(
          queue(name).addBulk(
            slice.map((item) => ({
              name: item.name ?? name,
              data: jobSchemas[name].parse(item.data),
              opts: {
                ...jobOptions[name],
                ...item.options,
                ...(item.jobId === undefined ? {} : { jobId: item.jobId }),
                ...(item.delay === undefined ? {} : { delay: item.delay }),
              },
            })),
          ),
          addBulkTimeoutMs,
          `adding ${slice.length} ${name} jobs`,
        );
        for (const job of jobs) {
          assert.ok(job.id !== undefined, "an added job has an id");
          ids.push(job.id);
        }
      }
      return ids;
    },
    async getJob(name, id) {
      return (
        (await within(queue(name).getJob(id), addTimeoutMs, `reading a ${name} job`)) ?? undefined
      );
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
