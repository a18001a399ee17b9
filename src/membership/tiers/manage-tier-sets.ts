/**
 * Tier sets (the seeds' "tier types"): an admin creates, lists, reads, changes and deletes them,
 * each write audited in its transaction (`tier_set.created`, `tier_set.updated`,
 * `tier_set.deleted`). A new set starts with its rank-0 base tier (threshold 0, multiplier 1.00),
 * so it is a valid ladder from the start.
 *
 * The earning set's metric, window and grace are the org's tier settings: evaluation of the
 * earning set reads them from `orgs.settings`, and both writers (this file, update-org-settings.ts)
 * change the two together in one transaction. Other sets are evaluated with their own row.
 *
 * Moving `earning` to another set (`earning: true` on a set that is not earning) swaps every
 * member's tier between the two sets in the PATCH's transaction (switchEarningSet, below).
 * `earning: false` on the earning set is refused (`invalid_state`): name the set to earn instead.
 */
import assert from "node:assert/strict";
import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput, nowOf } from "../intents/support.ts";
import {
  earningSwitchStatementTimeoutMs,
  tierSetNameLengthMax,
  tierSetsPerOrgMax,
} from "../limits.ts";
import {
  orgSettingsSchema,
  settingsDaysMax,
  settingsMonthsMax,
  type TierMetric,
} from "../orgs/settings.ts";
import { lockOrgForCreation } from "../store/bounded-creation.ts";
import { invalidateOrgCaches } from "../store/caches.ts";
import { type DbExecutor, isPostgresError } from "../store/db.ts";
import { toOrg } from "../store/records.ts";
import { memberSetTiers, orgs, tierBenefits, tierSets, tiers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import type { TierChangeReason } from "./progression.ts";

export interface TierSet {
  id: string;
  orgId: string;
  name: string;
  metric: TierMetric;
  windowMonths: number;
  graceDays: number;
  earning: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface TierSetPatch {
  name?: string;
  metric?: TierMetric;
  windowMonths?: number;
  graceDays?: number;
  earning?: boolean;
}

export function toTierSet(row: typeof tierSets.$inferSelect): TierSet {
  assert.ok(row.windowMonths >= 1, "a tier window is at least a month");
  return { ...row };
}

function auditView(set: TierSet): Record<string, unknown> {
  return {
    name: set.name,
    metric: set.metric,
    window_months: set.windowMonths,
    grace_days: set.graceDays,
    earning: set.earning,
  };
}

function refuse(field: string, message: string): DomainError {
  return invalidInput(`${field} ${message}`, { field, issues: [{ path: field, message }] });
}

function checkFields(set: Omit<TierSet, "id" | "orgId" | "earning" | "createdAt" | "updatedAt">) {
  if (set.name.length === 0 || set.name.length > tierSetNameLengthMax) {
    throw refuse("name", `must be 1 to ${tierSetNameLengthMax} characters`);
  }
  if (
    !Number.isSafeInteger(set.windowMonths) ||
    set.windowMonths < 1 ||
    set.windowMonths > settingsMonthsMax
  ) {
    throw refuse("window_months", `must be 1 to ${settingsMonthsMax}`);
  }
  if (
    !Number.isSafeInteger(set.graceDays) ||
    set.graceDays < 0 ||
    set.graceDays > settingsDaysMax
  ) {
    throw refuse("grace_days", `must be 0 to ${settingsDaysMax}`);
  }
}

/** A unique violation (the set's name, the only unique key a write can hit). */
function isNameTaken(error: unknown): boolean {
  return isPostgresError(error, "23505");
}

export async function readTierSetRow(
  db: DbExecutor,
  input: { orgId: string; tierSetId: string; forUpdate?: boolean },
): Promise<TierSet> {
  const notFound = new DomainError("not_found", "tier set not found", {
    tierSetId: input.tierSetId,
  });
  if (!isUuid(input.tierSetId)) {
    throw notFound;
  }
  const query = db
    .select()
    .from(tierSets)
    .where(and(eq(tierSets.orgId, input.orgId), eq(tierSets.id, input.tierSetId)));
  const [row] = input.forUpdate === true ? await query.for("update") : await query;
  if (row === undefined) {
    throw notFound;
  }
  return toTierSet(row);
}

/** Creates a set (not earning) with its base tier. Errors: `invalid_input`, `conflict` (name). */
export async function createTierSet(
  deps: Pick<LedgerDeps, "db">,
  input: {
    orgId: string;
    name: string;
    metric: TierMetric;
    windowMonths: number;
    graceDays: number;
    /** The base tier's name; "Base" when absent. */
    baseTierName?: string;
    actor: AuditActor;
  },
): Promise<TierSet> {
  checkFields(input);
  try {
    return await deps.db.transaction(async (tx) => {
      await lockOrgForCreation(tx, {
        orgId: input.orgId,
        table: tierSets,
        orgColumn: tierSets.orgId,
        max: tierSetsPerOrgMax,
        what: "tier sets",
      });
      const org = { id: input.orgId };
      const [row] = await tx
        .insert(tierSets)
        .values({
          orgId: org.id,
          name: input.name,
          metric: input.metric,
          windowMonths: input.windowMonths,
          graceDays: input.graceDays,
          earning: false,
        })
        .returning();
      assert.ok(row !== undefined, "insert into tier_sets returned no row");
      const created = toTierSet(row);
      await tx.insert(tiers).values({
        orgId: org.id,
        tierSetId: created.id,
        name: input.baseTierName ?? "Base",
        rank: 0,
        qualifyingPointsMin: 0n,
        multiplierBps: 10_000,
      });
      await writeAudit(tx, {
        orgId: org.id,
        actor: input.actor,
        action: "tier_set.created",
        targetType: "tier_set",
        targetId: created.id,
        before: null,
        after: auditView(created),
      });
      return created;
    });
  } catch (error) {
    if (isNameTaken(error)) {
      throw new DomainError("conflict", "a tier set with this name exists", { name: input.name });
    }
    throw error;
  }
}

/** The org's sets, the earning one first, then by creation. */
export async function listTierSets(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string },
): Promise<TierSet[]> {
  const rows = await deps.db
    .select()
    .from(tierSets)
    .where(eq(tierSets.orgId, input.orgId))
    .orderBy(sql`${tierSets.earning} desc`, asc(tierSets.createdAt), asc(tierSets.id))
    .limit(tierSetsPerOrgMax);
  return rows.map(toTierSet);
}

export async function getTierSet(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; tierSetId: string },
): Promise<TierSet> {
  return readTierSetRow(deps.db, input);
}

