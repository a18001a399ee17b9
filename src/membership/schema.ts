/**
 * Postgres tables owned by the membership module: orgs and their ledger numbers, API keys,
 * locations, members, tiers and tier history.
 *
 * Rules kept throughout: every org-owned table has `org_id`; every unique index on one includes
 * it (the single exception, `api_keys.hash`, is explained there); references between org-owned
 * rows go through composite `(org_id, id)` foreign keys, so the database itself refuses to link
 * a row to another org's row. Points are `bigint` in bigint mode, never floats.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  customType,
  foreignKey,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import type { OrgSettings } from "./settings.ts";

/** Raw bytes; postgres.js reads and writes bytea as a Node Buffer. */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType() {
    return "bytea";
  },
});

const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();

export const apiKeyRole = pgEnum("api_key_role", ["admin", "pos", "finance"]);
export const memberStatus = pgEnum("member_status", ["active", "suspended", "closed"]);

export const orgs = pgTable(
  "orgs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    /** URL-safe handle, unique across all orgs (orgs are not owned by an org). */
    slug: text("slug").notNull(),
    /** ISO 4217 code of the currency purchases are made in, e.g. "EUR". */
    currency: text("currency").notNull(),
    /** IANA zone used for calendar rules (day boundaries, birthdays), e.g. "Europe/Paris". */
    timezone: text("timezone").notNull().default("UTC"),
    /** Earning and hold defaults; integers only (see settings.ts). */
    settings: jsonb("settings").$type<OrgSettings>().notNull(),
    createdAt: createdAt(),
  },
  (table) => [
    uniqueIndex("orgs_slug_key").on(table.slug),
    check("orgs_currency_check", sql`${table.currency} ~ '^[A-Z]{3}$'`),
    check("orgs_slug_check", sql`${table.slug} ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'`),
  ],
);

/**
 * TigerBeetle ledger numbers, one per (org, unit). A ledger keeps an org's balances apart from
 * every other org's: TigerBeetle refuses transfers between accounts on different ledgers.
 * Numbers come from the identity sequence, start at 1 (0 is invalid in TigerBeetle) and are never
 * reused, even when an insert loses a race and leaves a gap. Rows are immutable once written.
 */
export const orgLedgers = pgTable(
  "org_ledgers",
  {
    /** The TigerBeetle `ledger` (u32); int4 keeps it within range, 2^31-1 numbers suffice. */
    ledger: integer("ledger")
      .primaryKey()
      .generatedAlwaysAsIdentity({ startWith: 1, minValue: 1, maxValue: 2_147_483_647 }),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    /** What one unit on this ledger counts: "points", or "stamps:<program id>". */
    unit: text("unit").notNull(),
    createdAt: createdAt(),
  },
  (table) => [
    uniqueIndex("org_ledgers_org_id_unit_key").on(table.orgId, table.unit),
    check("org_ledgers_unit_check", sql`${table.unit} ~ '^(points|stamps:[A-Za-z0-9_-]{1,64})$'`),
  ],
);

export const apiKeys = pgTable(
  "api_keys",
  {
    /** Public identifier, "key_" + random hex; safe to log. */
    id: text("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    role: apiKeyRole("role").notNull(),
    /** Label chosen by the org, e.g. "till 3". */
    name: text("name").notNull(),
    /** First characters of the token, shown to humans to tell keys apart; not a secret. */
    prefix: text("prefix").notNull(),
    /**
     * HMAC-SHA256 of the whole token under the server's API key secret, hex. The plaintext is
     * never stored. Unique across orgs because a request is resolved to its org by this hash.
     */
    hash: text("hash").notNull(),
    createdAt: createdAt(),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
    /** Refreshed at most once a minute, so authentication is not a write per request. */
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("api_keys_hash_key").on(table.hash),
    index("api_keys_org_id_idx").on(table.orgId),
  ],
);

export const locations = pgTable(
  "locations",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    /** The org's own identifier for the store or till group. */
    externalRef: text("external_ref").notNull(),
    name: text("name").notNull(),
    createdAt: createdAt(),
  },
  (table) => [
    uniqueIndex("locations_org_id_external_ref_key").on(table.orgId, table.externalRef),
    unique("locations_org_id_id_key").on(table.orgId, table.id),
  ],
);

