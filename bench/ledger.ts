/**
 * Ledger benchmark: createTransfers throughput and latency, resident memory per transfer, and
 * the two read paths the service pages through (getAccountTransfers, queryTransfers).
 *
 *   npm run bench:ledger              full run (a few minutes at most on 2 cores)
 *   npm run bench:ledger -- --quick   smoke run with small counts
 *   TB_ADDRESS=3000 npm run bench:ledger   the same against a running TigerBeetle
 *
 * The data is shaped like a loyalty program: a few control accounts issue points to many member
 * wallets (`debits_must_not_exceed_credits | history`); every transfer carries the member id in
 * `user_data_128`, the purchase amount in minor units in `user_data_64`, and the store location in
 * `user_data_32`. Every loop is bounded by a count and by a time budget, and the run stops by
 * itself. Targets are printed next to the measured values; nothing fails on a miss.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { Account, Client, Transfer } from "tigerbeetle-node";
import {
  AccountFilterFlags,
  AccountFlags,
  CreateAccountStatus,
  CreateTransferStatus,
  id,
} from "tigerbeetle-node";
import { loadConfig } from "../src/config.ts";
import type { LedgerConfig } from "../src/ledger/index.ts";
import { createEmbeddedClient, createLedgerClient, ledgerLimits } from "../src/ledger/index.ts";

const usage = "usage: npm run bench:ledger [-- --quick]";
const args = process.argv.slice(2);
for (const arg of args) {
  if (arg !== "--quick") {
    process.stderr.write(`unknown argument ${arg}\n${usage}\n`);
    process.exit(2);
  }
}
const quick = args.includes("--quick");

interface Scale {
  name: string;
  wallets: number;
  controls: number;
  /** Measured requests per batch size (each case also stops at `caseSecondsMax`). */
  requests: Record<number, number>;
  caseSecondsMax: number;
  datasetTransfers: number;
  pagesRandom: number;
  queries: number;
}

const scale: Scale = quick
  ? {
      name: "quick",
      wallets: 1_000,
      controls: 10,
      requests: { 1: 500, 100: 100, [ledgerLimits.batchEventsMax]: 4 },
      caseSecondsMax: 5,
      datasetTransfers: 100_000,
      pagesRandom: 200,
      queries: 200,
    }
  : {
      name: "full",
      wallets: 10_000,
      controls: 10,
      requests: { 1: 10_000, 100: 1_000, [ledgerLimits.batchEventsMax]: 40 },
      caseSecondsMax: 15,
      datasetTransfers: 1_000_000,
      pagesRandom: 1_000,
      queries: 1_000,
    };
const batchSizes = [1, 100, ledgerLimits.batchEventsMax] as const;
const pageLimit = 100;
/** Unmeasured reads before each measured read loop, so the JIT has compiled the path. */
const readWarmups = 20;
const ledgerNumber = 1;
const codeWallet = 1;
const codeControl = 100;
const codeEarn = 1;
const locations = 100;

const targets = {
  memoryTransfersPerSecondMin: 300_000,
  dataFileTransfersPerSecondMin: 150_000,
  batchOneP99MsMax: 1,
  residentBytesPerTransferMax: 400,
  accountTransfersP99MsMax: 2,
  queryTransfersP99MsMax: 10,
};

const config = loadConfig();
const logger = pino({ level: "warn" });
const engines: Engine[] =
  config.ledger.address === undefined
    ? [
        { name: "in memory", kind: "memory" },
        { name: "data file", kind: "file" },
      ]
    : [{ name: `tigerbeetle ${config.ledger.address.join(",")}`, kind: "tigerbeetle" }];

interface Engine {
  name: string;
  kind: "memory" | "file" | "tigerbeetle";
}

interface Opened {
  client: Client;
  close: () => Promise<void>;
  fsyncs: () => number;
}

