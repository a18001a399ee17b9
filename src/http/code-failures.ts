/**
 * The brake on guessing promo codes: failed redemptions (`code_not_found`) are counted in Redis
 * per member and per API key, in a fixed window; once either count reaches `failuresMax`, further
 * redemptions of that member or by that key are refused with 429 until the window ends.
 * Successes are not counted, so a till redeeming many valid codes is never slowed down.
 *
 * Fails OPEN like the request rate limit (rate-limit.ts): when Redis cannot answer, the attempt
 * goes through uncounted. Codes guard promotional points, each at most once per member, and the
 * request rate limit still bounds the attempts; refusing every redemption while a cache is down
 * would be the larger harm.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { ApiError } from "./errors.ts";

export interface CodeFailureLimiter {
  /** Throws 429 (with Retry-After) when any subject used up its failures in this window. */
  check(subjects: readonly string[]): Promise<void>;
  /** Counts one failure against every subject. */
  recordFailure(subjects: readonly string[]): Promise<void>;
}

/** Failed redemptions allowed per member, and per API key, in one window. */
export const codeFailuresMax = 10;
export const codeFailureWindowSeconds = 60;

const countScript = `
local count = redis.call("INCR", KEYS[1])
if count == 1 or redis.call("PTTL", KEYS[1]) < 0 then
  redis.call("PEXPIRE", KEYS[1], ARGV[1])
end
return count
`;

export function createCodeFailureLimiter(
  redis: Redis,
  options: { keyPrefix: string; failuresMax?: number; windowSeconds?: number },
): CodeFailureLimiter {
  const failuresMax = options.failuresMax ?? codeFailuresMax;
  const windowMs = (options.windowSeconds ?? codeFailureWindowSeconds) * 1000;
  assert.ok(Number.isSafeInteger(failuresMax) && failuresMax > 0, "failuresMax is positive");
  assert.ok(Number.isSafeInteger(windowMs) && windowMs > 0, "the window is positive");
  const keyOf = (subject: string) => `${options.keyPrefix}code-failures:${subject}`;
  return {
    async check(subjects) {
      let retryAfterSeconds = 0;
      try {
        for (const subject of subjects) {
          const key = keyOf(subject);
          const [count, ttlMs] = await Promise.all([redis.get(key), redis.pttl(key)]);
          if (count !== null && Number(count) >= failuresMax) {
            retryAfterSeconds = Math.max(retryAfterSeconds, Math.max(1, Math.ceil(ttlMs / 1000)));
          }
        }
      } catch {
        return;
      }
      if (retryAfterSeconds > 0) {
        throw new ApiError(
          429,
          "rate_limited",
          `too many failed code redemptions; retry in ${retryAfterSeconds} s`,
          { limit: failuresMax, reset_seconds: retryAfterSeconds },
          { "Retry-After": String(retryAfterSeconds) },
        );
      }
    },
    async recordFailure(subjects) {
      try {
        for (const subject of subjects) {
          await redis.eval(countScript, 1, keyOf(subject), windowMs);
        }
      } catch {
        // Fails open (see the module header): the failure is simply not counted.
      }
    },
  };
}
