/**
 * Tier progression: a member's tier follows their qualifying value (qualifying.ts), read from the
 * ledger on every evaluation.
 *
 * - Upgrade at once: the member's row changes in Postgres, and the purchase path reads the
 *   multiplier from that row (its hint is re-checked by the intent insert), so the very next
 *   purchase, in any process, earns with the new multiplier.
 * - Downgrade only scheduled: at the review date (one tier window after the tier took effect)
 *   plus the org's grace days; applied by an evaluation on or after that moment (the daily job
 *   evaluates every member whose downgrade is due), cancelled when the member qualifies again.
 * - A manual override, and any immutable tier, is left alone. Overrides are set, cleared and
 *   ended at their expiry in override.ts.
 *
 * Every change writes a `member_tiers` row (reason, qualifying value) and a `tier.changed` outbox
 * event in the same transaction. Evaluating again changes nothing: events arrive at least once.
 */
import assert from "node:assert/strict";
import { and, asc, eq, gt, isNotNull, isNull, lte, or, type SQL, sql } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { loadOrgLedger, nowOf } from "../intents/support.ts";
import { tiersPerOrgMax } from "../limits.ts";
import type { OrgSettings } from "../orgs/settings.ts";
import { type DbExecutor, executeStatement } from "../store/db.ts";
import { writeOutbox } from "../store/outbox.ts";
import { toTier } from "../store/records.ts";
import { members, memberTiers, tiers } from "../store/schema.ts";
import type { Tier } from "../types.ts";
import { isUuid } from "../validation.ts";
import { writeBenefitEvents } from "./benefit-events.ts";
import { addMonthsUtc, type Qualifying, qualifyingValue } from "./qualifying.ts";

export type TierSource = "default" | "earned" | "override";

/** A manual override in place: why, when it was set and when it ends (null: when cleared). */
export interface TierOverride {
  reason: string;
  setAt: Date;
  expiresAt: Date | null;
}

/** The tier columns of a member row. */
export interface MemberTierState {
  memberId: string;
  orgId: string;
  status: string;
  tierId: string;
  source: TierSource;
  since: Date;
  downgradeTierId: string | null;
  downgradeAt: Date | null;
  /** Set exactly when `source` is "override" (the row's checks hold the columns to it). */
  override: TierOverride | null;
}

/** Why a member's tier was given, as `member_tiers.reason` and the `tier.changed` event say. */
export type TierChangeReason =
  | "upgrade"
  | "downgrade"
  | "override"
  | "override_cleared"
  | "override_expired"
  /** The member's tier was deleted and its members moved to another (DELETE ?reassign_to=). */
  | "reassigned"
  /** Another tier set became the earning one (manage-tier-sets.ts writes it set-wise in SQL). */
  | "earning_set_changed";

export type TierEvaluation =
  | { action: "unchanged" | "skipped"; qualifying: Qualifying | null }
  | { action: "upgraded" | "downgraded"; from: Tier; to: Tier; qualifying: Qualifying }
  | { action: "downgrade_scheduled"; to: Tier; at: Date; qualifying: Qualifying }
  | { action: "downgrade_cancelled"; qualifying: Qualifying };

/** Evaluations retried when the member's row changed between the read and the write. */
const evaluationAttemptsMax = 3;

const stateColumns = {
  memberId: members.id,
  orgId: members.orgId,
  status: members.status,
  tierId: members.tierId,
  source: members.tierSource,
  since: members.tierSince,
  downgradeTierId: members.tierDowngradeTierId,
  downgradeAt: members.tierDowngradeAt,
  overrideSetAt: members.tierOverrideSetAt,
  overrideReason: members.tierOverrideReason,
  overrideExpiresAt: members.tierOverrideExpiresAt,
};

/** The override columns as one value, checked against the source as they are read. */
function overrideOf(
  source: TierSource,
  columns: { setAt: Date | null; reason: string | null; expiresAt: Date | null },
): TierOverride | null {
  assert.equal(source === "override", columns.setAt !== null, "an override has its set time");
  if (columns.setAt === null) {
    assert.equal(columns.reason, null, "no override reason without an override");
    assert.equal(columns.expiresAt, null, "no override expiry without an override");
    return null;
  }
  assert.ok(columns.reason !== null, "an override has its reason");
  return { reason: columns.reason, setAt: columns.setAt, expiresAt: columns.expiresAt };
}