async function open(engine: Engine, ledger: LedgerConfig): Promise<Opened> {
  if (engine.kind === "tigerbeetle") {
    const client = await createLedgerClient(ledger, logger);
    return { client, close: () => client.close(), fsyncs: () => 0 };
  }
  if (engine.kind === "memory") {
    const client = createEmbeddedClient();
    return { client, close: () => client.close(), fsyncs: () => 0 };
  }
  const directory = mkdtempSync(join(tmpdir(), "ledger-bench-"));
  const client = createEmbeddedClient({ dataFile: join(directory, "ledger.tb") });
  return {
    client,
    close: async () => {
      try {
        await client.close();
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
    fsyncs: () => client.stats().fsyncs,
  };
}

// Ids start from a time-based u128 so repeated runs against one TigerBeetle never collide.
let idNext = id();
function nextId(): bigint {
  idNext += 1n;
  return idNext;
}

/** Small deterministic generator (mulberry32) so runs draw the same data. */
function createRandom(seed: number): (bound: number) => number {
  let state = seed >>> 0;
  return (bound) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % bound) >>> 0;
  };
}

interface Program {
  controls: bigint[];
  wallets: bigint[];
  memberIdBase: bigint;
  random: (bound: number) => number;
  sequence: number;
}

function account(accountId: bigint, code: number, flags: number): Account {
  return {
    id: accountId,
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    reserved: 0,
    ledger: ledgerNumber,
    code,
    flags,
    timestamp: 0n,
  };
}

async function createProgram(client: Client): Promise<Program> {
  const controls = Array.from({ length: scale.controls }, () => nextId());
  const wallets = Array.from({ length: scale.wallets }, () => nextId());
  const walletFlags = AccountFlags.debits_must_not_exceed_credits | AccountFlags.history;
  const accounts = [
    ...controls.map((accountId) => account(accountId, codeControl, AccountFlags.none)),
    ...wallets.map((accountId) => account(accountId, codeWallet, walletFlags)),
  ];
  for (let start = 0; start < accounts.length; start += ledgerLimits.batchEventsMax) {
    const batch = accounts.slice(start, start + ledgerLimits.batchEventsMax);
    const results = await client.createAccounts(batch);
    for (const result of results) {
      assert.equal(result.status, CreateAccountStatus.created, "account not created");
    }
  }
  return {
    controls,
    wallets,
    memberIdBase: (nextId() >> 32n) << 32n,
    random: createRandom(42),
    sequence: 0,
  };
}

/**
 * Points earned on a purchase: control account `sequence % controls` credits wallet
 * `sequence % wallets`, so every control account and every member gets an equal share.
 */
function earnTransfer(program: Program): Transfer {
  const sequence = program.sequence;
  program.sequence += 1;
  const walletIndex = sequence % program.wallets.length;
  const controlIndex = sequence % program.controls.length;
  const spendMinor = BigInt(100 + program.random(50_000));
  const points = spendMinor / 100n;
  const debit = program.controls[controlIndex];
  const credit = program.wallets[walletIndex];
  assert.ok(debit !== undefined && credit !== undefined, "account index in range");
  return {
    id: nextId(),
    debit_account_id: debit,
    credit_account_id: credit,
    amount: points,
    pending_id: 0n,
    user_data_128: program.memberIdBase + BigInt(walletIndex),
    user_data_64: spendMinor,
    user_data_32: 1 + program.random(locations),
    timeout: 0,
    ledger: ledgerNumber,
    code: codeEarn,
    flags: 0,
    timestamp: 0n,
  };
}

function earnBatch(program: Program, size: number): Transfer[] {
  return Array.from({ length: size }, () => earnTransfer(program));
}

async function post(client: Client, batch: Transfer[]): Promise<void> {
  const results = await client.createTransfers(batch);
  assert.equal(results.length, batch.length, "one result per transfer");
  for (const result of results) {
    if (result.status !== CreateTransferStatus.created) {
      throw new Error(`transfer not created: ${CreateTransferStatus[result.status]}`);
    }
  }
}

function percentileMs(durationsNs: number[], fraction: number): number {
  assert.ok(durationsNs.length > 0, "percentile of no samples");
  const sorted = [...durationsNs].sort((left, right) => left - right);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return (sorted[index] ?? 0) / 1e6;
}

async function timed<T>(durationsNs: number[], action: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const value = await action();
  durationsNs.push(Number(process.hrtime.bigint() - start));
  return value;
}

