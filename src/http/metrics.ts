/**
 * Prometheus metrics (prom-client), one registry per app so tests and processes never share
 * state: requests and their latency by route and status, and the ledger client's counters
 * (src/ledger/metrics.ts).
 */
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";
import { createLedgerMetrics } from "../ledger/index.ts";

/** The ledger client's instrumentation lives in the ledger module; main applies it. */
export { countPostedTransfers } from "../ledger/index.ts";

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
    transfersPosted: createLedgerMetrics(registry).transfersPosted,
    rateLimitFailures: new Counter({
      name: "rate_limit_redis_failures_total",
      help: "Requests let through because Redis could not be asked (the limiter fails open).",
      registers: [registry],
    }),
  };
}
