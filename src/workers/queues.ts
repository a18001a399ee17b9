/**
 * Every queue of the workers, defined once: its name, the zod schema of its jobs' data, its job
 * options, and the job schedulers that feed it. Producers (HTTP, the relay, other processors)
 * and processors both read from here, so a job is validated where it is made and where it runs.
 *
 * Rules every queue keeps:
 * - every job's data names its org (`orgId`), or null for a platform-wide scheduler tick that
 *   fans out per org; the org admin routes list and retry only their own org's jobs by it;
 * - processors are idempotent: BullMQ delivers at least once (a worker that dies mid-job leaves
 *   it to be retried once its lock expires);
 * - retries are bounded, with exponential backoff, then the job stays in the failed set (kept for
 *   7 days), where an admin or operator can retry it.
 */
import type { JobsOptions } from "bullmq";
import { z } from "zod";

export const queueNames = [
  /** Scheduler tick: moves committed outbox rows to `events`, in id order. */
  "relay",
  /** One job per outbox row; runs the event handlers (webhook fan-out, tier and RFM updates). */
  "events",
  /** Webhook deliveries. */
  "webhooks",
  /** Asynchronous POS events (the inbox), processed in order per org. */
  "ingest",
  /** The daily downgrade sweep, and tier overrides ended at their expiry every minute. */
  "tiers",
  /** RFM rebuilds (nightly, on demand) and re-scores. */
  "rfm",
  /** The daily points expiry run. */
  "expiry",
  /** Ledger reconciliations (nightly, on demand). */
  "reconcile",
  /** Member imports: enrolls an import's staged rows in bounded batches. */
  "imports",
] as const;
export type QueueName = (typeof queueNames)[number];

export function isQueueName(name: string): name is QueueName {
  return (queueNames as readonly string[]).includes(name);
}

const uuid = z.uuid();
/** A platform-wide tick names no org; everything else names exactly one. */
const orgIdOrNull = uuid.nullable();

/**
 * The data of each queue's jobs. A queue that carries several kinds of job tells them apart by
 * the job's name; its schema is the union of their data, each carrying `orgId`.
 */
export const jobSchemas = {
  relay: z.object({ orgId: z.null() }).strict(),
  events: z
    .object({
      orgId: uuid,
      /** The outbox row's id, a decimal string (bigint identity). */
      outboxId: z.string().regex(/^[1-9][0-9]*$/),
      topic: z.string().min(1),
      memberId: uuid.nullable(),
      payload: z.record(z.string(), z.unknown()),
      /** When the row was committed, RFC 3339. */
      createdAt: z.string(),
    })
    .strict(),
  /** `deliver`: one attempt of a delivery (its org's); `sweep`: the platform-wide safety net. */
  webhooks: z
    .object({
      orgId: orgIdOrNull,
      deliveryId: z
        .string()
        .regex(/^[1-9][0-9]*$/)
        .optional(),
    })
    .strict(),
  /** `ingest` jobs name the org whose inbox to process; `sweep` ticks name none. */
  ingest: z.object({ orgId: orgIdOrNull }).strict(),
  tiers: z.object({ orgId: orgIdOrNull }).passthrough(),
  /**
   * `rfm-nightly` (the scheduler's tick, orgId null) fans out one `rfm-rebuild` per org;
   * `rfm-rebuild` rebuilds one org, nightly or asked for (POST /v1/rfm/rebuild).
   */
  rfm: z
    .object({ orgId: orgIdOrNull, reason: z.enum(["nightly", "on_demand"]).optional() })
    .strict()
    .refine((data) => (data.orgId === null) === (data.reason === undefined), {
      message: "a rebuild names its org and reason; the nightly tick neither",
    }),
  expiry: z.union([
    /** The daily tick: fans out one job per org with an expiry policy. */
    z.object({ orgId: z.null() }).strict(),
    /** One batch of an org's members (workers/expiry/processor.ts). */
    z
      .object({
        orgId: uuid,
        /** The run's reference time (ms since the epoch): the same for every batch of a run. */
        asOfMs: z.number().int().positive(),
        /** The last member of the previous batch; null for the first. */
        afterMemberId: uuid.nullable(),
      })
      .strict(),
  ]),
  reconcile: z.union([
    /** The nightly tick (job name `reconcile-tick`): fans out one run per org. */
    z.object({ orgId: z.null() }).strict(),
    /** One org's run (job name `reconcile-run`), recorded on its `reconciliations` row. */
    z.object({ orgId: uuid, reconciliationId: uuid }).strict(),
  ]),
  imports: z.union([
    /** The sweep's tick (job name `imports-sweep`): announces imports no job is running. */
    z.object({ orgId: z.null() }).strict(),
    /** One import's enrollment (job name `import`), a share of its batches per job. */
    z.object({ orgId: uuid, importId: uuid }).strict(),
  ]),
} satisfies Record<QueueName, z.ZodType<{ orgId: string | null }>>;

