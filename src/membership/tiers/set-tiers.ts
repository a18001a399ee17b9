/**
 * Tiers of the sets that are not the earning one (their tier lives in `member_set_tiers`; no row
 * is the set's base tier), a member's active benefits across every set, walking an org's members
 * in pages, and the tier simulation.
 *
 * Evaluation of another set reads the member's ledger history with that set's own metric and
 * window (qualifying.ts, as for the earning set) and moves up at once; it moves down only when
 * the tier's review date (one window after it was reached) plus the set's grace has passed. There
 * is no scheduled downgrade for these sets: a member is re-evaluated after each purchase or
 * refund and when the set's tiers change, so one who never buys again keeps the tier until then.
 */
import assert from "node:assert/strict";
import { and, asc, eq, gt, inArray, isNull, ne, sql } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput, loadOrgLedger, nowOf } from "../intents/support.ts";
import { tiersPerOrgMax, tierWalkPageMax, tierWalkPagesMax } from "../limits.ts";
import type { DbExecutor } from "../store/db.ts";
import { executeStatement } from "../store/db.ts";
import { toTier } from "../store/records.ts";
import {
  benefits,
  memberSetTiers,
  members,
  tierBenefits,
  tierSets,
  tiers,
} from "../store/schema.ts";
import type { Tier } from "../types.ts";
import { isUuid } from "../validation.ts";
import { benefitActiveAt, writeBenefitEvents } from "./benefit-events.ts";
import { ladderIssues } from "./ladder.ts";
import { readTierSetRow, type TierSet, toTierSet } from "./manage-tier-sets.ts";
import { qualifiedTier } from "./progression.ts";
import { addMonthsUtc, qualifyingValue } from "./qualifying.ts";

/** A set's live tiers, lowest rank first. */
export async function setLadder(db: DbExecutor, orgId: string, tierSetId: string): Promise<Tier[]> {
  const rows = await db
    .select()
    .from(tiers)
    .where(and(eq(tiers.orgId, orgId), eq(tiers.tierSetId, tierSetId), isNull(tiers.deletedAt)))
    .orderBy(asc(tiers.rank))
    .limit(tiersPerOrgMax);
  assert.ok(rows.length > 0 && rows[0]?.rank === 0, "every tier set has its base tier");
  return rows.map(toTier);
}

export type SetEvaluation = "unchanged" | "upgraded" | "downgraded" | "skipped";

/**
 * Re-evaluates the member's tier in one set that is not the earning one. Unknown member:
 * `not_found`; a closed member is skipped.
 */
export async function evaluateMemberSetTier(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string; tierSet: TierSet },
): Promise<SetEvaluation> {
  const { tierSet } = input;
  assert.ok(!tierSet.earning, "the earning set is evaluated by progression.ts");
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  const [member] = isUuid(input.memberId)
    ? await deps.db
        .select({ id: members.id, status: members.status })
        .from(members)
        .where(and(eq(members.orgId, org.id), eq(members.id, input.memberId)))
    : [];
  if (member === undefined) {
    throw new DomainError("not_found", "member not found", { memberId: input.memberId });
  }
  if (member.status === "closed") {
    return "skipped";
  }
  const now = nowOf(deps);
  const qualifying = await qualifyingValue(deps.ledger, {
    pointsLedger,
    memberId: member.id,
    metric: tierSet.metric,
    windowMonths: tierSet.windowMonths,
    now,
  });
  return deps.db.transaction(async (tx) => {
    // The member's row serialises evaluations of one member, so events are written once.
    await tx
      .select({ id: members.id })
      .from(members)
      .where(and(eq(members.orgId, org.id), eq(members.id, member.id)))
      .for("update");
    // A switch of the earning set holds every member's row until it commits, so this reads its
    // outcome: a set that became earning since `tierSet` was read lives on `members` now.
    const [still] = await tx
      .select({ earning: tierSets.earning })
      .from(tierSets)
      .where(and(eq(tierSets.orgId, org.id), eq(tierSets.id, tierSet.id)));
    if (still === undefined || still.earning) {
      return "skipped";
    }
    const ladder = await setLadder(tx, org.id, tierSet.id);
    const [held] = await tx
      .select()
      .from(memberSetTiers)
      .where(
        and(
          eq(memberSetTiers.orgId, org.id),
          eq(memberSetTiers.memberId, member.id),
          eq(memberSetTiers.tierSetId, tierSet.id),
        ),
      );
    const base = ladder[0] as Tier;
    const current = ladder.find((tier) => tier.id === held?.tierId) ?? base;
    if (current.immutable) {
      return "unchanged";
    }
    const qualified = qualifiedTier(ladder, qualifying.value);
    if (qualified.id === current.id) {
      return "unchanged";
    }
    if (qualified.rank < current.rank && held !== undefined) {
      const dueAt =
        addMonthsUtc(held.since, tierSet.windowMonths).getTime() + tierSet.graceDays * 86_400_000;
      if (dueAt > now.getTime()) {
        return "unchanged";
      }
    }
    await tx
      .insert(memberSetTiers)
      .values({
        orgId: org.id,
        memberId: member.id,
        tierSetId: tierSet.id,
        tierId: qualified.id,
        since: now,
      })
      .onConflictDoUpdate({
        target: [memberSetTiers.orgId, memberSetTiers.memberId, memberSetTiers.tierSetId],
        set: { tierId: qualified.id, since: now, updatedAt: sql`now()` },
      });
    await writeBenefitEvents(tx, {
      orgId: org.id,
      memberId: member.id,
      from: current,
      to: qualified,
      now,
    });
    return qualified.rank > current.rank ? "upgraded" : "downgraded";
  });
}

