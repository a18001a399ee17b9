/**
 * Redeeming catalog rewards: the units of a limited inventory are held on the org's inventory
 * ledger in the same linked chain as the points, so a reward is never oversold however many
 * redemptions race for its last unit, and a cancel or a lapsed hold puts the unit back with the
 * points. Also the reward's own terms (window, tier, per-member limit, also under concurrency)
 * and the stock moves of a changed inventory.
 */
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { moveRewardStock } from "../../ledger/index.ts";
import { platformActor } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import { recoverPendingIntents } from "../recovery/recover-pending-intents.ts";
import { createReward, updateReward } from "../rewards/manage-rewards.ts";
import { inventoryLedgerOf, rewardsOnHand } from "../rewards/reward-stock.ts";
import { rewards } from "../store/schema.ts";
import { cancelRedemption } from "./cancel-redemption.ts";
import { createRedemption } from "./create-redemption.ts";
import { fulfilRedemption } from "./fulfil-redemption.ts";
import { resolveLapsedRedemptions } from "./resolve-lapsed-redemptions.ts";

const fixture = useLedgerFixture();

async function onHand(deps: LedgerDeps, orgId: string, rewardId: string): Promise<bigint | null> {
  const rows = await deps.db.select().from(rewards).where(eq(rewards.id, rewardId));
  return (await rewardsOnHand(deps, orgId, rows)).get(rewardId) ?? null;
}

async function buildReward(
  deps: LedgerDeps,
  orgId: string,
  fields: Partial<Parameters<typeof createReward>[1]> = {},
) {
  return createReward(deps, {
    orgId,
    name: "Tote bag",
    kind: "item",
    costPoints: 100n,
    ...fields,
  });
}

async function expectBalanced(deps: LedgerDeps, orgId: string): Promise<void> {
  const trial = await getTrialBalance(deps, { orgId });
  expect(trial.map((unit) => unit.unit).sort()).toContain("inventory");
  for (const unit of trial) {
    expect(unit.trialBalance.balanced).toBe(true);
  }
}

