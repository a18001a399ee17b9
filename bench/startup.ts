/**
 * Start-up benchmark: how long the built service (`node dist/main.js`, what `npm start` runs)
 * takes from process start to its first 200 on `/ready`, on an existing, migrated database and
 * an existing embedded-ledger data file: the restart an operator or an orchestrator waits for.
 *
 *   npm run bench:startup              7 measured starts (after one warm-up), median printed
 *   npm run bench:startup -- --runs 3
 *   npm run bench:startup -- --tsx     the same, running the TypeScript sources through tsx
 *
 * Builds dist/ first when it is missing or stale. A database, data directory and Redis key
 * prefix of its own, removed at the end; listens on 127.0.0.1 only. Each start is stopped with
 * SIGTERM and must exit 0 before the next. The target (1.5 s) is printed beside the median;
 * nothing fails on a miss.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/membership/index.ts";
import { openAdminClient, quoteIdentifier, withDatabaseName } from "../src/membership/store/db.ts";
import {
  buildIfStale,
  freePort,
  startProcess,
  waitForReady,
} from "../test/support/service-process.ts";

const usage = "usage: npm run bench:startup [-- --runs <n>] [--tsx]";
const targetMs = 1_500;
const readyDeadlineMs = 60_000;
const runsMax = 100;
/** USER_HZ: the unit of /proc/<pid>/stat's CPU times; 100 on every Linux build in use. */
const clockTicksPerSecond = 100;

const args = process.argv.slice(2);
let runs = 7;
let viaTsx = false;
for (let index = 0; index < args.length; index++) {
  const arg = args[index];
  if (arg === "--runs" && /^[0-9]+$/.test(args[index + 1] ?? "")) {
    runs = Number(args[index + 1]);
    index += 1;
  } else if (arg === "--tsx") {
    viaTsx = true;
  } else {
    process.stderr.write(`unknown argument ${arg}\n${usage}\n`);
    process.exit(2);
  }
}
if (runs < 1 || runs > runsMax) {
  process.stderr.write(`--runs must be in 1..${runsMax}\n`);
  process.exit(2);
}

const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const databaseName = `loyalty_bench_startup_${randomBytes(4).toString("hex")}`;
const directory = mkdtempSync(join(tmpdir(), "loyalty-bench-startup-"));
const command = viaTsx
  ? ["--max-semi-space-size=64", "--import", "tsx", "src/main.ts"]
  : ["--max-semi-space-size=64", "dist/main.js"];

interface Start {
  wallMs: number;
  /** CPU time (user + system) the service process had used when it was ready; Linux only. */
  cpuMs: number | undefined;
}

/** utime + stime of a process from /proc/<pid>/stat, in ms; undefined where there is no /proc. */
function cpuTimeMs(pid: number | undefined): number | undefined {
  if (pid === undefined) {
    return undefined;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start at its closing paren.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicksPerSecond : undefined;
  } catch {
    return undefined;
  }
}

async function startOnce(port: number): Promise<Start> {
  const startedAt = performance.now();
  const service = startProcess(process.execPath, command, {
    NODE_ENV: "development",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: withDatabaseName(serverUrl, databaseName),
    LEDGER_DATA_FILE: join(directory, "ledger.tb"),
    REDIS_KEY_PREFIX: `bench-startup-${process.pid}:`,
  });
  let ready: Start | undefined;
  let failure: unknown;
  try {
    await waitForReady(service, port, readyDeadlineMs);
    ready = { wallMs: performance.now() - startedAt, cpuMs: cpuTimeMs(service.child.pid) };
  } catch (error) {
    failure = error;
  }
  service.child.kill("SIGTERM");
  const exit = await service.exited;
  if (ready === undefined || exit.code !== 0) {
    throw new Error(`the service exited with ${exit.code ?? exit.signal}:\n${service.output()}`, {
      cause: failure,
    });
  }
  return ready;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function main(): Promise<void> {
  if (!viaTsx) {
    buildIfStale();
  }
  // The existing database: created and migrated before the first measured start.
  const database = await openDatabase({
    url: withDatabaseName(serverUrl, databaseName),
    poolMax: 1,
    statementTimeoutMs: 30_000,
    applicationName: "loyalty-bench-startup",
  });
  await database.close();
  const port = await freePort();
  // The warm-up start creates the data file and the development secrets: not counted.
  await startOnce(port);
  const measured: number[] = [];
  const cpu: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = await startOnce(port);
    measured.push(start.wallMs);
    if (start.cpuMs !== undefined) {
      cpu.push(start.cpuMs);
    }
    process.stdout.write(
      `start ${run + 1}/${runs}: ready in ${Math.round(start.wallMs)} ms` +
        `${start.cpuMs === undefined ? "" : ` (${Math.round(start.cpuMs)} ms of CPU)`}\n`,
    );
  }
  const result = median(measured);
  const [load1 = 0] = loadavg();
  process.stdout.write(
    `\n${viaTsx ? "tsx src/main.ts" : "node dist/main.js"}: start to /ready, median of ${runs}: ` +
      `${Math.round(result)} ms (target ≤ ${targetMs} ms: ${result <= targetMs ? "met" : "missed"}); ` +
      `load average ${load1.toFixed(1)} on ${availableParallelism()} cores\n`,
  );
  if (cpu.length === runs) {
    // Wall time grows with whatever else the machine runs; the CPU the start-up needs does not.
    process.stdout.write(`CPU time to /ready, median: ${Math.round(median(cpu))} ms\n`);
  }
}

try {
  await main();
} finally {
  rmSync(directory, { recursive: true, force: true });
  const admin = openAdminClient(serverUrl, "loyalty-bench-startup");
  await admin.unsafe(`drop database if exists ${quoteIdentifier(databaseName)} with (force)`);
  await admin.end();
}