/**
 * Changes a set. `earning: true` on a set that is not earning makes it the earning set
 * (switchEarningSet, in this transaction, after the other fields); `earning: false` on the
 * earning set is `invalid_state`. For the earning set, metric, window and grace are written to the
 * org's settings too. `reevaluate` says whether members' tiers in the set may follow (metric or
 * window changed, or the earning set moved); `previousEarning` names the set that stopped earning.
 */
export async function updateTierSet(
  deps: Pick<LedgerDeps, "db" | "caches" | "clock">,
  input: { orgId: string; tierSetId: string; patch: TierSetPatch; actor: AuditActor },
): Promise<{ tierSet: TierSet; reevaluate: boolean; previousEarning: TierSet | null }> {
  const { patch } = input;
  let result: { tierSet: TierSet; reevaluate: boolean; previousEarning: TierSet | null };
  try {
    result = await deps.db.transaction(async (tx) => {
      // The org's row first, as PATCH /v1/settings takes it (then the earning set's row): the
      // two writers of the earning set's metric, window and grace queue instead of deadlocking.
      // `no key update`: the key-share locks of foreign-key checks (an enrollment's insert) do
      // not wait for it, nor it for them.
      await tx
        .select({ id: orgs.id })
        .from(orgs)
        .where(eq(orgs.id, input.orgId))
        .for("no key update");
      if (patch.earning === true) {
        // Every set of the org, in id order, before anything else: two switches (or a switch
        // and a set's delete) queue here instead of deadlocking, and the loser reads the
        // winner's outcome.
        await lockOrgTierSets(tx, input.orgId);
      }
      const before = await readTierSetRow(tx, { ...input, forUpdate: true });
      if (patch.earning === false && before.earning) {
        throw new DomainError(
          "invalid_state",
          "the earning tier set stops earning only when another set is made earning: send " +
            "earning: true to that set",
          { tierSetId: before.id, field: "earning" },
        );
      }
      const fields = {
        name: patch.name ?? before.name,
        metric: patch.metric ?? before.metric,
        windowMonths: patch.windowMonths ?? before.windowMonths,
        graceDays: patch.graceDays ?? before.graceDays,
      };
      checkFields(fields);
      const [row] = await tx
        .update(tierSets)
        .set({ ...fields, updatedAt: sql`now()` })
        .where(and(eq(tierSets.orgId, input.orgId), eq(tierSets.id, before.id)))
        .returning();
      assert.ok(row !== undefined, "a locked tier set is updated");
      let after = toTierSet(row);
      let previousEarning: TierSet | null = null;
      if (patch.earning === true && !after.earning) {
        const switched = await switchEarningSet(tx, {
          orgId: input.orgId,
          to: after,
          now: nowOf(deps),
          actor: input.actor,
        });
        after = switched.tierSet;
        previousEarning = switched.previous;
      }
      if (after.earning) {
        const [orgRow] = await tx
          .select()
          .from(orgs)
          .where(eq(orgs.id, input.orgId))
          .for("no key update");
        assert.ok(orgRow !== undefined, "a tier set's org exists");
        const settings = orgSettingsSchema.parse({
          ...toOrg(orgRow).settings,
          tierMetric: after.metric,
          tierWindowMonths: after.windowMonths,
          tierDowngradeGraceDays: after.graceDays,
        });
        await tx.update(orgs).set({ settings }).where(eq(orgs.id, input.orgId));
      }
      await writeAudit(tx, {
        orgId: input.orgId,
        actor: input.actor,
        action: "tier_set.updated",
        targetType: "tier_set",
        targetId: before.id,
        before: auditView(before),
        after: auditView(after),
      });
      const reevaluate =
        before.metric !== after.metric ||
        before.windowMonths !== after.windowMonths ||
        previousEarning !== null;
      return { tierSet: after, reevaluate, previousEarning };
    });
  } catch (error) {
    if (isNameTaken(error)) {
      throw new DomainError("conflict", "a tier set with this name exists", { name: patch.name });
    }
    throw error;
  }
  if (result.tierSet.earning) {
    invalidateOrgCaches(deps.caches, input.orgId);
  }
  return result;
}

