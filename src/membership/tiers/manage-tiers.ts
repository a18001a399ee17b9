/**
 * Tiers of a tier set: an admin creates, lists, reads, changes and deletes them, each write
 * audited in its transaction (`tier.created`, `tier.updated`, `tier.deleted`). Every write locks
 * the set's row and checks the ladder it leaves (ladder.ts): a rank-0 base tier at threshold 0,
 * distinct ranks, thresholds increasing with rank.
 *
 * No write moves a member by itself: a change that can change who qualifies (a new tier, a
 * threshold, `climbable`) answers `reevaluate: true`, and the caller queues the members'
 * re-evaluation on the tiers worker. A multiplier change applies to the next purchase (the
 * purchase path reads it through the member's tier). Deleting a tier that members hold is a
 * `conflict` unless they are reassigned to another tier of the set, in the same transaction, with
 * their history, `tier.changed` and benefit events. A deleted tier keeps its row (history, codes
 * and rewards name it) and leaves its ladder.
 */
import assert from "node:assert/strict";
import { and, asc, count, eq, inArray, isNull, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput } from "../intents/support.ts";
import {
  benefitsPerTierMax,
  tierMultiplierBpsMax,
  tierNameLengthMax,
  tiersPerOrgMax,
  tierThresholdMax,
} from "../limits.ts";
import { type DbExecutor, isPostgresError } from "../store/db.ts";
import { type OutboxEvent, writeOutbox } from "../store/outbox.ts";
import { toTier } from "../store/records.ts";
import {
  benefits,
  memberSetTiers,
  members,
  memberTiers,
  tierBenefits,
  tierSets,
  tiers,
} from "../store/schema.ts";
import type { Tier } from "../types.ts";
import { isUuid } from "../validation.ts";
import { benefitChanges, benefitEvents } from "./benefit-events.ts";
import { type LadderIssue, ladderIssues } from "./ladder.ts";
import { readTierSetRow, type TierSet } from "./manage-tier-sets.ts";
import { earnedSource } from "./progression.ts";

/** A tier as configured, with the benefits it gives. */
export interface ConfiguredTier extends Tier {
  benefitIds: string[];
  updatedAt: Date;
}

export interface TierFields {
  name: string;
  rank: number;
  threshold: bigint;
  multiplierBps: number;
  climbable: boolean;
  immutable: boolean;
  activeFrom: Date | null;
  activeUntil: Date | null;
  benefitIds: string[];
}

export type TierPatch = Partial<TierFields>;

function refuse(field: string, message: string): DomainError {
  return invalidInput(`${field} ${message}`, { field, issues: [{ path: field, message }] });
}

function ladderRefused(issues: LadderIssue[]): DomainError {
  assert.ok(issues.length > 0, "a refused ladder names its issues");
  return invalidInput("the tier set's ladder would not be valid", {
    field: issues[0]?.path,
    issues,
  });
}

function checkFields(fields: TierFields): void {
  if (fields.name.length === 0 || fields.name.length > tierNameLengthMax) {
    throw refuse("name", `must be 1 to ${tierNameLengthMax} characters`);
  }
  if (!Number.isSafeInteger(fields.rank) || fields.rank < 0 || fields.rank >= tiersPerOrgMax * 8) {
    throw refuse("rank", `must be 0 to ${tiersPerOrgMax * 8 - 1}`);
  }
  if (fields.threshold < 0n || fields.threshold > tierThresholdMax) {
    throw refuse("threshold", `must be 0 to ${tierThresholdMax}`);
  }
  if (
    !Number.isSafeInteger(fields.multiplierBps) ||
    fields.multiplierBps < 1 ||
    fields.multiplierBps > tierMultiplierBpsMax
  ) {
    throw refuse("multiplier", "must be above 0 and at most 100");
  }
  if (fields.benefitIds.length > benefitsPerTierMax) {
    throw refuse("benefits", `must name at most ${benefitsPerTierMax} benefits`);
  }
  if (new Set(fields.benefitIds).size !== fields.benefitIds.length) {
    throw refuse("benefits", "must not name a benefit twice");
  }
  if (
    fields.activeFrom !== null &&
    fields.activeUntil !== null &&
    fields.activeFrom.getTime() >= fields.activeUntil.getTime()
  ) {
    throw refuse("active_until", "must be after active_from");
  }
}

