import assert from "node:assert/strict";
import { and, eq, inArray, notInArray, sql } from "drizzle-orm";
import { holdSecondsMax, holdTransferId, uuidV7 } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { failedIntentError, recordIntent } from "../intents/protocol.ts";
import {
  idText,
  interrupt,
  invalidInput,
  loadOrgLedger,
  nowOf,
  requestHash,
} from "../intents/support.ts";
import type { Redemption } from "../ledger-types.ts";
import { documentPointsMax, externalIdLengthMax, rewardQuantityMax } from "../limits.ts";
import { ensureEnrolled } from "../members/ledger-enrollment.ts";
import { inventoryLedgerOf, settleStock, stockMoveOwed } from "../rewards/reward-stock.ts";
import { members, redemptions, rewards, tiers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { driveHold, type RedemptionRow, toRedemption } from "./redemption-ledger.ts";

export interface CreateRedemptionInput {
  orgId: string;
  memberId: string;
  /** Plain points; exactly one of `points` and `reward`. */
  points?: bigint;
  /**
   * A catalog reward: its cost × quantity is held, and with a limited inventory its units too,
   * in the same linked chain. `quantity` defaults to 1, at most `rewardQuantityMax`.
   */
  reward?: { rewardId: string; quantity?: number };
  /** The caller's idempotency key; without one every call is a new redemption. */
  externalId?: string;
  /** How long the hold lives; the org's `holdSecondsDefault` when absent; at most 7 days. */
  holdSeconds?: number;
}

/**
 * Holds `points` of a member's wallet for a redemption: a pending transfer that the ledger
 * refuses when the points are not available (the wallet's flag forbids overdrawing, so
 * concurrent redemptions can never spend the same points) and expires on its own unless
 * fulfilled or cancelled. The intent row is written first, then the hold is posted, then the row
 * is confirmed with a `redemption.created` event.
 *
 * With `externalId`, a retry returns the same redemption as it stands now; a different request
 * under the same id is a `conflict`. A refusal (`insufficient_points`, `out_of_stock`,
 * `member_inactive`) is final for its external id: every retry answers the same refusal.
 * Errors: `not_found`, `member_inactive`, `insufficient_points`, `invalid_input`, `conflict`; for
 * a reward also `out_of_stock`, `reward_not_active`, `tier_too_low`, `limit_reached` (those three
 * are checked before anything is recorded: a retry once they no longer hold can succeed).
 */
export async function createRedemption(
  deps: LedgerDeps,
  input: CreateRedemptionInput,
): Promise<Redemption> {
  if ((input.points === undefined) === (input.reward === undefined)) {
    throw invalidInput("either points or a reward", { field: "points" });
  }
  if (
    input.points !== undefined &&
    (typeof input.points !== "bigint" || input.points < 1n || input.points > documentPointsMax)
  ) {
    throw invalidInput("points out of range", { field: "points" });
  }
  const quantity = input.reward?.quantity ?? 1;
  if (!Number.isSafeInteger(quantity) || quantity < 1 || quantity > rewardQuantityMax) {
    throw invalidInput("quantity out of range", { field: "quantity", max: rewardQuantityMax });
  }
  const externalId = input.externalId ?? null;
  if (externalId !== null && (externalId.length === 0 || externalId.length > externalIdLengthMax)) {
    throw invalidInput("external id length out of range", { field: "externalId" });
  }
  const requested = input.holdSeconds ?? null;
  if (
    requested !== null &&
    (!Number.isSafeInteger(requested) || requested < 1 || requested > holdSecondsMax)
  ) {
    throw invalidInput("hold seconds out of range", { field: "holdSeconds", max: holdSecondsMax });
  }
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId)) {
    throw notFound;
  }
  const { org } = await loadOrgLedger(deps, input.orgId);
  const hash =
    input.reward === undefined
      ? requestHash({
          kind: "redemption.v1",
          member_id: input.memberId,
          points: input.points ?? null,
          hold_seconds: requested,
          external_id: externalId,
        })
      : requestHash({
          kind: "redemption.reward.v1",
          member_id: input.memberId,
          reward_id: input.reward.rewardId,
          quantity: BigInt(quantity),
          hold_seconds: requested,
          external_id: externalId,
        });
  const { row, replayed } = await recordIntent({
    noun: "redemption",
    externalId,
    hash,
    find: () => findByExternalId(deps, org.id, externalId ?? ""),
    insert: async () => {
      const [member] = await deps.db
        .select({ status: members.status, tierId: members.tierId })
        .from(members)
        .where(and(eq(members.orgId, org.id), eq(members.id, input.memberId)))
        .limit(1);
      if (member === undefined) {
        throw notFound;
      }
      const active = member.status === "active";
      if (!active && externalId === null) {
        throw memberInactive(input.memberId, member.status);
      }
      if (active) {
        await ensureEnrolled(deps, deps.db, [{ orgId: org.id, memberId: input.memberId }]);
      }
      // An org default above the ledger's ceiling is clamped rather than refused: settings allow
      // any u32, the ledger allows 7 days.
      const holdSeconds = requested ?? Math.min(org.settings.holdSecondsDefault, holdSecondsMax);
      assert.ok(
        holdSeconds >= 1 && holdSeconds <= holdSecondsMax,
        "hold within the ledger's bounds",
      );
      const now = nowOf(deps);
      const id = uuidV7(now.getTime());
      const redeemed =
        input.reward === undefined
          ? null
          : await rewardTerms(deps, {
              orgId: org.id,
              rewardId: input.reward.rewardId,
              quantity,
              memberTierId: member.tierId,
              now,
              checkEligibility: active,
            });
      const points = redeemed === null ? input.points : redeemed.points;
      assert.ok(points !== undefined && points > 0n, "a redemption holds a positive amount");
      const values: typeof redemptions.$inferInsert = {
        id,
        orgId: org.id,
        memberId: input.memberId,
        externalId,
        requestHash: hash,
        points,
        holdSeconds,
        rewardId: redeemed?.rewardId ?? null,
        quantity: redeemed === null ? null : quantity,
        inventoryLedger: redeemed?.inventoryLedger ?? null,
        // An inactive member's redemption is refused like one without the points: recorded
        // as failed under its external id, so every retry answers the same refusal.
        status: active ? "pending" : "failed",
        holdStatus: active ? "pending" : "failed",
        failureReason: active ? null : memberInactiveReason,
        resolvedAt: active ? null : now,
        holdTransferId: idText(holdTransferId({ orgId: org.id, redemptionId: id })),
        // An estimate until the ledger answers with the hold's own timestamp.
        expiresAt: new Date(now.getTime() + holdSeconds * 1000),
      };
      const limit = active ? (redeemed?.perMemberLimit ?? null) : null;
      if (redeemed === null || limit === null) {
        const [inserted] = await deps.db
          .insert(redemptions)
          .values(values)
          .onConflictDoNothing({ target: [redemptions.orgId, redemptions.externalId] })
          .returning();
        return inserted ?? null;
      }
      // The per-member limit holds under concurrency: the member's row lock serialises the
      // count and the insert of this member's reward redemptions (a lock that does not conflict
      // with the key-share locks purchases and other documents take on the member).
      return deps.db.transaction(async (tx) => {
        await tx
          .select({ id: members.id })
          .from(members)
          .where(and(eq(members.orgId, org.id), eq(members.id, input.memberId)))
          .for("no key update");
        const [used] = await tx
          .select({ units: sql<string>`coalesce(sum(${redemptions.quantity}), 0)::text` })
          .from(redemptions)
          .where(
            and(
              eq(redemptions.orgId, org.id),
              eq(redemptions.memberId, input.memberId),
              eq(redemptions.rewardId, redeemed.rewardId),
              notInArray(redemptions.status, ["cancelled", "expired", "failed"]),
            ),
          );
        const units = BigInt(used?.units ?? "0");
        if (units + BigInt(quantity) > BigInt(limit)) {
          throw new DomainError(
            "limit_reached",
            "the member has had this reward as often as allowed",
            {
              rewardId: redeemed.rewardId,
              limit,
              redeemed: units.toString(),
            },
          );
        }
        const [inserted] = await tx
          .insert(redemptions)
          .values(values)
          .onConflictDoNothing({ target: [redemptions.orgId, redemptions.externalId] })
          .returning();
        return inserted ?? null;
      });
    },
  });
  if (!replayed && row.holdStatus === "pending") {
    await interrupt(deps, "after_intent", { table: "redemptions", id: row.id });
  }
  return settled(row.holdStatus === "pending" ? await driveHold(deps, row) : row);
}

