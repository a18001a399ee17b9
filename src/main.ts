/**
 * The composition root: reads the configuration, builds every client once (logger, secrets,
 * Postgres, Redis, the ledger, metrics), re-drives intents a crash left pending, serves HTTP,
 * runs the BullMQ workers, and shuts everything down in reverse order under a deadline.
 *
 * One program, three roles (the first argument):
 * - (none) or `all` — `npm start`: the API and the workers in one process. The only role on the
 *   embedded ledger, which lives inside one process;
 * - `api` — `npm run start:api`: the HTTP API (and intent recovery), no workers;
 * - `workers` — `npm run start:workers`: the workers, with /health, /ready and /metrics on PORT.
 *   Needs TB_ADDRESS: on the embedded ledger it refuses to start.
 * Any number of api and workers processes may run side by side against one TigerBeetle cluster.
 */
import { readFileSync } from "node:fs";
import { serve } from "@hono/node-server";
import { pino } from "pino";
import type { Config } from "./config.ts";
import { ConfigError, loadConfig } from "./config.ts";
import {
  countPostedTransfers,
  createApp,
  createEdgeRedis,
  createMetrics,
  httpLimits,
  serveOperations,
  sweepIdempotencyKeys,
} from "./http/index.ts";
import type { LedgerClient } from "./ledger/index.ts";
import { createLedgerClient, ledgerLabel } from "./ledger/index.ts";
import type { Database, LedgerDeps, MembershipSecrets } from "./membership/index.ts";
import {
  checkInstallation,
  createIntentMetrics,
  createMembershipCaches,
  InstallationMismatchError,
  openServiceDatabase,
  recoverPendingIntents,
  SchemaOutOfDateError,
} from "./membership/index.ts";
import { resolveSecrets, SecretsError } from "./secrets.ts";
import {
  createJobProducer,
  createWorkerMetrics,
  registerQueueDepth,
  type WorkerDeps,
} from "./workers/index.ts";
import { startWorkers, type WorkerRuntime } from "./workers/runtime.ts";
import { createWebhookDelivery } from "./workers/webhooks/deliver.ts";

/**
 * Recovery re-drives intents at least this old: younger ones are likely still in flight (and
 * re-driving one that is costs nothing wrong: its ids answer `exists`, its mark happens once).
 * Together these bound the wait for a document left pending to about 8 s after its dependency
 * returns (README, "Failure behaviour").
 */
const recoveryOlderThanMs = 3_000;
const recoveryIntervalMs = 5_000;
/** Intents per recovery pass, and passes per run, so one run is bounded. */
const recoveryBatch = 500;
const recoveryPassesMax = 20;
const idempotencySweepIntervalMs = 10 * 60_000;

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      // No logger yet: LOG_LEVEL itself may be what is wrong.
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/** The URL without its password, for logs. */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== "") {
    parsed.password = "***";
  }
  return parsed.toString();
}

type Role = "all" | "api" | "workers";
const roles: readonly Role[] = ["all", "api", "workers"];

function readRole(): Role {
  const argument = process.argv[2] ?? "all";
  if (!(roles as readonly string[]).includes(argument)) {
    process.stderr.write(`unknown role "${argument}": expected one of ${roles.join(", ")}\n`);
    process.exit(1);
  }
  return argument as Role;
}

const role = readRole();
const config = readConfig();
if (role === "workers" && config.ledger.address === undefined) {
  process.stderr.write(
    "start:workers needs TB_ADDRESS: the embedded ledger lives inside one process, so on it the " +
      "API and the workers run together (npm start). Set TB_ADDRESS to a TigerBeetle cluster to " +
      "run them apart.\n",
  );
  process.exit(1);
}
const logger = pino({ level: config.log.level }).child({ role });
if (role === "api" && config.ledger.address === undefined) {
  logger.warn(
    "start:api on the embedded ledger runs no workers: events wait in the outbox and no tier, " +
      "RFM, expiry or webhook work happens. Use npm start, or TB_ADDRESS with start:workers.",
  );
}
const version = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

process.on("uncaughtException", (error) => {
  logger.fatal({ err: error }, "uncaught exception; exiting");
  process.exit(1);
});
process.on("unhandledRejection", (reason) => {
  logger.fatal({ err: reason }, "unhandled rejection; exiting");
  process.exit(1);
});

let secrets: MembershipSecrets;
let memberTokenSecret: Buffer;
try {
  // The member token key goes to the HTTP edge only; membership gets its own keys.
  ({ memberTokenSecret, ...secrets } = resolveSecrets(config.secrets, {
    nodeEnv: config.nodeEnv,
    dataDirectory: config.dataDirectory,
    logger,
  }));
} catch (error) {
  if (error instanceof SecretsError) {
    logger.fatal(error.message);
    process.exit(1);
  }
  throw error;
}

