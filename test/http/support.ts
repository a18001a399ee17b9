/**
 * The HTTP test harness: the real app (createApp) over a private Postgres database, a private
 * Redis key prefix, and the embedded ledger in memory with a clock the test moves. Requests go
 * through `app.request()`, in process. Nothing is mocked.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { pino } from "pino";
import type { Client } from "tigerbeetle-node";
import { createApp } from "../../src/http/app.ts";
import type { AppDeps, HttpOptions } from "../../src/http/env.ts";
import { apiKeyCacheTtlMs } from "../../src/http/limits.ts";
import type { Metrics } from "../../src/http/metrics.ts";
import { countPostedTransfers, createMetrics } from "../../src/http/metrics.ts";
import type { EmbeddedClient } from "../../src/ledger/index.ts";
import type { CreateOrgResult, Db, LedgerDeps } from "../../src/membership/index.ts";
import type { JobProducer } from "../../src/workers/index.ts";
import type { TestDatabase } from "../support/db.ts";
import { createTestDatabase } from "../support/db.ts";
import {
  buildLedgerOrg,
  cardNumber,
  createLedgerTestEnvironment,
  type LedgerTestEnvironment,
} from "../support/ledger.ts";
import { deleteKeys, redisUrl } from "../support/redis.ts";

export { redisUrl };

export type Role = "admin" | "pos" | "finance";

export interface TestOrg {
  result: CreateOrgResult;
  id: string;
  keys: Record<Role, string>;
}

export interface HarnessOptions {
  rateLimit?: { requests: number; windowSeconds: number };
  platformToken?: string;
  logger?: Logger;
  /** Build the app on another Postgres pool (e.g. one that is closed or points nowhere). */
  db?: Db;
  /** Build the app on another Redis client (e.g. one pointed at a closed port). */
  redis?: Redis;
  /** Build the app on another ledger client (e.g. a closed one). */
  ledger?: Client;
  /** How long authenticated keys are cached (default: the production value). */
  apiKeyCacheTtlMs?: number;
  /**
   * The edge's request deadline. Default: `testRequestDeadlineMs`, far above the production
   * value, so that a test of behaviour (100 redemptions racing for one balance, on a machine
   * shared with other suites) is not cut short by it; the failure-contract tests pass the
   * production value.
   */
  requestDeadlineMs?: number;
  /** NODE_ENV as the app sees it (webhook URL rules); default "test". */
  nodeEnv?: "development" | "test" | "production";
  /** Webhook URLs may point to private and loopback addresses; default true, as in tests. */
  webhookAllowPrivate?: boolean;
  /** The job producer the routes that enqueue use (test/support/workers.ts makes one). */
  jobs?: JobProducer;
}

/** See `HarnessOptions.requestDeadlineMs`. */
export const testRequestDeadlineMs = 60_000;

export interface Harness {
  app: ReturnType<typeof createApp>;
  database: TestDatabase;
  environment: LedgerTestEnvironment;
  /** The use cases' deps over the same database and ledger (for setup and inspection). */
  deps: LedgerDeps;
  engine: EmbeddedClient;
  redis: Redis;
  redisKeyPrefix: string;
  metrics: Metrics;
  /** The key member app tokens are signed with (tests sign their own, e.g. expired, with it). */
  memberTokenSecret: Buffer;
  /** Another app on the same database and ledger with different options. */
  variant(options: HarnessOptions): ReturnType<typeof createApp>;
  close(): Promise<void>;
}