/** Locks every tier set of the org, in id order (at most `tierSetsPerOrgMax` rows). */
async function lockOrgTierSets(tx: DbExecutor, orgId: string): Promise<void> {
  const rows = await tx
    .select({ id: tierSets.id })
    .from(tierSets)
    .where(eq(tierSets.orgId, orgId))
    .orderBy(asc(tierSets.id))
    .limit(tierSetsPerOrgMax)
    .for("update");
  assert.ok(rows.length >= 1, "an org has its earning tier set");
}

/** `member_tiers.reason` and the `tier.changed` reason of the members moved by a switch. */
export const earningSetChangedReason: TierChangeReason = "earning_set_changed";

/**
 * Makes `to` the earning set, in the caller's transaction, which holds every set row of the org
 * (lockOrgTierSets). Set-wise, a few statements whatever the org's size:
 *
 * 1. Every member's row is locked (nothing else changes a member's tier until commit). `no key
 *    update`, the lock an update takes: foreign-key checks of rows naming the member (a purchase's
 *    intent, a history row) take key-share locks and do not wait for the switch.
 * 2. Each member's earning tier (`members.tier_id`, `tier_since`) becomes their tier in the old
 *    set (`member_set_tiers`, upserted). An override's tier is kept there like an earned one.
 * 3. Each member's row takes their tier in `to` (its `member_set_tiers` row, else the base tier
 *    since now), source `earned` (`default` at rank 0); the override and any scheduled downgrade
 *    (both belong to the old set's ladder) are cleared. Every member changes tier (the sets'
 *    tiers are distinct), so each gets a `member_tiers` row and a `tier.changed` event, reason
 *    `earning_set_changed`. No benefit event: the member holds the same tiers as before, in
 *    the same sets, only which one earns changed.
 * 4. `to`'s `member_set_tiers` rows are deleted (its tiers now live on `members`).
 * 5. The flags move (old first: one earning set per org is a unique index) and the old set's
 *    change is audited; the caller mirrors `to`'s metric, window and grace into the org settings
 *    and audits `to`.
 */
