/**
 * The catalog as one member sees it now: every reward of the org, each with the reasons this
 * member cannot redeem it at this moment (none: redeemable). Stock is read from the inventory
 * ledger, points from the wallet, the per-member count from the member's live redemptions.
 * A snapshot: a redemption still checks everything again, atomically where it matters.
 */
import { and, eq, inArray, isNotNull, notInArray, sql } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { nowOf } from "../intents/support.ts";
import { rewardsPerOrgMax } from "../limits.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { rewardIneligibility } from "../redemptions/create-redemption.ts";
import { members, redemptions, rewards, tiers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { type Reward, toReward } from "./manage-rewards.ts";
import { rewardsOnHand } from "./reward-stock.ts";

export const memberRewardReasons = [
  "insufficient_points",
  "tier_too_low",
  "out_of_stock",
  "limit_reached",
  "not_active",
] as const;
export type MemberRewardReason = (typeof memberRewardReasons)[number];

export interface MemberReward {
  reward: Reward;
  /** Units on hand now; null: unlimited. */
  onHand: bigint | null;
  /** Units of it the member has (pending or fulfilled redemptions). */
  redeemed: bigint;
  /** Empty: the member can redeem one now. */
  reasons: MemberRewardReason[];
}

/** Every reward of the org with what stops this member from redeeming one now; oldest first. */
export async function listMemberRewards(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<MemberReward[]> {
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId) || !isUuid(input.orgId)) {
    throw notFound;
  }
  const [member] = await deps.db
    .select({ tierRank: tiers.rank })
    .from(members)
    .innerJoin(tiers, and(eq(tiers.orgId, members.orgId), eq(tiers.id, members.tierId)))
    .where(and(eq(members.orgId, input.orgId), eq(members.id, input.memberId)))
    .limit(1);
  if (member === undefined) {
    throw notFound;
  }
  const rows = await deps.db
    .select({ reward: rewards, minRank: tiers.rank })
    .from(rewards)
    .leftJoin(tiers, and(eq(tiers.orgId, rewards.orgId), eq(tiers.id, rewards.minTierId)))
    .where(eq(rewards.orgId, input.orgId))
    .orderBy(rewards.createdAt, rewards.id)
    .limit(rewardsPerOrgMax);
  const rewardIds = rows.map((row) => row.reward.id);
  const used =
    rewardIds.length === 0
      ? []
      : await deps.db
          .select({
            rewardId: redemptions.rewardId,
            units: sql<string>`sum(${redemptions.quantity})::text`,
          })
          .from(redemptions)
          .where(
            and(
              eq(redemptions.orgId, input.orgId),
              eq(redemptions.memberId, input.memberId),
              isNotNull(redemptions.rewardId),
              inArray(redemptions.rewardId, rewardIds),
              notInArray(redemptions.status, ["cancelled", "expired", "failed"]),
            ),
          )
          .groupBy(redemptions.rewardId);
  const usedBy = new Map(used.map((row) => [row.rewardId, BigInt(row.units)]));
  const onHand = await rewardsOnHand(
    deps,
    input.orgId,
    rows.map((row) => row.reward),
  );
  const balances = await getMemberBalances(deps, input);
  const now = nowOf(deps);
  return rows.map(({ reward: row, minRank }) => {
    const reasons: MemberRewardReason[] = [];
    if (balances.points.available < row.costPoints) {
      reasons.push("insufficient_points");
    }
    const ineligible = rewardIneligibility(row, now, { member: member.tierRank, min: minRank });
    if (ineligible.includes("tier_too_low")) {
      reasons.push("tier_too_low");
    }
    const units = onHand.get(row.id) ?? null;
    if (units !== null && units < 1n) {
      reasons.push("out_of_stock");
    }
    const redeemed = usedBy.get(row.id) ?? 0n;
    if (row.perMemberLimit !== null && redeemed >= BigInt(row.perMemberLimit)) {
      reasons.push("limit_reached");
    }
    if (ineligible.includes("not_active")) {
      reasons.push("not_active");
    }
    return { reward: toReward(row), onHand: units, redeemed, reasons };
  });
}