export type JobData<Q extends QueueName> = z.infer<(typeof jobSchemas)[Q]>;

const day = 24 * 60 * 60;

/** Bounded retries with exponential backoff; completed jobs kept an hour, failed ones a week. */
const standard: JobsOptions = {
  attempts: 5,
  backoff: { type: "exponential", delay: 1_000 },
  removeOnComplete: { age: 60 * 60, count: 10_000 },
  removeOnFail: { age: 7 * day },
};

export const jobOptions: Record<QueueName, JobsOptions> = {
  // A tick that fails is simply the next tick's work: no retries, nothing kept.
  relay: { attempts: 1, removeOnComplete: true, removeOnFail: { count: 100 } },
  events: { ...standard, attempts: 8 },
  webhooks: standard,
  ingest: standard,
  tiers: standard,
  rfm: standard,
  expiry: standard,
  // A run reads every document of an org: retry after the dependency had time to come back
  // (30 s, 1 min, 2 min), then the run is recorded failed.
  reconcile: { ...standard, attempts: 4, backoff: { type: "exponential", delay: 30_000 } },
  imports: standard,
};

/** The rfm queue's job names (the processor dispatches on them). */
export const rfmJobNames = { nightly: "rfm-nightly", rebuild: "rfm-rebuild" } as const;

/** How many jobs of each queue one worker process runs at once. */
export const queueConcurrency: Record<QueueName, number> = {
  relay: 1,
  events: 16,
  webhooks: 64,
  ingest: 4,
  tiers: 8,
  rfm: 2,
  expiry: 2,
  reconcile: 1,
  imports: 2,
};

export interface Schedule {
  /** The job scheduler's id: upserting it again at start changes nothing (idempotent). */
  id: string;
  queue: QueueName;
  /** The job name the processor dispatches on. */
  name: string;
  /** Every `everyMs` milliseconds, or at a cron `pattern` (UTC). */
  everyMs?: number;
  pattern?: string;
  data: { orgId: null } & Record<string, unknown>;
}

/** The tiers queue's daily job: apply due downgrades (upgrades run inline on events). */
export const tierDowngradesJob = "downgrades";
/** The tiers queue's job every minute: end the tier overrides whose expiry has passed. */
export const tierOverrideExpiriesJob = "override-expiries";
/** The tiers queue's job after a tier set's ladder or metric changed: re-evaluate its members. */
export const tierReevaluateJob = "reevaluate";

/** The imports queue's job names. */
export const importJobNames = { run: "import", sweep: "imports-sweep" } as const;

/** The job id of an import's first job: adding it again while it is stored is a no-op. */
export function importJobId(importId: string): string {
  return `import-${importId}`;
}

/** Repeatable work. Each stream of work adds its own entries. */
export const schedules: Schedule[] = [
  { id: "relay-outbox", queue: "relay", name: "relay", everyMs: 250, data: { orgId: null } },
  // Announces inbox events no job announced (Redis down when they were accepted).
  { id: "ingest-sweep", queue: "ingest", name: "sweep", everyMs: 1_000, data: { orgId: null } },
  // Wakes webhook deliveries whose job was lost (workers/webhooks/sweep.ts).
  {
    id: "webhooks-sweep",
    queue: "webhooks",
    name: "sweep",
    everyMs: 60_000,
    data: { orgId: null },
  },
  {
    id: "tiers-downgrades",
    queue: "tiers",
    name: tierDowngradesJob,
    pattern: "15 3 * * *",
    data: { orgId: null },
  },
  // An override is held until its expiry and not much longer: members return to their earned
  // tier within a minute of it (workers/tiers/override-expiries.ts).
  {
    id: "tiers-override-expiries",
    queue: "tiers",
    name: tierOverrideExpiriesJob,
    everyMs: 60_000,
    data: { orgId: null },
  },
  {
    id: "expiry-daily",
    queue: "expiry",
    name: "expiry-tick",
    pattern: "0 3 * * *",
    data: { orgId: null },
  },
  // Redemptions whose hold lapsed unresolved become `expired` (redemption.expired).
  {
    id: "redemption-holds",
    queue: "expiry",
    name: "redemption-holds",
    everyMs: 60_000,
    data: { orgId: null },
  },
  // 02:30 UTC: after the day's trade in most zones, before the morning's campaigns.
  {
    id: "rfm-nightly",
    queue: "rfm",
    name: rfmJobNames.nightly,
    pattern: "30 2 * * *",
    data: { orgId: null },
  },
  // Announces imports whose job was lost (Redis down when the file was accepted, a worker gone).
  {
    id: "imports-sweep",
    queue: "imports",
    name: importJobNames.sweep,
    everyMs: 30_000,
    data: { orgId: null },
  },
  {
    id: "reconcile-nightly",
    queue: "reconcile",
    name: "reconcile-tick",
    pattern: "30 2 * * *",
    data: { orgId: null },
  },
];