/** Every named benefit is one of the org's: `invalid_input` at `benefits.<index>` otherwise. */
async function checkBenefits(tx: DbExecutor, orgId: string, ids: readonly string[]) {
  const valid = ids.filter(isUuid);
  const found = new Set(
    valid.length === 0
      ? []
      : (
          await tx
            .select({ id: benefits.id })
            .from(benefits)
            .where(and(eq(benefits.orgId, orgId), inArray(benefits.id, valid)))
        ).map((row) => row.id),
  );
  const missing = ids.findIndex((id) => !found.has(id));
  if (missing !== -1) {
    throw refuse(`benefits.${missing}`, "is not a benefit of this org");
  }
}

/** The set's live tiers, lowest rank first. */
async function ladderOf(tx: DbExecutor, orgId: string, tierSetId: string): Promise<Tier[]> {
  const rows = await tx
    .select()
    .from(tiers)
    .where(and(eq(tiers.orgId, orgId), eq(tiers.tierSetId, tierSetId), isNull(tiers.deletedAt)))
    .orderBy(asc(tiers.rank))
    .limit(tiersPerOrgMax + 1);
  return rows.map(toTier);
}

function checkLadder(ladder: ReadonlyArray<{ rank: number; qualifyingPointsMin: bigint }>): void {
  // One tier changes at a time, so the issue names the request's field.
  const issues = ladderIssues(
    ladder.map((tier) => ({ rank: tier.rank, threshold: tier.qualifyingPointsMin })),
    (_index, field) => field,
  );
  if (issues.length > 0) {
    throw ladderRefused(issues);
  }
}

async function benefitIdsOf(
  db: DbExecutor,
  orgId: string,
  tierIds: readonly string[],
): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>(tierIds.map((id) => [id, []]));
  if (tierIds.length === 0) {
    return map;
  }
  const rows = await db
    .select({ tierId: tierBenefits.tierId, benefitId: tierBenefits.benefitId })
    .from(tierBenefits)
    .where(and(eq(tierBenefits.orgId, orgId), inArray(tierBenefits.tierId, [...tierIds])))
    .orderBy(asc(tierBenefits.benefitId));
  for (const row of rows) {
    map.get(row.tierId)?.push(row.benefitId);
  }
  return map;
}

async function setBenefits(tx: DbExecutor, orgId: string, tierId: string, ids: string[]) {
  await tx
    .delete(tierBenefits)
    .where(and(eq(tierBenefits.orgId, orgId), eq(tierBenefits.tierId, tierId)));
  if (ids.length > 0) {
    await tx.insert(tierBenefits).values(ids.map((benefitId) => ({ orgId, tierId, benefitId })));
  }
}

function auditView(tier: ConfiguredTier): Record<string, unknown> {
  return {
    tier_set_id: tier.tierSetId,
    name: tier.name,
    rank: tier.rank,
    threshold: tier.qualifyingPointsMin.toString(),
    multiplier_bps: tier.multiplierBps,
    climbable: tier.climbable,
    immutable: tier.immutable,
    active_from: tier.activeFrom?.toISOString() ?? null,
    active_until: tier.activeUntil?.toISOString() ?? null,
    benefits: tier.benefitIds,
  };
}

function configured(row: typeof tiers.$inferSelect, benefitIds: string[]): ConfiguredTier {
  return { ...toTier(row), benefitIds, updatedAt: row.updatedAt };
}

function columnsOf(fields: TierFields) {
  return {
    name: fields.name,
    rank: fields.rank,
    qualifyingPointsMin: fields.threshold,
    multiplierBps: fields.multiplierBps,
    climbable: fields.climbable,
    immutable: fields.immutable,
    activeFrom: fields.activeFrom,
    activeUntil: fields.activeUntil,
  };
}

function nameTaken(error: unknown, name: string): unknown {
  return isPostgresError(error, "23505")
    ? new DomainError("conflict", "a tier with this name or rank exists in the set", { name })
    : error;
}

