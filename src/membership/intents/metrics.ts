/**
 * The intent protocol's Prometheus counters, registered on the registry the composition root
 * gives (one per app or process, so tests never share state).
 */
import { Counter, type Registry } from "prom-client";
import type { IntentMetrics } from "../deps.ts";

/**
 * @example
 * const intentMetrics = createIntentMetrics(metrics.registry);
 * const deps: LedgerDeps = { db, secrets, ledger, intentMetrics };
 */
export function createIntentMetrics(registry: Registry): IntentMetrics {
  // Apps built on one registry (a process's, a test's) share the counters rather than clash.
  const failed = counterOf(registry, {
    name: "loyalty_intents_failed_total",
    help: "Documents the ledger refused for good, moved to the terminal failed state, by table and reason.",
    labelNames: ["table", "reason"],
  });
  const deferred = counterOf(registry, {
    name: "loyalty_intent_marks_deferred_total",
    help: "Documents the ledger accepted whose posted mark could not be written at once (recovery writes it).",
    labelNames: ["table"],
  });
  return {
    intentFailed: (table, reason) => failed.inc({ table, reason }),
    markDeferred: (table) => deferred.inc({ table }),
  };
}

function counterOf<Label extends string>(
  registry: Registry,
  configuration: { name: string; help: string; labelNames: readonly Label[] },
): Counter<Label> {
  const existing = registry.getSingleMetric(configuration.name);
  if (existing !== undefined) {
    return existing as Counter<Label>;
  }
  return new Counter({ ...configuration, registers: [registry] });
}