async function findByExternalId(
  deps: LedgerDeps,
  orgId: string,
  externalId: string,
): Promise<RedemptionRow | null> {
  const [row] = await deps.db
    .select()
    .from(redemptions)
    .where(and(eq(redemptions.orgId, orgId), eq(redemptions.externalId, externalId)))
    .limit(1);
  return row ?? null;
}

const memberInactiveReason = "member_inactive";

function memberInactive(memberId: string, status: string): DomainError {
  return new DomainError("member_inactive", "member is not active", { memberId, status });
}

/**
 * A refused redemption is final for its external id: `insufficient_points` and
 * `member_inactive` alike answer the same refusal on every retry (send a new external id once
 * the points are there or the member is active again). Any other refusal of the ledger is a
 * `conflict` naming its reason.
 */
function settled(row: RedemptionRow): Redemption {
  if (row.status === "failed") {
    switch (row.failureReason) {
      case memberInactiveReason:
        throw memberInactive(row.memberId, "inactive");
      case "insufficient_points":
        throw new DomainError("insufficient_points", "not enough points for this redemption", {
          redemptionId: row.id,
          points: row.points.toString(),
        });
      case "out_of_stock":
        throw new DomainError("out_of_stock", "the reward has no units left for this redemption", {
          redemptionId: row.id,
          rewardId: row.rewardId,
          quantity: row.quantity,
        });
      default:
        throw failedIntentError("redemption", row);
    }
  }
  return toRedemption(row);
}

