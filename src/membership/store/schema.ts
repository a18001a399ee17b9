/**
 * Postgres tables owned by the membership module: orgs and their ledger numbers, API keys,
 * locations, members, tiers and tier history; stamp programs and cards; the ledger-backed
 * documents (purchases and refunds, redemptions, adjustments), the outbox, and the inbox of
 * events sent in for asynchronous processing.
 *
 * Rules kept throughout: every org-owned table has `org_id`; every unique index on one includes
 * it (the single exception, `api_keys.hash`, is explained there); references between org-owned
 * rows go through composite `(org_id, id)` foreign keys, so the database itself refuses to link
 * a row to another org's row. Points are `bigint` in bigint mode, never floats.
 */

import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  customType,
  date,
  foreignKey,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import type { OrgSettings } from "../orgs/settings.ts";
import type { StoredEarning } from "../purchases/entries.ts";
import { type RfmBoundariesStored, rfmSegmentNames } from "../rfm/segments.ts";

/** Raw bytes; postgres.js reads and writes bytea as a Node Buffer. */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType() {
    return "bytea";
  },
});

const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();

export const apiKeyRole = pgEnum("api_key_role", ["admin", "pos", "finance"]);
export const memberStatus = pgEnum("member_status", ["active", "suspended", "closed"]);
/** Where an intent row stands with the ledger. `failed`: the ledger refused it for good. */
export const intentStatus = pgEnum("intent_status", ["pending", "posted", "failed"]);
/**
 * Where a member's tier comes from: `default` (the entry tier, never qualified), `earned`
 * (qualified from ledger history), `override` (set by hand; evaluation leaves it alone).
 */
export const tierSource = pgEnum("tier_source", ["default", "earned", "override"]);

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
    /**
     * What one unit on this ledger counts: "points", "inventory" (reward items, one account per
     * reward with a limited inventory), or "stamps:<program id>".
     */
    unit: text("unit").notNull(),
    createdAt: createdAt(),
  },
  (table) => [
    uniqueIndex("org_ledgers_org_id_unit_key").on(table.orgId, table.unit),
    check(
      "org_ledgers_unit_check",
      sql`${table.unit} ~ '^(points|inventory|stamps:[A-Za-z0-9_-]{1,64})$'`,
    ),
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
    /** After this the key no longer authenticates; null: it does not expire. */
    expiresAt: timestamp("expires_at", { withTimezone: true }),
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
    /**
     * Small per-org number (1, 2, ...) carried in the earn transfer's `user_data_32`, so ledger
     * history can name the location without a Postgres read. Allocated as max + 1 per org.
     */
    number: integer("number").notNull(),
    createdAt: createdAt(),
  },
  (table) => [
    uniqueIndex("locations_org_id_external_ref_key").on(table.orgId, table.externalRef),
    unique("locations_org_id_id_key").on(table.orgId, table.id),
    uniqueIndex("locations_org_id_number_key").on(table.orgId, table.number),
    check("locations_number_check", sql`${table.number} > 0`),
  ],
);

/**
 * Tier sets (the seeds' "tier types"): independent ladders, each with its own qualifying metric,
 * rolling window and grace. Every org has at least one; exactly one is `earning`: its ladder is
 * the one `members.tier_id` points into, whose multiplier the purchase path applies. A member
 * holds one tier per set; the other sets' tiers are in `member_set_tiers`.
 */
export const tierSets = pgTable(
  "tier_sets",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    name: text("name").notNull(),
    /** `points` earned by purchases net of refunds, or `spend` in minor units (qualifying.ts). */
    metric: text("metric", { enum: ["points", "spend"] }).notNull(),
    windowMonths: integer("window_months").notNull(),
    graceDays: integer("grace_days").notNull(),
    /** The set whose tier multiplier applies to purchases; exactly one per org. */
    earning: boolean("earning").notNull().default(false),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique("tier_sets_org_id_id_key").on(table.orgId, table.id),
    uniqueIndex("tier_sets_org_id_name_key").on(table.orgId, table.name),
    // At most one earning set per org; the verbs keep it at exactly one.
    uniqueIndex("tier_sets_org_id_earning_key").on(table.orgId).where(sql`${table.earning}`),
    check("tier_sets_metric_check", sql`${table.metric} in ('points', 'spend')`),
    check("tier_sets_window_months_check", sql`${table.windowMonths} between 1 and 120`),
    check("tier_sets_grace_days_check", sql`${table.graceDays} between 0 and 3660`),
  ],
);