/** Adds a tier to a set. Errors: `not_found` (set), `invalid_input`, `conflict` (name). */
export async function createTier(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; tierSetId: string; actor: AuditActor } & TierFields,
): Promise<{ tier: ConfiguredTier; tierSet: TierSet; reevaluate: boolean }> {
  const { orgId, actor, tierSetId, ...fields } = input;
  checkFields(fields);
  try {
    return await deps.db.transaction(async (tx) => {
      const tierSet = await readTierSetRow(tx, { orgId, tierSetId, forUpdate: true });
      const ladder = await ladderOf(tx, orgId, tierSet.id);
      if (ladder.length >= tiersPerOrgMax) {
        throw invalidInput("too many tiers in this set", { limit: tiersPerOrgMax });
      }
      checkLadder([...ladder, { rank: fields.rank, qualifyingPointsMin: fields.threshold }]);
      await checkBenefits(tx, orgId, fields.benefitIds);
      const [row] = await tx
        .insert(tiers)
        .values({ orgId, tierSetId: tierSet.id, ...columnsOf(fields) })
        .returning();
      assert.ok(row !== undefined, "insert into tiers returned no row");
      await setBenefits(tx, orgId, row.id, fields.benefitIds);
      const tier = configured(row, [...fields.benefitIds].sort());
      await writeAudit(tx, {
        orgId,
        actor,
        action: "tier.created",
        targetType: "tier",
        targetId: tier.id,
        before: null,
        after: auditView(tier),
      });
      return { tier, tierSet, reevaluate: true };
    });
  } catch (error) {
    throw nameTaken(error, input.name);
  }
}

/** The org's live tiers (of one set when named), by set then rank. */
export async function listConfiguredTiers(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; tierSetId?: string },
): Promise<ConfiguredTier[]> {
  if (input.tierSetId !== undefined && !isUuid(input.tierSetId)) {
    return [];
  }
  const rows = await deps.db
    .select({ tier: tiers })
    .from(tiers)
    .innerJoin(tierSets, and(eq(tierSets.orgId, tiers.orgId), eq(tierSets.id, tiers.tierSetId)))
    .where(
      and(
        eq(tiers.orgId, input.orgId),
        isNull(tiers.deletedAt),
        input.tierSetId === undefined ? undefined : eq(tiers.tierSetId, input.tierSetId),
      ),
    )
    .orderBy(sql`${tierSets.earning} desc`, asc(tierSets.createdAt), asc(tiers.rank))
    .limit(tiersPerOrgMax * 8);
  const ids = await benefitIdsOf(
    deps.db,
    input.orgId,
    rows.map((row) => row.tier.id),
  );
  return rows.map((row) => configured(row.tier, ids.get(row.tier.id) ?? []));
}

async function readTierRow(
  db: DbExecutor,
  input: { orgId: string; tierId: string },
): Promise<typeof tiers.$inferSelect> {
  const notFound = new DomainError("not_found", "tier not found", { tierId: input.tierId });
  if (!isUuid(input.tierId)) {
    throw notFound;
  }
  const [row] = await db
    .select()
    .from(tiers)
    .where(and(eq(tiers.orgId, input.orgId), eq(tiers.id, input.tierId), isNull(tiers.deletedAt)));
  if (row === undefined) {
    throw notFound;
  }
  return row;
}

/** One live tier. Unknown, deleted and another org's ids are the same `not_found`. */
export async function getConfiguredTier(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; tierId: string },
): Promise<ConfiguredTier> {
  const row = await readTierRow(deps.db, input);
  const ids = await benefitIdsOf(deps.db, input.orgId, [row.id]);
  return configured(row, ids.get(row.id) ?? []);
}

