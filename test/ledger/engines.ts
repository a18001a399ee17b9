/**
 * The engines the ledger conformance suite runs on, behind tigerbeetle-node's `Client`.
 *
 * - `embedded` always runs: the in-process engine, in memory, with a clock the tests move.
 * - `tigerbeetle` runs against a real TigerBeetle 0.17.9 when `TB_ADDRESS` is set (cluster id
 *   from `TB_CLUSTER_ID`, default 0), or when a Docker engine is available: then every test file
 *   starts its own single-replica cluster from the official image, pinned to the client's version.
 *   Otherwise the real engine is not registered at all (so it cannot show up as passing tests)
 *   and the reason is printed once per run.
 *
 * Batch limits: a `--development` replica shrinks requests to 32 KiB (253 create events), which
 * would make the 8189-event tests meaningless. The container is started with
 * `--development --experimental --limit-request=1MiB` (development only relaxes Direct IO and
 * cache sizes there); a cluster given through `TB_ADDRESS` must be started the same way, or
 * without `--development`, for the batch-limit tests to pass.
 *
 * Isolation: a real cluster cannot be truncated, so tests use fresh ids and ledgers. A container
 * is `exclusive` (only its test file writes to it, one test at a time); a `TB_ADDRESS` cluster is
 * shared with whatever else runs, so tests that need "nothing else writes between two of my
 * requests" (imported timestamps) are skipped there, with the reason in their title.
 */

import { lookup } from "node:dns/promises";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { StartedTestContainer } from "testcontainers";
import type { Client } from "tigerbeetle-node";
import { createClient } from "tigerbeetle-node";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createEmbeddedClient } from "../../src/ledger/embedded/index.ts";
import { resetAssertedStatuses } from "./builders.ts";

/** The server release the suite targets; the installed client must be the same release. */
const tigerBeetleVersion = "0.17.9";
export const tigerBeetleImage = `ghcr.io/tigerbeetle/tigerbeetle:${tigerBeetleVersion}`;

const clientVersion: unknown = createRequire(import.meta.url)(
  "tigerbeetle-node/package.json",
).version;
if (clientVersion !== tigerBeetleVersion) {
  throw new Error(
    `tigerbeetle-node ${String(clientVersion)} is installed, but the conformance suite targets ` +
      `${tigerBeetleVersion}: update the pinned version and re-check the semantics together`,
  );
}

/** The embedded clock starts here (2026-01-01T00:00:00Z), so runs are reproducible. */
export const embeddedClockStartNs = 1_767_225_600_000_000_000n;

/**
 * Real time cannot be moved, so `advanceSeconds` sleeps, plus this margin: TigerBeetle expires
 * pending transfers in a pulse that runs once the cluster is idle after the deadline.
 */
const realClockMarginMs = 500;

const containerPort = 3000;
// Below vitest's hook timeout, so a slow start reports the container's error, not the hook's.
const containerStartupTimeoutMs = 100_000;

export interface Harness {
  client: Client;
  /** Moves the embedded clock; on a real cluster, sleeps that long plus a margin. */
  advanceSeconds(seconds: number): Promise<void>;
  /** True when `advanceSeconds` moves a clock rather than waiting for real time to pass. */
  clockControlled: boolean;
  /** Another client of the same engine, for tests that must destroy one (the caller does). */
  spawnClient(): Client;
  close(): Promise<void>;
}

export interface Engine {
  name: string;
  kind: "embedded" | "tigerbeetle";
  /** True when nothing but the harness's own test file writes to the engine while it is open. */
  exclusive: boolean;
  open(): Promise<Harness>;
}

export interface EmbeddedHarness extends Harness {
  /** The engine's wall clock, in nanoseconds since the epoch. */
  clockNs(): bigint;
  /** Sets the clock; it never moves backwards. */
  setClockNs(nowNs: bigint): void;
}