export const tiers = pgTable(
  "tiers",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    name: text("name").notNull(),
    /** 0 is the entry tier every member starts in; higher is better. */
    rank: integer("rank").notNull(),
    /** Qualifying points needed to reach this tier. */
    qualifyingPointsMin: bigint("qualifying_points_min", { mode: "bigint" }).notNull(),
    /** Earning multiplier in basis points: 10000 = 1.0x, 12500 = 1.25x. Integers, never floats. */
    multiplierBps: integer("multiplier_bps").notNull(),
    createdAt: createdAt(),
  },
  (table) => [
    uniqueIndex("tiers_org_id_rank_key").on(table.orgId, table.rank),
    uniqueIndex("tiers_org_id_name_key").on(table.orgId, table.name),
    // Target of the composite foreign keys that keep a member's tier inside its org. A
    // constraint, not an index: drizzle-kit emits it inside CREATE TABLE, before the foreign keys.
    unique("tiers_org_id_id_key").on(table.orgId, table.id),
    check("tiers_rank_check", sql`${table.rank} >= 0`),
    check("tiers_qualifying_points_min_check", sql`${table.qualifyingPointsMin} >= 0`),
    check("tiers_multiplier_bps_check", sql`${table.multiplierBps} > 0`),
  ],
);

/**
 * Members. Personal data is encrypted per field (AES-256-GCM, layout in crypto.ts) with the
 * org, member id and column as associated data. The `*_hash` columns are keyed HMACs of the
 * normalised value, scoped to the org, for exact-match lookups.
 */
export const members = pgTable(
  "members",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    /** The org's identifier for the member, e.g. a card number. */
    externalRef: text("external_ref").notNull(),
    /** Current tier; the history is in member_tiers. */
    tierId: uuid("tier_id").notNull(),
    status: memberStatus("status").notNull().default("active"),
    emailEncrypted: bytea("email_encrypted"),
    phoneEncrypted: bytea("phone_encrypted"),
    firstNameEncrypted: bytea("first_name_encrypted"),
    lastNameEncrypted: bytea("last_name_encrypted"),
    emailHash: bytea("email_hash"),
    phoneHash: bytea("phone_hash"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("members_org_id_external_ref_key").on(table.orgId, table.externalRef),
    unique("members_org_id_id_key").on(table.orgId, table.id),
    index("members_org_id_email_hash_idx").on(table.orgId, table.emailHash),
    index("members_org_id_phone_hash_idx").on(table.orgId, table.phoneHash),
    foreignKey({
      name: "members_tier_fk",
      columns: [table.orgId, table.tierId],
      foreignColumns: [tiers.orgId, tiers.id],
    }),
  ],
);

/** Every tier a member has been given, in order; `members.tier_id` is the latest. */
export const memberTiers = pgTable(
  "member_tiers",
  {
    /** Identity, so history has a total order even within one transaction. */
    id: bigint("id", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    memberId: uuid("member_id").notNull(),
    tierId: uuid("tier_id").notNull(),
    /** Why the tier changed, e.g. "enrollment", "qualification", "manual". */
    reason: text("reason").notNull(),
    effectiveAt: timestamp("effective_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index("member_tiers_org_id_member_id_idx").on(table.orgId, table.memberId, table.id),
    foreignKey({
      name: "member_tiers_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    foreignKey({
      name: "member_tiers_tier_fk",
      columns: [table.orgId, table.tierId],
      foreignColumns: [tiers.orgId, tiers.id],
    }),
  ],
);