let database: Database;
try {
  const opened = await openServiceDatabase(
    {
      url: config.postgres.url,
      poolMax: config.postgres.poolMax,
      statementTimeoutMs: config.postgres.statementTimeoutMs,
    },
    { migrate: config.postgres.migrateOnStart },
  );
  database = opened.database;
  if (opened.migrated.length > 0) {
    logger.info({ migrations: opened.migrated }, "applied pending migrations");
  }
} catch (error) {
  if (error instanceof SchemaOutOfDateError) {
    logger.fatal({ pending: error.pending }, error.message);
    process.exit(1);
  }
  logger.fatal({ err: error, url: redactedUrl(config.postgres.url) }, "could not open Postgres");
  process.exit(1);
}

const redis = createEdgeRedis(config.redis.url);
let redisDownSinceMs: number | undefined;
redis.on("error", (error) => {
  if (redisDownSinceMs === undefined) {
    redisDownSinceMs = Date.now();
    logger.warn({ err: error }, "Redis unavailable; rate limiting is off until it returns");
  }
});
redis.on("ready", () => {
  if (redisDownSinceMs !== undefined) {
    logger.info({ downForMs: Date.now() - redisDownSinceMs }, "Redis is back");
    redisDownSinceMs = undefined;
  }
});
try {
  await redis.connect();
} catch (error) {
  // Not fatal: Redis carries only the rate limit, which fails open; /ready reports it.
  logger.warn({ err: error, url: redactedUrl(config.redis.url) }, "Redis not reachable at start");
}

let ledger: LedgerClient;
try {
  ledger = await createLedgerClient(config.ledger, logger.child({ module: "ledger" }));
} catch (error) {
  logger.fatal({ err: error }, "could not open the ledger");
  await redis.quit().catch(() => redis.disconnect());
  await database.close();
  process.exit(1);
}

// The database, the ledger and the secrets must be one installation's before anything is served
// or re-driven (membership/installation.ts).
try {
  const identity = await checkInstallation(
    { db: database.db, ledger, secrets },
    { database: redactedUrl(config.postgres.url), ledger: ledgerLabel(config.ledger) },
  );
  logger.info({ ...identity }, "installation identity checked");
} catch (error) {
  if (error instanceof InstallationMismatchError) {
    logger.fatal({ part: error.part }, error.message);
  } else {
    logger.fatal({ err: error }, "could not check the installation identity");
  }
  await redis.quit().catch(() => redis.disconnect());
  await ledger.close();
  await database.close();
  process.exit(1);
}

const metrics = createMetrics({ processMetrics: true });
const domain: LedgerDeps = {
  db: database.db,
  secrets,
  ledger: countPostedTransfers(ledger, metrics),
  intentMetrics: createIntentMetrics(metrics.registry),
  caches: createMembershipCaches(),
};

const recoveryLogger = logger.child({ module: "recovery" });
let recoveryRun: Promise<void> | undefined;

/** Re-drives pending intents until a pass finds nothing (or the run's bound is reached). */
async function recover(): Promise<void> {
  for (let pass = 0; pass < recoveryPassesMax; pass += 1) {
    const report = await recoverPendingIntents(domain, {
      olderThanMs: recoveryOlderThanMs,
      limit: recoveryBatch,
    });
    const done = Object.values(report).reduce((sum, count) => sum + count, 0);
    if (done === 0) {
      return;
    }
    recoveryLogger.info({ ...report }, "re-drove pending intents");
  }
}

function startRecovery(): void {
  // One run at a time: a slow run must not pile up behind the timer.
  recoveryRun ??= recover()
    .catch((error: unknown) => recoveryLogger.error({ err: error }, "recovery failed"))
    .finally(() => {
      recoveryRun = undefined;
    });
}

const servesApi = role !== "workers";
let recoveryTimer: NodeJS.Timeout | undefined;
if (servesApi) {
  startRecovery();
  await recoveryRun;
  recoveryTimer = setInterval(startRecovery, recoveryIntervalMs);
}
const sweepTimer = setInterval(() => {
  sweepIdempotencyKeys(database.db).then(
    (deleted) => deleted > 0 && logger.debug({ deleted }, "swept expired idempotency keys"),
    (error: unknown) => logger.warn({ err: error }, "idempotency sweep failed"),
  );
}, idempotencySweepIntervalMs);