export const tiers = pgTable(
  "tiers",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    /** The ladder this tier belongs to (migration 0024 put every older tier in the default set). */
    tierSetId: uuid("tier_set_id").notNull(),
    name: text("name").notNull(),
    /** 0 is the entry tier every member starts in; higher is better. */
    rank: integer("rank").notNull(),
    /** Qualifying value (points or minor units, per the set's metric) needed to reach it. */
    qualifyingPointsMin: bigint("qualifying_points_min", { mode: "bigint" }).notNull(),
    /** Earning multiplier in basis points: 10000 = 1.0x, 12500 = 1.25x. Integers, never floats. */
    multiplierBps: integer("multiplier_bps").notNull(),
    /** A member in an immutable tier keeps it: evaluation neither upgrades nor downgrades them. */
    immutable: boolean("immutable").notNull().default(false),
    /** False: evaluation never moves a member up into it (only an override places them there). */
    climbable: boolean("climbable").notNull().default(true),
    /** Descriptive window [active_from, active_until); null: open on that side. */
    activeFrom: timestamp("active_from", { withTimezone: true }),
    activeUntil: timestamp("active_until", { withTimezone: true }),
    /**
     * Deleted tiers stay as rows (history, codes and rewards refer to them) but leave their
     * ladder: no member holds one, and the unique indexes below ignore them.
     */
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("tiers_set_rank_key")
      .on(table.orgId, table.tierSetId, table.rank)
      .where(sql`${table.deletedAt} is null`),
    uniqueIndex("tiers_set_name_key")
      .on(table.orgId, table.tierSetId, table.name)
      .where(sql`${table.deletedAt} is null`),
    // Target of the composite foreign keys that keep a member's tier inside its org. A
    // constraint, not an index: drizzle-kit emits it inside CREATE TABLE, before the foreign keys.
    unique("tiers_org_id_id_key").on(table.orgId, table.id),
    unique("tiers_org_id_set_id_key").on(table.orgId, table.tierSetId, table.id),
    foreignKey({
      name: "tiers_tier_set_fk",
      columns: [table.orgId, table.tierSetId],
      foreignColumns: [tierSets.orgId, tierSets.id],
    }),
    check("tiers_rank_check", sql`${table.rank} >= 0`),
    check("tiers_qualifying_points_min_check", sql`${table.qualifyingPointsMin} >= 0`),
    check("tiers_multiplier_bps_check", sql`${table.multiplierBps} > 0`),
    check(
      "tiers_window_check",
      sql`${table.activeFrom} is null or ${table.activeUntil} is null or ${table.activeFrom} < ${table.activeUntil}`,
    ),
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
    tierSource: tierSource("tier_source").notNull().default("default"),
    /** When the current tier took effect: its review date is one tier window later. */
    tierSince: timestamp("tier_since", { withTimezone: true }).notNull().defaultNow(),
    /** A scheduled downgrade: to this tier at `tier_downgrade_at` (both set or both null). */
    tierDowngradeTierId: uuid("tier_downgrade_tier_id"),
    tierDowngradeAt: timestamp("tier_downgrade_at", { withTimezone: true }),
    /**
     * A manual override (`tier_source = 'override'`): when it was set, why (1 to 200 characters,
     * also kept in member_tiers) and when it ends by itself (null: until cleared). All null
     * without an override; the checks below hold the three to `tier_source`.
     */
    tierOverrideSetAt: timestamp("tier_override_set_at", { withTimezone: true }),
    tierOverrideReason: text("tier_override_reason"),
    tierOverrideExpiresAt: timestamp("tier_override_expires_at", { withTimezone: true }),
    status: memberStatus("status").notNull().default("active"),
    emailEncrypted: bytea("email_encrypted"),
    phoneEncrypted: bytea("phone_encrypted"),
    firstNameEncrypted: bytea("first_name_encrypted"),
    lastNameEncrypted: bytea("last_name_encrypted"),
    dateOfBirthEncrypted: bytea("date_of_birth_encrypted"),
    /**
     * Notification and marketing preferences (`MemberPreferences`, camelCase); `{}` reads as all
     * off. Personal data too: erasure resets it.
     */
    preferences: jsonb("preferences").notNull().default(sql`'{}'::jsonb`),
    emailHash: bytea("email_hash"),
    phoneHash: bytea("phone_hash"),
    /**
     * Enrollment on the ledger (wallet open, welcome bonus posted) is an intent kept on this row:
     * `pending` until the ledger answered; recovery finishes members a crash left pending.
     */
    ledgerStatus: intentStatus("ledger_status").notNull().default("pending"),
    /** The welcome bonus decided at enrollment, so a re-drive posts the same amount. */
    welcomeBonusPoints: bigint("welcome_bonus_points", { mode: "bigint" })
      .notNull()
      .default(sql`0`),
    ledgerPostedAt: timestamp("ledger_posted_at", { withTimezone: true }),
    /**
     * The code this member hands out to refer others: 10 characters of an alphabet without
     * look-alikes (membership/referrals/referral-code.ts), unique within the org. Chosen at
     * enrollment; members enrolled before referrals existed got one in migration 0027.
     */
    referralCode: text("referral_code")
      .notNull()
      // Every insert path gets a code, also the bulk ones (imports); enrollment draws its own.
      .default(sql`gen_referral_code()`),
    /**
     * The member app PIN (PIN login, membership/members/member-pin.ts): scrypt of the PIN under
     * `pin_salt` (16 random bytes per PIN); both null while no PIN is set.
     */
    pinHash: bytea("pin_hash"),
    pinSalt: bytea("pin_salt"),
    /** Login attempts counted since the last success or lock (each counted before it is checked). */
    pinAttempts: integer("pin_attempts").notNull().default(0),
    /** PIN logins are refused until then (the 5th attempt without a success locks for 15 min). */
    pinLockedUntil: timestamp("pin_locked_until", { withTimezone: true }),
    /** When the member's personal data was erased (irreversibly); null while it is kept. */
    erasedAt: timestamp("erased_at", { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex("members_org_id_external_ref_key").on(table.orgId, table.externalRef),
    uniqueIndex("members_org_id_referral_code_key").on(table.orgId, table.referralCode),
    unique("members_org_id_id_key").on(table.orgId, table.id),
    index("members_org_id_email_hash_idx").on(table.orgId, table.emailHash),
    index("members_org_id_phone_hash_idx").on(table.orgId, table.phoneHash),
    index("members_ledger_pending_idx")
      .on(table.createdAt)
      .where(sql`${table.ledgerStatus} = 'pending'`),
    check("members_welcome_bonus_points_check", sql`${table.welcomeBonusPoints} >= 0`),
    foreignKey({
      name: "members_tier_fk",
      columns: [table.orgId, table.tierId],
      foreignColumns: [tiers.orgId, tiers.id],
    }),
    foreignKey({
      name: "members_tier_downgrade_fk",
      columns: [table.orgId, table.tierDowngradeTierId],
      foreignColumns: [tiers.orgId, tiers.id],
    }),
    check(
      "members_tier_downgrade_check",
      sql`(${table.tierDowngradeTierId} is null) = (${table.tierDowngradeAt} is null)`,
    ),
    // The daily job finds due downgrades here.
    index("members_tier_downgrade_at_idx")
      .on(table.tierDowngradeAt)
      .where(sql`${table.tierDowngradeAt} is not null`),
    check(
      "members_tier_override_set_check",
      sql`(${table.tierSource} = 'override') = (${table.tierOverrideSetAt} is not null)`,
    ),
    check(
      "members_tier_override_reason_check",
      sql`(${table.tierOverrideSetAt} is null) = (${table.tierOverrideReason} is null)`,
    ),
    check(
      "members_tier_override_expires_check",
      sql`${table.tierOverrideExpiresAt} is null or ${table.tierOverrideSetAt} is not null`,
    ),
    // The tiers worker finds overrides that have run out here.
    index("members_tier_override_expires_at_idx")
      .on(table.tierOverrideExpiresAt)
      .where(sql`${table.tierOverrideExpiresAt} is not null`),
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
    /**
     * Why the tier changed, e.g. "enrollment", "upgrade", "downgrade", "override",
     * "override_cleared", "override_expired", "manual", "reassigned", "earning_set_changed".
     */
    reason: text("reason").notNull(),
    /** The qualifying value (points or minor units, per the org's metric) when evaluated. */
    qualifyingValue: bigint("qualifying_value", { mode: "bigint" }),
    /** For reason "override": the admin's reason and when the override ends (null: never). */
    overrideReason: text("override_reason"),
    overrideExpiresAt: timestamp("override_expires_at", { withTimezone: true }),
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

/**
 * A member's tier in each set that is not the earning one (the earning set's tier is
 * `members.tier_id`, which the purchase path reads). No row: the set's entry tier. Written by
 * tier evaluation from ledger history with that set's own metric and window.
 */
export const memberSetTiers = pgTable(
  "member_set_tiers",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    memberId: uuid("member_id").notNull(),
    tierSetId: uuid("tier_set_id").notNull(),
    tierId: uuid("tier_id").notNull(),
    since: timestamp("since", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.orgId, table.memberId, table.tierSetId] }),
    index("member_set_tiers_org_id_tier_id_idx").on(table.orgId, table.tierId),
    foreignKey({
      name: "member_set_tiers_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    // The tier belongs to the set named on the row.
    foreignKey({
      name: "member_set_tiers_tier_fk",
      columns: [table.orgId, table.tierSetId, table.tierId],
      foreignColumns: [tiers.orgId, tiers.tierSetId, tiers.id],
    }),
  ],
);

/**
 * Benefits: perks and points multipliers an org describes once and attaches to tiers. A
 * `points_multiplier` is descriptive here: the earning function does not read it yet.
 */
export const benefits = pgTable(
  "benefits",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    name: text("name").notNull(),
    description: text("description"),
    kind: text("kind", { enum: ["perk", "points_multiplier"] }).notNull(),
    /** A points multiplier's factor in basis points (12500 = 1.25x); null for a perk. */
    valueBps: integer("value_bps"),
    /** Active while now is in [active_from, active_until); null: open on that side. */
    activeFrom: timestamp("active_from", { withTimezone: true }),
    activeUntil: timestamp("active_until", { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique("benefits_org_id_id_key").on(table.orgId, table.id),
    check("benefits_kind_check", sql`${table.kind} in ('perk', 'points_multiplier')`),
    check(
      "benefits_value_bps_check",
      sql`(${table.kind} = 'perk' and ${table.valueBps} is null) or (${table.kind} = 'points_multiplier' and ${table.valueBps} > 0)`,
    ),
    check(
      "benefits_window_check",
      sql`${table.activeFrom} is null or ${table.activeUntil} is null or ${table.activeFrom} < ${table.activeUntil}`,
    ),
  ],
);

/** Which benefits a tier gives; deleting a benefit or a tier's attachment removes the row. */
export const tierBenefits = pgTable(
  "tier_benefits",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    tierId: uuid("tier_id").notNull(),
    benefitId: uuid("benefit_id").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.orgId, table.tierId, table.benefitId] }),
    index("tier_benefits_org_id_benefit_id_idx").on(table.orgId, table.benefitId),
    foreignKey({
      name: "tier_benefits_tier_fk",
      columns: [table.orgId, table.tierId],
      foreignColumns: [tiers.orgId, tiers.id],
    }),
    foreignKey({
      name: "tier_benefits_benefit_fk",
      columns: [table.orgId, table.benefitId],
      foreignColumns: [benefits.orgId, benefits.id],
    }).onDelete("cascade"),
  ],
);

