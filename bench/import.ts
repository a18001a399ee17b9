/**
 * Member import benchmark: a CSV file of BENCH_IMPORT_ROWS members (default 100,000; every other
 * row with opening points) sent to `POST /v1/imports/members`, streamed in 64 KiB chunks, until
 * `GET /v1/imports/{id}` says `completed`. The API, the `imports` workers, BullMQ on Redis,
 * Postgres and the ledger all run in this process, as `npm start` runs them. The figure is the
 * seconds from the first byte sent to the import completed, and rows per second.
 *
 *   npm run bench:import
 *   BENCH_IMPORT_ROWS=20000 npm run bench:import
 *   TB_ADDRESS=127.0.0.1:3001 npm run bench:import   against a real TigerBeetle
 *
 * References, measured in the same run on the same database: a bare Postgres `COPY` of the same
 * file into a table of the same columns (the floor: no validation, no encryption, no members),
 * and `POST /v1/members` (one member per request, 4 senders) over a sample, the way to enroll
 * without this route. Target (the issue's, for the development machine): under 60 s.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { pino } from "pino";
import { loadConfig } from "../src/config.ts";
import { createApp, createEdgeRedis, createMetrics, httpLimits } from "../src/http/index.ts";
import { createLedgerClient } from "../src/ledger/index.ts";
import {
  createMembershipCaches,
  createOrg,
  type LedgerDeps,
  type MembershipSecrets,
  openDatabase,
} from "../src/membership/index.ts";
import { openAdminClient, quoteIdentifier, withDatabaseName } from "../src/membership/store/db.ts";
import { createJobProducer, type WorkerDeps } from "../src/workers/index.ts";
import { startWorkers } from "../src/workers/runtime.ts";
import { createWebhookDelivery } from "../src/workers/webhooks/deliver.ts";

const targetSeconds = 60;
const chunkBytes = 64 * 1024;
const pollMs = 50;
const settleWaitMsMax = 600_000;
/** Members enrolled one request at a time for the reference rate. */
const singleEnrollments = 500;
const senders = 4;

const log = (line: string) => process.stdout.write(`${line}\n`);

function csvFile(rows: number, prefix: string): string {
  const lines = ["external_ref,email,phone,first_name,last_name,opening_points"];
  for (let index = 0; index < rows; index += 1) {
    const points = index % 2 === 0 ? String(100 + (index % 900)) : "";
    lines.push(
      `${prefix}-${index},member${index}@example.org,+33 6 12 ${String(index).padStart(6, "0")},` +
        `"First ${index}","Last, ${index}",${points}`,
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

function streamOf(bytes: Buffer): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.subarray(offset, offset + chunkBytes));
      offset += chunkBytes;
    },
  });
}

const rows = Number(process.env.BENCH_IMPORT_ROWS ?? 100_000);
assert.ok(Number.isSafeInteger(rows) && rows >= 1_000, "BENCH_IMPORT_ROWS is at least 1,000");
const ledgerConfig = loadConfig({
  TB_ADDRESS: process.env.TB_ADDRESS,
  TB_CLUSTER_ID: process.env.TB_CLUSTER_ID,
}).ledger;
const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
const databaseName = `loyalty_bench_import_${runId}`;
const keyPrefix = `bench:import:${runId}:`;
const dataDirectory = mkdtempSync(join(tmpdir(), "loyalty-bench-import-"));
const logger = pino({ level: "warn" });

const database = await openDatabase({
  url: withDatabaseName(serverUrl, databaseName),
  poolMax: 10,
  statementTimeoutMs: 60_000,
  applicationName: "loyalty-bench-import",
});
const redis = createEdgeRedis(redisUrl);
await redis.connect();
const ledger = await createLedgerClient(
  { ...ledgerConfig, dataFile: join(dataDirectory, "ledger.tb") },
  logger,
);
const producer = createJobProducer({ redisUrl, keyPrefix });
const secrets: MembershipSecrets = {
  apiKeyHashKey: randomBytes(32),
  piiEncryptionKey: randomBytes(32),
  piiHashKey: randomBytes(32),
};
const caches = createMembershipCaches();
const deps: LedgerDeps = { db: database.db, secrets, ledger, caches };
const app = createApp({
  db: database.db,
  secrets,
  memberTokenSecret: randomBytes(32),
  ledger,
  caches,
  redis,
  logger,
  metrics: createMetrics(),
  jobs: producer,
  options: {
    platformToken: undefined,
    rateLimit: { requests: 100_000_000, windowSeconds: 3_600 },
    redisKeyPrefix: keyPrefix,
    apiKeyCacheTtlMs: httpLimits.apiKeyCacheTtlMs,
    requestDeadlineMs: 60_000,
    version: "bench",
  },
});
const workerDeps: WorkerDeps = {
  ...deps,
  logger,
  producer,
  options: { nodeEnv: "production", webhookRetryDelaysMs: null, webhookAllowPrivate: false },
  webhookDelivery: createWebhookDelivery(deps, { allowPrivate: false }),
};
const workers = await startWorkers(workerDeps, { redisUrl, queues: ["imports"] });
await workers.ready();

