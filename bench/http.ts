/**
 * HTTP benchmark: the API served by this process (the real app, a Postgres database of its own,
 * Redis with a key prefix of its own, and the ledger: the embedded engine on a temporary data
 * file with fsync, or the TigerBeetle cluster named by `TB_ADDRESS`), loaded by autocannon
 * running as a separate process so load and server each get a core.
 *
 *   npm run bench:http                                 full run (about a minute and a half)
 *   npm run bench:http -- --quick                      smoke run
 *   TB_ADDRESS=127.0.0.1:3001 npm run bench:http       the same against a real TigerBeetle
 *
 * Routes: the ceiling first, a plain `node:http` server in this process on 127.0.0.1 answering
 * a constant JSON (no framework, no middleware: what this machine's Node can serve at all); then
 * GET /health (the app's own floor: same process and middleware, no auth, no database),
 * POST /v1/transactions (a unique external id per request), POST /v1/transactions/batch
 * (1,000 purchases per request) and GET /v1/members/:id/balances, each after a VACUUM ANALYZE
 * of the bench database. Every route is loaded with the same autocannon settings. Printed per
 * route: req/s, p50, p99, max latency, the ratio to the ceiling and to /health, and the target.
 * Absolute figures differ several-fold between machines; the ratios are what to compare. Listens
 * on 127.0.0.1 only, every run is bounded in time, and the database, Redis keys and data file are
 * removed at the end (accounts and transfers written to a real TigerBeetle stay: a cluster cannot
 * delete them). Targets are printed next to the measured values; nothing fails on a miss.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { type Http2Bindings, type HttpBindings, serve } from "@hono/node-server";
import { pino } from "pino";
import { loadConfig } from "../src/config.ts";
import { createApp, createEdgeRedis, createMetrics, httpLimits } from "../src/http/index.ts";
import { createLedgerClient } from "../src/ledger/index.ts";
import type { LedgerDeps, MembershipSecrets } from "../src/membership/index.ts";
import {
  createMembershipCaches,
  createOrg,
  enrollMemberWithLedger,
  openDatabase,
} from "../src/membership/index.ts";
import { openAdminClient, quoteIdentifier, withDatabaseName } from "../src/membership/store/db.ts";

const usage =
  "usage: [TB_ADDRESS=<replicas> [TB_CLUSTER_ID=<id>]] npm run bench:http [-- --quick] " +
  "[--only <route substring>]";
const args = process.argv.slice(2);
let only: string | undefined;
for (let index = 0; index < args.length; index++) {
  const arg = args[index];
  if (arg === "--only" && args[index + 1] !== undefined) {
    only = args[index + 1];
    index += 1;
  } else if (arg !== "--quick") {
    process.stderr.write(`unknown argument ${arg}\n${usage}\n`);
    process.exit(2);
  }
}
const quick = args.includes("--quick");

// TB_ADDRESS and TB_CLUSTER_ID are read and checked exactly as the service reads them; a bad
// value stops the run here, naming the variable, before anything is created.
const ledgerConfig = loadConfig({
  TB_ADDRESS: process.env.TB_ADDRESS,
  TB_CLUSTER_ID: process.env.TB_CLUSTER_ID,
}).ledger;

const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const runSeconds = quick ? 3 : 10;
const warmupSeconds = quick ? 1 : 3;
/** A run that has not finished this long after its duration is killed. */
const runGraceSeconds = 30;
/** Requests still running when autocannon hangs up get this long to finish. */
const drainWaitMsMax = 30_000;
const drainPollMs = 50;
const connections = 50;
const batchSize = 1_000;
const batchConnections = 4;
const members = quick ? 20 : 200;
const autocannonPath = createRequire(import.meta.url).resolve("autocannon/autocannon.js");

interface Case {
  name: string;
  /** The plain `node:http` server (the ceiling) or the app. */
  server: "plain" | "app";
  method: "GET" | "POST";
  path: string;
  connections: number;
  body?: string;
  /** Business operations per request (purchases in a batch). */
  perRequest: number;
  target: string;
  meets(result: Measured): boolean;
}