async function switchEarningSet(
  tx: DbExecutor,
  input: { orgId: string; to: TierSet; now: Date; actor: AuditActor },
): Promise<{ tierSet: TierSet; previous: TierSet; moved: number }> {
  const { orgId, to, now } = input;
  assert.ok(!to.earning, "the switch starts from a set that is not earning");
  const [fromRow] = await tx
    .select()
    .from(tierSets)
    .where(and(eq(tierSets.orgId, orgId), eq(tierSets.earning, true)));
  assert.ok(fromRow !== undefined, "an org has its earning tier set");
  const from = toTierSet(fromRow);
  const [base] = await tx
    .select({ id: tiers.id })
    .from(tiers)
    .where(
      and(
        eq(tiers.orgId, orgId),
        eq(tiers.tierSetId, to.id),
        eq(tiers.rank, 0),
        isNull(tiers.deletedAt),
      ),
    );
  assert.ok(base !== undefined, "every tier set has its base tier");
  // Raw statements bind text: the instant as ISO 8601.
  const at = now.toISOString();
  // Until this transaction ends: every statement below touches every member of the org.
  await tx.execute(
    sql.raw(`set local statement_timeout = ${Math.trunc(earningSwitchStatementTimeoutMs)}`),
  );

  const [locked] = (await tx.execute(sql`
    with l as (select id from members where org_id = ${orgId} order by id for no key update)
    select count(*)::int as n from l`)) as unknown as Array<{ n: number }>;
  const membersTotal = Number(locked?.n ?? 0);

  await tx.execute(sql`
    insert into member_set_tiers (org_id, member_id, tier_set_id, tier_id, since, updated_at)
    select m.org_id, m.id, ${from.id}::uuid, m.tier_id, m.tier_since, now()
      from members m where m.org_id = ${orgId}
    on conflict (org_id, member_id, tier_set_id) do update
      set tier_id = excluded.tier_id, since = excluded.since, updated_at = now()`);

  const [written] = (await tx.execute(sql`
    with target as (
      select m.id as member_id, m.tier_id as from_id,
          coalesce(mst.tier_id, ${base.id}::uuid) as to_id,
          coalesce(mst.since, ${at}::timestamptz) as since
        from members m
        left join member_set_tiers mst on mst.org_id = m.org_id and mst.member_id = m.id
          and mst.tier_set_id = ${to.id}::uuid
        where m.org_id = ${orgId}
    ), moved as (
      update members m
        set tier_id = t.to_id,
          tier_source = case when tt.rank = 0 then 'default'::tier_source
            else 'earned'::tier_source end,
          tier_since = t.since,
          tier_downgrade_tier_id = null, tier_downgrade_at = null,
          tier_override_set_at = null, tier_override_reason = null,
          tier_override_expires_at = null,
          updated_at = now()
        from target t
        join tiers tt on tt.org_id = ${orgId} and tt.id = t.to_id
        where m.org_id = ${orgId} and m.id = t.member_id
        returning m.id as member_id, t.from_id, t.to_id
    ), history as (
      insert into member_tiers (org_id, member_id, tier_id, reason, effective_at)
        select ${orgId}::uuid, member_id, to_id, ${earningSetChangedReason}, ${at}::timestamptz
          from moved
        returning 1
    ), events as (
      insert into outbox (org_id, topic, payload)
        select ${orgId}::uuid, 'tier.changed'::outbox_topic, jsonb_build_object(
            'member_id', mv.member_id,
            'from', jsonb_build_object('id', f.id, 'name', f.name),
            'to', jsonb_build_object('id', t.id, 'name', t.name),
            'reason', ${earningSetChangedReason}::text,
            'qualifying_value', null)
          from moved mv
          join tiers f on f.org_id = ${orgId} and f.id = mv.from_id
          join tiers t on t.org_id = ${orgId} and t.id = mv.to_id
          where f.tier_set_id = ${from.id}::uuid and t.tier_set_id = ${to.id}::uuid
          order by mv.member_id
        returning 1
    )
    select (select count(*) from moved)::int as moved, (select count(*) from history)::int as history,
      (select count(*) from events)::int as events`)) as unknown as Array<{
    moved: number;
    history: number;
    events: number;
  }>;
  const moved = Number(written?.moved ?? 0);
  assert.equal(moved, membersTotal, "every member of the org takes a tier in the new set");
  assert.equal(Number(written?.history), moved, "one history row per member moved");
  assert.equal(Number(written?.events), moved, "one tier.changed per member moved, set to set");

  await tx
    .delete(memberSetTiers)
    .where(and(eq(memberSetTiers.orgId, orgId), eq(memberSetTiers.tierSetId, to.id)));
  const [offRow] = await tx
    .update(tierSets)
    .set({ earning: false, updatedAt: sql`now()` })
    .where(and(eq(tierSets.orgId, orgId), eq(tierSets.id, from.id)))
    .returning();
  const [onRow] = await tx
    .update(tierSets)
    .set({ earning: true, updatedAt: sql`now()` })
    .where(and(eq(tierSets.orgId, orgId), eq(tierSets.id, to.id)))
    .returning();
  assert.ok(offRow !== undefined && onRow !== undefined, "both locked sets are updated");
  const previous = toTierSet(offRow);
  await writeAudit(tx, {
    orgId,
    actor: input.actor,
    action: "tier_set.updated",
    targetType: "tier_set",
    targetId: from.id,
    before: auditView(from),
    after: auditView(previous),
  });
  return { tierSet: toTierSet(onRow), previous, moved };
}