/** Changes a tier, checking the ladder it leaves. `benefits`, when given, replaces the list. */
export async function updateTier(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; tierId: string; patch: TierPatch; actor: AuditActor },
): Promise<{ tier: ConfiguredTier; tierSet: TierSet; reevaluate: boolean }> {
  const { orgId, patch } = input;
  try {
    return await deps.db.transaction(async (tx) => {
      const found = await readTierRow(tx, input);
      // The set first, then the tier: the order every tier write takes its locks in.
      const tierSet = await readTierSetRow(tx, {
        orgId,
        tierSetId: found.tierSetId,
        forUpdate: true,
      });
      const row = await readTierRow(tx, input);
      const beforeIds = (await benefitIdsOf(tx, orgId, [row.id])).get(row.id) ?? [];
      const before = configured(row, beforeIds);
      const fields: TierFields = {
        name: patch.name ?? before.name,
        rank: patch.rank ?? before.rank,
        threshold: patch.threshold ?? before.qualifyingPointsMin,
        multiplierBps: patch.multiplierBps ?? before.multiplierBps,
        climbable: patch.climbable ?? before.climbable,
        immutable: patch.immutable ?? before.immutable,
        activeFrom: patch.activeFrom === undefined ? before.activeFrom : patch.activeFrom,
        activeUntil: patch.activeUntil === undefined ? before.activeUntil : patch.activeUntil,
        benefitIds: patch.benefitIds ?? before.benefitIds,
      };
      checkFields(fields);
      const ladder = (await ladderOf(tx, orgId, tierSet.id)).map((tier) =>
        tier.id === row.id
          ? { ...tier, rank: fields.rank, qualifyingPointsMin: fields.threshold }
          : tier,
      );
      checkLadder(ladder);
      if (patch.benefitIds !== undefined) {
        await checkBenefits(tx, orgId, fields.benefitIds);
        await setBenefits(tx, orgId, row.id, fields.benefitIds);
      }
      const [updated] = await tx
        .update(tiers)
        .set({ ...columnsOf(fields), updatedAt: sql`now()` })
        .where(and(eq(tiers.orgId, orgId), eq(tiers.id, row.id)))
        .returning();
      assert.ok(updated !== undefined, "a locked tier is updated");
      assert.equal(updated.tierSetId, before.tierSetId, "a tier never changes set");
      const tier = configured(updated, [...fields.benefitIds].sort());
      await writeAudit(tx, {
        orgId,
        actor: input.actor,
        action: "tier.updated",
        targetType: "tier",
        targetId: row.id,
        before: auditView(before),
        after: auditView(tier),
      });
      // Named in the request, changed or not: a retried request queues the work again.
      const reevaluate =
        patch.threshold !== undefined || patch.climbable !== undefined || patch.rank !== undefined;
      return { tier, tierSet, reevaluate };
    });
  } catch (error) {
    throw nameTaken(error, patch.name ?? "");
  }
}

/** Members holding a tier: in the earning set (`members`), or in another (`member_set_tiers`). */
async function holders(tx: DbExecutor, orgId: string, tierId: string): Promise<number> {
  const [inEarning] = await tx
    .select({ n: count() })
    .from(members)
    .where(and(eq(members.orgId, orgId), eq(members.tierId, tierId)));
  const [inOther] = await tx
    .select({ n: count() })
    .from(memberSetTiers)
    .where(and(eq(memberSetTiers.orgId, orgId), eq(memberSetTiers.tierId, tierId)));
  return (inEarning?.n ?? 0) + (inOther?.n ?? 0);
}

/**
 * Deletes a tier. Held by members: `conflict` (with their count), unless `reassignTo` names
 * another live tier of the same set (else `invalid_input` at `reassign_to`): they move there in
 * this transaction. Scheduled downgrades to it are cancelled (re-evaluation schedules them again).
 * The base tier (rank 0) cannot go: `invalid_input`.
 */
