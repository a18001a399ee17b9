/**
 * Tables of points expiry (docs: README "Points expiry"): the expiry documents, each an intent
 * of the intent protocol like adjustments, and the record of `points.expiring` notices sent.
 * Kept beside schema.ts (and listed in drizzle.config.ts) so expiry owns its own file.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  date,
  foreignKey,
  index,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { intentStatus, members, orgs } from "./schema.ts";

/**
 * One expiry of a member's points by the daily run: the source document of the balancing debit
 * wallet → breakage. At most one per (member, run date): that pair is the idempotency key, and
 * the transfer id is derived from it, so a run repeated the same day posts nothing new.
 */
export const expiries = pgTable(
  "expiries",
  {
    /** A UUIDv7 of the recording time, carried in the transfer's `user_data_128`. */
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    memberId: uuid("member_id").notNull(),
    /** The run's UTC day, "YYYY-MM-DD". */
    runDate: date("run_date", { mode: "string" }).notNull(),
    /** The policy that decided it: "inactivity" or "lots". */
    policy: text("policy").notNull(),
    /** Points due when the run computed it (never more than the available balance then). */
    points: bigint("points", { mode: "bigint" }).notNull(),
    /**
     * Points the ledger actually moved (a balancing debit never takes more than is available;
     * the member may have spent some since), once posted; null while pending.
     */
    expiredPoints: bigint("expired_points", { mode: "bigint" }),
    status: intentStatus("status").notNull().default("pending"),
    /** The ledger's reason when `status` is `failed`; null otherwise. */
    failureReason: text("failure_reason"),
    /** Decimal string of the deterministic u128 transfer id. */
    transferId: text("transfer_id").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    postedAt: timestamp("posted_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("expiries_org_id_member_id_run_date_key").on(
      table.orgId,
      table.memberId,
      table.runDate,
    ),
    index("expiries_pending_idx").on(table.createdAt).where(sql`${table.status} = 'pending'`),
    foreignKey({
      name: "expiries_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    check("expiries_points_check", sql`${table.points} > 0`),
    check(
      "expiries_expired_points_check",
      sql`${table.expiredPoints} is null or (${table.expiredPoints} >= 0 and ${table.expiredPoints} <= ${table.points})`,
    ),
    check("expiries_policy_check", sql`${table.policy} in ('inactivity', 'lots')`),
  ],
);

/**
 * `points.expiring` notices already sent: one per (member, expiry day), written in the same
 * transaction as the notice's outbox row, so a run repeated the same day sends none again.
 */
export const expiryNotices = pgTable(
  "expiry_notices",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    memberId: uuid("member_id").notNull(),
    /** The UTC day the points expire on. */
    expiresOn: date("expires_on", { mode: "string" }).notNull(),
    /** Points announced (those expiring that day when the notice was sent). */
    points: bigint("points", { mode: "bigint" }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.orgId, table.memberId, table.expiresOn] }),
    foreignKey({
      name: "expiry_notices_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    check("expiry_notices_points_check", sql`${table.points} > 0`),
  ],
);