/** The org's sets other than the earning one. */
export async function otherTierSets(db: DbExecutor, orgId: string): Promise<TierSet[]> {
  const rows = await db
    .select()
    .from(tierSets)
    .where(and(eq(tierSets.orgId, orgId), eq(tierSets.earning, false)))
    .orderBy(asc(tierSets.createdAt));
  return rows.map(toTierSet);
}

/** Re-evaluates the member in every set other than the earning one; how many changed. */
export async function evaluateMemberOtherTiers(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<number> {
  let changed = 0;
  for (const tierSet of await otherTierSets(deps.db, input.orgId)) {
    const outcome = await evaluateMemberSetTier(deps, { ...input, tierSet });
    if (outcome === "upgraded" || outcome === "downgraded") {
      changed += 1;
    }
  }
  return changed;
}

/** A page of the org's members that are not closed, by id after `after`. */
export async function memberPage(
  db: DbExecutor,
  input: { orgId: string; after: string | null; limit: number },
): Promise<string[]> {
  assert.ok(input.limit >= 1 && input.limit <= tierWalkPageMax, "a page within its bound");
  const rows = await db
    .select({ id: members.id })
    .from(members)
    .where(
      and(
        eq(members.orgId, input.orgId),
        ne(members.status, "closed"),
        input.after === null ? undefined : gt(members.id, input.after),
      ),
    )
    .orderBy(asc(members.id))
    .limit(input.limit);
  return rows.map((row) => row.id);
}

/** Calls `visit` for every member of the org that is not closed, in bounded pages. */
export async function walkMembers(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; pageSize?: number },
  visit: (memberIds: string[]) => Promise<void>,
): Promise<number> {
  const limit = input.pageSize ?? tierWalkPageMax;
  let after: string | null = null;
  let visited = 0;
  for (let page = 0; page < tierWalkPagesMax; page++) {
    const ids = await memberPage(deps.db, { orgId: input.orgId, after, limit });
    if (ids.length > 0) {
      await visit(ids);
      visited += ids.length;
    }
    const last = ids[ids.length - 1];
    if (ids.length < limit || last === undefined) {
      return visited;
    }
    after = last;
  }
  assert.fail("an org's members fit the walk's bound");
}

export interface MemberBenefit {
  benefitId: string;
  name: string;
  description: string | null;
  kind: "perk" | "points_multiplier";
  valueBps: number | null;
  activeFrom: Date | null;
  activeUntil: Date | null;
  source: { type: "tier"; tierId: string; tierSetId: string };
}

/**
 * The benefits active now of the tiers the member holds: the earning set's (`members.tier_id`)
 * and each other set's (its row, else the set's base tier). Unknown member: `not_found`.
 */
export async function listMemberBenefits(
  deps: Pick<LedgerDeps, "db" | "clock">,
  input: { orgId: string; memberId: string },
): Promise<MemberBenefit[]> {
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId)) {
    throw notFound;
  }
  const held = await executeStatement<{ tier_id: string; tier_set_id: string; member: boolean }>(
    deps.db,
    `with k as (
       select ($1::jsonb ->> 'org_id')::uuid as org_id, ($1::jsonb ->> 'member_id')::uuid as member_id
     )
     select t.id as tier_id, t.tier_set_id, true as member
       from k join members m on m.org_id = k.org_id and m.id = k.member_id
       join tiers t on t.org_id = m.org_id and t.id = m.tier_id
     union all
     select coalesce(mst.tier_id, base.id), s.id, true
       from k join members m on m.org_id = k.org_id and m.id = k.member_id
       join tier_sets s on s.org_id = k.org_id and not s.earning
       join tiers base on base.org_id = s.org_id and base.tier_set_id = s.id and base.rank = 0
         and base.deleted_at is null
       left join member_set_tiers mst on mst.org_id = k.org_id and mst.member_id = k.member_id
         and mst.tier_set_id = s.id`,
    JSON.stringify({ org_id: input.orgId, member_id: input.memberId }),
  );
  if (held.length === 0) {
    throw notFound;
  }
  const setOf = new Map(held.map((row) => [row.tier_id, row.tier_set_id]));
  const rows = await deps.db
    .select({ tierId: tierBenefits.tierId, benefit: benefits })
    .from(tierBenefits)
    .innerJoin(
      benefits,
      and(eq(benefits.orgId, tierBenefits.orgId), eq(benefits.id, tierBenefits.benefitId)),
    )
    .where(
      and(
        eq(tierBenefits.orgId, input.orgId),
        inArray(tierBenefits.tierId, [...setOf.keys()]),
        benefitActiveAt(nowOf(deps)),
      ),
    )
    .orderBy(asc(benefits.name), asc(benefits.id));
  return rows.map(({ tierId, benefit }) => {
    const tierSetId = setOf.get(tierId);
    assert.ok(tierSetId !== undefined, "a benefit comes from a held tier");
    return {
      benefitId: benefit.id,
      name: benefit.name,
      description: benefit.description,
      kind: benefit.kind,
      valueBps: benefit.valueBps,
      activeFrom: benefit.activeFrom,
      activeUntil: benefit.activeUntil,
      source: { type: "tier", tierId, tierSetId },
    };
  });
}