describe("redeeming a reward with a limited inventory", () => {
  it("gives the last unit to exactly one of 20 concurrent redemptions", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const reward = await buildReward(deps, org.id, { inventory: 1n });
    expect(await onHand(deps, org.id, reward.id)).toBe(1n);
    const members = await Promise.all(
      Array.from({ length: 20 }, () => buildLedgerMember(deps, org.id, { points: 500n })),
    );
    const results = await Promise.allSettled(
      members.map((member) =>
        createRedemption(deps, {
          orgId: org.id,
          memberId: member.id,
          reward: { rewardId: reward.id },
          externalId: externalId("rdm"),
        }),
      ),
    );
    const won = results.filter((result) => result.status === "fulfilled");
    const lost = results.filter((result) => result.status === "rejected");
    expect(won).toHaveLength(1);
    for (const result of lost) {
      expect(result.reason).toMatchObject({ code: "out_of_stock" });
    }
    expect(await onHand(deps, org.id, reward.id)).toBe(0n);
    // The losers' points were never held: only the winner's 100 are pending.
    const pending = await Promise.all(
      members.map(async (member) => {
        const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
        return balances.points.pending;
      }),
    );
    expect(pending.reduce((sum, points) => sum + points, 0n)).toBe(100n);
    await expectBalanced(deps, org.id);
  });

  it("puts the unit back with the points on a cancel, and keeps it given out on a fulfil", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const reward = await buildReward(deps, org.id, { inventory: 1n, costPoints: 40n });
    const first = await buildLedgerMember(deps, org.id, { points: 100n });
    const second = await buildLedgerMember(deps, org.id, { points: 100n });
    const held = await createRedemption(deps, {
      orgId: org.id,
      memberId: first.id,
      reward: { rewardId: reward.id },
    });
    expect(held).toMatchObject({
      status: "pending",
      points: 40n,
      rewardId: reward.id,
      quantity: 1,
    });
    await expect(
      createRedemption(deps, {
        orgId: org.id,
        memberId: second.id,
        reward: { rewardId: reward.id },
      }),
    ).rejects.toMatchObject({ code: "out_of_stock" });
    await cancelRedemption(deps, { orgId: org.id, redemptionId: held.id });
    expect(await onHand(deps, org.id, reward.id)).toBe(1n);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: first.id });
    expect(balances.points).toMatchObject({ available: 100n, pending: 0n });

    const again = await createRedemption(deps, {
      orgId: org.id,
      memberId: second.id,
      reward: { rewardId: reward.id },
    });
    await fulfilRedemption(deps, { orgId: org.id, redemptionId: again.id });
    expect(await onHand(deps, org.id, reward.id)).toBe(0n);
    const spent = await getMemberBalances(deps, { orgId: org.id, memberId: second.id });
    expect(spent.points).toMatchObject({ available: 60n, pending: 0n });
    await expectBalanced(deps, org.id);
  });

  it("puts the unit back when the hold lapses", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const reward = await buildReward(deps, org.id, { inventory: 1n });
    const member = await buildLedgerMember(deps, org.id, { points: 300n });
    const held = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      reward: { rewardId: reward.id },
      holdSeconds: 60,
    });
    expect(await onHand(deps, org.id, reward.id)).toBe(0n);
    fixture.environment.advanceSeconds(200);
    // The ledger released both holds on its clock; the sweep then tells Postgres.
    expect(await onHand(deps, org.id, reward.id)).toBe(1n);
    const swept = await resolveLapsedRedemptions(deps);
    expect(swept.expired).toBeGreaterThanOrEqual(1);
    await expect(
      fulfilRedemption(deps, { orgId: org.id, redemptionId: held.id }),
    ).rejects.toMatchObject({ code: "invalid_state", details: { status: "expired" } });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toMatchObject({ available: 300n, pending: 0n });
    const next = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      reward: { rewardId: reward.id },
    });
    expect(next.status).toBe("pending");
    await expectBalanced(deps, org.id);
  });

  it("holds cost × quantity and refuses points short without taking units", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const reward = await buildReward(deps, org.id, { inventory: 5n, costPoints: 30n });
    const member = await buildLedgerMember(deps, org.id, { points: 100n });
    const ask = { orgId: org.id, memberId: member.id, externalId: externalId("rdm") };
    await expect(
      createRedemption(deps, { ...ask, reward: { rewardId: reward.id, quantity: 4 } }),
    ).rejects.toMatchObject({ code: "insufficient_points" });
    // The refusal is final for its external id.
    await expect(
      createRedemption(deps, { ...ask, reward: { rewardId: reward.id, quantity: 4 } }),
    ).rejects.toMatchObject({ code: "insufficient_points" });
    expect(await onHand(deps, org.id, reward.id)).toBe(5n);
    const three = await createRedemption(deps, {
      ...ask,
      externalId: externalId("rdm"),
      reward: { rewardId: reward.id, quantity: 3 },
    });
    expect(three).toMatchObject({ points: 90n, quantity: 3 });
    expect(await onHand(deps, org.id, reward.id)).toBe(2n);
    for (const quantity of [0, 101, 1.5]) {
      await expect(
        createRedemption(deps, { ...ask, reward: { rewardId: reward.id, quantity } }),
      ).rejects.toMatchObject({ code: "invalid_input", details: { field: "quantity" } });
    }
  });

  it("an unlimited reward takes no units; unknown and another org's rewards are not found", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const other = await buildLedgerOrg(deps);
    const unlimited = await buildReward(deps, org.id);
    const foreign = await buildReward(deps, other.org.id, { inventory: 3n });
    const member = await buildLedgerMember(deps, org.id, { points: 1_000n });
    const redemption = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      reward: { rewardId: unlimited.id, quantity: 5 },
    });
    expect(redemption.points).toBe(500n);
    for (const rewardId of [randomUUID(), foreign.id, "not-a-uuid"]) {
      await expect(
        createRedemption(deps, { orgId: org.id, memberId: member.id, reward: { rewardId } }),
      ).rejects.toMatchObject({ code: "not_found" });
    }
  });
});