/** Opens a fresh in-memory embedded engine whose clock only moves when a test moves it. */
export function openEmbedded(options: { clockStartNs?: bigint } = {}): EmbeddedHarness {
  let nowNs = options.clockStartNs ?? embeddedClockStartNs;
  const clock = (): bigint => nowNs;
  const client = createEmbeddedClient({ clock });
  const setClockNs = (next: bigint): void => {
    if (next < nowNs) {
      throw new Error(`the clock does not move backwards (${nowNs} to ${next})`);
    }
    nowNs = next;
  };
  return {
    client,
    clockControlled: true,
    advanceSeconds: async (seconds) => {
      if (!(seconds >= 0)) {
        throw new Error(`advanceSeconds needs a non-negative number, got ${seconds}`);
      }
      setClockNs(nowNs + BigInt(Math.round(seconds * 1e9)));
    },
    clockNs: clock,
    setClockNs,
    spawnClient: () => createEmbeddedClient({ clock }),
    close: () => client.close(),
  };
}

const embeddedEngine: Engine = {
  name: "embedded",
  kind: "embedded",
  exclusive: true,
  open: async () => openEmbedded(),
};

function openReal(address: string, clusterId: bigint, release: () => Promise<void>): Harness {
  const connect = (): Client =>
    createClient({ cluster_id: clusterId, replica_addresses: [address] });
  const client = connect();
  return {
    client,
    clockControlled: false,
    advanceSeconds: async (seconds) => {
      if (!(seconds >= 0)) {
        throw new Error(`advanceSeconds needs a non-negative number, got ${seconds}`);
      }
      await sleep(Math.ceil(seconds * 1000) + realClockMarginMs);
    },
    spawnClient: connect,
    close: async () => {
      client.destroy();
      await release();
    },
  };
}

function parseClusterId(value: string | undefined): bigint {
  if (value === undefined || value === "") {
    return 0n;
  }
  if (!/^[0-9]+$/.test(value)) {
    throw new Error(`TB_CLUSTER_ID must be a non-negative integer, got "${value}"`);
  }
  return BigInt(value);
}

/** Sockets a local Docker (or compatible) engine listens on, when DOCKER_HOST is not set. */
function dockerSocketCandidates(): string[] {
  const candidates = [
    "/var/run/docker.sock",
    join(homedir(), ".docker", "run", "docker.sock"),
    join(homedir(), ".docker", "desktop", "docker.sock"),
    join(homedir(), ".colima", "default", "docker.sock"),
  ];
  const runtimeDirectory = process.env.XDG_RUNTIME_DIR;
  if (runtimeDirectory !== undefined && runtimeDirectory !== "") {
    candidates.push(
      join(runtimeDirectory, "docker.sock"),
      join(runtimeDirectory, "podman", "podman.sock"),
    );
  }
  return candidates;
}

function dockerConfigured(): boolean {
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost !== undefined && dockerHost !== "") {
    return true;
  }
  return dockerSocketCandidates().some((path) => existsSync(path));
}

type Testcontainers = typeof import("testcontainers");

/**
 * One cluster per `open()`: formats a data file inside the container and starts a single
 * replica on it. The image's entrypoint is `tini -- /tigerbeetle` on Alpine, so a shell is
 * available to chain format and start in one container without a shared volume.
 */
function containerEngine(testcontainers: Testcontainers): Engine {
  return {
    name: "tigerbeetle",
    kind: "tigerbeetle",
    exclusive: true,
    open: async () => {
      const dataFile = "/tmp/0_0.tigerbeetle";
      const script = [
        `/tigerbeetle format --cluster=0 --replica=0 --replica-count=1 --development ${dataFile}`,
        "&& exec /tigerbeetle start --development --experimental --limit-request=1MiB",
        `--addresses=0.0.0.0:${containerPort} ${dataFile}`,
      ].join(" ");
      const container: StartedTestContainer = await new testcontainers.GenericContainer(
        tigerBeetleImage,
      )
        .withEntrypoint(["tini", "--", "/bin/sh", "-c"])
        .withCommand([script])
        .withExposedPorts(containerPort)
        // Docker 25+ blocks io_uring by default; TigerBeetle's Docker guide unconfines seccomp.
        .withSecurityOpt("seccomp=unconfined")
        .withAddedCapabilities("IPC_LOCK")
        .withWaitStrategy(testcontainers.Wait.forLogMessage(/listening on/))
        .withStartupTimeout(containerStartupTimeoutMs)
        .start();
      // TigerBeetle parses addresses as IP:port, not host names.
      const { address: hostAddress } = await lookup(container.getHost(), { family: 4 });
      const address = `${hostAddress}:${container.getMappedPort(containerPort)}`;
      return openReal(address, 0n, async () => {
        await container.stop();
      });
    },
  };
}

