/**
 * Export benchmark: `GET /v1/ledger/transfers` over a real socket against 1,000,000 transfers,
 * as NDJSON and CSV, next to 100,000 of the same transfers, and a bare scan of the same range
 * through the ledger client (no HTTP, no decoding, no formatting) as the reference.
 *
 *   npm run bench:export                 1,000,000 vs 100,000 transfers (about a minute)
 *   npm run bench:export -- --quick      100,000 vs 10,000 (smoke run)
 *
 * The transfers are loaded straight into the embedded ledger (in memory) through the ledger
 * client, in batches of 8,189 purchase earns spread over 1,000 wallets of one org: loading is
 * not what is measured. The app is the real one (its own Postgres database, Redis with a key
 * prefix of its own), served by @hono/node-server on 127.0.0.1; the client is a separate Node
 * process that reads the body and drops it chunk by chunk, counting rows.
 *
 * Printed per run: rows, seconds, rows/s, the ratio to the bare scan, and memory while the
 * export ran, sampled every 10 ms with process.memoryUsage(): the peak RSS and the peak heap
 * above what the process held just before (after a full GC). Constant memory means those peaks
 * do not grow from 100,000 to 1,000,000 rows. The database and Redis keys are removed at the end.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { pino } from "pino";
import { CreateTransferStatus } from "tigerbeetle-node";
import { createApp, createEdgeRedis, createMetrics, httpLimits } from "../src/http/index.ts";
import {
  AccountCode,
  controlAccountId,
  createEmbeddedClient,
  enroll,
  ledgerCommitWatermark,
  scanLedgerRange,
  TransferCode,
  uuidToU128,
  uuidV7,
  walletAccountId,
} from "../src/ledger/index.ts";
import type { LedgerDeps, MembershipSecrets } from "../src/membership/index.ts";
import { createMembershipCaches, createOrg, openDatabase } from "../src/membership/index.ts";
import { openAdminClient, quoteIdentifier, withDatabaseName } from "../src/membership/store/db.ts";

const args = process.argv.slice(2);
for (const arg of args) {
  if (arg !== "--quick") {
    process.stderr.write(`unknown argument ${arg}\nusage: npm run bench:export [-- --quick]\n`);
    process.exit(2);
  }
}
const quick = args.includes("--quick");
const rowsLarge = quick ? 100_000 : 1_000_000;
const rowsSmall = rowsLarge / 10;
const wallets = 1_000;
const batchSize = 8_189;
const sampleMs = 10;
/** An export client still running after this is killed. */
const clientSecondsMax = 600;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write("run with --expose-gc (npm run bench:export does)\n");
  process.exit(2);
}

const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
const databaseName = `loyalty_bench_export_${runId}`;
const redisKeyPrefix = `bench:export:${runId}:`;
const logger = pino({ level: "warn" });

const database = await openDatabase({
  url: withDatabaseName(serverUrl, databaseName),
  poolMax: 4,
  statementTimeoutMs: 10_000,
  applicationName: "loyalty-bench-export",
});
const redis = createEdgeRedis(redisUrl);
await redis.connect();
const ledger = createEmbeddedClient();
const secrets: MembershipSecrets = {
  apiKeyHashKey: randomBytes(32),
  piiEncryptionKey: randomBytes(32),
  piiHashKey: randomBytes(32),
};
const app = createApp({
  db: database.db,
  secrets,
  memberTokenSecret: randomBytes(32),
  ledger,
  redis,
  logger,
  metrics: createMetrics(),
  options: {
    platformToken: undefined,
    rateLimit: { requests: 1_000_000, windowSeconds: 3_600 },
    redisKeyPrefix,
    apiKeyCacheTtlMs: httpLimits.apiKeyCacheTtlMs,
    version: "bench",
  },
});
const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
await new Promise<void>((resolve) => server.once("listening", () => resolve()));
const { port } = server.address() as AddressInfo;

async function cleanUp(): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
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
}

interface Measured {
  rows: number;
  bytes: number;
  seconds: number;
  rssPeakMb: number;
  heapGrowthPeakMb: number;
}