interface RewardTerms {
  rewardId: string;
  points: bigint;
  perMemberLimit: number | null;
  /** The org's inventory ledger when the reward's inventory is limited: units are held too. */
  inventoryLedger: number | null;
}

/**
 * What redeeming `quantity` of a reward costs and holds, after checking that it is offered now
 * and to this member's tier. A stock move still owed (a crash after a change of inventory) is
 * made first, so the units the catalog shows are on the ledger before any is held.
 */
async function rewardTerms(
  deps: LedgerDeps,
  input: {
    orgId: string;
    rewardId: string;
    quantity: number;
    memberTierId: string;
    now: Date;
    /** False for an inactive member, whose redemption is recorded refused anyway. */
    checkEligibility: boolean;
  },
): Promise<RewardTerms> {
  const notFound = new DomainError("not_found", "reward not found", { rewardId: input.rewardId });
  if (!isUuid(input.rewardId)) {
    throw notFound;
  }
  const [found] = await deps.db
    .select()
    .from(rewards)
    .where(and(eq(rewards.orgId, input.orgId), eq(rewards.id, input.rewardId)))
    .limit(1);
  if (found === undefined) {
    throw notFound;
  }
  const reward = stockMoveOwed(found)
    ? await settleStock(deps, { orgId: input.orgId, rewardId: found.id })
    : found;
  const points = reward.costPoints * BigInt(input.quantity);
  if (points > documentPointsMax) {
    throw invalidInput("the reward's cost × quantity is above the points one redemption holds", {
      field: "quantity",
    });
  }
  if (input.checkEligibility) {
    const reasons = rewardIneligibility(reward, input.now, await tierRanks(deps, input, reward));
    if (reasons.includes("not_active")) {
      throw new DomainError("reward_not_active", "the reward is not offered now", {
        rewardId: reward.id,
        activeFrom: reward.activeFrom?.toISOString() ?? null,
        activeUntil: reward.activeUntil?.toISOString() ?? null,
      });
    }
    if (reasons.includes("tier_too_low")) {
      throw new DomainError("tier_too_low", "the member's tier ranks below the reward's", {
        rewardId: reward.id,
        minTierId: reward.minTierId,
      });
    }
  }
  return {
    rewardId: reward.id,
    points,
    perMemberLimit: reward.perMemberLimit,
    inventoryLedger: reward.inventory === null ? null : await inventoryLedgerOf(deps, input.orgId),
  };
}

/** The member's tier rank and the reward's minimum rank (null: no minimum). */
async function tierRanks(
  deps: LedgerDeps,
  input: { orgId: string; memberTierId: string },
  reward: { minTierId: string | null },
): Promise<{ member: number; min: number | null }> {
  const ids =
    reward.minTierId === null ? [input.memberTierId] : [input.memberTierId, reward.minTierId];
  const rows = await deps.db
    .select({ id: tiers.id, rank: tiers.rank })
    .from(tiers)
    .where(and(eq(tiers.orgId, input.orgId), inArray(tiers.id, ids)));
  const ranks = new Map(rows.map((row) => [row.id, row.rank]));
  const member = ranks.get(input.memberTierId);
  assert.ok(member !== undefined, "a member's tier is one of the org's");
  if (reward.minTierId === null) {
    return { member, min: null };
  }
  const min = ranks.get(reward.minTierId);
  assert.ok(min !== undefined, "a reward's minimum tier is one of the org's (foreign key)");
  return { member, min };
}

export type RewardIneligibility = "not_active" | "tier_too_low";

/** Why a reward cannot be redeemed now by a member of this rank, beyond points, stock and limit. */
export function rewardIneligibility(
  reward: { activeFrom: Date | null; activeUntil: Date | null },
  now: Date,
  ranks: { member: number; min: number | null },
): RewardIneligibility[] {
  const reasons: RewardIneligibility[] = [];
  const at = now.getTime();
  if (
    (reward.activeFrom !== null && at < reward.activeFrom.getTime()) ||
    (reward.activeUntil !== null && at >= reward.activeUntil.getTime())
  ) {
    reasons.push("not_active");
  }
  if (ranks.min !== null && ranks.member < ranks.min) {
    reasons.push("tier_too_low");
  }
  return reasons;
}
