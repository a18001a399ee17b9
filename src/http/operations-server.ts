/**
 * The small HTTP server of a workers-only process (`npm run start:workers`): no API, only what
 * an orchestrator and Prometheus ask of it. `/health` is liveness (asks nothing); `/ready` asks
 * Postgres, the ledger and Redis, all three required here (a worker without Redis has no jobs);
 * `/metrics` is the process's registry (job durations, failures, queue depth).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { LedgerApi } from "../ledger/index.ts";
import type { Db } from "../membership/index.ts";
import type { Metrics } from "./metrics.ts";
import { checkReadiness } from "./readiness.ts";

export interface OperationsServerDeps {
  port: number;
  host: string;
  metrics: Metrics;
  redis: Redis;
  db: Db;
  ledger: LedgerApi;
  logger: Logger;
}

export function serveOperations(
  deps: OperationsServerDeps,
  listening: (info: { address: string; port: number }) => void,
): Server {
  const server = createServer((request, response) => {
    const send = (status: number, body: string, type = "application/json") => {
      response.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      response.end(body);
    };
    if (request.method !== "GET") {
      send(405, JSON.stringify({ error: { code: "method_not_allowed", message: "GET only" } }));
      return;
    }
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/health") {
      send(200, JSON.stringify({ status: "ok" }));
    } else if (path === "/ready") {
      checkReadiness(deps).then(
        (readiness) => {
          const ready = readiness.ready && readiness.checks.redis === "up";
          send(
            ready ? 200 : 503,
            JSON.stringify({ status: ready ? "ready" : "not_ready", checks: readiness.checks }),
          );
        },
        () => send(503, JSON.stringify({ status: "not_ready" })),
      );
    } else if (path === "/metrics") {
      deps.metrics.registry.metrics().then(
        (text) => send(200, text, deps.metrics.registry.contentType),
        () => send(500, "metrics unavailable\n", "text/plain"),
      );
    } else {
      send(404, JSON.stringify({ error: { code: "route_not_found", message: "no such route" } }));
    }
  });
  server.listen(deps.port, deps.host, () => {
    const address = server.address() as AddressInfo;
    listening({ address: address.address, port: address.port });
  });
  return server;
}