function addressEngine(address: string, clusterId: bigint): Engine {
  return {
    name: "tigerbeetle",
    kind: "tigerbeetle",
    exclusive: false,
    open: async () => openReal(address, clusterId, async () => {}),
  };
}

type RealEngineProbe = { available: true; engine: Engine } | { available: false; reason: string };

async function probeRealEngine(): Promise<RealEngineProbe> {
  const address = process.env.TB_ADDRESS;
  if (address !== undefined && address !== "") {
    return {
      available: true,
      engine: addressEngine(address, parseClusterId(process.env.TB_CLUSTER_ID)),
    };
  }
  if (!dockerConfigured()) {
    return { available: false, reason: "TB_ADDRESS is not set and no Docker engine was found" };
  }
  let testcontainers: Testcontainers;
  try {
    testcontainers = await import("testcontainers");
  } catch (error) {
    return {
      available: false,
      reason:
        `TB_ADDRESS is not set and testcontainers failed to load on Node ${process.versions.node} ` +
        `(${describeError(error)})`,
    };
  }
  try {
    await testcontainers.getContainerRuntimeClient();
  } catch (error) {
    return {
      available: false,
      reason: `TB_ADDRESS is not set and the Docker engine is not usable (${describeError(error)})`,
    };
  }
  return { available: true, engine: containerEngine(testcontainers) };
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Prints the skip reason once per vitest run: each test file runs in its own worker process,
 * all children of the same vitest process, so a marker named after that parent says whether a
 * sibling has printed it already.
 */
function announceSkipOnce(message: string): void {
  const markerDirectory = join(tmpdir(), "loyalty-ledger-conformance");
  mkdirSync(markerDirectory, { recursive: true });
  try {
    writeFileSync(join(markerDirectory, `skip-announced-${process.ppid}`), message, { flag: "wx" });
  } catch {
    return;
  }
  console.warn(message);
}

const realEngineProbe = await probeRealEngine();
if (!realEngineProbe.available) {
  announceSkipOnce(`real TigerBeetle: skipped — ${realEngineProbe.reason}`);
}

/** Why the real engine is not registered, or undefined when it is. */
export const realEngineSkipReason: string | undefined = realEngineProbe.available
  ? undefined
  : realEngineProbe.reason;

/** The engines every conformance file runs on: embedded first, then the real one if present. */
export const engines: readonly Engine[] = realEngineProbe.available
  ? [embeddedEngine, realEngineProbe.engine]
  : [embeddedEngine];

export interface EngineContext {
  engine: Engine;
  /** The open harness; only valid inside tests and hooks. */
  harness(): Harness;
}

/**
 * Registers `body` once per engine, in a describe block titled `topic [engine]` that opens the
 * engine before its tests and closes it after them.
 */
export function describeEngines(topic: string, body: (context: EngineContext) => void): void {
  for (const engine of engines) {
    describe(`${topic} [${engine.name}]`, () => {
      let opened: Harness | undefined;
      beforeAll(async () => {
        resetAssertedStatuses();
        opened = await engine.open();
      });
      afterAll(async () => {
        await opened?.close();
      });
      body({
        engine,
        harness: () => {
          if (opened === undefined) {
            throw new Error(`engine ${engine.name} is not open`);
          }
          return opened;
        },
      });
    });
  }
}

/**
 * Registers a test only where `runs` holds; elsewhere registers it as skipped with the reason in
 * its title, so the report says what did not run and why.
 */
export function itWhere(
  runs: boolean,
  reason: string,
  title: string,
  fn: () => Promise<void>,
): void {
  if (runs) {
    it(title, fn);
  } else {
    it.skip(`${title} (skipped: ${reason})`, fn);
  }
}
