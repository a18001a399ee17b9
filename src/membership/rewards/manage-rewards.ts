/**
 * The rewards catalog: an admin creates, lists, reads and changes what members may spend points
 * on. Every change writes its audit entry (`reward.created`, `reward.updated`) in its own
 * transaction. A limited inventory is stocked on the org's inventory ledger once the reward row
 * is committed (see reward-stock.ts); redemptions hold its units (create-redemption.ts).
 *
 * The HTTP edge validates the same bounds with field paths; these checks are the domain's own, for
 * every other caller, and for what only the merged reward shows (a voucher's value cleared, a
 * window whose start a change moved past its stored end). Errors name fields in the wire's words.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { and, asc, eq, sql } from "drizzle-orm";
import { type AuditActor, platformActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput, loadOrgLedger } from "../intents/support.ts";
import {
  amountMinorMax,
  documentPointsMax,
  rewardCountMax,
  rewardDescriptionLengthMax,
  rewardNameLengthMax,
  rewardsPerOrgMax,
} from "../limits.ts";
import { lockOrgForCreation } from "../store/bounded-creation.ts";
import type { DbExecutor } from "../store/db.ts";
import { rewards, tiers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { settleStock, settleStockLocked, stockMoveOwed } from "./reward-stock.ts";

export const rewardKinds = ["item", "voucher", "cashback"] as const;
export type RewardKind = (typeof rewardKinds)[number];

export interface Reward {
  id: string;
  name: string;
  description: string | null;
  kind: RewardKind;
  costPoints: bigint;
  /** Vouchers and cashback: their worth in minor units; null for an item. */
  valueMinor: bigint | null;
  /**
   * Units offered in all: on hand, held by pending redemptions, and given out since it was set;
   * null: unlimited.
   */
  inventory: bigint | null;
  minTierId: string | null;
  activeFrom: Date | null;
  activeUntil: Date | null;
  perMemberLimit: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The fields a reward is configured with; `kind` only at creation. */
interface RewardFields {
  name: string;
  description: string | null;
  costPoints: bigint;
  valueMinor: bigint | null;
  inventory: bigint | null;
  minTierId: string | null;
  activeFrom: Date | null;
  activeUntil: Date | null;
  perMemberLimit: number | null;
}

export interface CreateRewardInput {
  orgId: string;
  name: string;
  description?: string | null;
  kind: RewardKind;
  costPoints: bigint;
  valueMinor?: bigint | null;
  /** Absent or null: unlimited. */
  inventory?: bigint | null;
  minTierId?: string | null;
  activeFrom?: Date | null;
  activeUntil?: Date | null;
  perMemberLimit?: number | null;
  /** Who asks, for the audit log; the platform itself when absent. */
  actor?: AuditActor;
}

/** Absent fields are unchanged; null clears an optional one. `kind` never changes. */
export interface RewardPatch {
  name?: string;
  description?: string | null;
  costPoints?: bigint;
  valueMinor?: bigint | null;
  inventory?: bigint | null;
  minTierId?: string | null;
  activeFrom?: Date | null;
  activeUntil?: Date | null;
  perMemberLimit?: number | null;
}

function refuse(field: string, message: string): DomainError {
  return invalidInput(`${field} ${message}`, { field, issues: [{ path: field, message }] });
}

/** Throws `invalid_input` naming the first field out of bounds, for this kind. */
function checkFields(kind: RewardKind, fields: RewardFields): void {
  if (fields.name.length === 0 || fields.name.length > rewardNameLengthMax) {
    throw refuse("name", `must be 1 to ${rewardNameLengthMax} characters`);
  }
  if (fields.description !== null && fields.description.length > rewardDescriptionLengthMax) {
    throw refuse("description", `must be at most ${rewardDescriptionLengthMax} characters`);
  }
  if (fields.costPoints < 1n || fields.costPoints > documentPointsMax) {
    throw refuse("cost_points", `must be 1 to ${documentPointsMax}`);
  }
  if (kind === "item" && fields.valueMinor !== null) {
    throw refuse("value_minor", "is not allowed for an item");
  }
  if (kind !== "item") {
    if (fields.valueMinor === null) {
      throw refuse("value_minor", `is required for a ${kind}`);
    }
    if (fields.valueMinor < 1n || fields.valueMinor > amountMinorMax) {
      throw refuse("value_minor", `must be 1 to ${amountMinorMax}`);
    }
  }
  if (
    fields.inventory !== null &&
    (fields.inventory < 0n || fields.inventory > BigInt(rewardCountMax))
  ) {
    throw refuse("inventory", `must be 0 to ${rewardCountMax}`);
  }
  if (
    fields.perMemberLimit !== null &&
    (!Number.isSafeInteger(fields.perMemberLimit) ||
      fields.perMemberLimit < 1 ||
      fields.perMemberLimit > rewardCountMax)
  ) {
    throw refuse("per_member_limit", `must be 1 to ${rewardCountMax}`);
  }
  for (const [field, at] of [
    ["active_from", fields.activeFrom],
    ["active_until", fields.activeUntil],
  ] as const) {
    if (at !== null && Number.isNaN(at.getTime())) {
      throw refuse(field, "is not a date");
    }
  }
  if (
    fields.activeFrom !== null &&
    fields.activeUntil !== null &&
    fields.activeFrom.getTime() >= fields.activeUntil.getTime()
  ) {
    throw refuse("active_until", "must be after active_from");
  }
}