// ---------------------------------------------------------------------------------------------
// Ledger-backed documents. Each table below is both a source document and an *intent*: its row
// is written (with the deterministic ids of the transfers it will post) before anything reaches
// the ledger, then marked posted in the same transaction as its outbox row. docs/consistency.md
// has the protocol; recover-pending-intents.ts finishes rows a crash left pending.
// ---------------------------------------------------------------------------------------------

export const posTransactionKind = pgEnum("pos_transaction_kind", ["purchase", "refund"]);
export const redemptionStatus = pgEnum("redemption_status", [
  "pending",
  "fulfilled",
  "cancelled",
  "expired",
  "failed",
]);
export const redemptionResolution = pgEnum("redemption_resolution", ["fulfil", "cancel"]);
export const adjustmentDirection = pgEnum("adjustment_direction", ["credit", "debit"]);
export const outboxTopic = pgEnum("outbox_topic", [
  "member.enrolled",
  "member.updated",
  "points.earned",
  "points.reversed",
  "points.adjusted",
  "redemption.created",
  "redemption.fulfilled",
  "redemption.cancelled",
  "redemption.expired",
  "stamp_card.completed",
  "tier.changed",
  "event.processed",
  "event.failed",
  "points.expiring",
  "points.expired",
  "rfm.segment_changed",
  "member.erased",
  "points.promotion",
  "benefit.applied",
  "benefit.revoked",
  "referral.rewarded",
]);

/**
 * Stamp-card programs. Each has its own ledger (unit "stamps:<id>"), so stamps never mix with
 * points or with another program's stamps. `stamps_required` and `reward_points` are part of the
 * completion transfers and never change once created; the earn rules, the window, the name and
 * `active` may change (they only decide which future purchases earn stamps).
 */
export const stampPrograms = pgTable(
  "stamp_programs",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    name: text("name").notNull(),
    /** The program's TigerBeetle ledger, allocated in org_ledgers. */
    ledger: integer("ledger")
      .notNull()
      .references(() => orgLedgers.ledger),
    stampsRequired: integer("stamps_required").notNull(),
    /** Points credited to the member's points wallet when a card completes. */
    rewardPoints: bigint("reward_points", { mode: "bigint" }).notNull(),
    /**
     * `purchase`: one stamp per qualifying purchase; `item`: one per unit (quantity) of matching
     * items (every item when neither categories nor skus restrict them).
     */
    earnPer: text("earn_per", { enum: ["purchase", "item"] })
      .notNull()
      .default("purchase"),
    /** Smallest purchase amount (minor units) that earns; null: any amount. */
    earnAmountMinMinor: bigint("earn_amount_min_minor", { mode: "bigint" }),
    /**
     * Items match when their category is one of these or their sku one of `earn_skus`; both empty:
     * no restriction (every purchase qualifies, every item matches).
     */
    earnCategories: text("earn_categories").array().notNull().default(sql`'{}'::text[]`),
    earnSkus: text("earn_skus").array().notNull().default(sql`'{}'::text[]`),
    /** Purchases earn when their `occurred_at` is in [active_from, active_until); null: open. */
    activeFrom: timestamp("active_from", { withTimezone: true }),
    activeUntil: timestamp("active_until", { withTimezone: true }),
    /** False once deactivated: no purchase earns stamps here; the cards stay readable. */
    active: boolean("active").notNull().default(true),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique("stamp_programs_org_id_id_key").on(table.orgId, table.id),
    uniqueIndex("stamp_programs_ledger_key").on(table.ledger),
    check("stamp_programs_stamps_required_check", sql`${table.stampsRequired} > 0`),
    check("stamp_programs_reward_points_check", sql`${table.rewardPoints} >= 0`),
    check("stamp_programs_earn_per_check", sql`${table.earnPer} in ('purchase', 'item')`),
    check(
      "stamp_programs_earn_amount_min_check",
      sql`${table.earnAmountMinMinor} is null or ${table.earnAmountMinMinor} > 0`,
    ),
    check(
      "stamp_programs_window_check",
      sql`${table.activeFrom} is null or ${table.activeUntil} is null or ${table.activeFrom} < ${table.activeUntil}`,
    ),
  ],
);

/**
 * A member's card in a program: the row exists once the member's stamp wallet is open on the
 * program's ledger. `completions` counts finished cards and numbers the next completion's ids.
 */
