/**
 * Postgres tables owned by the HTTP edge: the `Idempotency-Key` records. Kept apart from the
 * membership schema because they store HTTP responses, which the domain knows nothing about;
 * drizzle.config.ts lists both files, so one migration history covers them.
 */
import { sql } from "drizzle-orm";
import {
  check,
  customType,
  index,
  integer,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from "drizzle-orm/pg-core";
// The one table an idempotency record belongs to. The membership index does not export tables,
// and the foreign key needs the table object; this is the only reach into the module's files.
import { orgs } from "../membership/store/schema.ts";

const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType() {
    return "bytea";
  },
});

/** `in_flight`: the first request with the key is running; `completed`: its answer is stored. */
export const idempotencyState = pgEnum("idempotency_state", ["in_flight", "completed"]);

/**
 * One row per (org, Idempotency-Key). A request inserts it `in_flight` before running; a 2xx
 * answer is stored and replayed to every retry until `expires_at`; any other answer deletes the
 * row, so a failed request can be retried with the same key (errors have no effect to protect).
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** The calling key's org; null for platform calls (`POST /v1/orgs`). */
    orgId: uuid("org_id").references(() => orgs.id),
    /** The client's `Idempotency-Key` header, 1..255 printable ASCII characters. */
    key: text("key").notNull(),
    /** SHA-256 (hex) of method, path and body: the same key with another request is a 409. */
    requestHash: text("request_hash").notNull(),
    state: idempotencyState("state").notNull(),
    /** While `in_flight`: after this a crashed request's key may be taken over by its retry. */
    lockedUntil: timestamp("locked_until", { withTimezone: true }).notNull(),
    responseStatus: integer("response_status"),
    /**
     * The stored JSON answer, encrypted with the field key (AES-256-GCM, bound to org and key):
     * answers carry personal data and, for new orgs, API keys, which are never kept in clear.
     */
    responseBody: bytea("response_body"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    /** After this the record is ignored and swept; the key may then name a new request. */
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  },
  (table) => [
    // NULLS NOT DISTINCT: platform keys (org_id null) are unique among themselves too.
    unique("idempotency_keys_org_id_key_key").on(table.orgId, table.key).nullsNotDistinct(),
    index("idempotency_keys_expires_at_idx").on(table.expiresAt),
    check(
      "idempotency_keys_completed_check",
      sql`(${table.state} = 'completed') = (${table.responseStatus} is not null and ${table.responseBody} is not null)`,
    ),
    check("idempotency_keys_key_check", sql`length(${table.key}) between 1 and 255`),
  ],
);