export function testRedis(url: string = redisUrl): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const database = await createTestDatabase();
  const environment = createLedgerTestEnvironment(database.db);
  const redis = testRedis();
  await redis.connect();
  const redisKeyPrefix = `test:http:${process.pid}:${randomBytes(4).toString("hex")}:`;
  const metrics = createMetrics();
  const ledger = countPostedTransfers(environment.engine, metrics);
  const silent = pino({ level: "silent" });
  const memberTokenSecret = randomBytes(32);

  const build = (variant: HarnessOptions) => {
    const httpOptions: HttpOptions = {
      // A variant may turn the token off by naming it undefined.
      platformToken: "platformToken" in variant ? variant.platformToken : options.platformToken,
      rateLimit: variant.rateLimit ?? options.rateLimit ?? { requests: 100_000, windowSeconds: 60 },
      redisKeyPrefix,
      version: "test",
      apiKeyCacheTtlMs: variant.apiKeyCacheTtlMs ?? options.apiKeyCacheTtlMs ?? apiKeyCacheTtlMs,
      requestDeadlineMs:
        variant.requestDeadlineMs ?? options.requestDeadlineMs ?? testRequestDeadlineMs,
      nodeEnv: variant.nodeEnv ?? options.nodeEnv ?? "test",
      webhookAllowPrivate: variant.webhookAllowPrivate ?? options.webhookAllowPrivate ?? true,
    };
    const deps: AppDeps = {
      db: variant.db ?? database.db,
      secrets: environment.deps.secrets,
      memberTokenSecret,
      ledger: variant.ledger ?? ledger,
      // The pool's caches, shared with `environment.deps` as in one process; another pool, its own.
      ...(variant.db === undefined ? { caches: environment.deps.caches } : {}),
      redis: variant.redis ?? redis,
      logger: variant.logger ?? options.logger ?? silent,
      metrics,
      options: httpOptions,
      clock: () => environment.now(),
    };
    const jobs = variant.jobs ?? options.jobs;
    if (jobs !== undefined) {
      deps.jobs = jobs;
    }
    return createApp(deps);
  };

  return {
    app: build({}),
    database,
    environment,
    deps: environment.deps,
    engine: environment.engine,
    redis,
    redisKeyPrefix,
    metrics,
    memberTokenSecret,
    variant: build,
    async close() {
      await deleteKeys(redis, redisKeyPrefix).catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
      await environment.engine.close();
      await database.close();
    },
  };
}

/** A new org through the same verb the CLI and `POST /v1/orgs` use, with its three keys. */
export async function buildTestOrg(
  harness: Harness,
  settings: { welcomeBonusPoints?: number; baseRatePointsPerUnit?: number } = {},
): Promise<TestOrg> {
  const result = await buildLedgerOrg(harness.deps, { settings });
  return {
    result,
    id: result.org.id,
    keys: {
      admin: result.apiKeys.admin.token,
      pos: result.apiKeys.pos.token,
      finance: result.apiKeys.finance.token,
    },
  };
}

export interface CallOptions {
  key?: string;
  body?: unknown;
  /** A raw body, sent as is (for malformed JSON and size tests). */
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the text when the answer is not JSON. */
  body: Json;
}

/**
 * A parsed JSON answer, indexable at any depth so assertions read naturally
 * (`body.member.id`); `list()` turns an array node into an array.
 */
export interface Json {
  readonly [key: string]: Json;
}

export function list(value: Json | undefined): Json[] {
  if (!Array.isArray(value)) {
    throw new Error(`expected a JSON array, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** One request through the app. */
export async function call(
  app: ReturnType<typeof createApp>,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) {
    headers.Authorization = `Bearer ${options.key}`;
  }
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
  }
  if (body !== undefined && headers["Content-Type"] === undefined) {
    headers["Content-Type"] = "application/json";
  }
  const response = await app.request(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  const isJson = (response.headers.get("content-type") ?? "").includes("application/json");
  const parsed = (isJson ? JSON.parse(text) : text) as Json;
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Enrols a member over HTTP and returns its id. */
export async function enrollOverHttp(
  harness: Harness,
  org: TestOrg,
  body: Record<string, unknown> = {},
): Promise<{ id: string; externalRef: string }> {
  const externalRef = cardNumber();
  const response = await call(harness.app, "POST", "/v1/members", {
    key: org.keys.pos,
    body: { external_ref: externalRef, ...body },
  });
  if (response.status !== 201) {
    throw new Error(`enrol failed: ${response.status} ${JSON.stringify(response.body)}`);
  }
  return { id: String(response.body.member?.id), externalRef };
}

/** Counts rows of a table for an org, as stored. */
export async function countRows(
  harness: Harness,
  table:
    | "members"
    | "pos_transactions"
    | "redemptions"
    | "outbox"
    | "idempotency_keys"
    | "locations"
    | "inbox_events",
  orgId: string,
): Promise<number> {
  const sql = harness.database.sql;
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from ${sql(table)} where org_id = ${orgId}`;
  return row?.n ?? -1;
}

/** Every transfer the ledger holds, as a count: proof that nothing was posted. */
export async function ledgerTransferCount(harness: Harness): Promise<number> {
  const transfers = await harness.engine.queryTransfers({
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    ledger: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: 8189,
    flags: 0,
  });
  return transfers.length;
}
