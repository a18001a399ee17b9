/**
 * Readiness: can this process serve requests now? Each dependency is asked something cheap
 * under a deadline; one that does not answer in time is down. Liveness (`/health`) asks
 * nothing: a process whose database is down is alive and must not be restarted for it.
 *
 * Postgres and the ledger are required: without either no org route can answer. Redis is only
 * reported: it carries the rate limit alone, which fails open, so an instance without Redis still
 * serves every request correctly and must stay in the load balancer.
 */
import { sql } from "drizzle-orm";
import type { AppDeps } from "./env.ts";
import { readinessTimeoutMs } from "./limits.ts";

export type DependencyName = "postgres" | "redis" | "ledger";
export type DependencyStatus = "up" | "down";

/** What `ready` depends on; Redis is reported beside them but not required. */
export const requiredDependencies: readonly DependencyName[] = ["postgres", "ledger"];

export interface Readiness {
  ready: boolean;
  checks: Record<DependencyName, DependencyStatus>;
}

/** Resolves with `up` when `probe` settles successfully within the deadline, else `down`. */
async function probeWithin(
  probe: () => Promise<unknown>,
  timeoutMs: number,
  onFailure: (error: unknown) => void,
): Promise<DependencyStatus> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([probe(), deadline]);
    return "up";
  } catch (error) {
    onFailure(error);
    return "down";
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(
  deps: Pick<AppDeps, "db" | "redis" | "ledger" | "logger">,
): Promise<Readiness> {
  const report = (name: DependencyName) => (error: unknown) => {
    deps.logger.warn({ err: error, dependency: name }, "readiness check failed");
  };
  const [postgres, redis, ledger] = await Promise.all([
    probeWithin(() => deps.db.execute(sql`select 1`), readinessTimeoutMs, report("postgres")),
    probeWithin(() => deps.redis.ping(), readinessTimeoutMs, report("redis")),
    // Any id will do: the answer (found or not) proves the ledger serves lookups.
    probeWithin(() => deps.ledger.lookupAccounts([1n]), readinessTimeoutMs, report("ledger")),
  ]);
  const checks = { postgres, redis, ledger };
  return { ready: requiredDependencies.every((name) => checks[name] === "up"), checks };
}