export async function readTierState(
  db: DbExecutor,
  input: { orgId: string; memberId: string },
  lock = false,
): Promise<MemberTierState | null> {
  if (!isUuid(input.memberId)) {
    return null;
  }
  const query = db
    .select(stateColumns)
    .from(members)
    .where(and(eq(members.orgId, input.orgId), eq(members.id, input.memberId)))
    .limit(1);
  const [row] = lock ? await query.for("update") : await query;
  if (row === undefined) {
    return null;
  }
  const { overrideSetAt, overrideReason, overrideExpiresAt, ...state } = row;
  const override = overrideOf(row.source, {
    setAt: overrideSetAt,
    reason: overrideReason,
    expiresAt: overrideExpiresAt,
  });
  return { ...state, override };
}

/**
 * The member's tier columns and the org's whole ladder (lowest rank first) in one statement:
 * `$1` is {org_id, member_id}. Each evaluation runs it once (then only the ledger is read).
 */
const tierContextQuery = `
  with k as (
    select ($1::jsonb ->> 'org_id')::uuid as org_id, ($1::jsonb ->> 'member_id')::uuid as member_id
  )
  select m.id as member_id, m.org_id, m.status, m.tier_id, m.tier_source, m.tier_since,
    m.tier_downgrade_tier_id, m.tier_downgrade_at,
    m.tier_override_set_at, m.tier_override_reason, m.tier_override_expires_at,
    (select json_agg(json_build_object('id', t.id, 'org_id', t.org_id, 'name', t.name,
        'rank', t.rank, 'qualifying_points_min', t.qualifying_points_min::text,
        'multiplier_bps', t.multiplier_bps, 'immutable', t.immutable,
        'tier_set_id', t.tier_set_id, 'climbable', t.climbable, 'active_from', t.active_from,
        'active_until', t.active_until, 'created_at', t.created_at)
        order by t.rank)
      from tiers t join tier_sets s on s.org_id = t.org_id and s.id = t.tier_set_id
      where t.org_id = m.org_id and s.earning and t.deleted_at is null) as ladder
  from k join members m on m.org_id = k.org_id and m.id = k.member_id`;

type TierContextRow = {
  member_id: string;
  org_id: string;
  status: string;
  tier_id: string;
  tier_source: TierSource;
  tier_since: Date | string;
  tier_downgrade_tier_id: string | null;
  tier_downgrade_at: Date | string | null;
  tier_override_set_at: Date | string | null;
  tier_override_reason: string | null;
  tier_override_expires_at: Date | string | null;
  ladder: Array<{
    id: string;
    org_id: string;
    name: string;
    rank: number;
    qualifying_points_min: string;
    multiplier_bps: number;
    immutable: boolean;
    tier_set_id: string;
    climbable: boolean;
    active_from: string | null;
    active_until: string | null;
    created_at: string;
  }>;
};

/** The member's tier state and the org's ladder; null for an unknown or another org's member. */
export async function readTierContext(
  db: DbExecutor,
  input: { orgId: string; memberId: string },
): Promise<{ state: MemberTierState; ladder: Tier[] } | null> {
  if (!isUuid(input.memberId)) {
    return null;
  }
  const [row] = await executeStatement<TierContextRow>(
    db,
    tierContextQuery,
    JSON.stringify({ org_id: input.orgId, member_id: input.memberId }),
  );
  if (row === undefined) {
    return null;
  }
  assert.ok(Array.isArray(row.ladder) && row.ladder.length > 0, "every org has an entry tier");
  assert.ok(row.ladder.length <= tiersPerOrgMax, "a ladder within its bound");
  const ladder = row.ladder.map((tier) => {
    const createdAt = new Date(tier.created_at);
    return toTier({
      id: tier.id,
      orgId: tier.org_id,
      name: tier.name,
      rank: tier.rank,
      qualifyingPointsMin: BigInt(tier.qualifying_points_min),
      multiplierBps: tier.multiplier_bps,
      immutable: tier.immutable,
      tierSetId: tier.tier_set_id,
      climbable: tier.climbable,
      activeFrom: tier.active_from === null ? null : new Date(tier.active_from),
      activeUntil: tier.active_until === null ? null : new Date(tier.active_until),
      deletedAt: null,
      createdAt,
      updatedAt: createdAt,
    });
  });
  const state: MemberTierState = {
    memberId: row.member_id,
    orgId: row.org_id,
    status: row.status,
    tierId: row.tier_id,
    source: row.tier_source,
    since: new Date(row.tier_since),
    downgradeTierId: row.tier_downgrade_tier_id,
    downgradeAt: row.tier_downgrade_at === null ? null : new Date(row.tier_downgrade_at),
    override: overrideOf(row.tier_source, {
      setAt: row.tier_override_set_at === null ? null : new Date(row.tier_override_set_at),
      reason: row.tier_override_reason,
      expiresAt:
        row.tier_override_expires_at === null ? null : new Date(row.tier_override_expires_at),
    }),
  };
  return { state, ladder };
}

