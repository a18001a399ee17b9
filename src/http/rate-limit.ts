/**
 * Per-API-key rate limit in Redis: a fixed window counted by one Lua script (INCR, and PEXPIRE
 * on the window's first request), so the count and its expiry are set atomically in one round
 * trip and a crash can never leave a counter without an expiry.
 *
 * Fails OPEN: when Redis cannot answer, the request goes through, a counter records it and a
 * warning is logged (at most every `failureLogIntervalMs`). The limit protects capacity from a
 * runaway client; it guards no money and no data, which Postgres and the ledger protect on their
 * own. Refusing every till's purchases because a cache is down would turn a Redis outage into a
 * sales outage. `/ready` reports Redis as down, so the operator is told.
 */
import { createHash } from "node:crypto";

import type { Context, MiddlewareHandler } from "hono";
import type { Redis } from "ioredis";
import type { AppEnv } from "./env.ts";
import { principalOf, requestLogger } from "./env.ts";
import { ApiError } from "./errors.ts";
import type { Metrics } from "./metrics.ts";
import { setResponseHeader } from "./middleware.ts";

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets (at least 1). */
  resetSeconds: number;
}

export interface RateLimiter {
  /** Counts one request of `subject` and decides; rejects when Redis cannot answer. */
  hit(subject: string): Promise<RateLimitDecision>;
}

const fixedWindowScript = `
local count = redis.call("INCR", KEYS[1])
if count == 1 then
  redis.call("PEXPIRE", KEYS[1], ARGV[1])
end
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then
  redis.call("PEXPIRE", KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

/** Warnings about Redis failures are logged at most this often, not once per request. */
const fixedWindowSha = createHash("sha1").update(fixedWindowScript).digest("hex");

const failureLogIntervalMs = 10_000;

export function createRateLimiter(
  redis: Redis,
  options: { keyPrefix: string; requests: number; windowSeconds: number },
): RateLimiter {
  const windowMs = options.windowSeconds * 1000;
  return {
    async hit(subject) {
      const key = `${options.keyPrefix}ratelimit:${subject}`;
      // EVALSHA sends 40 bytes instead of the script; EVAL once if Redis has not seen it yet.
      const reply = await redis
        .evalsha(fixedWindowSha, 1, key, windowMs)
        .catch((error: unknown) => {
          if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
            return redis.eval(fixedWindowScript, 1, key, windowMs);
          }
          throw error;
        });
      if (!Array.isArray(reply) || typeof reply[0] !== "number" || typeof reply[1] !== "number") {
        throw new Error("unexpected rate limit script reply");
      }
      const [count, ttlMs] = reply as [number, number];
      return {
        allowed: count <= options.requests,
        limit: options.requests,
        remaining: Math.max(0, options.requests - count),
        resetSeconds: Math.max(1, Math.ceil(ttlMs / 1000)),
      };
    },
  };
}

/**
 * Mount after `authenticate`: the limit is per API key. The member app's routes pass their own
 * `subjectOf` (per member, `member:<id>`, a name no key id can take).
 */
export function rateLimit(
  limiter: RateLimiter,
  metrics: Metrics,
  subjectOf: (c: Context<AppEnv>) => string = (c) => principalOf(c).keyId,
): MiddlewareHandler<AppEnv> {
  let lastFailureLogMs = 0;
  return async (c, next) => {
    const subject = subjectOf(c);
    let decision: RateLimitDecision;
    try {
      decision = await limiter.hit(subject);
    } catch (error) {
      metrics.rateLimitFailures.inc();
      const now = Date.now();
      if (now - lastFailureLogMs >= failureLogIntervalMs) {
        lastFailureLogMs = now;
        requestLogger(c).warn(
          { err: error },
          "rate limit unavailable (Redis); letting requests through",
        );
      }
      return next();
    }
    const headers: Record<string, string> = {
      "RateLimit-Limit": String(decision.limit),
      "RateLimit-Remaining": String(decision.remaining),
      "RateLimit-Reset": String(decision.resetSeconds),
    };
    if (!decision.allowed) {
      throw new ApiError(
        429,
        "rate_limited",
        `rate limit of ${decision.limit} requests exceeded; retry in ${decision.resetSeconds} s`,
        { limit: decision.limit, reset_seconds: decision.resetSeconds },
        { ...headers, "Retry-After": String(decision.resetSeconds) },
      );
    }
    const set = Object.entries(headers).map(([name, value]) => setResponseHeader(c, name, value));
    await next();
    for (const header of set) {
      header.after();
    }
    return undefined;
  };
}
