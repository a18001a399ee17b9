/**
 * Webhook deliveries per second: N pending deliveries (one member each, so the order rule never
 * defers one) are queued on the `webhooks` queue and delivered by the real processor (claim,
 * sign, POST, record) to a node:http receiver on 127.0.0.1 that answers 204, timed from the first
 * job added to the last delivery recorded in Postgres. The receiver runs in a process of its own,
 * as a real one would: it does not take the workers' event loop.
 *
 * Reference, same run, same receiver and body size: the same HTTP client (the deliveries'
 * `postWebhook`) POSTing from one loop with the same concurrency as the webhooks worker, no
 * queue, no database, no signature. It is the ceiling of this machine's client against that
 * receiver; the ratio says what the queue, the signature and the row bookkeeping cost on top of
 * the POST itself.
 *
 *   npm run bench:workers                      (the lead's runner calls `run`)
 *   npx tsx bench/workers/webhooks.ts           this module alone
 *   BENCH_WEBHOOK_DELIVERIES=2000 …             fewer deliveries (default 10,000)
 *   TB_ADDRESS=127.0.0.1:3001 …                 a real TigerBeetle (only the org's set-up uses it)
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { sql } from "drizzle-orm";
import { Redis } from "ioredis";
import { pino } from "pino";
import { loadConfig } from "../../src/config.ts";
import { createLedgerClient } from "../../src/ledger/index.ts";
import { platformActor } from "../../src/membership/audit/audit.ts";
import {
  createMembershipCaches,
  createOrg,
  createWebhook,
  openDatabase,
} from "../../src/membership/index.ts";
import {
  openAdminClient,
  quoteIdentifier,
  withDatabaseName,
} from "../../src/membership/store/db.ts";
import { createJobProducer, type WorkerDeps } from "../../src/workers/index.ts";
import { queueConcurrency } from "../../src/workers/queues.ts";
import { startWorkers } from "../../src/workers/runtime.ts";
import { createWebhookDelivery, wakeupJobId } from "../../src/workers/webhooks/deliver.ts";
import { deliverJobName } from "../../src/workers/webhooks/index.ts";
// The tests' bounded cleanup of a key prefix, reused rather than written again.
import { deleteKeys } from "../../test/support/redis.ts";

const target = 1_000;

export async function run(log: (line: string) => void): Promise<Record<string, string | number>> {
  const deliveries = Number(process.env.BENCH_WEBHOOK_DELIVERIES ?? 10_000);
  if (!Number.isSafeInteger(deliveries) || deliveries < 1) {
    throw new Error("BENCH_WEBHOOK_DELIVERIES must be a positive integer");
  }
  const concurrency = queueConcurrency.webhooks;
  const ledgerConfig = loadConfig({
    TB_ADDRESS: process.env.TB_ADDRESS,
    TB_CLUSTER_ID: process.env.TB_CLUSTER_ID,
  }).ledger;
  const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
  const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const databaseName = `loyalty_bench_webhooks_${runId}`;
  const keyPrefix = `bench:webhooks:${runId}:`;
  const dataDirectory = mkdtempSync(join(tmpdir(), "loyalty-bench-webhooks-"));
  const logger = pino({ level: "warn" });

  // The receiver: answers 204 to every POST, and its count to GET.
  const receiverSource = `
    let received = 0;
    const server = require("node:http").createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        if (request.method === "GET") { response.end(String(received)); return; }
        received += 1;
        response.writeHead(204).end();
      });
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
    process.stdin.on("end", () => process.exit(0)).resume();`;
  const receiver = spawn(process.execPath, ["-e", receiverSource], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const [portLine] = (await once(receiver.stdout, "data")) as [Buffer];
  const url = `http://127.0.0.1:${Number(portLine.toString().trim())}/hooks`;
  const receivedCount = async (): Promise<number> => Number(await (await fetch(url)).text());

  const database = await openDatabase({
    url: withDatabaseName(serverUrl, databaseName),
    poolMax: 20,
    statementTimeoutMs: 30_000,
    applicationName: "loyalty-bench-webhooks",
  });
  const ledger = await createLedgerClient(
    { ...ledgerConfig, dataFile: join(dataDirectory, "ledger.tb") },
    logger,
  );
  const producer = createJobProducer({ redisUrl, keyPrefix });
  const deps: WorkerDeps = {
    db: database.db,
    secrets: {
      apiKeyHashKey: randomBytes(32),
      piiEncryptionKey: randomBytes(32),
      piiHashKey: randomBytes(32),
    },
    ledger,
    caches: createMembershipCaches(),
    logger,
    producer,
    options: { nodeEnv: "test", webhookRetryDelaysMs: [1_000], webhookAllowPrivate: true },
    webhookDelivery: createWebhookDelivery(database, { allowPrivate: true }),
  };
  const runtime = await startWorkers(deps, { redisUrl, queues: ["webhooks"], schedulers: false });
  await runtime.ready();

  try {
    const { org } = await createOrg(deps, {
      name: "Bench webhooks",
      slug: `bench-webhooks-${runId.replace("_", "-")}`,
      currency: "EUR",
    });
    const hook = await createWebhook(deps, {
      actor: platformActor,
      orgId: org.id,
      url,
      events: ["member.enrolled"],
      rules: { requireHttps: false, allowPrivate: true },
    });
    // A body the size of a real member.enrolled event.
    const body = (n: number) =>
      JSON.stringify({
        id: `evt_${n}`,
        type: "member.enrolled",
        created_at: new Date().toISOString(),
        org_id: org.id,
        data: { member_id: org.id, external_ref: `card-${n}`, welcome_bonus: "100" },
      });
    await database.db.execute(
      sql`insert into webhook_deliveries
            (org_id, webhook_id, outbox_id, event_id, event_type, member_id, body)
          select ${org.id}::uuid, ${hook.id}::uuid, n, 'evt_' || n, 'member.enrolled',
            gen_random_uuid(), ${body(0)}
          from generate_series(1, ${deliveries}::int) as n`,
    );
    const ids = (await database.db.execute(
      sql`select id::text as id from webhook_deliveries where webhook_id = ${hook.id}::uuid order by id`,
    )) as unknown as Array<{ id: string }>;
    await database.sql`vacuum analyze webhook_deliveries`;
    log(`webhooks: ${deliveries} deliveries, worker concurrency ${concurrency}, receiver ${url}`);

    const started = performance.now();
    await producer.addBulk(
      "webhooks",
      ids.map((row) => ({
        data: { orgId: org.id, deliveryId: row.id },
        name: deliverJobName,
        jobId: wakeupJobId(row.id, 0),
      })),
    );
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const [row] = (await database.db.execute(
        sql`select count(*)::int as n from webhook_deliveries
            where webhook_id = ${hook.id}::uuid and status = 'delivered'`,
      )) as unknown as Array<{ n: number }>;
      if ((row?.n ?? 0) >= deliveries) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`only ${row?.n} of ${deliveries} deliveries after 10 minutes`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    const perSecond = Math.round(deliveries / seconds);
    log(
      `webhooks: ${perSecond} deliveries/s (${seconds.toFixed(1)} s; target ≥ ${target}/s; receiver saw ${await receivedCount()})`,
    );

    // Reference: the same client POSTing the same body, same concurrency, one loop.
    const payload = body(0);
    let next = 0;
    const referenceStarted = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < deliveries) {
          next += 1;
          const result = await deps.webhookDelivery.http.post(
            url,
            { "content-type": "application/json" },
            payload,
            10_000,
          );
          if (result.error !== null) {
            throw new Error(`reference POST failed: ${result.error}`);
          }
        }
      }),
    );
    const referenceSeconds = (performance.now() - referenceStarted) / 1000;
    const referencePerSecond = Math.round(deliveries / referenceSeconds);
    const ratio = (perSecond / referencePerSecond).toFixed(2);
    log(
      `webhooks: reference, the same client alone: ${referencePerSecond} POSTs/s; deliveries/reference ${ratio}`,
    );
    return {
      webhook_deliveries_per_s: perSecond,
      webhook_reference_posts_per_s: referencePerSecond,
      webhook_ratio: ratio,
      webhook_deliveries: deliveries,
      webhook_concurrency: concurrency,
    };
  } finally {
    await runtime.close(5_000);
    await deps.webhookDelivery.close();
    await producer.close();
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    await deleteKeys(redis, keyPrefix);
    await redis.quit();
    receiver.stdin.end();
    await once(receiver, "exit");
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

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run((line) => process.stdout.write(`${line}\n`));
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}