/** A minimum tier must be one of the org's tiers: `invalid_input` at `min_tier_id` otherwise. */
async function checkTier(db: DbExecutor, orgId: string, tierId: string | null): Promise<void> {
  if (tierId === null) {
    return;
  }
  const unknown = refuse("min_tier_id", "is not a tier of this org");
  if (!isUuid(tierId)) {
    throw unknown;
  }
  const [tier] = await db
    .select({ id: tiers.id })
    .from(tiers)
    .where(and(eq(tiers.orgId, orgId), eq(tiers.id, tierId)))
    .limit(1);
  if (tier === undefined) {
    throw unknown;
  }
}

export function toReward(row: typeof rewards.$inferSelect): Reward {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    kind: row.kind,
    costPoints: row.costPoints,
    valueMinor: row.valueMinor,
    inventory: row.inventory,
    minTierId: row.minTierId,
    activeFrom: row.activeFrom,
    activeUntil: row.activeUntil,
    perMemberLimit: row.perMemberLimit,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The audit log's view of a reward: the wire's words, integers as decimal strings. */
export function rewardAuditView(reward: Reward): Record<string, unknown> {
  return {
    name: reward.name,
    description: reward.description,
    kind: reward.kind,
    cost_points: reward.costPoints.toString(),
    value_minor: reward.valueMinor?.toString() ?? null,
    inventory: reward.inventory?.toString() ?? null,
    min_tier_id: reward.minTierId,
    active_from: reward.activeFrom?.toISOString() ?? null,
    active_until: reward.activeUntil?.toISOString() ?? null,
    per_member_limit: reward.perMemberLimit,
  };
}

/** Creates a reward with its `reward.created` entry. Errors: `invalid_input`, `not_found` (org). */
export async function createReward(deps: LedgerDeps, input: CreateRewardInput): Promise<Reward> {
  if (!(rewardKinds as readonly string[]).includes(input.kind)) {
    throw refuse("kind", "must be item, voucher or cashback");
  }
  const fields: RewardFields = {
    name: input.name,
    description: input.description ?? null,
    costPoints: input.costPoints,
    valueMinor: input.valueMinor ?? null,
    inventory: input.inventory ?? null,
    minTierId: input.minTierId ?? null,
    activeFrom: input.activeFrom ?? null,
    activeUntil: input.activeUntil ?? null,
    perMemberLimit: input.perMemberLimit ?? null,
  };
  checkFields(input.kind, fields);
  const { org } = await loadOrgLedger(deps, input.orgId);
  await checkTier(deps.db, org.id, fields.minTierId);
  const created = await deps.db.transaction(async (tx) => {
    await lockOrgForCreation(tx, {
      orgId: org.id,
      table: rewards,
      orgColumn: rewards.orgId,
      max: rewardsPerOrgMax,
      what: "rewards",
    });
    const [inserted] = await tx
      .insert(rewards)
      .values({ id: randomUUID(), orgId: org.id, kind: input.kind, ...fields })
      .returning();
    assert.ok(inserted !== undefined, "insert into rewards returned no row");
    const created = toReward(inserted);
    await writeAudit(tx, {
      orgId: org.id,
      actor: input.actor ?? platformActor,
      action: "reward.created",
      targetType: "reward",
      targetId: created.id,
      before: null,
      after: rewardAuditView(created),
    });
    return created;
  });
  if (created.inventory === null || created.inventory === 0n) {
    return created;
  }
  // The reward exists from its commit on; its stock follows (and any redemption of it first
  // settles a move still owed, so a crash here delays the stock, never loses it).
  return toReward(await settleStock(deps, { orgId: org.id, rewardId: created.id }));
}

/** The org's rewards, oldest first: all of them (at most `rewardsPerOrgMax`). */
export async function listRewards(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string },
): Promise<Reward[]> {
  if (!isUuid(input.orgId)) {
    return [];
  }
  const rows = await deps.db
    .select()
    .from(rewards)
    .where(eq(rewards.orgId, input.orgId))
    .orderBy(asc(rewards.createdAt), asc(rewards.id))
    .limit(rewardsPerOrgMax);
  return rows.map(toReward);
}

