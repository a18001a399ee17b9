/**
 * Prometheus metrics (prom-client), one registry per app so tests and processes never share
 * state: requests and their latency by route and status, and ledger transfers posted by code,
 * counted from the ledger's own answers rather than inferred from responses.
 */
import assert from "node:assert/strict";
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";
import type { Client, CreateTransferResult, Transfer } from "tigerbeetle-node";
import { CreateTransferStatus } from "tigerbeetle-node";
import { TransferCode } from "../ledger/index.ts";

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<"method" | "route" | "status">;
  httpRequestSeconds: Histogram<"method" | "route" | "status">;
  transfersPosted: Counter<"code">;
  rateLimitFailures: Counter;
}

/** Latency buckets in seconds: the targets sit around 1–50 ms. */
const latencyBucketsSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/**
 * @param options.processMetrics also collect Node's default process metrics (main only: they
 *   install an event-loop monitor that tests do not need).
 */
export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics === true) {
    collectDefaultMetrics({ register: registry });
  }
  return {
    registry,
    httpRequests: new Counter({
      name: "http_requests_total",
      help: "HTTP requests answered, by method, route template and status.",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    httpRequestSeconds: new Histogram({
      name: "http_request_duration_seconds",
      help: "Time from receiving a request to answering it, by method, route and status.",
      labelNames: ["method", "route", "status"],
      buckets: latencyBucketsSeconds,
      registers: [registry],
    }),
    transfersPosted: new Counter({
      name: "ledger_transfers_posted_total",
      help: "Ledger transfers created (status created), by transfer code.",
      labelNames: ["code"],
      registers: [registry],
    }),
    rateLimitFailures: new Counter({
      name: "rate_limit_redis_failures_total",
      help: "Requests let through because Redis could not be asked (the limiter fails open).",
      registers: [registry],
    }),
  };
}

/** The transfer code's name (`purchaseEarn`), or its number when it is not one of ours. */
function codeLabel(code: number): string {
  return TransferCode[code] ?? String(code);
}

/**
 * The same ledger client, counting every transfer the ledger answers `created` for. Retries
 * that answer `exists` are not counted, so the counter is the number of transfers posted.
 */
export function countPostedTransfers(client: Client, metrics: Metrics): Client {
  const createTransfers = async (batch: Transfer[]): Promise<CreateTransferResult[]> => {
    const results = await client.createTransfers(batch);
    // TigerBeetle 0.17 answers one result per event, in order.
    assert.equal(results.length, batch.length, "one result per transfer");
    for (const [index, result] of results.entries()) {
      const transfer = batch[index];
      if (result.status === CreateTransferStatus.created && transfer !== undefined) {
        metrics.transfersPosted.inc({ code: codeLabel(transfer.code) });
      }
    }
    return results;
  };
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === "createTransfers") {
        return createTransfers;
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