export const stampCards = pgTable(
  "stamp_cards",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    programId: uuid("program_id").notNull(),
    memberId: uuid("member_id").notNull(),
    completions: integer("completions").notNull().default(0),
    createdAt: createdAt(),
  },
  (table) => [
    primaryKey({ columns: [table.orgId, table.programId, table.memberId] }),
    foreignKey({
      name: "stamp_cards_program_fk",
      columns: [table.orgId, table.programId],
      foreignColumns: [stampPrograms.orgId, stampPrograms.id],
    }),
    foreignKey({
      name: "stamp_cards_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    check("stamp_cards_completions_check", sql`${table.completions} >= 0`),
  ],
);

/** A stamp grant of one purchase, as stored in `pos_transactions.stamps`. */
export interface StoredStampGrant {
  program_id: string;
  ledger: number;
  /** Decimal string. */
  stamps: string;
}

/** A purchase line, as stored in `pos_transactions.items`. */
export interface StoredItem {
  sku: string;
  category: string | null;
  quantity: number;
  /** Minor units as a decimal string; absent on rows written before line amounts were kept. */
  amount_minor?: string | null;
}

/**
 * Purchases and refunds reported by points of sale: the source documents of earning and
 * reversing points, and the intents of their transfers.
 */
export const posTransactions = pgTable(
  "pos_transactions",
  {
    /**
     * Chosen by us before the insert: transfers carry it in `user_data_128`. The primary key is
     * (org_id, id): every lookup names the org, and one index fewer on the hottest table.
     */
    id: uuid("id").notNull(),
    /**
     * No foreign key to orgs, members or locations: this is the hottest insert of the system, and
     * each such key costs an index probe and a `FOR KEY SHARE` lock on the parent row per
     * inserted row (so a MultiXact whenever batches of one org run concurrently). The insert
     * checks the member itself (`purchases/intake.ts`), and orgs, members and locations are never
     * deleted (`refuse_delete` triggers, migration 0003), so no reference can dangle.
     */
    orgId: uuid("org_id").notNull(),
    memberId: uuid("member_id").notNull(),
    kind: posTransactionKind("kind").notNull(),
    /** The POS's id of the document; the idempotency key, unique per org and kind. */
    externalId: text("external_id").notNull(),
    /** Refunds: the purchase refunded. */
    purchaseId: uuid("purchase_id"),
    /** SHA-256 (hex) of the canonical request: a retry must match it, or it is a conflict. */
    requestHash: text("request_hash").notNull(),
    amountMinor: bigint("amount_minor", { mode: "bigint" }).notNull(),
    currency: text("currency").notNull(),
    occurredAt: timestamp("occurred_at", { withTimezone: true }).notNull(),
    locationId: uuid("location_id"),
    items: jsonb("items").$type<StoredItem[]>().notNull().default([]),
    /** Purchases: points earned. Refunds: points this refund is to reverse (before shortfall). */
    points: bigint("points", { mode: "bigint" }).notNull(),
    stamps: jsonb("stamps").$type<StoredStampGrant[]>().notNull().default([]),
    /**
     * Purchases: the entries before caps (base, rules, campaigns, tier) with the rule versions
     * they used and the caps they fall under (purchases/entries.ts); null for purchases recorded
     * before entries were stored (they earned their points as base) and for refunds.
     */
    earning: jsonb("earning").$type<StoredEarning>(),
    /** Refunds: points that could not be reversed because the member had spent them. */
    shortfall: bigint("shortfall", { mode: "bigint" }),
    /**
     * Why the ledger refused this document for good (its answer's name, e.g. `id_already_failed`
     * or `insufficient_points`), when `status` is `failed`; null otherwise.
     */
    failureReason: text("failure_reason"),
    status: intentStatus("status").notNull().default("pending"),
    /** Decimal strings of the deterministic u128 ids this document posts. */
    transferIds: text("transfer_ids").array().notNull(),
    /** The outcome returned to the caller, replayed on a retry (snake_case, amounts as strings). */
    response: jsonb("response").$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    postedAt: timestamp("posted_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("pos_transactions_org_id_kind_external_id_key").on(
      table.orgId,
      table.kind,
      table.externalId,
    ),
    primaryKey({ name: "pos_transactions_pkey", columns: [table.orgId, table.id] }),
    // Refunds only: purchases (nearly every row) add no entry.
    index("pos_transactions_org_id_purchase_id_idx")
      .on(table.orgId, table.purchaseId)
      .where(sql`${table.purchaseId} is not null`),
    // A member's purchases by time (spending insights, insights/member-insights.ts): one entry
    // per purchase on the hottest insert, the price of reading a member's period in bounded time
    // instead of scanning the org's documents.
    index("pos_transactions_member_purchases_idx")
      .on(table.orgId, table.memberId, table.occurredAt)
      .where(sql`${table.kind} = 'purchase'`),
    index("pos_transactions_pending_idx")
      .on(table.createdAt)
      .where(sql`${table.status} = 'pending'`),
    foreignKey({
      name: "pos_transactions_purchase_fk",
      columns: [table.orgId, table.purchaseId],
      foreignColumns: [table.orgId, table.id],
    }),
    check("pos_transactions_amount_minor_check", sql`${table.amountMinor} > 0`),
    check("pos_transactions_points_check", sql`${table.points} >= 0`),
    check(
      "pos_transactions_purchase_id_check",
      sql`(${table.kind} = 'refund') = (${table.purchaseId} is not null)`,
    ),
    check(
      "pos_transactions_shortfall_check",
      sql`${table.shortfall} is null or ${table.shortfall} >= 0`,
    ),
  ],
);

/**
 * Redemptions: a hold on a member's points (a pending transfer with a timeout), then fulfilled
 * (posted) or cancelled (voided), or expired by the ledger. Two intents live on the row: the
 * hold (`hold_status`) and the resolution (`resolution`, written before posting or voiding).
 */
export const redemptions = pgTable(
  "redemptions",
  {
    /** Chosen by us: the hold's transfer id is derived from it. */
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    memberId: uuid("member_id").notNull(),
    /** The caller's idempotency key, optional. */
    externalId: text("external_id"),
    requestHash: text("request_hash").notNull(),
    points: bigint("points", { mode: "bigint" }).notNull(),
    holdSeconds: integer("hold_seconds").notNull(),
    status: redemptionStatus("status").notNull().default("pending"),
    /** The hold's intent: `pending` until the ledger answered, `failed` when it refused it. */
    holdStatus: intentStatus("hold_status").notNull().default("pending"),
    /**
     * Why the ledger refused this document for good (its answer's name, e.g. `id_already_failed`
     * or `insufficient_points`), when `hold_status` is `failed`; null otherwise.
     */
    failureReason: text("failure_reason"),
    /** Decimal string of the hold's transfer id. */
    holdTransferId: text("hold_transfer_id").notNull(),
    /** The resolution asked for and not yet confirmed by the ledger, or the one confirmed. */
    resolution: redemptionResolution("resolution"),
    resolutionRequestedAt: timestamp("resolution_requested_at", { withTimezone: true }),
    /** Estimated at the intent, then set from the ledger's timestamp of the hold. */
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    createdAt: createdAt(),
    resolvedAt: timestamp("resolved_at", { withTimezone: true }),
    /** The catalog reward redeemed, with `quantity`; null for a redemption of plain points. */
    rewardId: uuid("reward_id"),
    quantity: integer("quantity"),
    /**
     * The org's inventory ledger when the hold took the reward's units too (its inventory was
     * limited then); null: points only. Decides, for ever, whether the post or void of the hold
     * carries the units' leg, whatever the reward's inventory becomes later.
     */
    inventoryLedger: integer("inventory_ledger"),
  },
  (table) => [
    uniqueIndex("redemptions_org_id_external_id_key").on(table.orgId, table.externalId),
    // A member's redemptions of one reward: the per-member limit's count.
    index("redemptions_org_id_member_id_reward_id_idx")
      .on(table.orgId, table.memberId, table.rewardId)
      .where(sql`${table.rewardId} is not null`),
    index("redemptions_org_id_member_id_idx").on(table.orgId, table.memberId),
    // The org's redemptions in id order: keyset pages of a reconciliation.
    index("redemptions_org_id_id_idx").on(table.orgId, table.id),
    index("redemptions_hold_pending_idx")
      .on(table.createdAt)
      .where(sql`${table.holdStatus} = 'pending'`),
    index("redemptions_resolution_pending_idx")
      .on(table.resolutionRequestedAt)
      .where(sql`${table.status} = 'pending' and ${table.resolution} is not null`),
    // Holds nobody resolved, by expiry: the lapsed-redemption sweep's probe.
    index("redemptions_unresolved_expiry_idx")
      .on(table.expiresAt)
      .where(
        sql`${table.status} = 'pending' and ${table.holdStatus} = 'posted' and ${table.resolution} is null`,
      ),
    foreignKey({
      name: "redemptions_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    check("redemptions_points_check", sql`${table.points} > 0`),
    check("redemptions_hold_seconds_check", sql`${table.holdSeconds} > 0`),
    check(
      "redemptions_reward_check",
      sql`(${table.rewardId} is null and ${table.quantity} is null and ${table.inventoryLedger} is null) or (${table.rewardId} is not null and ${table.quantity} >= 1)`,
    ),
  ],
);

/** Manual point adjustments by an org's staff: source documents and intents. */
export const adjustments = pgTable(
  "adjustments",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    memberId: uuid("member_id").notNull(),
    externalId: text("external_id").notNull(),
    requestHash: text("request_hash").notNull(),
    direction: adjustmentDirection("direction").notNull(),
    points: bigint("points", { mode: "bigint" }).notNull(),
    reason: text("reason").notNull(),
    status: intentStatus("status").notNull().default("pending"),
    /**
     * Why the ledger refused this document for good (its answer's name, e.g. `id_already_failed`
     * or `insufficient_points`), when `status` is `failed`; null otherwise.
     */
    failureReason: text("failure_reason"),
    transferId: text("transfer_id").notNull(),
    /** Who asked (the API key) and in which request: the audit entry written when it posts. */
    actorKeyId: text("actor_key_id"),
    requestId: text("request_id"),
    createdAt: createdAt(),
    postedAt: timestamp("posted_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("adjustments_org_id_external_id_key").on(table.orgId, table.externalId),
    index("adjustments_pending_idx").on(table.createdAt).where(sql`${table.status} = 'pending'`),
    foreignKey({
      name: "adjustments_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    check("adjustments_points_check", sql`${table.points} > 0`),
  ],
);

/**
 * Promo / event codes an org hands out ("SUMMER-25"): each credits `points` once per member,
 * through the ledger's promotions account. The code itself is never stored: `code_hash` is the
 * HMAC of its normalised form scoped by the org (codes/code-text.ts), `prefix` its first three
 * characters, to tell codes apart in a listing.
 */
export const codes = pgTable(
  "codes",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    codeHash: bytea("code_hash").notNull(),
    prefix: text("prefix").notNull(),
    /** Credited on each redemption; copied onto the redemption row, so a change never rewrites one. */
    points: bigint("points", { mode: "bigint" }).notNull(),
    /** Redemptions allowed across all members; null: unlimited. */
    maxUsesTotal: bigint("max_uses_total", { mode: "bigint" }),
    /** Redemptions so far, raised under the row lock in the transaction inserting each one. */
    uses: bigint("uses", { mode: "bigint" }).notNull().default(sql`0`),
    /** Always true: the only mode offered (a member redeems a code at most once). */
    oncePerMember: boolean("once_per_member").notNull().default(true),
    /** Redeemable when now is in [valid_from, valid_until); null: open on that side. */
    validFrom: timestamp("valid_from", { withTimezone: true }),
    validUntil: timestamp("valid_until", { withTimezone: true }),
    /** Members below this tier's rank are refused (`tier_too_low`); null: every tier. */
    minTierId: uuid("min_tier_id"),
    active: boolean("active").notNull().default(true),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique("codes_org_id_id_key").on(table.orgId, table.id),
    uniqueIndex("codes_org_id_code_hash_key").on(table.orgId, table.codeHash),
    index("codes_org_id_created_at_idx").on(table.orgId, table.createdAt),
    foreignKey({
      name: "codes_min_tier_fk",
      columns: [table.orgId, table.minTierId],
      foreignColumns: [tiers.orgId, tiers.id],
    }),
    check("codes_points_check", sql`${table.points} > 0`),
    check(
      "codes_max_uses_total_check",
      sql`${table.maxUsesTotal} is null or ${table.maxUsesTotal} > 0`,
    ),
    check("codes_uses_check", sql`${table.uses} >= 0`),
    check(
      "codes_uses_within_max_check",
      sql`${table.maxUsesTotal} is null or ${table.uses} <= ${table.maxUsesTotal}`,
    ),
    check("codes_once_per_member_check", sql`${table.oncePerMember}`),
    check("codes_prefix_check", sql`${table.prefix} ~ '^[A-Z0-9-]{3}$'`),
    check("codes_code_hash_check", sql`octet_length(${table.codeHash}) = 32`),
    check(
      "codes_window_check",
      sql`${table.validFrom} is null or ${table.validUntil} is null or ${table.validFrom} < ${table.validUntil}`,
    ),
  ],
);

/**
 * The rewards catalog: what members may spend points on. `item` is a thing handed over,
 * `voucher` and `cashback` are worth `value_minor` minor units of the org's currency (required for
 * them, absent for items). `kind` is fixed once created. A limited inventory's units live on the
 * org's inventory ledger; redemptions hold them there with their points (create-redemption.ts).
 */
export const rewards = pgTable(
  "rewards",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    name: text("name").notNull(),
    description: text("description"),
    kind: text("kind", { enum: ["item", "voucher", "cashback"] }).notNull(),
    /** Points a member spends on one. */
    costPoints: bigint("cost_points", { mode: "bigint" }).notNull(),
    /** What a voucher or cashback is worth, in minor units; null for an item. */
    valueMinor: bigint("value_minor", { mode: "bigint" }),
    /**
     * Units offered in all (on hand, held by pending redemptions, and given out since the
     * inventory was set); null: unlimited. The units themselves live on the org's inventory
     * ledger, in this reward's account.
     */
    inventory: bigint("inventory", { mode: "bigint" }),
    /**
     * Net units the ledger confirmed moving into the reward's account (stocked minus withdrawn).
     * While `inventory` is set and differs from it, a stock move is owed: move number
     * `stock_moves + 1`, of the difference, made under this row's lock (see reward-stock.ts).
     */
    inventoryStocked: bigint("inventory_stocked", { mode: "bigint" }).notNull().default(sql`0`),
    /** Stock moves the ledger confirmed; the next move's number is this plus one. */
    stockMoves: integer("stock_moves").notNull().default(0),
    /** Members below this tier's rank may not have it; null: every tier. */
    minTierId: uuid("min_tier_id"),
    /** Offered while now is in [active_from, active_until); null: open on that side. */
    activeFrom: timestamp("active_from", { withTimezone: true }),
    activeUntil: timestamp("active_until", { withTimezone: true }),
    /** Times one member may have it; null: no limit. */
    perMemberLimit: integer("per_member_limit"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique("rewards_org_id_id_key").on(table.orgId, table.id),
    index("rewards_org_id_created_at_idx").on(table.orgId, table.createdAt),
    foreignKey({
      name: "rewards_min_tier_fk",
      columns: [table.orgId, table.minTierId],
      foreignColumns: [tiers.orgId, tiers.id],
    }),
    check("rewards_kind_check", sql`${table.kind} in ('item', 'voucher', 'cashback')`),
    check("rewards_cost_points_check", sql`${table.costPoints} > 0`),
    check(
      "rewards_value_minor_check",
      sql`(${table.kind} = 'item' and ${table.valueMinor} is null) or (${table.kind} <> 'item' and ${table.valueMinor} > 0)`,
    ),
    check("rewards_inventory_check", sql`${table.inventory} is null or ${table.inventory} >= 0`),
    check(
      "rewards_per_member_limit_check",
      sql`${table.perMemberLimit} is null or ${table.perMemberLimit} >= 1`,
    ),
    check(
      "rewards_window_check",
      sql`${table.activeFrom} is null or ${table.activeUntil} is null or ${table.activeFrom} < ${table.activeUntil}`,
    ),
  ],
);

/**
 * A member's automatic redemption: when a posting takes their available points from below
 * `threshold_points` to at least it, the reward is redeemed once for that crossing. One per
 * member. `scanned_until` / `available_at_scan` are the cursor over the wallet's balance
 * history: the ledger timestamp of the last balance looked at and the available points it left.
 */
export const autoRedemptions = pgTable(
  "auto_redemptions",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    memberId: uuid("member_id").notNull(),
    rewardId: uuid("reward_id").notNull(),
    thresholdPoints: bigint("threshold_points", { mode: "bigint" }).notNull(),
    /** Ledger timestamp (ns) of the last wallet balance looked at; set to the latest on PUT. */
    scannedUntil: bigint("scanned_until", { mode: "bigint" }).notNull(),
    /** The available points that balance left: the "before" of the next one. */
    availableAtScan: bigint("available_at_scan", { mode: "bigint" }).notNull(),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.orgId, table.memberId] }),
    foreignKey({
      name: "auto_redemptions_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    foreignKey({
      name: "auto_redemptions_reward_fk",
      columns: [table.orgId, table.rewardId],
      foreignColumns: [rewards.orgId, rewards.id],
    }),
    check("auto_redemptions_threshold_check", sql`${table.thresholdPoints} > 0`),
    check("auto_redemptions_available_check", sql`${table.availableAtScan} >= 0`),
  ],
);

