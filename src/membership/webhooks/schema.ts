/**
 * Postgres tables of outgoing webhooks: an org's subscriptions (`webhooks`), one delivery per
 * subscription and event (`webhook_deliveries`), and every attempt of a delivery
 * (`webhook_attempts`). Kept apart from store/schema.ts; drizzle.config.ts lists this file, so
 * one migration history covers it.
 *
 * The signing secret is stored encrypted (AES-256-GCM, store/crypto.ts, bound to the org and
 * webhook ids), never in clear: the API shows it once, at creation.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  customType,
  foreignKey,
  index,
  integer,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { orgs } from "../store/schema.ts";

const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType() {
    return "bytea";
  },
});

const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();

/** An org's subscription: where to POST which event types. Soft-deleted (`deleted_at`). */
export const webhooks = pgTable(
  "webhooks",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    url: text("url").notNull(),
    /** Event types (webhook-events.ts); checked by the API, not by an enum, so types can grow. */
    eventTypes: text("event_types").array().notNull(),
    description: text("description"),
    /** The signing key (the bytes after `whsec_`), encrypted; see store/crypto.ts. */
    secretEncrypted: bytea("secret_encrypted").notNull(),
    createdAt: createdAt(),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
  },
  (table) => [
    unique("webhooks_org_id_id_key").on(table.orgId, table.id),
    index("webhooks_org_id_live_idx")
      .on(table.orgId, table.createdAt)
      .where(sql`${table.deletedAt} is null`),
    check("webhooks_event_types_check", sql`cardinality(${table.eventTypes}) > 0`),
  ],
);

export const webhookDeliveryStatus = pgEnum("webhook_delivery_status", [
  "pending",
  "delivered",
  "dead",
]);

/**
 * One event to one webhook. `outbox_id` is the event's outbox row (its order); `event_id` the
 * `webhook-id` receivers de-duplicate by; `body` the exact bytes signed and sent on every
 * attempt. `schedule_step` counts failed attempts since the delivery was (re)started, and
 * `wakeups` numbers the queue jobs scheduled for it (their ids).
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: bigint("id", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    orgId: uuid("org_id").notNull(),
    webhookId: uuid("webhook_id").notNull(),
    outboxId: bigint("outbox_id", { mode: "bigint" }).notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    /** Null for events about no member: those are not ordered. */
    memberId: uuid("member_id"),
    body: text("body").notNull(),
    status: webhookDeliveryStatus("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    scheduleStep: integer("schedule_step").notNull().default(0),
    wakeups: integer("wakeups").notNull().default(0),
    firstAttemptAt: timestamp("first_attempt_at", { withTimezone: true }),
    lastAttemptAt: timestamp("last_attempt_at", { withTimezone: true }),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true }).notNull().defaultNow(),
    /** An attempt in flight holds the delivery until then; another worker leaves it alone. */
    leasedUntil: timestamp("leased_until", { withTimezone: true }),
    createdAt: createdAt(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("webhook_deliveries_webhook_id_outbox_id_key").on(table.webhookId, table.outboxId),
    index("webhook_deliveries_org_id_webhook_id_idx").on(table.orgId, table.webhookId, table.id),
    // The order rule's probe: an earlier pending delivery for the same webhook and member.
    index("webhook_deliveries_pending_member_idx")
      .on(table.webhookId, table.memberId, table.outboxId)
      .where(sql`${table.status} = 'pending'`),
    // The sweep's probe (workers/webhooks/sweep.ts): pending deliveries by due time.
    index("webhook_deliveries_pending_due_idx")
      .on(table.nextAttemptAt)
      .where(sql`${table.status} = 'pending'`),
    foreignKey({
      name: "webhook_deliveries_webhook_fk",
      columns: [table.orgId, table.webhookId],
      foreignColumns: [webhooks.orgId, webhooks.id],
    }),
    check("webhook_deliveries_attempts_check", sql`${table.attempts} >= 0`),
  ],
);

/** One POST of a delivery: its answer (or error), how long it took, and when the next one is. */
export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    id: bigint("id", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    orgId: uuid("org_id").notNull(),
    deliveryId: bigint("delivery_id", { mode: "bigint" })
      .notNull()
      .references(() => webhookDeliveries.id),
    attemptedAt: timestamp("attempted_at", { withTimezone: true }).notNull(),
    /** Null when no HTTP answer came (refused, timed out, address not allowed). */
    statusCode: integer("status_code"),
    durationMs: integer("duration_ms").notNull(),
    error: text("error"),
    /** Null when delivered, or when this attempt made the delivery dead. */
    nextRetryAt: timestamp("next_retry_at", { withTimezone: true }),
  },
  (table) => [
    index("webhook_attempts_delivery_id_idx").on(table.deliveryId, table.id),
    check("webhook_attempts_duration_ms_check", sql`${table.durationMs} >= 0`),
  ],
);
