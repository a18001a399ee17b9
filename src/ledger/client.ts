/**
 * Opens the ledger: a real TigerBeetle cluster when addresses are configured, otherwise the
 * embedded engine on a local data file. Both satisfy tigerbeetle-node's `Client`, so nothing
 * above this module knows which one it talks to.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import type { Client } from "tigerbeetle-node";
import { createClient } from "tigerbeetle-node";
import { withDeadline } from "./deadline.ts";
import { createEmbeddedClient } from "./embedded/index.ts";
import { connectTimeoutMsDefault, connectTimeoutMsMax, replicaAddressesMax } from "./limits.ts";

/** The slice of configuration the ledger needs. */
export interface LedgerConfig {
  /** TigerBeetle replica addresses (`3000`, `127.0.0.1:3000`); absent = embedded engine. */
  address?: string[];
  /** TigerBeetle cluster id (u128). */
  clusterId: bigint;
  /** Journal of the embedded engine; ignored when `address` is set. */
  dataFile: string;
}

/** How operators name this ledger: the settings that chose it. */
export function ledgerLabel(config: LedgerConfig): string {
  return config.address === undefined
    ? `LEDGER_DATA_FILE=${config.dataFile}`
    : `TB_ADDRESS=${config.address.join(",")} TB_CLUSTER_ID=${config.clusterId}`;
}

export interface LedgerClientOptions {
  /** Bound on TigerBeetle's first answer; default `connectTimeoutMsDefault`. */
  connectTimeoutMs?: number;
  /** Bound on every later request's answer; default `requestTimeoutMsDefault` (deadline.ts). */
  requestTimeoutMs?: number;
}

/** A ledger client that can also be shut down cleanly. */
export interface LedgerClient extends Client {
  /**
   * Releases the client. The embedded engine flushes, fsyncs and unlocks its data file; the
   * TigerBeetle client is destroyed (requests still in flight reject with ERR_CLIENT_CLOSED).
   * Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Opens the ledger chosen by `config` and logs which engine it uses.
 *
 * With `config.address` it connects to TigerBeetle and proves the cluster answers before
 * returning: the real client retries a refused connection forever (printing its own
 * `warning(message_bus)` lines), so a wrong address would otherwise hang the first request.
 *
 * @example
 * const ledger = await createLedgerClient(config.ledger, logger);
 * await ledger.createAccounts([...]);
 * await ledger.close();
 */
export async function createLedgerClient(
  config: LedgerConfig,
  logger: Logger,
  options: LedgerClientOptions = {},
): Promise<LedgerClient> {
  const connectTimeoutMs = options.connectTimeoutMs ?? connectTimeoutMsDefault;
  assert.ok(Number.isInteger(connectTimeoutMs), "connectTimeoutMs must be an integer");
  assert.ok(connectTimeoutMs > 0, "connectTimeoutMs must be positive");
  assert.ok(connectTimeoutMs <= connectTimeoutMsMax, "connectTimeoutMs exceeds its bound");
  assert.ok(config.clusterId >= 0n, "cluster id is a u128");
  assert.ok(config.clusterId < 2n ** 128n, "cluster id is a u128");

  const deadline =
    options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs };

  if (config.address === undefined) {
    assert.ok(config.dataFile.length > 0, "the embedded engine needs a data file");
    return withDeadline(openEmbedded(config.dataFile, logger), deadline);
  }
  assert.ok(config.address.length > 0, "an empty address list means the embedded engine");
  assert.ok(config.address.length <= replicaAddressesMax, "too many replica addresses");
  const client = await connectTigerBeetle(
    config.clusterId,
    config.address,
    connectTimeoutMs,
    logger,
  );
  // Every request after the first answer is bounded too: see deadline.ts.
  return withDeadline(client, deadline);
}

function openEmbedded(dataFile: string, logger: Logger): LedgerClient {
  // A fresh checkout has no ./data directory; creating it here keeps `npm start` one command.
  mkdirSync(dirname(dataFile), { recursive: true });
  const client = createEmbeddedClient({ dataFile });
  logger.info({ engine: "embedded", dataFile }, "ledger opened");
  return client;
}

async function connectTigerBeetle(
  clusterId: bigint,
  addresses: string[],
  connectTimeoutMs: number,
  logger: Logger,
): Promise<LedgerClient> {
  const where = addresses.join(",");
  let client: Client;
  try {
    client = createClient({ cluster_id: clusterId, replica_addresses: addresses });
  } catch (error) {
    throw new Error(`TigerBeetle client rejected TB_ADDRESS=${where}: ${errorMessage(error)}`, {
      cause: error,
    });
  }

  // Any id will do: looking up an account that does not exist is a cheap round trip that only
  // succeeds once a replica has answered.
  const probeAccountId = 1n;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), connectTimeoutMs);
  });
  const probe = client.lookupAccounts([probeAccountId]);
  // After a timeout, destroy() rejects the probe with ERR_CLIENT_CLOSED; nobody awaits it then.
  probe.catch(() => undefined);
  let outcome: Awaited<typeof probe> | "timeout";
  try {
    outcome = await Promise.race([probe, timeout]);
  } catch (error) {
    client.destroy();
    throw new Error(`TigerBeetle at ${where} (cluster ${clusterId}): ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
  if (outcome === "timeout") {
    client.destroy();
    throw new Error(
      `TigerBeetle at ${where} (cluster ${clusterId}) did not answer within ` +
        `${connectTimeoutMs} ms. Is it running and reachable? Check TB_ADDRESS.`,
    );
  }
  assert.ok(Array.isArray(outcome), "lookupAccounts answers with an array");

  logger.info({ engine: "tigerbeetle", addresses, clusterId: String(clusterId) }, "ledger opened");
  const destroy = client.destroy;
  return {
    ...client,
    close: async () => destroy(),
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