// ---------------------------------------------------------------------------------------------
// Throughput and latency of createTransfers.

interface ThroughputRow {
  engine: string;
  batch: number;
  requests: number;
  transfersPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  fsyncsPerRequest: number | undefined;
  target: string;
  error?: string;
}

async function measureThroughput(engine: Engine, batch: number): Promise<ThroughputRow> {
  const opened = await open(engine, config.ledger);
  const row: ThroughputRow = {
    engine: engine.name,
    batch,
    requests: 0,
    transfersPerSecond: 0,
    p50Ms: 0,
    p99Ms: 0,
    fsyncsPerRequest: undefined,
    target: "",
  };
  try {
    const program = await createProgram(opened.client);
    const requestsMax = scale.requests[batch] ?? 0;
    assert.ok(requestsMax > 0, "a request count for every batch size");
    // Warm the JIT and the engine's tables before measuring.
    const warmup = Math.min(20, Math.ceil(requestsMax / 10));
    for (let request = 0; request < warmup; request++) {
      await post(opened.client, earnBatch(program, batch));
    }
    const fsyncsBefore = opened.fsyncs();
    const durationsNs: number[] = [];
    const deadline = performance.now() + scale.caseSecondsMax * 1000;
    // Throughput counts the time spent inside createTransfers, not building the batches.
    let busyNs = 0;
    for (let request = 0; request < requestsMax && performance.now() < deadline; request++) {
      const transfers = earnBatch(program, batch);
      await timed(durationsNs, () => post(opened.client, transfers));
      busyNs += durationsNs[durationsNs.length - 1] ?? 0;
    }
    row.requests = durationsNs.length;
    row.transfersPerSecond = (durationsNs.length * batch) / (busyNs / 1e9);
    row.p50Ms = percentileMs(durationsNs, 0.5);
    row.p99Ms = percentileMs(durationsNs, 0.99);
    if (engine.kind === "file") {
      row.fsyncsPerRequest = (opened.fsyncs() - fsyncsBefore) / durationsNs.length;
    }
  } catch (error) {
    row.error = error instanceof Error ? error.message : String(error);
  } finally {
    await opened.close();
  }
  row.target = throughputTarget(engine, row);
  return row;
}

function verdict(ok: boolean): string {
  return ok ? "met" : "MISSED";
}

