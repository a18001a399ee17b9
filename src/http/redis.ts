/**
 * The Redis client of the HTTP edge, configured once for the server and for the benchmark that
 * measures it. The request path must fail fast when Redis is down (the rate limit then lets
 * requests through), never queue commands until it returns: no offline queue, one attempt per
 * command, a short command timeout. Concurrent requests' rate-limit calls share one socket
 * write (auto-pipelining): a write costs far more than the command it carries.
 */
import { Redis } from "ioredis";
import { redisCommandTimeoutMs } from "./limits.ts";

const connectTimeoutMs = 5_000;
const reconnectDelayMsMax = 2_000;
const reconnectDelayMsPerAttempt = 200;

/** Not connected yet (`lazyConnect`): the caller decides whether a failed connect is fatal. */
export function createEdgeRedis(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: redisCommandTimeoutMs,
    connectTimeout: connectTimeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * reconnectDelayMsPerAttempt, reconnectDelayMsMax),
  });
}
