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
 * Moving `earning` to another set is refused (`invalid_state`): it would have to swap every
 * member's `tier_id` to their tier in the new set in one transaction, which is not built.
 */
import assert from "node:assert/strict";
import { and, asc, count, eq, inArray, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput } from "../intents/support.ts";
import { tierSetNameLengthMax, tierSetsPerOrgMax } from "../limits.ts";
import {
  orgSettingsSchema,
  settingsDaysMax,
  settingsMonthsMax,
  type TierMetric,
} from "../orgs/settings.ts";
import { invalidateOrgCaches } from "../store/caches.ts";
import { type DbExecutor, isPostgresError } from "../store/db.ts";
import { toOrg } from "../store/records.ts";
import { memberSetTiers, orgs, tierBenefits, tierSets, tiers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

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
      const [org] = await tx
        .select({ id: orgs.id })
        .from(orgs)
        .where(eq(orgs.id, input.orgId))
        .for("update");
      if (org === undefined) {
        throw new DomainError("not_found", "org not found", { orgId: input.orgId });
      }
      const [existing] = await tx
        .select({ n: count() })
        .from(tierSets)
        .where(eq(tierSets.orgId, org.id));
      if ((existing?.n ?? 0) >= tierSetsPerOrgMax) {
        throw invalidInput("too many tier sets", { limit: tierSetsPerOrgMax });
      }
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
 * Changes a set. `earning` may only be given as it already is (moving it: `invalid_state`). For
 * the earning set, metric, window and grace are written to the org's settings too. `reevaluate`
 * says whether members' tiers in the set may follow (metric or window changed).
 */
export async function updateTierSet(
  deps: Pick<LedgerDeps, "db" | "caches">,
  input: { orgId: string; tierSetId: string; patch: TierSetPatch; actor: AuditActor },
): Promise<{ tierSet: TierSet; reevaluate: boolean }> {
  const { patch } = input;
  let result: { tierSet: TierSet; reevaluate: boolean };
  try {
    result = await deps.db.transaction(async (tx) => {
      const before = await readTierSetRow(tx, { ...input, forUpdate: true });
      if (patch.earning !== undefined && patch.earning !== before.earning) {
        throw new DomainError(
          "invalid_state",
          "moving earning to another tier set is not supported: members' tiers would have to " +
            "move between sets in one transaction",
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
      const after = toTierSet(row);
      if (after.earning) {
        const [orgRow] = await tx.select().from(orgs).where(eq(orgs.id, input.orgId)).for("update");
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
        before.metric !== after.metric || before.windowMonths !== after.windowMonths;
      return { tierSet: after, reevaluate };
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