/**
 * One row per redemption of a code by a member: the intent row of its ledger posting
 * (promotions → wallet, one transfer whose id derives from the code and the member). Unique per
 * (code, member): once per member is kept by the database as well as by the code's row lock.
 */
export const codeRedemptions = pgTable(
  "code_redemptions",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    codeId: uuid("code_id").notNull(),
    memberId: uuid("member_id").notNull(),
    /** The code's points when redeemed. */
    points: bigint("points", { mode: "bigint" }).notNull(),
    status: intentStatus("status").notNull().default("pending"),
    /** The ledger's reason when `status` is `failed`; null otherwise. */
    failureReason: text("failure_reason"),
    transferId: text("transfer_id").notNull(),
    /** Who asked (the API key) and in which request. */
    actorKeyId: text("actor_key_id"),
    requestId: text("request_id"),
    createdAt: createdAt(),
    postedAt: timestamp("posted_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("code_redemptions_org_id_code_id_member_id_key").on(
      table.orgId,
      table.codeId,
      table.memberId,
    ),
    uniqueIndex("code_redemptions_transfer_id_key").on(table.transferId),
    index("code_redemptions_pending_idx")
      .on(table.createdAt)
      .where(sql`${table.status} = 'pending'`),
    foreignKey({
      name: "code_redemptions_code_fk",
      columns: [table.orgId, table.codeId],
      foreignColumns: [codes.orgId, codes.id],
    }),
    foreignKey({
      name: "code_redemptions_member_fk",
      columns: [table.orgId, table.memberId],
      foreignColumns: [members.orgId, members.id],
    }),
    check("code_redemptions_points_check", sql`${table.points} > 0`),
  ],
);

