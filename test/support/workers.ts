/**
 * The workers' test setup: a private database, the embedded ledger with a clock the test moves,
 * a private Redis key prefix on the real Redis server, a producer, and BullMQ workers started in
 * this process (never mocks). Cleans up its keys and closes everything after the file.
 *
 * @example
 * const fixture = useWorkerFixture();
 * it("...", async () => {
 *   const { deps } = fixture;        // WorkerDeps: db, ledger, producer, logger, options
 *   await waitFor(async () => (await countSomething()) === 1);
 * });
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll } from "vitest";
import type { LedgerDeps } from "../../src/membership/index.ts";
import {
  createJobProducer,
  type JobProducer,
  type QueueName,
  type WorkerDeps,
  type WorkerOptions,
} from "../../src/workers/index.ts";
import type { QueueProcessor } from "../../src/workers/processors.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { createWebhookDelivery } from "../../src/workers/webhooks/deliver.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { createLedgerTestEnvironment, type LedgerTestEnvironment } from "./ledger.ts";
import { deleteKeys, redisUrl } from "./redis.ts";

export interface WorkerFixtureOptions {
  /** Start workers before the tests (default true); queues and schedulers as `startWorkers`. */
  start?: boolean;
  queues?: readonly QueueName[];
  /** Job schedulers (default false: tests drive repeatable work by hand or start them). */
  schedulers?: boolean;
  workerOptions?: Partial<WorkerOptions>;
  processors?: Partial<Record<QueueName, QueueProcessor>>;
  concurrency?: Partial<Record<QueueName, number>>;
  /** Redis as the producer and workers reach it (e.g. through a fault proxy). */
  redisUrl?: string;
}

export interface WorkerFixture {
  readonly database: TestDatabase;
  readonly environment: LedgerTestEnvironment;
  readonly deps: WorkerDeps;
  readonly producer: JobProducer;
  readonly keyPrefix: string;
  /** The workers started before the tests, if any. */
  readonly runtime: WorkerRuntime | undefined;
  /** Starts (more) workers in this process; closed with the fixture. */
  startWorkers(
    options?: Omit<WorkerFixtureOptions, "start" | "workerOptions" | "redisUrl">,
  ): Promise<WorkerRuntime>;
}

export const testWorkerOptions: WorkerOptions = {
  nodeEnv: "test",
  webhookRetryDelaysMs: [20, 40, 80],
  webhookAllowPrivate: true,
};

/**
 * The workers' deps over `base` as a test composes them: the test options, a logger silent
 * unless TEST_LOG_LEVEL says otherwise, and a webhook delivery of their own.
 */
export function testWorkerDeps(
  base: LedgerDeps,
  producer: JobProducer,
  options: WorkerOptions = testWorkerOptions,
): WorkerDeps {
  return {
    ...base,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
    producer,
    options,
    webhookDelivery: createWebhookDelivery(base, { allowPrivate: options.webhookAllowPrivate }),
  };
}

export function useWorkerFixture(options: WorkerFixtureOptions = {}): WorkerFixture {
  let database: TestDatabase | undefined;
  let environment: LedgerTestEnvironment | undefined;
  let producer: JobProducer | undefined;
  let deps: WorkerDeps | undefined;
  let runtime: WorkerRuntime | undefined;
  const runtimes: WorkerRuntime[] = [];
  const keyPrefix = `test:workers:${process.pid}:${randomBytes(4).toString("hex")}:`;
  const url = options.redisUrl ?? redisUrl;

  const start = async (
    startOptions: Omit<WorkerFixtureOptions, "start" | "workerOptions" | "redisUrl"> = {},
  ) => {
    assert.ok(deps !== undefined);
    const started = await startWorkers(deps, {
      redisUrl: url,
      schedulers: startOptions.schedulers ?? false,
      ...(startOptions.queues === undefined ? {} : { queues: startOptions.queues }),
      ...(startOptions.processors === undefined ? {} : { processors: startOptions.processors }),
      ...(startOptions.concurrency === undefined ? {} : { concurrency: startOptions.concurrency }),
    });
    runtimes.push(started);
    await started.ready();
    return started;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    environment = createLedgerTestEnvironment(database.db);
    producer = createJobProducer({ redisUrl: url, keyPrefix });
    deps = testWorkerDeps(environment.deps, producer, {
      ...testWorkerOptions,
      ...options.workerOptions,
    });
    if (options.start ?? true) {
      runtime = await start(options);
    }
  });

  afterAll(async () => {
    for (const started of runtimes) {
      await started.close(5_000);
    }
    await deps?.webhookDelivery.close();
    await producer?.close();
    const cleaner = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    await deleteKeys(cleaner, keyPrefix).catch(() => undefined);
    await cleaner.quit().catch(() => cleaner.disconnect());
    await environment?.engine.close();
    await database?.close();
  });

  const ready = <T>(value: T | undefined): T => {
    assert.ok(value !== undefined, "the fixture is ready inside tests and hooks");
    return value;
  };
  return {
    get database() {
      return ready(database);
    },
    get environment() {
      return ready(environment);
    },
    get deps() {
      return ready(deps);
    },
    get producer() {
      return ready(producer);
    },
    keyPrefix,
    get runtime() {
      return runtime;
    },
    startWorkers: start,
  };
}

/**
 * Polls until `check` holds. The timeout only stops a hung test with a clear message; it is not
 * a speed assertion (a slow machine passes, just later).
 */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (await check()) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for ${options.what ?? "the condition"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}
