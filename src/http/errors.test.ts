/**
 * The error mapping: every domain code has a status, dependencies that cannot serve are 503,
 * and anything else is a 500 whose message reveals nothing, logged with what happened.
 */
import { Writable } from "node:stream";
import { HTTPException } from "hono/http-exception";
import { pino } from "pino";
import postgres from "postgres";
import { describe, expect, it } from "vitest";
import { DomainError, domainErrorCodes } from "../membership/index.ts";
import { ApiError, domainErrorStatus, errorResponse, isDependencyUnavailable } from "./errors.ts";

function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString("utf8")) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

describe("errorResponse", () => {
  it("maps every domain code to a 4xx status and keeps code, message and details", () => {
    const { logger } = capturingLogger();
    for (const code of domainErrorCodes) {
      const status = domainErrorStatus[code];
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(500);
      const response = errorResponse(new DomainError(code, "why", { field: "x" }), logger);
      expect(response.status).toBe(status);
      expect(response.body).toEqual({ error: { code, message: "why", details: { field: "x" } } });
    }
    expect(domainErrorStatus.not_found).toBe(404);
    expect(domainErrorStatus.insufficient_points).toBe(422);
    expect(domainErrorStatus.refund_exceeds_purchase).toBe(422);
  });

  it("answers 500 with a generic message for a bug, and logs the real one", () => {
    const { logger, lines } = capturingLogger();
    const response = errorResponse(new Error("SELECT secret FROM internals failed"), logger);
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ error: { code: "internal_error", message: "internal error" } });
    expect(JSON.stringify(lines)).toContain("SELECT secret FROM internals failed");
  });

  it("answers 503 when Postgres or the ledger cannot serve, however deeply wrapped", () => {
    const { logger } = capturingLogger();
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const wrapped = new Error("Failed query", { cause: new Error("driver", { cause: refused }) });
    expect(isDependencyUnavailable(wrapped)).toBe(true);
    expect(errorResponse(wrapped, logger).status).toBe(503);
    const shutdown = Object.create(postgres.PostgresError.prototype) as Error & { code: string };
    shutdown.code = "57P01";
    expect(isDependencyUnavailable(shutdown)).toBe(true);
    const closed = Object.assign(new Error("Client was closed."), { code: "ERR_CLIENT_CLOSED" });
    expect(isDependencyUnavailable(closed)).toBe(true);
    expect(isDependencyUnavailable(new Error("plain"))).toBe(false);
    expect(isDependencyUnavailable("not an error")).toBe(false);
  });

  it("stops looking after a bounded number of causes", () => {
    let error: Error = Object.assign(new Error("deep"), { code: "ECONNREFUSED" });
    for (let depth = 0; depth < 10; depth += 1) {
      error = new Error(`wrap ${depth}`, { cause: error });
    }
    expect(isDependencyUnavailable(error)).toBe(false);
  });

  it("keeps the edge's own errors and Hono's as they are", () => {
    const { logger } = capturingLogger();
    const limited = errorResponse(
      new ApiError(429, "rate_limited", "slow down", undefined, { "Retry-After": "3" }),
      logger,
    );
    expect(limited).toMatchObject({ status: 429, headers: { "Retry-After": "3" } });
    expect(errorResponse(new HTTPException(400, { message: "x" }), logger).body.error.code).toBe(
      "malformed_json",
    );
    expect(errorResponse(new HTTPException(415), logger).status).toBe(415);
  });
});