/**
 * What became of a referral: `pending` until the referred member's first qualifying purchase,
 * then `rewarded` (both members got their bonus) or `limit_reached` (the referrer had reached
 * the org's monthly maximum: only the referred member got theirs).
 */
export const referralStatus = pgEnum("referral_status", ["pending", "rewarded", "limit_reached"]);

/**
 * One row per referred member (unique): who referred them, and the intent row of the bonus
 * posting. The decision (`status`, the points, `decided_at`, the transfer ids) is written in one
 * transaction under the referrer's member row lock, with `posting_status = 'pending'`; then the
 * chain is posted; then `posting_status = 'posted'` with the `referral.rewarded` event.
 */
export const referrals = pgTable(
  "referrals",
  {
    /** UUIDv7: the transfers' `user_data_128`, and the source of their ids. */
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    referrerMemberId: uuid("referrer_member_id").notNull(),
    referredMemberId: uuid("referred_member_id").notNull(),
    status: referralStatus("status").notNull().default("pending"),
    /** Decided with the status: what each member is credited (0 when they get nothing). */
    referrerPoints: bigint("referrer_points", { mode: "bigint" }).notNull().default(sql`0`),
    referredPoints: bigint("referred_points", { mode: "bigint" }).notNull().default(sql`0`),
    /** The purchase (pos transaction id) that qualified; null while pending. */
    purchaseId: uuid("purchase_id"),
    /** When the bonus was decided; its calendar month (org time zone) counts for the limit. */
    decidedAt: timestamp("decided_at", { withTimezone: true }),
    /** The bonus posting's intent: null while the referral is pending, then pending → posted. */
    postingStatus: intentStatus("posting_status"),
    /**
     * When the intent was written, by Postgres's clock (recovery's age filter compares it with
     * `now()`; `decided_at` is the verb's clock, which decides the month).
     */
    postingRequestedAt: timestamp("posting_requested_at", { withTimezone: true }),
    /** The ledger's reason when `posting_status` is `failed`; null otherwise. */
    failureReason: text("failure_reason"),
    /** Ids of the two legs (decimal u128), null for a leg that credits nothing. */
    referrerTransferId: text("referrer_transfer_id"),
    referredTransferId: text("referred_transfer_id"),
    createdAt: createdAt(),
    postedAt: timestamp("posted_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("referrals_org_id_referred_member_id_key").on(table.orgId, table.referredMemberId),
    index("referrals_org_id_referrer_member_id_idx").on(
      table.orgId,
      table.referrerMemberId,
      table.decidedAt,
    ),
    index("referrals_posting_pending_idx")
      .on(table.postingRequestedAt)
      .where(sql`${table.postingStatus} = 'pending'`),
    foreignKey({
      name: "referrals_referrer_fk",
      columns: [table.orgId, table.referrerMemberId],
      foreignColumns: [members.orgId, members.id],
    }),
    foreignKey({
      name: "referrals_referred_fk",
      columns: [table.orgId, table.referredMemberId],
      foreignColumns: [members.orgId, members.id],
    }),
    check("referrals_not_self_check", sql`${table.referrerMemberId} <> ${table.referredMemberId}`),
    check(
      "referrals_points_check",
      sql`${table.referrerPoints} >= 0 and ${table.referredPoints} >= 0`,
    ),
    check(
      "referrals_decision_check",
      sql`(${table.status} = 'pending') = (${table.decidedAt} is null)
        and (${table.status} = 'pending') = (${table.postingStatus} is null)
        and (${table.status} = 'pending') = (${table.postingRequestedAt} is null)
        and (${table.status} = 'rewarded' or ${table.referrerPoints} = 0)`,
    ),
  ],
);

/**
 * Events for other systems, written in the same transaction as the change they announce, so an
 * event exists exactly when its change does. A relay delivers them and sets `delivered_at`.
 * Payloads are snake_case with amounts as decimal strings.
 */
export const outbox = pgTable(
  "outbox",
  {
    id: bigint("id", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    /** No foreign key, as for `pos_transactions` (written once per purchase; orgs are never deleted). */
    orgId: uuid("org_id").notNull(),
    topic: outboxTopic("topic").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
    deliveredAt: timestamp("delivered_at", { withTimezone: true }),
    attempts: integer("attempts").notNull().default(0),
  },
  (table) => [
    index("outbox_undelivered_idx").on(table.id).where(sql`${table.deliveredAt} is null`),
    index("outbox_org_id_idx").on(table.orgId, table.id),
  ],
);

// ---------------------------------------------------------------------------------------------
// RFM segmentation: derived from ledger history by the rfm worker, never a source of truth. A
// rebuild replaces an org's rows; a re-score after a purchase or refund updates one member's.
// ---------------------------------------------------------------------------------------------

/** The segment names as they travel (display names), and `none`: no counted purchase. */
export const rfmSegment = pgEnum("rfm_segment", rfmSegmentNames);
export const rfmMethod = pgEnum("rfm_method", ["quintiles", "thresholds"]);

/** One row per org: the last rebuild, whose boundaries single-member re-scores use. */
export const rfmRuns = pgTable("rfm_runs", {
  orgId: uuid("org_id")
    .primaryKey()
    .references(() => orgs.id),
  method: rfmMethod("method").notNull(),
  windowDays: integer("window_days").notNull(),
  /** Inclusive bounds for scores 2..5 per dimension (workers/rfm/scoring.ts), amounts as strings. */
  boundaries: jsonb("boundaries").$type<RfmBoundariesStored>().notNull(),
  /** Members with at least one counted purchase in the window: the quintiles' population. */
  population: integer("population").notNull(),
  /** The "now" of the rebuild: recency and the window are measured from it. */
  computedAt: timestamp("computed_at", { withTimezone: true }).notNull(),
});

/**
 * Each member's RFM as of its last rebuild or re-score. `none`: no scores, no recency; a member
 * without a row is `none` too (never scored). A rebuild writes its population's rows and turns
 * rows of members who left it to `none`.
 */
export const memberRfm = pgTable(
  "member_rfm",
  {
    /**
     * No foreign key to members: a rebuild writes 100,000 rows at once, and a key checks each
     * with a trigger (most of the write's time). The rebuild checks its rows against `members`
     * in one join instead (replace-org-rfm.ts); members are never deleted (migration 0003).
     */
    orgId: uuid("org_id").notNull(),
    memberId: uuid("member_id").notNull(),
    /** Whole days since the last counted purchase's document time; null for `none`. */
    recencyDays: integer("recency_days"),
    /** Purchases in the window, those refunded in full not counted. */
    frequency: integer("frequency").notNull(),
    /** Net spend in the window, minor units. */
    monetaryMinor: bigint("monetary_minor", { mode: "bigint" }).notNull(),
    r: smallint("r"),
    f: smallint("f"),
    m: smallint("m"),
    segment: rfmSegment("segment").notNull(),
    computedAt: timestamp("computed_at", { withTimezone: true }).notNull(),
  },
  (table) => [
    primaryKey({ name: "member_rfm_pkey", columns: [table.orgId, table.memberId] }),
    // Segment listings page by member id within a segment.
    index("member_rfm_org_id_segment_idx").on(table.orgId, table.segment, table.memberId),
    check(
      "member_rfm_scores_check",
      sql`(${table.segment} = 'none') = (${table.r} is null) and (${table.r} is null) = (${table.f} is null) and (${table.r} is null) = (${table.m} is null) and (${table.r} is null) = (${table.recencyDays} is null)`,
    ),
    check(
      "member_rfm_score_range_check",
      sql`${table.r} between 1 and 5 and ${table.f} between 1 and 5 and ${table.m} between 1 and 5`,
    ),
    check(
      "member_rfm_counts_check",
      sql`${table.frequency} >= 0 and (${table.recencyDays} is null or ${table.recencyDays} >= 0)`,
    ),
  ],
);

/**
 * Which installation this database belongs to: one row, written at the first start on an empty
 * database and ledger (installation.ts). The ledger carries the same id in its installation
 * marker, and the fingerprints say which keys this database's data was written with: an
 * HMAC-SHA256 of a constant under each key, never the keys themselves. A start that finds a
 * different ledger or different keys refuses to serve.
 */
export const installation = pgTable(
  "installation",
  {
    /** Always true: the primary key allows one row. */
    singleton: boolean("singleton").primaryKey().default(true),
    id: uuid("id").notNull(),
    piiEncryptionKeyFingerprint: bytea("pii_encryption_key_fingerprint").notNull(),
    piiHashKeyFingerprint: bytea("pii_hash_key_fingerprint").notNull(),
    apiKeyHashKeyFingerprint: bytea("api_key_hash_key_fingerprint").notNull(),
    createdAt: createdAt(),
  },
  (table) => [
    check("installation_singleton_check", sql`${table.singleton}`),
    check(
      "installation_fingerprints_check",
      sql`octet_length(${table.piiEncryptionKeyFingerprint}) = 32 and octet_length(${table.piiHashKeyFingerprint}) = 32 and octet_length(${table.apiKeyHashKeyFingerprint}) = 32`,
    ),
  ],
);

/** What an event sent to `POST /v1/events` asks for; each maps to a synchronous use case. */
export const inboxEventType = pgEnum("inbox_event_type", [
  "pos.transaction",
  "pos.refund",
  "customer.updated",
]);
/** `queued` until a worker processed it: `processed` (with a result) or `failed` (with an error). */
export const inboxEventStatus = pgEnum("inbox_event_status", ["queued", "processed", "failed"]);

/**
 * The inbox: events a POS fleet sends and forgets (`POST /v1/events`), stored before the answer
 * and processed by the `ingest` workers in `seq` order per org (membership/inbox). The row is the
 * event's durable state; the job that announces it only wakes a worker.
 */
export const inboxEvents = pgTable(
  "inbox_events",
  {
    /**
     * Arrival order, the order events are processed in. One sequence for all orgs: a gap or
     * interleaving is harmless, only the order within an org matters. Within one multi-row insert
     * the values follow the rows' order, so a request's events keep theirs.
     */
    seq: bigint("seq", { mode: "bigint" }).notNull().generatedAlwaysAsIdentity(),
    /** No foreign key, as for `pos_transactions` (orgs are never deleted; hot insert). */
    orgId: uuid("org_id").notNull(),
    /** The sender's id of the event: the idempotency key, unique per org. */
    eventId: text("event_id").notNull(),
    eventType: inboxEventType("event_type").notNull(),
    /** The member as the event names it: exactly one of the two is set. Not resolved on receipt. */
    memberId: uuid("member_id"),
    memberExternalRef: text("member_external_ref"),
    occurredAt: timestamp("occurred_at", { withTimezone: true }).notNull(),
    /** The org's reference of the store, as sent. */
    location: text("location"),
    /** The event's payload as received and validated (snake_case wire form). */
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    /** SHA-256 (hex) of the canonical event: a resend must match it, or it is a conflict. */
    requestHash: text("request_hash").notNull(),
    status: inboxEventStatus("status").notNull().default("queued"),
    /** `processed`: the use case's outcome (snake_case, amounts as strings). */
    result: jsonb("result").$type<Record<string, unknown>>(),
    /** `failed`: `{code, message}` of the refusal. */
    error: jsonb("error").$type<{ code: string; message: string }>(),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
    processedAt: timestamp("processed_at", { withTimezone: true }),
  },
  (table) => [
    primaryKey({ name: "inbox_events_pkey", columns: [table.orgId, table.seq] }),
    uniqueIndex("inbox_events_org_id_event_id_key").on(table.orgId, table.eventId),
    // "The queued events of an org, in order": the worker's read. Partial, so it holds only
    // the backlog, and the sweep finds the orgs that have one by scanning it.
    index("inbox_events_queued_idx")
      .on(table.orgId, table.seq)
      .where(sql`${table.status} = 'queued'`),
    check(
      "inbox_events_member_check",
      sql`(${table.memberId} is null) <> (${table.memberExternalRef} is null)`,
    ),
    check(
      "inbox_events_outcome_check",
      sql`(${table.status} = 'queued' and ${table.result} is null and ${table.error} is null and ${table.processedAt} is null) or (${table.status} = 'processed' and ${table.result} is not null and ${table.error} is null and ${table.processedAt} is not null) or (${table.status} = 'failed' and ${table.error} is not null and ${table.result} is null and ${table.processedAt} is not null)`,
    ),
  ],
);

// ---------------------------------------------------------------------------------------------
// Reconciliation: runs of the check that every posted document is in the ledger as recorded.
// ---------------------------------------------------------------------------------------------

export const reconciliationStatus = pgEnum("reconciliation_status", [
  "running",
  "clean",
  "mismatches",
  "failed",
]);
export const reconciliationTrigger = pgEnum("reconciliation_trigger", ["manual", "scheduled"]);

/** One difference a reconciliation found, as stored in `reconciliations.mismatches`. */
export interface StoredMismatch {
  /** e.g. `missing_transfer`, `amount_mismatch` (README, "Reconciliation"). */
  kind: string;
  document: { kind: string; id: string; external_id: string | null; member_id: string | null };
  /** Decimal string of the transfer concerned; null when the mismatch is not about one. */
  transfer_id: string | null;
  /** What Postgres says, and what the ledger holds (null: nothing); text, amounts in decimal. */
  expected: string | null;
  actual: string | null;
}

/**
 * A reconciliation of one org: a job compares every posted source document with the ledger's
 * transfers and every enrolled member with their wallet, then records the counts and the
 * mismatches found. `running` until the job finishes; `failed` when its last attempt failed.
 */
export const reconciliations = pgTable(
  "reconciliations",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    status: reconciliationStatus("status").notNull().default("running"),
    trigger: reconciliationTrigger("trigger").notNull(),
    /** Scheduled runs: the UTC day they are for; one per org and day, so a retried tick adds none. */
    scheduledFor: date("scheduled_for", { mode: "string" }),
    /** Source documents, transfers and wallets compared (a run that finished). */
    checkedDocuments: bigint("checked_documents", { mode: "number" }).notNull().default(0),
    checkedTransfers: bigint("checked_transfers", { mode: "number" }).notNull().default(0),
    checkedWallets: bigint("checked_wallets", { mode: "number" }).notNull().default(0),
    /** The first mismatches found (at most `reconciliationMismatchesStoredMax`)... */
    mismatches: jsonb("mismatches").$type<StoredMismatch[]>().notNull().default([]),
    /** ...and how many there were in all. */
    mismatchCount: integer("mismatch_count").notNull().default(0),
    /** Why the run failed, when `status` is `failed`. */
    error: text("error"),
    /** Attempts the job made (each starts the comparison over). */
    attempts: integer("attempts").notNull().default(0),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (table) => [
    uniqueIndex("reconciliations_org_id_scheduled_for_key").on(table.orgId, table.scheduledFor),
    check(
      "reconciliations_finished_check",
      sql`(${table.status} = 'running') = (${table.finishedAt} is null)`,
    ),
    check(
      "reconciliations_scheduled_for_check",
      sql`(${table.trigger} = 'scheduled') = (${table.scheduledFor} is not null)`,
    ),
    check("reconciliations_mismatch_count_check", sql`${table.mismatchCount} >= 0`),
  ],
);

/**
 * The audit log: one entry per admin action, written in the action's own transaction. Append-only:
 * a trigger (migration 0015) refuses UPDATE, DELETE and TRUNCATE, whoever asks. `seq` orders the
 * entries and pages them; `id` is the entry's public name.
 */
export const auditLog = pgTable(
  "audit_log",
  {
    seq: bigint("seq", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    id: uuid("id").notNull().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
    /** The API key that acted; null for the platform (org creation, the command-line tool). */
    actorKeyId: text("actor_key_id"),
    /** e.g. `settings.updated`, `webhook.created`, `member.points_adjusted`. */
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    before: jsonb("before"),
    after: jsonb("after"),
    requestId: text("request_id"),
  },
  (table) => [
    uniqueIndex("audit_log_id_key").on(table.id),
    index("audit_log_org_id_seq_idx").on(table.orgId, table.seq),
    index("audit_log_org_id_target_idx").on(
      table.orgId,
      table.targetType,
      table.targetId,
      table.seq,
    ),
  ],
);

/**
 * Earning rules (category multipliers, sku bonuses, campaigns). The row holds what does not change
 * between versions (kind, creation) and what the hot path filters on (`active` and
 * `current_version`, a mirror of the current version); each version's body is a row of
 * `earning_rule_versions`. Deleting sets `deleted_at`: the rule stops applying, its versions stay
 * readable, because purchases record the versions they used.
 */
export const earningRules = pgTable(
  "earning_rules",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    /** Creation order, the listing's cursor. */
    seq: bigint("seq", { mode: "bigint" }).notNull().generatedAlwaysAsIdentity(),
    kind: text("kind", { enum: ["category_multiplier", "sku_bonus", "campaign"] }).notNull(),
    /** 1 when created, +1 per edit; the version whose body applies. */
    currentVersion: integer("current_version").notNull(),
    /** The current version's `active`, for the listing's filter and the hot path's query. */
    active: boolean("active").notNull(),
    createdAt: createdAt(),
    /** When the current version was written. */
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    /** Set once, by DELETE; a deleted rule never applies and never changes again. */
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
  },
  (table) => [
    unique("earning_rules_org_id_id_key").on(table.orgId, table.id),
    uniqueIndex("earning_rules_seq_key").on(table.seq),
    index("earning_rules_org_id_seq_idx").on(table.orgId, table.seq),
    check(
      "earning_rules_kind_check",
      sql`${table.kind} in ('category_multiplier', 'sku_bonus', 'campaign')`,
    ),
    check("earning_rules_current_version_check", sql`${table.currentVersion} >= 1`),
  ],
);

/**
 * Every version of every earning rule, never updated nor deleted. `body` is the rule in the API's
 * canonical form (rule-body.ts: decimal-string multipliers, UTC instants), parsed back through
 * the same checks when read.
 */
export const earningRuleVersions = pgTable(
  "earning_rule_versions",
  {
    orgId: uuid("org_id").notNull(),
    ruleId: uuid("rule_id").notNull(),
    version: integer("version").notNull(),
    body: jsonb("body").notNull(),
    createdAt: createdAt(),
    /** The API key that wrote it; null for the platform. The audit log has the request. */
    actorKeyId: text("actor_key_id"),
  },
  (table) => [
    primaryKey({ columns: [table.orgId, table.ruleId, table.version] }),
    foreignKey({
      name: "earning_rule_versions_rule_fk",
      columns: [table.orgId, table.ruleId],
      foreignColumns: [earningRules.orgId, earningRules.id],
    }),
    check("earning_rule_versions_version_check", sql`${table.version} >= 1`),
  ],
);

// Member imports (POST /v1/imports/members): a file staged row by row, enrolled by a worker.

export const importStatus = pgEnum("import_status", ["pending", "running", "completed", "failed"]);
/** A staged row: waiting for the worker, or its outcome (a member enrolled, or one existed). */
export const importRowStatus = pgEnum("import_row_status", ["staged", "enrolled", "skipped"]);

/**
 * One member import: the file was read, validated and its valid rows staged in `import_rows`
 * in the transaction that created this row (with its audit entry); the `imports` worker then
 * enrolls the staged rows in bounded batches. Counters are updated with each batch, so
 * `rows = enrolled + skipped + error_count` once completed.
 */
export const imports = pgTable(
  "imports",
  {
    /** UUIDv7: its time is the import's, which its opening-balance transfers carry. */
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id),
    status: importStatus("status").notNull().default("pending"),
    /** `csv` or `ndjson`, from the request's Content-Type. */
    format: text("format").notNull(),
    /** Data rows in the file (the CSV header excluded), valid or not. */
    rows: integer("rows").notNull().default(0),
    enrolled: integer("enrolled").notNull().default(0),
    skipped: integer("skipped").notNull().default(0),
    /** Rows refused by validation; only the first `importErrorsStoredMax` are in `errors`. */
    errorCount: integer("error_count").notNull().default(0),
    /** `[{line, code, message}]`, in line order, at most `importErrorsStoredMax`. */
    errors: jsonb("errors").$type<ImportRowError[]>().notNull().default([]),
    /** Why a run failed for good (a bug or a refusal no retry fixes); null otherwise. */
    failureReason: text("failure_reason"),
    actorKeyId: text("actor_key_id"),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
  },
  (table) => [
    unique("imports_org_id_id_key").on(table.orgId, table.id),
    index("imports_unfinished_idx")
      .on(table.updatedAt)
      .where(sql`${table.status} in ('pending', 'running')`),
    check("imports_format_check", sql`${table.format} in ('csv', 'ndjson')`),
    check(
      "imports_counts_check",
      sql`${table.enrolled} + ${table.skipped} + ${table.errorCount} <= ${table.rows}`,
    ),
  ],
);

export interface ImportRowError {
  line: number;
  code: string;
  message: string;
}

/**
 * A valid row of an import, staged until the worker enrolls it. The member's id is chosen when
 * the row is staged and its personal data encrypted for that id, exactly as `members` stores it,
 * so enrolling is a copy and a re-run after a crash inserts the very same member (or finds it).
 * The row is also the intent of the member's ledger half: wallet and opening balance are posted
 * with ids derived from `member_id`, and `ledger_status` is set `posted` once the ledger answered.
 */
export const importRows = pgTable(
  "import_rows",
  {
    importId: uuid("import_id").notNull(),
    orgId: uuid("org_id").notNull(),
    /** 1-based line of the row in the file (the CSV header is line 1). */
    line: integer("line").notNull(),
    externalRef: text("external_ref").notNull(),
    memberId: uuid("member_id").notNull(),
    emailEncrypted: bytea("email_encrypted"),
    phoneEncrypted: bytea("phone_encrypted"),
    firstNameEncrypted: bytea("first_name_encrypted"),
    lastNameEncrypted: bytea("last_name_encrypted"),
    emailHash: bytea("email_hash"),
    phoneHash: bytea("phone_hash"),
    openingPoints: bigint("opening_points", { mode: "bigint" }).notNull().default(sql`0`),
    status: importRowStatus("status").notNull().default("staged"),
    /** For `enrolled` rows: wallet opened and opening balance posted (`posted`) or not yet. */
    ledgerStatus: intentStatus("ledger_status").notNull().default("pending"),
  },
  (table) => [
    primaryKey({ columns: [table.importId, table.line] }),
    // A ref twice in one file: the second is refused as a duplicate when staged.
    uniqueIndex("import_rows_import_id_external_ref_key").on(table.importId, table.externalRef),
    index("import_rows_staged_idx")
      .on(table.importId, table.line)
      .where(sql`${table.status} = 'staged'`),
    // Reconciliation walks an org's posted opening balances by member.
    index("import_rows_org_id_member_id_idx")
      .on(table.orgId, table.memberId)
      .where(sql`${table.ledgerStatus} = 'posted' and ${table.openingPoints} > 0`),
    index("import_rows_ledger_pending_idx")
      .on(table.importId, table.line)
      .where(sql`${table.status} = 'enrolled' and ${table.ledgerStatus} = 'pending'`),
    foreignKey({
      name: "import_rows_import_fk",
      columns: [table.orgId, table.importId],
      foreignColumns: [imports.orgId, imports.id],
    }),
    check("import_rows_opening_points_check", sql`${table.openingPoints} >= 0`),
  ],
);