/**
 * Deletes a set that is not the earning one, with its tiers and its members' tiers in it. A tier
 * of it that a promo code or a reward names as its minimum: `conflict`.
 */
export async function deleteTierSet(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; tierSetId: string; actor: AuditActor },
): Promise<void> {
  try {
    await deps.db.transaction(async (tx) => {
      const before = await readTierSetRow(tx, { ...input, forUpdate: true });
      if (before.earning) {
        throw new DomainError("invalid_state", "the earning tier set cannot be deleted", {
          tierSetId: before.id,
        });
      }
      const ids = (
        await tx
          .select({ id: tiers.id })
          .from(tiers)
          .where(and(eq(tiers.orgId, input.orgId), eq(tiers.tierSetId, before.id)))
      ).map((row) => row.id);
      await tx
        .delete(memberSetTiers)
        .where(and(eq(memberSetTiers.orgId, input.orgId), eq(memberSetTiers.tierSetId, before.id)));
      if (ids.length > 0) {
        await tx
          .delete(tierBenefits)
          .where(and(eq(tierBenefits.orgId, input.orgId), inArray(tierBenefits.tierId, ids)));
      }
      await tx
        .delete(tiers)
        .where(and(eq(tiers.orgId, input.orgId), eq(tiers.tierSetId, before.id)));
      await tx
        .delete(tierSets)
        .where(and(eq(tierSets.orgId, input.orgId), eq(tierSets.id, before.id)));
      await writeAudit(tx, {
        orgId: input.orgId,
        actor: input.actor,
        action: "tier_set.deleted",
        targetType: "tier_set",
        targetId: before.id,
        before: { ...auditView(before), tier_ids: ids },
        after: null,
      });
    });
  } catch (error) {
    if (isPostgresError(error, "23503")) {
      throw new DomainError(
        "conflict",
        "a promo code or reward names one of this set's tiers as its minimum",
        { tierSetId: input.tierSetId },
      );
    }
    throw error;
  }
}