/**
 * The earning set's tiers that are not deleted, as a condition on `tiers`: the ladder
 * `members.tier_id` climbs (other sets' tiers live in member_set_tiers).
 */
export function inEarningLadder(orgId: string): SQL | undefined {
  return and(
    eq(tiers.orgId, orgId),
    isNull(tiers.deletedAt),
    sql`${tiers.tierSetId} = (select s.id from tier_sets s where s.org_id = ${orgId} and s.earning)`,
  );
}

/**
 * A key-share lock on every tier set row of the org (the earning one among them), for the
 * caller's transaction: a switch of the earning set (manage-tier-sets.ts holds every set row for
 * update, then every member row) waits for that transaction, or has committed before its next
 * statement. All rows, not the `earning` one: a row that stopped earning while this waited would
 * be filtered out and left unlocked. In id order, as the switch takes them: two lockers of the
 * same rows in different orders could deadlock. Take it before any member row lock.
 */
export async function lockEarningSet(tx: DbExecutor, orgId: string): Promise<void> {
  await tx.execute(sql`select 1 from tier_sets where org_id = ${orgId} order by id for key share`);
}

/**
 * The earning set's base tier (rank 0), where a new member starts; null for an unknown org. Call
 * it in the transaction that inserts the member, before the insert: it key-share locks the org's
 * tier set rows (lockEarningSet), so a switch of the earning set either waits for this
 * transaction, and then moves the new member with the others, or has committed before, and then
 * this reads the new earning set.
 */
export async function earningEntryTier(tx: DbExecutor, orgId: string): Promise<string | null> {
  await lockEarningSet(tx, orgId);
  const [entry] = await tx
    .select({ id: tiers.id })
    .from(tiers)
    .where(and(inEarningLadder(orgId), eq(tiers.rank, 0)))
    .limit(1);
  return entry?.id ?? null;
}

/** The org's earning ladder, lowest rank first. */
export async function tiersOf(db: DbExecutor, orgId: string): Promise<Tier[]> {
  const rows = await db
    .select()
    .from(tiers)
    .where(inEarningLadder(orgId))
    .orderBy(asc(tiers.rank))
    .limit(tiersPerOrgMax);
  assert.ok(rows.length > 0, "every org has an entry tier");
  return rows.map(toTier);
}

/**
 * The highest climbable tier whose threshold the value reaches; the entry tier when none. A tier
 * that is not climbable is reached only by an override.
 */
export function qualifiedTier(ladder: readonly Tier[], value: bigint): Tier {
  const [entry] = ladder;
  assert.ok(entry !== undefined, "a ladder has an entry tier");
  let best = entry;
  ladder.forEach((tier, index) => {
    assert.ok(index === 0 || tier.rank > (ladder[index - 1] as Tier).rank, "ladder sorted by rank");
    if (tier.climbable && tier.qualifyingPointsMin <= value) {
      best = tier;
    }
  });
  return best;
}

/** The review date: one tier window after the current tier took effect. */
export function reviewDate(state: Pick<MemberTierState, "since">, settings: OrgSettings): Date {
  return addMonthsUtc(state.since, settings.tierWindowMonths);
}

/**
 * When a downgrade decided at `now` takes effect: the review date plus the grace days, counted
 * from `now` when the review date has passed (a member who stops qualifying after their review
 * date still gets the whole grace period).
 */
export function downgradeDate(
  state: Pick<MemberTierState, "since">,
  settings: OrgSettings,
  now: Date,
): Date {
  const review = reviewDate(state, settings);
  const from = Math.max(review.getTime(), now.getTime());
  return new Date(from + settings.tierDowngradeGraceDays * 86_400_000);
}

export function tierById(ladder: readonly Tier[], id: string): Tier {
  const tier = ladder.find((candidate) => candidate.id === id);
  assert.ok(tier !== undefined, "a member's tier is one of its org's tiers");
  return tier;
}

