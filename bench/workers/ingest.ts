/**
 * Asynchronous ingestion, end to end: events sent to `POST /v1/events` in batches of 1,000 across
 * many members, until every one is processed by the `ingest` workers (the API, the workers,
 * BullMQ on Redis, Postgres and the ledger all in this process, as `npm start` runs them).
 * The figure is events per second from the first request sent to the last event processed.
 *
 * Reference, measured in the same run on the same database and ledger: the synchronous
 * `POST /v1/transactions/batch` with the same purchases (same batch size, senders and members).
 * Ingestion posts through that very batch path after storing each event and before recording
 * its outcome, so the reference is its ceiling and the ratio is what the inbox costs.
 *
 * Requests go through `app.request()` in process (no sockets) for both figures, `senders` at a
 * time. Ledger: the embedded engine on a temporary data file with fsync, or the TigerBeetle
 * cluster named by `TB_ADDRESS` (then its accounts and transfers stay: a cluster cannot delete).
 * BENCH_INGEST_EVENTS (default 20,000, a multiple of 1,000) scales the run down or up.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { pino } from "pino";
import { loadConfig } from "../../src/config.ts";
import { createApp, createEdgeRedis, createMetrics, httpLimits } from "../../src/http/index.ts";
import { createLedgerClient } from "../../src/ledger/index.ts";
import {
  createMembershipCaches,
  createOrg,
  enrollMemberWithLedger,
  type LedgerDeps,
  type MembershipSecrets,
  openDatabase,
} from "../../src/membership/index.ts";
import {
  openAdminClient,
  quoteIdentifier,
  withDatabaseName,
} from "../../src/membership/store/db.ts";
import { createJobProducer, type WorkerDeps } from "../../src/workers/index.ts";
import { startWorkers } from "../../src/workers/runtime.ts";
import { createWebhookDelivery } from "../../src/workers/webhooks/deliver.ts";

const batchSize = 1_000;
const senders = 4;
const members = 200;
const pollMs = 10;
/** A run that has not settled this long after its last request stops with an error. */
const settleWaitMsMax = 120_000;
const target = 5_000;