async function readRewardRow(
  db: DbExecutor,
  input: { orgId: string; rewardId: string; forUpdate?: boolean },
): Promise<typeof rewards.$inferSelect> {
  const notFound = new DomainError("not_found", "reward not found", { rewardId: input.rewardId });
  if (!isUuid(input.rewardId) || !isUuid(input.orgId)) {
    throw notFound;
  }
  const query = db
    .select()
    .from(rewards)
    .where(and(eq(rewards.orgId, input.orgId), eq(rewards.id, input.rewardId)));
  const [row] = input.forUpdate === true ? await query.for("update") : await query;
  if (row === undefined) {
    throw notFound;
  }
  return row;
}

/** One of the org's rewards. Unknown and another org's ids are the same `not_found`. */
export async function getReward(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; rewardId: string },
): Promise<Reward> {
  return toReward(await readRewardRow(deps.db, input));
}

function merged<K extends keyof RewardPatch & keyof RewardFields>(
  patch: RewardPatch,
  before: Reward,
  key: K,
): RewardFields[K] {
  const value = patch[key];
  return (value === undefined ? before[key] : value) as RewardFields[K];
}

/**
 * Applies the patch under the reward's row lock, checks the merged reward (a voucher keeps a
 * value, a window starts before it ends), and writes `reward.updated` with the reward before
 * and after, in one transaction. Unknown or another org's reward: `not_found`.
 *
 * A changed inventory moves stock on the ledger after that commit: the difference in when raised,
 * out (a balancing debit) when lowered. Lowering never takes units held by pending redemptions or
 * given out: the answer then shows the inventory where it stopped.
 */
export async function updateReward(
  deps: LedgerDeps,
  input: { orgId: string; rewardId: string; patch: RewardPatch; actor: AuditActor },
): Promise<Reward> {
  const { patch } = input;
  const updated = await deps.db.transaction(async (tx) => {
    const locked = await readRewardRow(tx, { ...input, forUpdate: true });
    // A move owed for the inventory as it stands is made first: the inventory never changes
    // while a move of its number is unrecorded.
    const row = await settleStockLocked(deps, tx, locked);
    const before = toReward(row);
    const fields: RewardFields = {
      name: merged(patch, before, "name"),
      description: merged(patch, before, "description"),
      costPoints: merged(patch, before, "costPoints"),
      valueMinor: merged(patch, before, "valueMinor"),
      inventory: merged(patch, before, "inventory"),
      minTierId: merged(patch, before, "minTierId"),
      activeFrom: merged(patch, before, "activeFrom"),
      activeUntil: merged(patch, before, "activeUntil"),
      perMemberLimit: merged(patch, before, "perMemberLimit"),
    };
    checkFields(before.kind, fields);
    if (patch.minTierId !== undefined) {
      await checkTier(tx, input.orgId, fields.minTierId);
    }
    const [updated] = await tx
      .update(rewards)
      .set({ ...fields, updatedAt: sql`now()` })
      .where(and(eq(rewards.orgId, input.orgId), eq(rewards.id, row.id)))
      .returning();
    assert.ok(updated !== undefined, "a locked reward is updated");
    assert.equal(updated.kind, row.kind, "a reward's kind never changes");
    const after = toReward(updated);
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "reward.updated",
      targetType: "reward",
      targetId: row.id,
      before: rewardAuditView(before),
      after: rewardAuditView(after),
    });
    return updated;
  });
  if (!stockMoveOwed(updated)) {
    return toReward(updated);
  }
  return toReward(await settleStock(deps, { orgId: input.orgId, rewardId: updated.id }));
}
