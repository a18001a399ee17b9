/**
 * What the HTTP app is built from (`AppDeps`, assembled once in main.ts) and what each request
 * carries through its middleware (`AppEnv`).
 */
import assert from "node:assert/strict";
import type { Http2Bindings, HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { LedgerApi } from "../ledger/index.ts";
import type {
  ApiKeyPrincipal,
  AuditActor,
  Db,
  IntentMetrics,
  MembershipCaches,
  MembershipSecrets,
} from "../membership/index.ts";
import type { JobProducer } from "../workers/index.ts";
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
  /** MEMBER_TOKEN_TTL_SECONDS: lifetime of a member app token; default `memberTokenTtlSecondsDefault`. */
  memberTokenTtlSeconds?: number;
  /** Answer 503 when a handler has not answered within this long; default `requestDeadlineMs`. */
  requestDeadlineMs?: number;
  /** NODE_ENV: in production webhook URLs must be https. Default "development". */
  nodeEnv?: "development" | "test" | "production";
  /** WEBHOOK_ALLOW_PRIVATE: accept webhook URLs on loopback, private and link-local addresses. */
  webhookAllowPrivate?: boolean;
}

export interface AppDeps {
  /** The Postgres pool (drizzle). */
  db: Db;
  secrets: MembershipSecrets;
  /** MEMBER_TOKEN_SECRET: the HMAC-SHA256 key of member app tokens (JWT HS256), 32 bytes. */
  memberTokenSecret: Buffer;
  /** The ledger, as the use cases see it (instrumented by `countPostedTransfers` in main). */
  ledger: LedgerApi;
  /**
   * The pool's caches: one set per pool, so every app (and recovery) on `db` shares it; a fresh
   * set when absent.
   */
  caches?: MembershipCaches;
  /** The intent protocol's counters, on `metrics.registry`; built in createApp when absent. */
  intentMetrics?: IntentMetrics;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  options: HttpOptions;
  /** Wall clock for the use cases; real time when absent. Tests move it by hand. */
  clock?: () => Date;
  /**
   * Where routes enqueue work for the workers (src/workers/producer.ts); routes that need it
   * answer 503 when it is absent.
   */
  jobs?: JobProducer;
}

export interface AppEnv {
  /** Set when served by @hono/node-server (absent under `app.request` in tests). */
  Bindings: Partial<HttpBindings | Http2Bindings>;
  Variables: {
    requestId: string;
    /** The request's log context; `requestLogger(c)` gives its logger. */
    log: RequestLog;
    /** Set by `authenticate` on org-scoped routes. */
    principal: ApiKeyPrincipal;
    /** Set by `authenticateMember` on /v1/me routes: the member a member token speaks for. */
    memberPrincipal: MemberPrincipal;
  };
}

/**
 * A request's logger, made only when a line is written: most requests log nothing but their
 * access line, and a pino child per request (two, with the caller's org) costs more than the
 * rest of a cached read. Fields added by `bind` appear on every line written afterwards.
 */
export class RequestLog {
  readonly #root: Logger;
  readonly #bindings: Record<string, string>;
  #logger: Logger | undefined;

  constructor(root: Logger, requestId: string) {
    this.#root = root;
    this.#bindings = { requestId };
  }

  bind(fields: Record<string, string>): void {
    Object.assign(this.#bindings, fields);
    this.#logger = undefined;
  }

  get logger(): Logger {
    this.#logger ??= this.#root.child({ ...this.#bindings });
    return this.#logger;
  }

  /** The root logger and the bindings, for a line written without making a child. */
  get root(): Logger {
    return this.#root;
  }

  get bindings(): Readonly<Record<string, string>> {
    return this.#bindings;
  }
}

/** The request's logger: every line carries `requestId` (and the org and key once known). */
export function requestLogger(c: Context<AppEnv>): Logger {
  const log = c.get("log");
  assert.ok(log !== undefined, "observe runs first");
  return log.logger;
}

/** The member behind a member app token; only valid behind `authenticateMember`. */
export interface MemberPrincipal {
  orgId: string;
  memberId: string;
  /** The token's `jti`: what logout deny-lists. */
  tokenId: string;
  /** The token's `exp`, in seconds since the epoch. */
  expiresAtSeconds: number;
}

export function memberPrincipalOf(c: Context<AppEnv>): MemberPrincipal {
  const member = c.get("memberPrincipal");
  assert.ok(member !== undefined, "route is mounted behind authenticateMember");
  return member;
}

/** Who is calling; only valid behind `authenticate`. */
export function principalOf(c: Context<AppEnv>): ApiKeyPrincipal {
  const principal = c.get("principal");
  assert.ok(principal !== undefined, "route is mounted behind authenticate");
  return principal;
}

/** Who the audit log says acted: the caller's key, in this request. */
export function actorOf(c: Context<AppEnv>): AuditActor {
  return { keyId: principalOf(c).keyId, requestId: c.get("requestId") ?? null };
}