/** Runs `work` while sampling memory; peaks are relative to the heap just before. */
async function measure(
  work: () => Promise<{ rows: number; bytes: number; seconds?: number }>,
): Promise<Measured> {
  gc?.();
  const baseline = process.memoryUsage();
  let rssPeak = baseline.rss;
  let heapPeak = baseline.heapUsed;
  const sampler = setInterval(() => {
    const usage = process.memoryUsage();
    rssPeak = Math.max(rssPeak, usage.rss);
    heapPeak = Math.max(heapPeak, usage.heapUsed);
  }, sampleMs);
  const started = process.hrtime.bigint();
  try {
    const result = await work();
    const { rows, bytes } = result;
    const seconds = result.seconds ?? Number(process.hrtime.bigint() - started) / 1e9;
    return {
      rows,
      bytes,
      seconds,
      rssPeakMb: rssPeak / 2 ** 20,
      heapGrowthPeakMb: (heapPeak - baseline.heapUsed) / 2 ** 20,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** Live memory sampling: a full GC before each sample, so garbage not yet collected is not counted. */
const liveSampleMs = 250;

/**
 * Runs `work` while measuring live memory: every 250 ms a full GC, then the heap in use above
 * what it was before the export. Slows the export down; its time is not reported.
 */
async function measureLive(
  work: () => Promise<unknown>,
): Promise<{ livePeakMb: number; retainedMb: number; samples: number }> {
  const collect = gc as () => void;
  collect();
  const baseline = process.memoryUsage().heapUsed;
  let livePeak = 0;
  let samples = 0;
  const sampler = setInterval(() => {
    collect();
    samples += 1;
    livePeak = Math.max(livePeak, process.memoryUsage().heapUsed - baseline);
  }, liveSampleMs);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  collect();
  return {
    livePeakMb: livePeak / 2 ** 20,
    retainedMb: (process.memoryUsage().heapUsed - baseline) / 2 ** 20,
    samples,
  };
}

/**
 * The client: a separate Node process (so the server's figures are the server's alone) reading
 * the body chunk by chunk, dropping it, and printing the status, bytes and newlines it saw.
 */
const clientScript = `
const http = require("node:http");
const started = process.hrtime.bigint();
const request = http.get(process.argv[1], { headers: { Authorization: "Bearer " + process.argv[2] } },
  (response) => {
    let bytes = 0, newlines = 0;
    response.on("data", (chunk) => {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) newlines += 1;
    });
    response.on("end", () => process.stdout.write(JSON.stringify({ status: response.statusCode, bytes, newlines, seconds: Number(process.hrtime.bigint() - started) / 1e9 })));
  });
request.on("error", (error) => { process.stderr.write(String(error)); process.exit(1); });
`;

/** One export over the socket, read by the client process. */
function exportOverHttp(
  key: string,
  format: "csv" | "ndjson",
  to: string,
): Promise<{ rows: number; bytes: number; seconds: number }> {
  const url = `http://127.0.0.1:${port}/v1/ledger/transfers?format=${format}&to=${to}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", clientScript, url, key], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), clientSecondsMax * 1000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(killer);
      if (code !== 0) {
        reject(new Error(`the export client exited with ${code}`));
        return;
      }
      const result = JSON.parse(output) as {
        status: number;
        bytes: number;
        newlines: number;
        seconds: number;
      };
      if (result.status !== 200) {
        reject(new Error(`the export answered ${result.status}`));
        return;
      }
      // CSV has a header line; a trailer line would mean a failure, which the row count shows.
      resolve({
        rows: format === "csv" ? result.newlines - 1 : result.newlines,
        bytes: result.bytes,
        // From the request to the body's end, as the client saw it (its start-up excluded).
        seconds: result.seconds,
      });
    });
  });
}

async function bareScan(
  ledgerNumber: number,
  to: bigint,
): Promise<{ rows: number; bytes: number }> {
  let rows = 0;
  for await (const page of scanLedgerRange(ledger, {
    ledger: ledgerNumber,
    timestampFrom: 0n,
    timestampTo: to,
  })) {
    rows += page.length;
  }
  return { rows, bytes: 0 };
}

function figure(value: number, digits = 0): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function instant(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return `${iso.slice(0, -1)}${(ns % 1_000_000n).toString().padStart(6, "0")}Z`;
}

try {
  const deps: LedgerDeps = { db: database.db, secrets, ledger, caches: createMembershipCaches() };
  const org = await createOrg(deps, {
    name: "Bench export",
    slug: `bench-export-${runId.replace("_", "-")}`,
    currency: "EUR",
  });
  const ledgerNumber = org.pointsLedger;
  const finance = org.apiKeys.finance.token;
  const memberIds: string[] = [];
  for (let index = 0; index < wallets; index += 1) {
    const memberId = uuidV7(Date.now());
    await enroll(ledger, {
      orgId: org.org.id,
      ledger: ledgerNumber,
      memberId,
      welcomeBonusPoints: 0n,
    });
    memberIds.push(memberId);
  }
  const walletIds = memberIds.map((memberId) => walletAccountId(ledgerNumber, memberId));
  const issuance = controlAccountId(ledgerNumber, AccountCode.issuance);
  const idBase = BigInt(`0x${randomBytes(8).toString("hex")}`) << 64n;
  const loadStarted = process.hrtime.bigint();
  /** Loads transfers [first, end) in batches; the small run's range ends where it stops. */
  async function load(first: number, end: number): Promise<void> {
    for (let start = first; start < end; start += batchSize) {
      const batch = [];
      for (let index = start; index < Math.min(end, start + batchSize); index += 1) {
        batch.push({
          id: idBase | BigInt(index + 1),
          debit_account_id: issuance,
          credit_account_id: walletIds[index % wallets] as bigint,
          amount: BigInt(1 + (index % 97)),
          pending_id: 0n,
          user_data_128: uuidToU128(uuidV7(1_764_547_200_000 + index)),
          user_data_64: 1_999n,
          user_data_32: 0,
          timeout: 0,
          ledger: ledgerNumber,
          code: TransferCode.purchaseEarn,
          flags: 0,
          timestamp: 0n,
        });
      }
      const results = await ledger.createTransfers(batch);
      if (results.some((result) => result.status !== CreateTransferStatus.created)) {
        throw new Error("a loaded transfer was refused");
      }
    }
  }
  await load(0, rowsSmall);
  const small = (await ledgerCommitWatermark(ledger)) + 1n;
  await load(rowsSmall, rowsLarge);
  const large = (await ledgerCommitWatermark(ledger)) + 1n;
  const loadSeconds = Number(process.hrtime.bigint() - loadStarted) / 1e9;
  process.stdout.write(
    `Loaded ${figure(rowsLarge)} transfers over ${figure(wallets)} wallets into the embedded ` +
      `ledger (in memory) in ${figure(loadSeconds, 1)} s; node ${process.version}.\n\n`,
  );

  const lines: string[] = [];
  const header =
    "| run | rows | s | rows/s | vs bare scan | peak RSS MB | peak heap growth MB |\n" +
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |";
  for (const [label, end] of [
    [figure(rowsSmall), small],
    [figure(rowsLarge), large],
  ] as const) {
    const scan = await measure(() => bareScan(ledgerNumber, end));
    const row = (name: string, result: Measured) =>
      `| ${name} | ${figure(result.rows)} | ${figure(result.seconds, 2)} | ` +
      `${figure(result.rows / result.seconds)} | ` +
      `${figure(scan.seconds / result.seconds, 2)} | ${figure(result.rssPeakMb)} | ` +
      `${figure(result.heapGrowthPeakMb, 1)} |`;
    lines.push(row(`bare scan, ${label}`, scan));
    for (const format of ["ndjson", "csv"] as const) {
      const result = await measure(() => exportOverHttp(finance, format, instant(end)));
      if (result.rows !== scan.rows) {
        throw new Error(`${format} export returned ${result.rows} rows, the scan ${scan.rows}`);
      }
      lines.push(row(`HTTP ${format}, ${label} (${figure(result.bytes / 2 ** 20)} MB)`, result));
    }
  }
  process.stdout.write(`${header}\n${lines.join("\n")}\n`);
  process.stdout.write(
    "\n'vs bare scan' = the export's speed as a fraction of the bare scan's (rows/s ÷ rows/s).\n" +
      "Peaks without a forced GC include garbage V8 has not collected yet; the live heap below " +
      "does not.\n\n",
  );
  const live: string[] = [
    "| export (second pass) | live heap peak MB | samples | retained after it MB |",
    "| --- | ---: | ---: | ---: |",
  ];
  for (const [label, end] of [
    [figure(rowsSmall), small],
    [figure(rowsLarge), large],
  ] as const) {
    for (const format of ["ndjson", "csv"] as const) {
      const result = await measureLive(() => exportOverHttp(finance, format, instant(end)));
      live.push(
        `| HTTP ${format}, ${label} | ${figure(result.livePeakMb, 1)} | ${result.samples} | ` +
          `${figure(result.retainedMb, 1)} |`,
      );
    }
  }
  process.stdout.write(
    `${live.join("\n")}\n\nLive heap: heap in use after a full GC every ${liveSampleMs} ms ` +
      "during the export, above the heap before it.\n",
  );
} finally {
  await cleanUp();
}