try {
  const org = await createOrg(deps, {
    name: "import bench",
    slug: `bench-import-${runId.replace("_", "-")}`,
    currency: "EUR",
  });
  const token = org.apiKeys.admin.token;
  const file = Buffer.from(csvFile(rows, "card"), "utf8");
  log(
    `bench:import: ${rows} CSV rows (${(file.length / 1024 / 1024).toFixed(1)} MiB), ` +
      `${ledgerConfig.address === undefined ? "embedded ledger with fsync" : `TigerBeetle at ${ledgerConfig.address.join(",")}`}`,
  );

  // Reference 1: a bare COPY of the same file into a table of the same columns.
  await database.sql.unsafe(
    "create table bench_copy (external_ref text, email text, phone text, first_name text, " +
      "last_name text, opening_points bigint)",
  );
  const copyStarted = performance.now();
  const writable = await database.sql`
    copy bench_copy from stdin with (format csv, header true)`.writable();
  await new Promise<void>((resolve, reject) => {
    writable.on("error", reject);
    writable.on("finish", resolve);
    writable.end(file);
  });
  const copySeconds = (performance.now() - copyStarted) / 1000;
  const [copied] = await database.sql<{ n: number }[]>`select count(*)::int as n from bench_copy`;
  assert.equal(copied?.n, rows, "COPY stored every row");
  log(`  reference COPY: ${copySeconds.toFixed(2)} s (${Math.round(rows / copySeconds)} rows/s)`);

  // Reference 2: POST /v1/members, one member per request, over a sample.
  let next = 0;
  const enrollStarted = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async () => {
      for (let index = next++; index < singleEnrollments; index = next++) {
        const response = await app.request("/v1/members", {
          method: "POST",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
          body: JSON.stringify({
            external_ref: `single-${index}`,
            email: `single${index}@example.org`,
            first_name: `First ${index}`,
          }),
        });
        assert.equal(response.status, 201, await response.text());
      }
    }),
  );
  const enrollSeconds = (performance.now() - enrollStarted) / 1000;
  const enrollRate = Math.round(singleEnrollments / enrollSeconds);
  log(
    `  reference POST /v1/members (${senders} senders, ${singleEnrollments} members): ` +
      `${enrollRate} members/s, i.e. ${(rows / enrollRate).toFixed(1)} s for ${rows}`,
  );

  await database.sql.unsafe("vacuum analyze");
  const started = performance.now();
  const accepted = await app.request("/v1/imports/members", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "text/csv" },
    body: streamOf(file),
    duplex: "half",
  } as RequestInit);
  assert.equal(accepted.status, 202, await accepted.clone().text());
  const { import_id: importId } = (await accepted.json()) as { import_id: string };
  const stagedSeconds = (performance.now() - started) / 1000;
  let body: Record<string, unknown> = {};
  for (let waited = 0; ; waited += pollMs) {
    const response = await app.request(`/v1/imports/${importId}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    body = (await response.json()) as Record<string, unknown>;
    if (body.status === "completed" || body.status === "failed") {
      break;
    }
    assert.ok(waited < settleWaitMsMax, "the import did not complete in time");
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  const seconds = (performance.now() - started) / 1000;
  assert.equal(body.status, "completed", JSON.stringify(body));
  assert.equal(body.enrolled, rows, "every row was enrolled");
  const rate = Math.round(rows / seconds);
  log(`  POST /v1/imports/members staged (202): ${stagedSeconds.toFixed(2)} s`);
  log(
    `  import to completed: ${seconds.toFixed(2)} s, ${rate} rows/s; ` +
      `${(seconds / copySeconds).toFixed(1)}x the COPY, ` +
      `${(rate / enrollRate).toFixed(1)}x POST /v1/members' rate; ` +
      `target < ${targetSeconds} s: ${seconds < targetSeconds ? "met" : "MISSED"}`,
  );
  log(
    JSON.stringify(
      {
        import_rows: rows,
        import_seconds: Number(seconds.toFixed(2)),
        import_rows_per_second: rate,
        import_staged_seconds: Number(stagedSeconds.toFixed(2)),
        reference_copy_seconds: Number(copySeconds.toFixed(2)),
        reference_post_members_per_second: enrollRate,
        target_seconds: targetSeconds,
      },
      null,
      2,
    ),
  );
} finally {
  await workers.close(10_000);
  await producer.close();
  const cleaner = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let cursor = "0";
  for (let iteration = 0; iteration < 10_000; iteration += 1) {
    const [nextCursor, keys] = await cleaner.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 500);
    if (keys.length > 0) {
      await cleaner.del(...keys);
    }
    cursor = nextCursor;
    if (cursor === "0") {
      break;
    }
  }
  await cleaner.quit();
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
process.exit(0);