export async function run(log: (line: string) => void): Promise<Record<string, string | number>> {
  const events = Number(process.env.BENCH_INGEST_EVENTS ?? 20_000);
  assert.ok(
    Number.isSafeInteger(events) && events >= batchSize && events % batchSize === 0,
    "BENCH_INGEST_EVENTS is a multiple of 1,000",
  );
  const ledgerConfig = loadConfig({
    TB_ADDRESS: process.env.TB_ADDRESS,
    TB_CLUSTER_ID: process.env.TB_CLUSTER_ID,
  }).ledger;
  const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
  const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const databaseName = `loyalty_bench_ingest_${runId}`;
  const keyPrefix = `bench:ingest:${runId}:`;
  const dataDirectory = mkdtempSync(join(tmpdir(), "loyalty-bench-ingest-"));
  const logger = pino({ level: "warn" });

  const database = await openDatabase({
    url: withDatabaseName(serverUrl, databaseName),
    poolMax: 10,
    statementTimeoutMs: 10_000,
    applicationName: "loyalty-bench-ingest",
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
      // Throughput is measured, not latency: a slow batch on a busy machine must not be cut.
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
  const workers = await startWorkers(workerDeps, { redisUrl, queues: ["ingest"] });
  await workers.ready();

  try {
    const orgOf = async (name: string) => {
      const created = await createOrg(deps, {
        name,
        slug: `bench-${name}-${runId.replace("_", "-")}`,
        currency: "EUR",
      });
      for (let index = 0; index < members; index += 1) {
        await enrollMemberWithLedger(deps, { orgId: created.org.id, externalRef: `card-${index}` });
      }
      return created;
    };
    const purchase = (batch: number, index: number) => ({
      external_id: `p-${batch}-${index}`,
      amount: 1_999,
      currency: "EUR",
    });
    const send = async (token: string, path: string, bodies: string[]): Promise<void> => {
      let next = 0;
      const sender = async () => {
        for (let body = bodies[next++]; body !== undefined; body = bodies[next++]) {
          const response = await app.request(path, {
            method: "POST",
            headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
            body,
          });
          assert.ok(response.ok, `${path} answered ${response.status}: ${await response.text()}`);
          await response.arrayBuffer().catch(() => undefined);
        }
      };
      await Promise.all(Array.from({ length: senders }, sender));
    };
    const batches = events / batchSize;
    log(
      `ingest: ${events} events in batches of ${batchSize}, ${senders} senders, ${members} ` +
        `members, ${ledgerConfig.address === undefined ? "embedded ledger with fsync" : `TigerBeetle at ${ledgerConfig.address.join(",")}`}`,
    );

    // Reference: the synchronous batch route, the same purchases.
    const reference = await orgOf("reference");
    const purchaseBodies = Array.from({ length: batches }, (_, batch) =>
      JSON.stringify({
        transactions: Array.from({ length: batchSize }, (_, index) => ({
          ...purchase(batch, index),
          member_external_ref: `card-${index % members}`,
          occurred_at: new Date().toISOString(),
          location: "store-1",
        })),
      }),
    );
    await database.sql.unsafe("vacuum analyze");
    const referenceStarted = performance.now();
    await send(reference.apiKeys.pos.token, "/v1/transactions/batch", purchaseBodies);
    const referenceSeconds = (performance.now() - referenceStarted) / 1000;
    const referenceRate = Math.round(events / referenceSeconds);
    log(`  reference POST /v1/transactions/batch: ${referenceRate} purchases/s`);

    // Ingestion: accepted → processed.
    const ingest = await orgOf("ingest");
    const eventBodies = Array.from({ length: batches }, (_, batch) =>
      JSON.stringify({
        events: Array.from({ length: batchSize }, (_, index) => ({
          event_id: `e-${batch}-${index}`,
          event_type: "pos.transaction",
          occurred_at: new Date().toISOString(),
          location: "store-1",
          member_external_ref: `card-${index % members}`,
          payload: purchase(batch, index),
        })),
      }),
    );
    await database.sql.unsafe("vacuum analyze");
    const started = performance.now();
    await send(ingest.apiKeys.pos.token, "/v1/events", eventBodies);
    const acceptedSeconds = (performance.now() - started) / 1000;
    const orgId = ingest.org.id;
    for (let waited = 0; ; waited += pollMs) {
      const [row] = await database.sql<{ n: number }[]>`
        select count(*)::int as n from inbox_events where org_id = ${orgId} and status = 'queued'`;
      if (row?.n === 0) {
        break;
      }
      assert.ok(waited < settleWaitMsMax, "the inbox did not drain in time");
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    const seconds = (performance.now() - started) / 1000;
    const [outcome] = await database.sql<{ processed: number; failed: number }[]>`
      select count(*) filter (where status = 'processed')::int as processed,
             count(*) filter (where status = 'failed')::int as failed
      from inbox_events where org_id = ${orgId}`;
    assert.equal(outcome?.processed, events, "every event was processed");
    const rate = Math.round(events / seconds);
    const acceptedRate = Math.round(events / acceptedSeconds);
    log(`  POST /v1/events accepted: ${acceptedRate} events/s`);
    log(
      `  accepted → processed: ${rate} events/s (${Math.round((rate / referenceRate) * 100)}% of ` +
        `the reference; target >= ${target}/s: ${rate >= target ? "met" : "MISSED"})`,
    );
    return {
      ingest_events: events,
      ingest_events_per_second: rate,
      ingest_accepted_per_second: acceptedRate,
      ingest_reference_batch_purchases_per_second: referenceRate,
      ingest_target_events_per_second: target,
    };
  } finally {
    await workers.close(10_000);
    await producer.close();
    const cleaner = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    let cursor = "0";
    for (let iteration = 0; iteration < 10_000; iteration += 1) {
      const [next, keys] = await cleaner.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 500);
      if (keys.length > 0) {
        await cleaner.del(...keys);
      }
      cursor = next;
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
}