describe("a reward's terms", () => {
  it("refuses outside the window and below the minimum tier", async () => {
    const { deps } = fixture.environment;
    const { org, tiers } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 1_000n });
    const now = Date.now();
    const later = await buildReward(deps, org.id, {
      activeFrom: new Date(now + 86_400_000),
    });
    const over = await buildReward(deps, org.id, {
      activeFrom: new Date(now - 2 * 86_400_000),
      activeUntil: new Date(now - 86_400_000),
    });
    const top = tiers.at(-1);
    expect(top).toBeDefined();
    const premium = await buildReward(deps, org.id, { minTierId: top?.id ?? null });
    for (const reward of [later, over]) {
      await expect(
        createRedemption(deps, {
          orgId: org.id,
          memberId: member.id,
          reward: { rewardId: reward.id },
        }),
      ).rejects.toMatchObject({ code: "reward_not_active" });
    }
    await expect(
      createRedemption(deps, {
        orgId: org.id,
        memberId: member.id,
        reward: { rewardId: premium.id },
      }),
    ).rejects.toMatchObject({ code: "tier_too_low" });
    const rows = await fixture.database.sql`select id from redemptions where org_id = ${org.id}`;
    expect(rows).toHaveLength(0);
  });

  it("keeps the per-member limit under concurrency, and a cancel frees its place", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const reward = await buildReward(deps, org.id, { perMemberLimit: 2, costPoints: 10n });
    const member = await buildLedgerMember(deps, org.id, { points: 1_000n });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        createRedemption(deps, {
          orgId: org.id,
          memberId: member.id,
          reward: { rewardId: reward.id },
        }),
      ),
    );
    const won = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
    expect(won).toHaveLength(2);
    for (const result of results) {
      if (result.status === "rejected") {
        expect(result.reason).toMatchObject({ code: "limit_reached" });
      }
    }
    await expect(
      createRedemption(deps, {
        orgId: org.id,
        memberId: member.id,
        reward: { rewardId: reward.id },
      }),
    ).rejects.toMatchObject({ code: "limit_reached" });
    await cancelRedemption(deps, { orgId: org.id, redemptionId: won[0]?.id ?? "" });
    const again = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      reward: { rewardId: reward.id },
    });
    expect(again.status).toBe("pending");
  });
});

describe("changing a reward's inventory", () => {
  it("stocks a raise, withdraws a cut, and never withdraws units held or given out", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const reward = await buildReward(deps, org.id, { inventory: 2n });
    const member = await buildLedgerMember(deps, org.id, { points: 1_000n });
    const change = (inventory: bigint | null) =>
      updateReward(deps, {
        orgId: org.id,
        rewardId: reward.id,
        patch: { inventory },
        actor: platformActor,
      });
    const held = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      reward: { rewardId: reward.id },
    });
    expect(await onHand(deps, org.id, reward.id)).toBe(1n);
    // Asked for 0, but one unit is held: the inventory stops at 1.
    expect((await change(0n)).inventory).toBe(1n);
    expect(await onHand(deps, org.id, reward.id)).toBe(0n);
    expect((await change(4n)).inventory).toBe(4n);
    expect(await onHand(deps, org.id, reward.id)).toBe(3n);
    await fulfilRedemption(deps, { orgId: org.id, redemptionId: held.id });
    expect((await change(2n)).inventory).toBe(2n);
    expect(await onHand(deps, org.id, reward.id)).toBe(1n);
    // Unlimited: no units held any more; limited again, the account picks up where it was.
    expect((await change(null)).inventory).toBe(null);
    const free = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      reward: { rewardId: reward.id, quantity: 3 },
    });
    expect(free.status).toBe("pending");
    expect(await onHand(deps, org.id, reward.id)).toBe(null);
    expect((await change(5n)).inventory).toBe(5n);
    expect(await onHand(deps, org.id, reward.id)).toBe(4n);
    const [row] = await fixture.database.sql<{ stock_moves: number; inventory_stocked: string }[]>`
      select stock_moves, inventory_stocked::text from rewards where id = ${reward.id}`;
    expect(row).toEqual({ stock_moves: 5, inventory_stocked: "5" });
    await expectBalanced(deps, org.id);
  });
});

describe("recovering an owed stock move", () => {
  it("makes a move a crash left owed, once, even when the ledger already took it", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const reward = await buildReward(deps, org.id, { inventory: 2n });
    // A crash after the new inventory was committed and the ledger took the move, before the
    // row recorded it: the move is owed, and re-sending it is answered `exists`.
    await fixture.database.sql`update rewards set inventory = 5 where id = ${reward.id}`;
    await moveRewardStock(deps.ledger, {
      orgId: org.id,
      ledger: await inventoryLedgerOf(deps, org.id),
      rewardId: reward.id,
      moveNumber: 2,
      direction: "stock",
      units: 3n,
    });
    const report = await recoverPendingIntents(deps, { olderThanMs: 0, limit: 100 });
    expect(report.rewardStock).toBe(1);
    expect(await onHand(deps, org.id, reward.id)).toBe(5n);
    const again = await recoverPendingIntents(deps, { olderThanMs: 0, limit: 100 });
    expect(again.rewardStock).toBe(0);
    const [row] = await fixture.database.sql<{ stock_moves: number; inventory_stocked: string }[]>`
      select stock_moves, inventory_stocked::text from rewards where id = ${reward.id}`;
    expect(row).toEqual({ stock_moves: 2, inventory_stocked: "5" });
  });
});
