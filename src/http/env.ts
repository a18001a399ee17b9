/**
 * What the HTTP app is built from (`AppDeps`, assembled once in main.ts) and what each request
 * carries through its middleware (`AppEnv`).
 */
import assert from "node:assert/strict";
import type { Context } from "hono";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Client } from "tigerbeetle-node";
import type { ApiKeyPrincipal, Db, MembershipSecrets } from "../membership/index.ts";
import type { Metrics } from "./metrics.ts";

export interface HttpOptions {
  /** Bearer token of `POST /v1/orgs`; undefined disables that route (403). */
  platformToken: string | undefined;
  rateLimit: { requests: number; windowSeconds: number };
  /** Prepended to every Redis key; tests use a unique one per file. */
  redisKeyPrefix: string;
  /** Shown in the OpenAPI document. */
  version: string;
  /** How long an authenticated key is cached; 0 asks Postgres on every request. */
  apiKeyCacheTtlMs: number;
}

export interface AppDeps {
  /** The Postgres pool (drizzle). */
  db: Db;
  secrets: MembershipSecrets;
  /** The ledger, as the use cases see it (instrumented by `countPostedTransfers` in main). */
  ledger: Client;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  options: HttpOptions;
  /** Wall clock for the use cases; real time when absent. Tests move it by hand. */
  clock?: () => Date;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    /** The request's logger: every line carries `requestId`. */
    logger: Logger;
    /** Set by `authenticate` on org-scoped routes. */
    principal: ApiKeyPrincipal;
  };
}

/** Who is calling; only valid behind `authenticate`. */
export function principalOf(c: Context<AppEnv>): ApiKeyPrincipal {
  const principal = c.get("principal");
  assert.ok(principal !== undefined, "route is mounted behind authenticate");
  return principal;
}