function throughputTarget(engine: Engine, row: ThroughputRow): string {
  if (row.batch === 1 && engine.kind === "memory") {
    return `p99 <= ${targets.batchOneP99MsMax} ms: ${verdict(row.p99Ms <= targets.batchOneP99MsMax)}`;
  }
  if (row.batch === ledgerLimits.batchEventsMax && engine.kind === "memory") {
    const minimum = targets.memoryTransfersPerSecondMin;
    return `>= ${count(minimum)}/s: ${verdict(row.transfersPerSecond >= minimum)}`;
  }
  if (row.batch === ledgerLimits.batchEventsMax && engine.kind === "file") {
    const minimum = targets.dataFileTransfersPerSecondMin;
    return `>= ${count(minimum)}/s: ${verdict(row.transfersPerSecond >= minimum)}`;
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Resident memory per transfer, then the read paths on the same data set.

interface MemorySample {
  residentBytes: number;
  heapBytes: number;
}

function sampleMemory(): MemorySample {
  assert.ok(globalThis.gc !== undefined, "run with --expose-gc (npm run bench:ledger does)");
  globalThis.gc();
  globalThis.gc();
  const usage = process.memoryUsage();
  return { residentBytes: usage.rss, heapBytes: usage.heapUsed + usage.external };
}

interface DatasetRow {
  measurement: string;
  value: string;
  target: string;
}

async function measureDataset(engine: Engine): Promise<DatasetRow[]> {
  const rows: DatasetRow[] = [];
  const opened = await open(engine, config.ledger);
  try {
    const program = await createProgram(opened.client);
    const total = scale.datasetTransfers;
    const measureMemory = engine.kind === "memory";
    const memoryBefore = measureMemory ? sampleMemory() : undefined;
    const loadStart = performance.now();
    for (let loaded = 0; loaded < total; ) {
      const size = Math.min(ledgerLimits.batchEventsMax, total - loaded);
      await post(opened.client, earnBatch(program, size));
      loaded += size;
    }
    const loadSeconds = (performance.now() - loadStart) / 1000;
    rows.push({
      measurement: `load ${count(total)} transfers (batches of ${ledgerLimits.batchEventsMax})`,
      value: `${count(total / loadSeconds)}/s`,
      target: "",
    });
    if (memoryBefore !== undefined) {
      const memoryAfter = sampleMemory();
      const bytesPerTransfer = (memoryAfter.residentBytes - memoryBefore.residentBytes) / total;
      const heapPerTransfer = (memoryAfter.heapBytes - memoryBefore.heapBytes) / total;
      const maximum = targets.residentBytesPerTransferMax;
      rows.push({
        measurement: `resident memory per transfer at ${count(total)} transfers (RSS delta after gc)`,
        value: `${bytesPerTransfer.toFixed(0)} bytes (heap + external: ${heapPerTransfer.toFixed(0)})`,
        target: `<= ${maximum} bytes: ${verdict(bytesPerTransfer <= maximum)}`,
      });
    }
    rows.push(...(await measureAccountTransfers(opened.client, program)));
    rows.push(...(await measureQueryTransfers(opened.client, program)));
  } finally {
    await opened.close();
  }
  return rows;
}

async function measureAccountTransfers(client: Client, program: Program): Promise<DatasetRow[]> {
  const control = program.controls[0];
  assert.ok(control !== undefined, "a control account");
  const expected = Math.ceil(scale.datasetTransfers / program.controls.length);
  const filter = {
    account_id: control,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: pageLimit,
    flags: AccountFilterFlags.debits | AccountFilterFlags.credits,
  };

  for (let warmup = 0; warmup < readWarmups; warmup++) {
    await client.getAccountTransfers({
      ...filter,
      flags: filter.flags | AccountFilterFlags.reversed,
    });
  }

  // Every page from the oldest, moving timestamp_min past the last transfer seen.
  const sequentialNs: number[] = [];
  const pagesMax = Math.ceil(expected / pageLimit) + 1;
  let seen = 0;
  let first = 0n;
  let last = 0n;
  for (let page = 0, timestampMin = 0n; page < pagesMax; page++) {
    const transfers = await timed(sequentialNs, () =>
      client.getAccountTransfers({ ...filter, timestamp_min: timestampMin }),
    );
    const tail = transfers[transfers.length - 1];
    if (tail === undefined) {
      break;
    }
    if (seen === 0) {
      first = transfers[0]?.timestamp ?? 0n;
    }
    seen += transfers.length;
    last = tail.timestamp;
    timestampMin = tail.timestamp + 1n;
    if (transfers.length < pageLimit) {
      break;
    }
  }
  assert.equal(seen, expected, "paging returns every transfer of the account once");

  // Pages starting at random points of the account's history.
  const randomNs: number[] = [];
  const random = createRandom(7);
  const span = Number(last - first);
  for (let page = 0; page < scale.pagesRandom; page++) {
    const offset = BigInt(Math.floor((random(1_000_000) / 1_000_000) * span));
    const transfers = await timed(randomNs, () =>
      client.getAccountTransfers({ ...filter, timestamp_min: first + offset }),
    );
    assert.ok(transfers.length <= pageLimit, "a page holds at most its limit");
  }

  const maximum = targets.accountTransfersP99MsMax;
  const describe = (ns: number[]) =>
    `p50 ${percentileMs(ns, 0.5).toFixed(3)} ms, p99 ${percentileMs(ns, 0.99).toFixed(3)} ms`;
  const meets = (ns: number[]) =>
    `p99 <= ${maximum} ms: ${verdict(percentileMs(ns, 0.99) <= maximum)}`;
  return [
    {
      measurement: `getAccountTransfers, ${count(expected)} transfers, limit ${pageLimit}, every page in order (${sequentialNs.length})`,
      value: describe(sequentialNs),
      target: meets(sequentialNs),
    },
    {
      measurement: `getAccountTransfers, same account, random pages (${randomNs.length})`,
      value: describe(randomNs),
      target: meets(randomNs),
    },
  ];
}

async function measureQueryTransfers(client: Client, program: Program): Promise<DatasetRow[]> {
  const perMember = Math.floor(scale.datasetTransfers / program.wallets.length);
  const random = createRandom(11);
  const filter = (member: bigint) => ({
    user_data_128: member,
    user_data_64: 0n,
    user_data_32: 0,
    ledger: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: pageLimit,
    flags: 0,
  });
  // The embedded engine indexes transfers for queryTransfers lazily: the first query after the
  // load indexes all of them. Reported on its own line, then excluded from the percentiles.
  const firstNs: number[] = [];
  await timed(firstNs, () => client.queryTransfers(filter(program.memberIdBase)));
  for (let warmup = 0; warmup < readWarmups; warmup++) {
    await client.queryTransfers(filter(program.memberIdBase + BigInt(warmup)));
  }
  const durationsNs: number[] = [];
  for (let query = 0; query < scale.queries; query++) {
    const member = program.memberIdBase + BigInt(random(program.wallets.length));
    const transfers = await timed(durationsNs, () => client.queryTransfers(filter(member)));
    assert.ok(transfers.length >= Math.min(perMember, pageLimit), "every match up to the limit");
  }
  const p99 = percentileMs(durationsNs, 0.99);
  const maximum = targets.queryTransfersP99MsMax;
  return [
    {
      measurement: `queryTransfers, first query after the load (indexes all ${count(scale.datasetTransfers)} transfers)`,
      value: `${((firstNs[0] ?? 0) / 1e6).toFixed(1)} ms`,
      target: "",
    },
    {
      measurement: `queryTransfers on user_data_128 (~${perMember} of ${count(scale.datasetTransfers)} match), limit ${pageLimit} (${durationsNs.length})`,
      value: `p50 ${percentileMs(durationsNs, 0.5).toFixed(3)} ms, p99 ${p99.toFixed(3)} ms`,
      target: `p99 <= ${maximum} ms: ${verdict(p99 <= maximum)}`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Output.

function count(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(" | ")} |`;
  console.log(line(headers));
  console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
  for (const row of rows) {
    console.log(line(row));
  }
  console.log("");
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `Ledger benchmark (${scale.name}): node ${process.version}, ${cpus().length} CPUs, ` +
      `${scale.wallets.toLocaleString("en-US")} wallets, ${scale.controls} control accounts\n`,
  );

  // The data set goes first, in a fresh process: resident memory measured after other cases
  // would hide growth inside heap pages V8 kept from them. The read paths run on the first
  // engine: in memory, or TigerBeetle when TB_ADDRESS is set.
  const datasetEngine = engines[0];
  assert.ok(datasetEngine !== undefined, "at least one engine");
  console.log(`Data set of ${count(scale.datasetTransfers)} transfers, ${datasetEngine.name}`);
  const datasetRows = await measureDataset(datasetEngine);
  printTable(
    ["measurement", "value", "target"],
    datasetRows.map((row) => [row.measurement, row.value, row.target]),
  );
  if (datasetEngine.kind === "tigerbeetle") {
    console.log("Resident memory per transfer is measured on the embedded engine only.\n");
  }
  const throughputRows: ThroughputRow[] = [];
  for (const engine of engines) {
    for (const batch of batchSizes) {
      throughputRows.push(await measureThroughput(engine, batch));
    }
  }
  console.log("createTransfers, one request in flight");
  printTable(
    ["engine", "batch", "requests", "transfers/s", "p50 ms", "p99 ms", "fsyncs/req", "target"],
    throughputRows.map((row) =>
      row.error === undefined
        ? [
            row.engine,
            String(row.batch),
            count(row.requests),
            count(row.transfersPerSecond),
            row.p50Ms.toFixed(3),
            row.p99Ms.toFixed(3),
            row.fsyncsPerRequest === undefined ? "" : row.fsyncsPerRequest.toFixed(2),
            row.target,
          ]
        : [row.engine, String(row.batch), "", "", "", "", "", `failed: ${row.error}`],
    ),
  );

  console.log(`Finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
