/** Redis helpers of the tests: the shared server's URL and cleanup of a test's own key prefix. */
import type { Redis } from "ioredis";

export const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/** Keys one cleanup SCAN batch asks for. */
const scanCount = 500;
/** SCAN iterations before cleanup gives up: far more than a test file ever writes. */
const scanIterationsMax = 10_000;

/** Deletes every key under `prefix`, bounded. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  for (let iteration = 0; iteration < scanIterationsMax; iteration += 1) {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", scanCount);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
    cursor = next;
    if (cursor === "0") {
      return;
    }
  }
  throw new Error(`could not clean Redis prefix ${prefix}`);
}
