/**
 * What every processor receives: the use cases' dependencies (the same Postgres pool, ledger and
 * caches as the HTTP side of the process, or its own in a workers-only process), a logger, the
 * producer for follow-up jobs, and the workers' options from configuration.
 */
import type { Logger } from "pino";
import type { LedgerDeps } from "../membership/index.ts";
import type { JobProducer } from "./producer.ts";
import type { WebhookDelivery } from "./webhooks/deliver.ts";

export interface WorkerOptions {
  nodeEnv: "development" | "test" | "production";
  /**
   * WEBHOOK_RETRY_DELAYS_MS: the delays between webhook delivery attempts, overriding the
   * standard schedule (tests use milliseconds). Null: the standard schedule.
   */
  webhookRetryDelaysMs: readonly number[] | null;
  /** WEBHOOK_ALLOW_PRIVATE: deliver to loopback, private and link-local addresses (tests). */
  webhookAllowPrivate: boolean;
}

export interface WorkerDeps extends LedgerDeps {
  logger: Logger;
  producer: JobProducer;
  options: WorkerOptions;
  /** The webhook HTTP client and coalesced statements (`createWebhookDelivery`), one per process. */
  webhookDelivery: WebhookDelivery;
}