interface Measured {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

interface AutocannonJson {
  requests: { average: number };
  latency: { p50: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

function runAutocannon(port: number, run: Case, key: string, seconds: number): Promise<Measured> {
  // The same settings for every route, the ceiling included (it ignores the key).
  const directory = mkdtempSync(join(tmpdir(), "loyalty-bench-body-"));
  const argv = [
    autocannonPath,
    "--json",
    "-c",
    String(run.connections),
    "-d",
    String(seconds),
    "-m",
    run.method,
    "-H",
    `Authorization=Bearer ${key}`,
  ];
  if (run.body !== undefined) {
    const bodyFile = join(directory, "body.json");
    writeFileSync(bodyFile, run.body);
    argv.push("-H", "Content-Type=application/json", "-i", bodyFile, "-I");
  }
  argv.push(`http://127.0.0.1:${port}${run.path}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "ignore"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), (seconds + runGraceSeconds) * 1000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(killer);
      rmSync(directory, { recursive: true, force: true });
      if (code !== 0) {
        reject(new Error(`autocannon exited with ${code}`));
        return;
      }
      const result = JSON.parse(output) as AutocannonJson;
      resolve({
        requestsPerSecond: result.requests.average,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        maxMs: result.latency.max,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
      });
    });
  });
}

function format(value: number, digits = 0): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
const databaseName = `loyalty_bench_${runId}`;
const redisKeyPrefix = `bench:${runId}:`;
const dataDirectory = mkdtempSync(join(tmpdir(), "loyalty-bench-"));
const logger = pino({ level: "warn" });

const database = await openDatabase({
  url: withDatabaseName(serverUrl, databaseName),
  poolMax: 10,
  statementTimeoutMs: 10_000,
  applicationName: "loyalty-bench",
});
// The server's own client settings (auto-pipelining above all): the figures are the server's.
const redis = createEdgeRedis(redisUrl);
await redis.connect();
const ledger = await createLedgerClient(
  { ...ledgerConfig, dataFile: join(dataDirectory, "ledger.tb") },
  logger,
);
const ledgerDescription =
  ledgerConfig.address === undefined
    ? "embedded ledger with fsync"
    : `TigerBeetle at ${ledgerConfig.address.join(",")} (cluster ${ledgerConfig.clusterId})`;
const secrets: MembershipSecrets = {
  apiKeyHashKey: randomBytes(32),
  piiEncryptionKey: randomBytes(32),
  piiHashKey: randomBytes(32),
};
const metrics = createMetrics();
const app = createApp({
  db: database.db,
  secrets,
  memberTokenSecret: randomBytes(32),
  ledger,
  redis,
  logger,
  metrics,
  options: {
    platformToken: undefined,
    // The limit is not what is measured: one key sends every request.
    rateLimit: { requests: 100_000_000, windowSeconds: 3_600 },
    redisKeyPrefix,
    apiKeyCacheTtlMs: httpLimits.apiKeyCacheTtlMs,
    version: "bench",
  },
});
// Requests still running after autocannon hangs up must finish before the clients close.
let inFlight = 0;
const server = serve({
  fetch: async (request: Request, env: HttpBindings | Http2Bindings) => {
    inFlight += 1;
    try {
      return await app.fetch(request, env);
    } finally {
      inFlight -= 1;
    }
  },
  hostname: "127.0.0.1",
  port: 0,
});
await new Promise<void>((resolve) => server.once("listening", () => resolve()));
const { port } = server.address() as AddressInfo;

// The ceiling: Node's own HTTP server answering a constant JSON of the size /health answers,
// on the same loopback, in the same process, loaded with the same settings as the app.
const plainBody = Buffer.from(JSON.stringify({ status: "ok" }));
const plainServer = createServer((_request, response) => {
  response.writeHead(200, {
    "content-type": "application/json",
    "content-length": plainBody.length,
  });
  response.end(plainBody);
});
plainServer.listen(0, "127.0.0.1");
await new Promise<void>((resolve) => plainServer.once("listening", () => resolve()));
const plainPort = (plainServer.address() as AddressInfo).port;

/** Waits (boundedly) until no request is running, so one run's tail does not load the next. */
async function drain(): Promise<void> {
  for (let waited = 0; inFlight > 0 && waited < drainWaitMsMax; waited += drainPollMs) {
    await new Promise((resolve) => setTimeout(resolve, drainPollMs));
  }
}

async function cleanUp(): Promise<void> {
  await new Promise<void>((resolve) => plainServer.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await drain();
  let cursor = "0";
  for (let iteration = 0; iteration < 10_000; iteration += 1) {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${redisKeyPrefix}*`, "COUNT", 500);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
    cursor = next;
    if (cursor === "0") {
      break;
    }
  }
  await redis.quit();
  await ledger.close();
  await database.close();
  const admin = openAdminClient(serverUrl, "loyalty-bench-admin");
  try {
    await admin.unsafe(`drop database if exists ${quoteIdentifier(databaseName)} with (force)`);
  } finally {
    await admin.end();
  }
  rmSync(dataDirectory, { recursive: true, force: true });
}

try {
  const deps: LedgerDeps = { db: database.db, secrets, ledger, caches: createMembershipCaches() };
  const org = await createOrg(deps, {
    name: "Bench",
    slug: `bench-${runId.replace("_", "-")}`,
    currency: "EUR",
  });
  const enrolled = [];
  for (let index = 0; index < members; index += 1) {
    enrolled.push(
      (await enrollMemberWithLedger(deps, { orgId: org.org.id, externalRef: `card-${index}` }))
        .member,
    );
  }
  const member = enrolled[0];
  if (member === undefined) {
    throw new Error("no member enrolled");
  }
  const pos = org.apiKeys.pos.token;
  const purchase = (suffix: string, memberRef: string) => ({
    external_id: `bench-[<id>]${suffix}`,
    member_external_ref: memberRef,
    amount: 1_999,
    currency: "EUR",
    location: "store-1",
  });
  const cases: Case[] = [
    {
      name: "node:http constant JSON (ceiling)",
      server: "plain",
      method: "GET",
      path: "/",
      connections,
      perRequest: 1,
      target: "reference",
      meets: () => true,
    },
    {
      name: "GET /health",
      server: "app",
      method: "GET",
      path: "/health",
      connections,
      perRequest: 1,
      target: "reference",
      meets: () => true,
    },
    {
      name: "POST /v1/transactions",
      server: "app",
      method: "POST",
      path: "/v1/transactions",
      connections,
      body: JSON.stringify(purchase("", "card-0")),
      perRequest: 1,
      target: ">= 3,000/s, p99 <= 50 ms",
      meets: (result) => result.requestsPerSecond >= 3_000 && result.p99Ms <= 50,
    },
    {
      name: `POST /v1/transactions/batch (${batchSize})`,
      server: "app",
      method: "POST",
      path: "/v1/transactions/batch",
      connections: batchConnections,
      body: JSON.stringify({
        transactions: Array.from({ length: batchSize }, (_, index) =>
          purchase(`-${index}`, `card-${index % members}`),
        ),
      }),
      perRequest: batchSize,
      target: ">= 20,000 purchases/s",
      meets: (result) => result.requestsPerSecond * batchSize >= 20_000,
    },
    {
      name: "GET /v1/members/:id/balances",
      server: "app",
      method: "GET",
      path: `/v1/members/${member.id}/balances`,
      connections,
      perRequest: 1,
      target: ">= 15,000/s",
      meets: (result) => result.requestsPerSecond >= 15_000,
    },
  ];

  process.stdout.write(
    `HTTP benchmark (${quick ? "quick" : "full"}): ${cpus().length} cores, ${runSeconds} s per ` +
      `route after ${warmupSeconds} s warm-up, ${ledgerDescription}, ${members} members\n\n`,
  );
  const results: Array<{ run: Case; result: Measured }> = [];
  // The ceiling and /health always run first: every ratio is relative to them.
  const references = 2;
  const selected = cases.filter(
    (run, index) => index < references || only === undefined || run.name.includes(only),
  );
  for (const run of selected) {
    // Each route starts from a vacuumed database: the dead rows the previous route left (and
    // the autovacuum run they would trigger mid-measurement) are that route's cost, not this one's.
    await database.sql.unsafe("vacuum analyze");
    const target = run.server === "plain" ? plainPort : port;
    await runAutocannon(target, run, pos, warmupSeconds);
    await drain();
    const result = await runAutocannon(target, run, pos, runSeconds);
    await drain();
    results.push({ run, result });
  }

  // A route's ratio is its operations per second (purchases for the batch route, requests for
  // the others) over the reference's requests per second.
  const ceiling = results[0]?.result.requestsPerSecond ?? 1;
  const health = results[1]?.result.requestsPerSecond ?? 1;
  const percent = (ops: number, reference: number): string =>
    reference > 0 ? `${format((ops / reference) * 100, 1)}%` : "-";
  const rows = [
    [
      "route",
      "conns",
      "req/s",
      "ops/s",
      "p50 ms",
      "p99 ms",
      "max ms",
      "vs ceiling",
      "vs /health",
      "non-2xx",
      "errors",
      "timeouts",
      "target",
      "",
    ],
    ...results.map(({ run, result }) => [
      run.name,
      String(run.connections),
      format(result.requestsPerSecond),
      format(result.requestsPerSecond * run.perRequest),
      format(result.p50Ms, 1),
      format(result.p99Ms, 1),
      format(result.maxMs, 0),
      percent(result.requestsPerSecond * run.perRequest, ceiling),
      run.server === "plain" ? "" : percent(result.requestsPerSecond * run.perRequest, health),
      String(result.non2xx),
      String(result.errors),
      String(result.timeouts),
      run.target,
      run.target === "reference" ? "" : run.meets(result) ? "met" : "MISSED",
    ]),
  ];
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  for (const row of rows) {
    process.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd()}\n`,
    );
  }
  const failures = results.reduce(
    (sum, { result }) => sum + result.non2xx + result.errors + result.timeouts,
    0,
  );
  if (failures > 0) {
    process.stdout.write(`\n${failures} requests were not 2xx; the figures above include them.\n`);
  }
} finally {
  await cleanUp();
}