// Jobs: every role can enqueue (the API for on-demand work, workers for follow-up jobs), and
// /metrics reports queue depth from Redis wherever it is scraped.
const producer = createJobProducer({
  redisUrl: config.redis.url,
  keyPrefix: config.redis.keyPrefix,
});
registerQueueDepth(metrics.registry, producer);

let workers: WorkerRuntime | undefined;
let workerDeps: WorkerDeps | undefined;
if (role !== "api") {
  workerDeps = {
    ...domain,
    logger: logger.child({ module: "workers" }),
    producer,
    options: {
      nodeEnv: config.nodeEnv,
      webhookRetryDelaysMs: config.workers.webhookRetryDelaysMs,
      webhookAllowPrivate: config.workers.webhookAllowPrivate,
    },
    webhookDelivery: createWebhookDelivery(domain, {
      allowPrivate: config.workers.webhookAllowPrivate,
    }),
  };
  workers = await startWorkers(workerDeps, {
    redisUrl: config.redis.url,
    metrics: createWorkerMetrics(metrics.registry),
  });
}

const server = servesApi
  ? serve(
      {
        fetch: createApp({
          db: database.db,
          secrets,
          memberTokenSecret,
          ledger: domain.ledger,
          intentMetrics: domain.intentMetrics,
          caches: domain.caches,
          redis,
          logger,
          metrics,
          jobs: producer,
          options: {
            platformToken: config.http.platformToken,
            rateLimit: {
              requests: config.http.rateLimitRequests,
              windowSeconds: config.http.rateLimitWindowSeconds,
            },
            redisKeyPrefix: config.redis.keyPrefix,
            version,
            apiKeyCacheTtlMs: httpLimits.apiKeyCacheTtlMs,
            memberTokenTtlSeconds: config.http.memberTokenTtlSeconds,
            nodeEnv: config.nodeEnv,
            webhookAllowPrivate: config.workers.webhookAllowPrivate,
          },
        }).fetch,
        port: config.http.port,
        hostname: config.http.host,
      },
      (info) => announce(info),
    )
  : serveOperations(
      {
        port: config.http.port,
        host: config.http.host,
        metrics,
        redis,
        db: database.db,
        ledger: domain.ledger,
        logger,
      },
      (info) => announce(info),
    );

function announce(info: { address: string; port: number }): void {
  logger.info(
    {
      nodeEnv: config.nodeEnv,
      address: info.address,
      port: info.port,
      ledger: config.ledger.address === undefined ? "embedded" : "tigerbeetle",
      platformRoutes: config.http.platformToken !== undefined,
      queues: workers?.queues ?? [],
    },
    "loyalty ledger is up",
  );
}
server.on("error", (error) => {
  logger.fatal({ err: error, port: config.http.port }, "HTTP server failed");
  process.exit(1);
});

let shuttingDown = false;

async function step(name: string, action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    logger.error({ err: error, step: name }, "shutdown step failed");
  }
}

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (shuttingDown) {
    logger.warn({ signal }, "second signal during shutdown; exiting now");
    process.exit(1);
  }
  shuttingDown = true;
  const shutdownStartedMs = Date.now();
  logger.info({ signal, graceMs: config.http.shutdownGraceMs }, "shutting down");

  // A close that hangs must not keep the process alive forever: the orchestrator would then
  // kill it without the log line saying why.
  const deadline = setTimeout(() => {
    logger.error({ graceMs: config.http.shutdownGraceMs }, "shutdown deadline passed; exiting");
    process.exit(1);
  }, config.http.shutdownGraceMs);
  deadline.unref();

  clearInterval(recoveryTimer);
  clearInterval(sweepTimer);
  // Reverse order of start-up: stop accepting, let requests in flight finish, then the clients.
  await step("http", () => {
    const closed = new Promise<void>((resolve, reject) =>
      server.close((error) => (error === undefined ? resolve() : reject(error))),
    );
    if ("closeIdleConnections" in server) {
      server.closeIdleConnections();
    }
    return closed;
  });
  // Jobs running now finish within what is left of the grace (less a margin for the clients).
  await step("workers", async () =>
    workers?.close(
      Math.max(0, config.http.shutdownGraceMs - (Date.now() - shutdownStartedMs) - 1_000),
    ),
  );
  await step("webhook connections", async () => workerDeps?.webhookDelivery.close());
  await step("recovery", async () => recoveryRun);
  await step("jobs producer", () => producer.close());
  await step("redis", () => redis.quit());
  await step("ledger", () => ledger.close());
  await step("postgres", () => database.close());
  clearTimeout(deadline);
  logger.info("stopped");
  process.exit(0);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    void shutdown(signal);
  });
}