/** True when both read the same tier columns (the status aside). */
export function sameState(a: MemberTierState, b: MemberTierState): boolean {
  return (
    a.tierId === b.tierId &&
    a.source === b.source &&
    a.since.getTime() === b.since.getTime() &&
    a.downgradeTierId === b.downgradeTierId &&
    (a.downgradeAt?.getTime() ?? null) === (b.downgradeAt?.getTime() ?? null) &&
    (a.override?.setAt.getTime() ?? null) === (b.override?.setAt.getTime() ?? null) &&
    (a.override?.expiresAt?.getTime() ?? null) === (b.override?.expiresAt?.getTime() ?? null) &&
    (a.override?.reason ?? null) === (b.override?.reason ?? null)
  );
}

/** The source of a tier given by evaluation (or by an override ending): default or earned. */
export function earnedSource(tier: Tier): TierSource {
  return tier.rank === 0 ? "default" : "earned";
}

/**
 * Re-evaluates one member's tier from the ledger and applies what follows (see the module
 * comment). Unknown or another org's member: `not_found`. Closed members and overridden or
 * immutable tiers are `skipped`.
 */
export async function evaluateMemberTier(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<TierEvaluation> {
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  for (let attempt = 1; ; attempt++) {
    const context = await readTierContext(deps.db, { orgId: org.id, memberId: input.memberId });
    if (context === null) {
      throw new DomainError("not_found", "member not found", { memberId: input.memberId });
    }
    const { state, ladder } = context;
    const current = tierById(ladder, state.tierId);
    if (state.status === "closed" || state.source === "override" || current.immutable) {
      return { action: "skipped", qualifying: null };
    }
    const now = nowOf(deps);
    const qualifying = await qualifyingValue(deps.ledger, {
      pointsLedger,
      memberId: state.memberId,
      metric: org.settings.tierMetric,
      windowMonths: org.settings.tierWindowMonths,
      now,
    });
    const decided = await applyEvaluation(deps, {
      state,
      ladder,
      qualifying,
      now,
      settings: org.settings,
    });
    if (decided !== null) {
      return decided;
    }
    // The row changed under us (another evaluation, an override): read it again.
    assert.ok(attempt < evaluationAttemptsMax, "tier evaluation settles within its attempts");
  }
}

/** Decides and writes, in one transaction that re-reads the row; null when the row moved. */
async function applyEvaluation(
  deps: LedgerDeps,
  args: {
    state: MemberTierState;
    ladder: readonly Tier[];
    qualifying: Qualifying;
    now: Date;
    settings: OrgSettings;
  },
): Promise<TierEvaluation | null> {
  const { state, ladder, qualifying, now, settings } = args;
  const current = tierById(ladder, state.tierId);
  const qualified = qualifiedTier(ladder, qualifying.value);

  if (qualified.rank === current.rank) {
    if (state.downgradeTierId === null) {
      return { action: "unchanged", qualifying };
    }
    return writeIfUnchanged(deps, state, async (tx) => {
      await tx
        .update(members)
        .set({ tierDowngradeTierId: null, tierDowngradeAt: null, updatedAt: sql`now()` })
        .where(and(eq(members.orgId, state.orgId), eq(members.id, state.memberId)));
      return { action: "downgrade_cancelled", qualifying };
    });
  }
  const move = (reason: "upgrade" | "downgrade") =>
    writeIfUnchanged(deps, state, async (tx) => {
      await changeTier(tx, { state, from: current, to: qualified, now, reason, qualifying });
      const action = reason === "upgrade" ? "upgraded" : "downgraded";
      return { action, from: current, to: qualified, qualifying };
    });
  if (qualified.rank > current.rank) {
    return move("upgrade");
  }
  // Scheduled before: its date stands (a further drop only changes where to).
  const dueAt = state.downgradeAt ?? downgradeDate(state, settings, now);
  if (dueAt.getTime() <= now.getTime()) {
    return move("downgrade");
  }
  if (state.downgradeTierId === qualified.id && state.downgradeAt?.getTime() === dueAt.getTime()) {
    return { action: "unchanged", qualifying };
  }
  return writeIfUnchanged(deps, state, async (tx) => {
    await tx
      .update(members)
      .set({ tierDowngradeTierId: qualified.id, tierDowngradeAt: dueAt, updatedAt: sql`now()` })
      .where(and(eq(members.orgId, state.orgId), eq(members.id, state.memberId)));
    return { action: "downgrade_scheduled", to: qualified, at: dueAt, qualifying };
  });
}

/** Runs `write` in a transaction holding the member's row, if it still reads as `state`. */
async function writeIfUnchanged(
  deps: LedgerDeps,
  state: MemberTierState,
  write: (tx: DbExecutor) => Promise<TierEvaluation>,
): Promise<TierEvaluation | null> {
  return deps.db.transaction(async (tx) => {
    const locked = await readTierState(tx, state, true);
    if (locked === null || !sameState(locked, state) || locked.status !== state.status) {
      return null;
    }
    return write(tx);
  });
}

/**
 * Gives the member `to`: the row, its history (with the value, and the override's reason and
 * expiry) and, when the tier changes, `tier.changed`. With `override` the member is held there
 * (source "override"); without, the source is earned (default for the entry tier) and any
 * override columns are cleared. Only an override, set or ended, may keep the tier it found: it
 * still changes the source, which the history records. Call it holding the member's row.
 */
export async function changeTier(
  tx: DbExecutor,
  args: {
    state: MemberTierState;
    from: Tier;
    to: Tier;
    now: Date;
    reason: TierChangeReason;
    qualifying: Qualifying | null;
    override?: TierOverride | null;
  },
): Promise<void> {
  const { state, from, to, now, reason, qualifying } = args;
  const override = args.override ?? null;
  const moves = from.id !== to.id;
  assert.ok(moves || reason.startsWith("override"), "only an override may keep the tier");
  assert.equal(reason === "override", override !== null, "an override is set by its reason");
  assert.equal(from.id, state.tierId, "the change starts from the member's tier");
  await tx
    .update(members)
    .set({
      tierId: to.id,
      tierSource: override === null ? earnedSource(to) : "override",
      // Keeping the tier keeps its review date.
      tierSince: moves ? now : state.since,
      tierDowngradeTierId: null,
      tierDowngradeAt: null,
      tierOverrideSetAt: override?.setAt ?? null,
      tierOverrideReason: override?.reason ?? null,
      tierOverrideExpiresAt: override?.expiresAt ?? null,
      updatedAt: sql`now()`,
    })
    .where(and(eq(members.orgId, state.orgId), eq(members.id, state.memberId)));
  await tx.insert(memberTiers).values({
    orgId: state.orgId,
    memberId: state.memberId,
    tierId: to.id,
    reason,
    qualifyingValue: qualifying?.value ?? null,
    overrideReason: override?.reason ?? null,
    overrideExpiresAt: override?.expiresAt ?? null,
    effectiveAt: now,
  });
  if (!moves) {
    return;
  }
  await writeBenefitEvents(tx, {
    orgId: state.orgId,
    memberId: state.memberId,
    from,
    to,
    now,
  });
  await writeOutbox(tx, [
    {
      orgId: state.orgId,
      topic: "tier.changed",
      payload: {
        member_id: state.memberId,
        from: { id: from.id, name: from.name },
        to: { id: to.id, name: to.name },
        reason,
        qualifying_value: qualifying === null ? null : qualifying.value.toString(),
      },
    },
  ]);
}

/** A member with something due at `at` (a scheduled downgrade, an override's expiry). */
export interface DueMember {
  orgId: string;
  memberId: string;
  at: Date;
}

export type DueDowngrade = DueMember;

/** The cursor of a walk along one of the members' due-time indexes. */
export type DueCursor = { at: Date; memberId: string } | null;

/**
 * Members whose `column` (a due time with a partial index) has passed at `now`, oldest first,
 * after the cursor `after` (exclusive): one page of that index.
 */
export async function dueMembers(
  deps: Pick<LedgerDeps, "db" | "clock">,
  column: typeof members.tierDowngradeAt | typeof members.tierOverrideExpiresAt,
  input: { after: DueCursor; limit: number },
): Promise<DueMember[]> {
  assert.ok(Number.isInteger(input.limit) && input.limit >= 1 && input.limit <= 10_000, "limit");
  const { after } = input;
  const rows = await deps.db
    .select({ memberId: members.id, orgId: members.orgId, at: column })
    .from(members)
    .where(
      and(
        isNotNull(column),
        lte(column, nowOf(deps)),
        after === null
          ? undefined
          : or(gt(column, after.at), and(eq(column, after.at), gt(members.id, after.memberId))),
      ),
    )
    .orderBy(asc(column), asc(members.id))
    .limit(input.limit);
  return rows.map((row) => {
    assert.ok(row.at !== null, "a due member has its due time");
    return { orgId: row.orgId, memberId: row.memberId, at: row.at };
  });
}

/** Members whose scheduled downgrade is due: a page of the index on `tier_downgrade_at`. */
export function dueDowngrades(
  deps: Pick<LedgerDeps, "db" | "clock">,
  input: { after: DueCursor; limit: number },
): Promise<DueDowngrade[]> {
  return dueMembers(deps, members.tierDowngradeAt, input);
}