export interface SimulatedTier {
  name: string;
  rank: number;
  threshold: bigint;
  multiplierBps: number;
}

export interface TierSimulation {
  membersTotal: number;
  tiers: Array<{ name: string; members: number }>;
  moves: { up: number; down: number; same: number };
}

/**
 * Where the org's members (every one not closed) would stand in `tierSetId` with the ladder
 * `tiers`, from each member's ledger history with the set's metric and window (as evaluation
 * reads it), against the tier each holds in that set now, compared by rank. Members without a
 * purchase land in the base tier. Nothing is written. The ladder is checked as tier writes check
 * it (`invalid_input` with paths `tiers.<index>.<field>`); unknown set: `not_found`.
 */
export async function simulateTiers(
  deps: LedgerDeps,
  input: { orgId: string; tierSetId: string; tiers: SimulatedTier[] },
): Promise<TierSimulation> {
  const issues = ladderIssues(
    input.tiers.map((tier) => ({ rank: tier.rank, threshold: tier.threshold })),
    (index, field) => `tiers.${index}.${field}`,
  );
  if (issues.length > 0) {
    throw invalidInput("the simulated ladder is not valid", { field: issues[0]?.path, issues });
  }
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  const tierSet = await readTierSetRow(deps.db, { orgId: org.id, tierSetId: input.tierSetId });
  // The earning set's metric and window are the org's settings (manage-tier-sets.ts).
  const metric = tierSet.earning ? org.settings.tierMetric : tierSet.metric;
  const windowMonths = tierSet.earning ? org.settings.tierWindowMonths : tierSet.windowMonths;
  const ladder = [...input.tiers].sort((a, b) => a.rank - b.rank);
  const simulated: Tier[] = ladder.map((tier, index) => ({
    id: `simulated-${index}`,
    orgId: org.id,
    name: tier.name,
    rank: tier.rank,
    qualifyingPointsMin: tier.threshold,
    multiplierBps: tier.multiplierBps,
    immutable: false,
    tierSetId: tierSet.id,
    climbable: true,
    activeFrom: null,
    activeUntil: null,
    createdAt: new Date(0),
  }));
  const counts = new Map<string, number>(simulated.map((tier) => [tier.id, 0]));
  const moves = { up: 0, down: 0, same: 0 };
  const now = nowOf(deps);
  const currentRanks = async (ids: string[]): Promise<Map<string, number>> => {
    const rows = tierSet.earning
      ? await deps.db
          .select({ memberId: members.id, rank: tiers.rank })
          .from(members)
          .innerJoin(tiers, and(eq(tiers.orgId, members.orgId), eq(tiers.id, members.tierId)))
          .where(and(eq(members.orgId, org.id), inArray(members.id, ids)))
      : await deps.db
          .select({ memberId: memberSetTiers.memberId, rank: tiers.rank })
          .from(memberSetTiers)
          .innerJoin(
            tiers,
            and(eq(tiers.orgId, memberSetTiers.orgId), eq(tiers.id, memberSetTiers.tierId)),
          )
          .where(
            and(
              eq(memberSetTiers.orgId, org.id),
              eq(memberSetTiers.tierSetId, tierSet.id),
              inArray(memberSetTiers.memberId, ids),
            ),
          );
    return new Map(rows.map((row) => [row.memberId, row.rank]));
  };
  const membersTotal = await walkMembers(deps, { orgId: org.id }, async (ids) => {
    const ranks = await currentRanks(ids);
    for (const memberId of ids) {
      const qualifying = await qualifyingValue(deps.ledger, {
        pointsLedger,
        memberId,
        metric,
        windowMonths,
        now,
      });
      const tier = qualifiedTier(simulated, qualifying.value);
      counts.set(tier.id, (counts.get(tier.id) ?? 0) + 1);
      // No row in another set: the base tier, rank 0.
      const current = ranks.get(memberId) ?? 0;
      if (tier.rank > current) {
        moves.up += 1;
      } else if (tier.rank < current) {
        moves.down += 1;
      } else {
        moves.same += 1;
      }
    }
  });
  const result: TierSimulation = {
    membersTotal,
    tiers: simulated.map((tier) => ({ name: tier.name, members: counts.get(tier.id) ?? 0 })),
    moves,
  };
  assert.equal(
    result.tiers.reduce((sum, tier) => sum + tier.members, 0),
    membersTotal,
    "every member lands in exactly one simulated tier",
  );
  assert.equal(moves.up + moves.down + moves.same, membersTotal, "every member's move is counted");
  return result;
}
