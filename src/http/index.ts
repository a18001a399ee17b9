/** The HTTP module's public surface, for main.ts (and the benchmark). */
export { createApp } from "./app.ts";
export type { AppDeps, AppEnv, HttpOptions } from "./env.ts";
export { sweepIdempotencyKeys } from "./idempotency.ts";
export * as httpLimits from "./limits.ts";
export type { Metrics } from "./metrics.ts";
export { countPostedTransfers, createMetrics } from "./metrics.ts";
export { serveOperations } from "./operations-server.ts";
export { createEdgeRedis } from "./redis.ts";