export async function deleteTier(
  deps: Pick<LedgerDeps, "db" | "clock">,
  input: { orgId: string; tierId: string; reassignTo?: string; actor: AuditActor; now: Date },
): Promise<{ tierSet: TierSet; reassigned: number }> {
  const { orgId } = input;
  return deps.db.transaction(async (tx) => {
    const found = await readTierRow(tx, input);
    const tierSet = await readTierSetRow(tx, {
      orgId,
      tierSetId: found.tierSetId,
      forUpdate: true,
    });
    const row = await readTierRow(tx, input);
    const ladder = await ladderOf(tx, orgId, tierSet.id);
    const issues = ladderIssues(
      ladder
        .filter((tier) => tier.id !== row.id)
        .map((tier) => ({ rank: tier.rank, threshold: tier.qualifyingPointsMin })),
      () => "id",
    );
    if (issues.length > 0) {
      throw ladderRefused(issues);
    }
    let target: Tier | null = null;
    if (input.reassignTo !== undefined) {
      target = ladder.find((tier) => tier.id === input.reassignTo && tier.id !== row.id) ?? null;
      if (target === null) {
        throw refuse("reassign_to", "is not another tier of the same tier set");
      }
    }
    const held = await holders(tx, orgId, row.id);
    if (held > 0 && target === null) {
      throw new DomainError("conflict", "members hold this tier: name reassign_to", {
        tierId: row.id,
        members: held,
      });
    }
    const from = toTier(row);
    let reassigned = 0;
    if (target !== null && held > 0) {
      reassigned = await reassignMembers(tx, { orgId, from, to: target, now: input.now });
    }
    await tx
      .update(members)
      .set({ tierDowngradeTierId: null, tierDowngradeAt: null, updatedAt: sql`now()` })
      .where(and(eq(members.orgId, orgId), eq(members.tierDowngradeTierId, row.id)));
    const beforeIds = (await benefitIdsOf(tx, orgId, [row.id])).get(row.id) ?? [];
    await tx
      .delete(tierBenefits)
      .where(and(eq(tierBenefits.orgId, orgId), eq(tierBenefits.tierId, row.id)));
    await tx
      .update(tiers)
      .set({ deletedAt: input.now, updatedAt: sql`now()` })
      .where(and(eq(tiers.orgId, orgId), eq(tiers.id, row.id)));
    await writeAudit(tx, {
      orgId,
      actor: input.actor,
      action: "tier.deleted",
      targetType: "tier",
      targetId: row.id,
      before: auditView(configured(row, beforeIds)),
      after: null,
    });
    return { tierSet, reassigned };
  });
}

/** Moves every holder of `from` to `to` (one set), with history and events. */
async function reassignMembers(
  tx: DbExecutor,
  args: { orgId: string; from: Tier; to: Tier; now: Date },
): Promise<number> {
  const { orgId, from, to, now } = args;
  assert.equal(from.tierSetId, to.tierSetId, "a reassignment stays in its set");
  const moved = await tx
    .update(members)
    .set({
      tierId: to.id,
      // An override stays an override (in its new tier); an earned tier follows the new one.
      tierSource: sql`case when ${members.tierSource} = 'override' then 'override'::tier_source else ${earnedSource(to)}::tier_source end`,
      tierSince: now,
      tierDowngradeTierId: null,
      tierDowngradeAt: null,
      updatedAt: sql`now()`,
    })
    .where(and(eq(members.orgId, orgId), eq(members.tierId, from.id)))
    .returning({ id: members.id });
  if (moved.length > 0) {
    const ids = moved.map((member) => member.id);
    for (let start = 0; start < ids.length; start += 1_000) {
      const slice = ids.slice(start, start + 1_000);
      await tx.insert(memberTiers).values(
        slice.map((memberId) => ({
          orgId,
          memberId,
          tierId: to.id,
          reason: "reassigned",
          effectiveAt: now,
        })),
      );
      const events: OutboxEvent[] = slice.map((memberId) => ({
        orgId,
        topic: "tier.changed",
        payload: {
          member_id: memberId,
          from: { id: from.id, name: from.name },
          to: { id: to.id, name: to.name },
          reason: "reassigned",
          qualifying_value: null,
        },
      }));
      await writeOutbox(tx, events);
    }
  }
  const movedOther = await tx
    .update(memberSetTiers)
    .set({ tierId: to.id, since: now, updatedAt: sql`now()` })
    .where(and(eq(memberSetTiers.orgId, orgId), eq(memberSetTiers.tierId, from.id)))
    .returning({ id: memberSetTiers.memberId });
  const all = [...moved, ...movedOther].map((member) => member.id);
  const changes = await benefitChanges(tx, { orgId, from, to, now });
  for (let start = 0; start < all.length; start += 1_000) {
    await writeOutbox(
      tx,
      all.slice(start, start + 1_000).flatMap((memberId) => benefitEvents(changes, memberId)),
    );
  }
  return all.length;
}
