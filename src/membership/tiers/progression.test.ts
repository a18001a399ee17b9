/**
 * Tier progression on real Postgres and the embedded ledger: upgrades at once (and the next
 * purchase, even through another pool's warm caches, earns the new multiplier), downgrades only
 * at the review date plus grace and not when re-qualified, overrides and immutable tiers left
 * alone, both metrics, and explain reproducing the value from the ledger's transfers.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { platformActor } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { refundPurchase } from "../refunds/refund-purchase.ts";
import { createMembershipCaches } from "../store/caches.ts";
import { tiers } from "../store/schema.ts";
import type { Tier } from "../types.ts";
import { clearTierOverride, setTierOverride } from "./override.ts";
import { evaluateMemberTier, qualifiedTier, tiersOf } from "./progression.ts";
import { addMonthsUtc } from "./qualifying.ts";
import { explainMemberTier, getMemberTier } from "./status.ts";

const fixture = useLedgerFixture();
const day = 24 * 60 * 60;

function buy(
  deps: LedgerDeps,
  orgId: string,
  memberId: string,
  amountMinor: bigint,
  id = externalId(),
) {
  return recordPurchase(deps, { orgId, externalId: id, memberId, amountMinor, currency: "EUR" });
}

async function outboxTierEvents(orgId: string): Promise<unknown[]> {
  const rows = await fixture.database.sql<{ payload: unknown }[]>`
    select payload from outbox where org_id = ${orgId} and topic = 'tier.changed' order by id`;
  return rows.map((row) => row.payload);
}

describe("tier progression", () => {
  it("upgrades on the purchase that crosses the threshold; the next purchase earns the new multiplier", async () => {
    const { deps } = fixture.environment;
    // The API's pool and the worker's pool: separate caches, as in separate processes.
    const api: LedgerDeps = { ...deps, caches: createMembershipCaches() };
    const worker: LedgerDeps = { ...deps, caches: createMembershipCaches() };
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 500 } });
    const member = await buildLedgerMember(deps, org.id);
    const [bronze, silver] = await tiersOf(deps.db, org.id);

    expect((await buy(api, org.id, member.id, 90_000n)).pointsEarned).toBe(900n);
    // The welcome bonus does not qualify: 900 of the 1,000 Silver needs.
    expect(await evaluateMemberTier(worker, { orgId: org.id, memberId: member.id })).toMatchObject({
      action: "unchanged",
      qualifying: { value: 900n },
    });
    expect((await buy(api, org.id, member.id, 10_000n)).pointsEarned).toBe(100n);
    expect(await evaluateMemberTier(worker, { orgId: org.id, memberId: member.id })).toMatchObject({
      action: "upgraded",
      from: { id: bronze?.id },
      to: { id: silver?.id },
      qualifying: { value: 1_000n },
    });
    // Evaluating again (an event delivered twice) changes nothing.
    expect((await evaluateMemberTier(worker, { orgId: org.id, memberId: member.id })).action).toBe(
      "unchanged",
    );
    // The API's pool still holds the Bronze multiplier as a hint: the next purchase is 1.25x.
    expect((await buy(api, org.id, member.id, 10_000n)).pointsEarned).toBe(125n);

    expect(await outboxTierEvents(org.id)).toEqual([
      {
        member_id: member.id,
        from: { id: bronze?.id, name: "Bronze" },
        to: { id: silver?.id, name: "Silver" },
        reason: "upgrade",
        qualifying_value: "1000",
      },
    ]);
    const history = await fixture.database.sql<
      { reason: string; qualifying_value: string | null }[]
    >`
      select reason, qualifying_value::text from member_tiers where member_id = ${member.id} order by id`;
    expect(history).toEqual([
      { reason: "enrollment", qualifying_value: null },
      { reason: "upgrade", qualifying_value: "1000" },
    ]);
    const status = await getMemberTier(deps, { orgId: org.id, memberId: member.id });
    expect(status).toMatchObject({
      tier: { name: "Silver" },
      source: "earned",
      qualifying: { metric: "points", value: 1_125n },
      next: { tier: { name: "Gold" }, threshold: 5_000n, missing: 3_875n },
      downgrade: null,
    });
  });

  it("schedules a downgrade at review date + grace, applies it only then, and cancels it on re-qualifying", async () => {
    const env = fixture.environment;
    const { deps } = env;
    const { org } = await buildLedgerOrg(deps, {
      settings: { tierWindowMonths: 1, tierDowngradeGraceDays: 2 },
    });
    const ref = { orgId: org.id, memberId: (await buildLedgerMember(deps, org.id)).id };
    await buy(deps, org.id, ref.memberId, 100_000n);
    const upgraded = await evaluateMemberTier(deps, ref);
    expect(upgraded.action).toBe("upgraded");
    const since = (await getMemberTier(deps, ref)).since;

    // 32 days on, the purchase has left the one-month window: only scheduled.
    env.advanceSeconds(32 * day);
    const scheduled = await evaluateMemberTier(deps, ref);
    expect(scheduled).toMatchObject({ action: "downgrade_scheduled", to: { name: "Bronze" } });
    const at = scheduled.action === "downgrade_scheduled" ? scheduled.at : new Date(0);
    // The review date (a month after the upgrade) has passed: the grace counts from now.
    const review = new Date(since);
    review.setUTCMonth(review.getUTCMonth() + 1);
    expect(review.getTime()).toBeLessThan(env.now().getTime());
    expect(at.getTime()).toBe(env.now().getTime() + 2 * day * 1000);
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Silver" },
      downgrade: { to: { name: "Bronze" }, at },
    });
    // Before the date nothing changes, however often it is evaluated.
    expect((await evaluateMemberTier(deps, ref)).action).toBe("unchanged");

    // Re-qualifying cancels it.
    await buy(deps, org.id, ref.memberId, 100_000n);
    expect((await evaluateMemberTier(deps, ref)).action).toBe("downgrade_cancelled");
    expect((await getMemberTier(deps, ref)).downgrade).toBeNull();

    // Another window and a half without purchases: scheduled again, then applied when due.
    env.advanceSeconds(40 * day);
    const again = await evaluateMemberTier(deps, ref);
    expect(again.action).toBe("downgrade_scheduled");
    const dueAt = again.action === "downgrade_scheduled" ? again.at : new Date(0);
    const wait = Math.ceil((dueAt.getTime() - env.now().getTime()) / 1000);
    if (wait > 1) {
      env.advanceSeconds(wait - 1);
      expect((await evaluateMemberTier(deps, ref)).action).toBe("unchanged");
    }
    env.advanceSeconds(1);
    expect(await evaluateMemberTier(deps, ref)).toMatchObject({
      action: "downgraded",
      to: { name: "Bronze" },
      qualifying: { value: 0n },
    });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Bronze" },
      source: "default",
      downgrade: null,
    });
    expect(
      (await outboxTierEvents(org.id)).map((event) => (event as { reason: string }).reason),
    ).toEqual(["upgrade", "downgrade"]);
  });

  it("dates a downgrade at the review date plus grace when the member drops before it", async () => {
    const env = fixture.environment;
    const { deps } = env;
    const { org } = await buildLedgerOrg(deps, {
      settings: { tierWindowMonths: 3, tierDowngradeGraceDays: 30 },
    });
    const ref = { orgId: org.id, memberId: (await buildLedgerMember(deps, org.id)).id };
    const purchase = externalId();
    await buy(deps, org.id, ref.memberId, 150_000n, purchase);
    expect((await evaluateMemberTier(deps, ref)).action).toBe("upgraded");
    const { since } = await getMemberTier(deps, ref);
    env.advanceSeconds(10 * day);
    // Refunded in full: the value is gone long before the review date.
    await refundPurchase(deps, {
      orgId: org.id,
      purchaseExternalId: purchase,
      externalId: externalId("r"),
      amountMinor: 150_000n,
    });
    const scheduled = await evaluateMemberTier(deps, ref);
    const review = new Date(since);
    review.setUTCMonth(review.getUTCMonth() + 3);
    expect(scheduled).toMatchObject({
      action: "downgrade_scheduled",
      to: { name: "Bronze" },
      at: new Date(review.getTime() + 30 * day * 1000),
      qualifying: { value: 0n },
    });
  });

  it("respects a manual override and an immutable tier", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const ref = { orgId: org.id, memberId: (await buildLedgerMember(deps, org.id)).id };
    const ladder = await tiersOf(deps.db, org.id);
    const gold = ladder[2];
    const override = { reason: "launch guest", expiresAt: null, actor: platformActor };
    expect(
      await setTierOverride(deps, { ...ref, ...override, tierId: gold?.id ?? "" }),
    ).toMatchObject({ to: { name: "Gold" } });
    await buy(deps, org.id, ref.memberId, 10_000n);
    expect((await evaluateMemberTier(deps, ref)).action).toBe("skipped");
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Gold" },
      source: "override",
      next: null,
    });
    // Cleared: 100 points only qualify for Bronze, which applies at once (never earned, no grace).
    expect(
      await clearTierOverride(deps, { ...ref, actor: platformActor, cause: "cleared" }),
    ).toMatchObject({ action: "cleared", to: { name: "Bronze" } });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Bronze" },
      source: "default",
      override: null,
      downgrade: null,
    });
    await expect(
      setTierOverride(deps, { ...ref, ...override, tierId: ref.memberId }),
    ).rejects.toMatchObject({ code: "not_found" });

    // An immutable tier: a member in it is never moved by evaluation.
    const other = { orgId: org.id, memberId: (await buildLedgerMember(deps, org.id)).id };
    await deps.db
      .update(tiers)
      .set({ immutable: true })
      .where(eq(tiers.id, ladder[0]?.id ?? ""));
    await buy(deps, org.id, other.memberId, 2_000_000n);
    expect((await evaluateMemberTier(deps, other)).action).toBe("skipped");
    expect((await getMemberTier(deps, other)).tier.name).toBe("Bronze");
  });

  it("qualifies on net spend, and explain reproduces the value from the ledger's transfers", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { tierMetric: "spend" } });
    const ref = { orgId: org.id, memberId: (await buildLedgerMember(deps, org.id)).id };
    // Thresholds read in minor units: Silver at 1,000 = 10.00 EUR.
    const small = externalId();
    await buy(deps, org.id, ref.memberId, 50n, small); // 0 points, 0.50 EUR spend
    await buy(deps, org.id, ref.memberId, 1_200n);
    await refundPurchase(deps, {
      orgId: org.id,
      purchaseExternalId: small,
      externalId: externalId("r"),
      amountMinor: 30n,
    });
    const evaluation = await evaluateMemberTier(deps, ref);
    expect(evaluation).toMatchObject({
      action: "upgraded",
      qualifying: { metric: "spend", value: 1_220n },
    });

    const explained = await explainMemberTier(deps, ref);
    expect(explained.value).toBe(1_220n);
    expect(explained.transfers.map((transfer) => [transfer.operation, transfer.counted])).toEqual([
      ["purchase_earn", 50n],
      ["purchase_earn", 1_200n],
      ["refund_reversal", -30n],
    ]);
    expect(explained.transfers.reduce((sum, transfer) => sum + transfer.counted, 0n)).toBe(
      explained.value,
    );
    await expect(
      explainMemberTier(deps, { orgId: org.id, memberId: "00000000-0000-4000-8000-000000000000" }),
    ).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("tier arithmetic", () => {
  const tier = (rank: number, min: bigint): Tier => ({
    id: `t${rank}`,
    orgId: "o",
    name: `T${rank}`,
    rank,
    qualifyingPointsMin: min,
    multiplierBps: 10_000,
    immutable: false,
    tierSetId: "s",
    climbable: true,
    activeFrom: null,
    activeUntil: null,
    createdAt: new Date(0),
  });

  it("picks the highest tier whose threshold the value reaches", () => {
    const ladder = [tier(0, 0n), tier(1, 1_000n), tier(2, 5_000n)];
    expect(qualifiedTier(ladder, 0n).rank).toBe(0);
    expect(qualifiedTier(ladder, 999n).rank).toBe(0);
    expect(qualifiedTier(ladder, 1_000n).rank).toBe(1);
    expect(qualifiedTier(ladder, 10n ** 15n).rank).toBe(2);
    expect(() => qualifiedTier([tier(1, 0n), tier(0, 0n)], 0n)).toThrow(/sorted/);
  });

  it("moves by calendar months, clamping the day to the month's last", () => {
    expect(addMonthsUtc(new Date("2026-01-31T10:00:00.000Z"), 1).toISOString()).toBe(
      "2026-02-28T10:00:00.000Z",
    );
    expect(addMonthsUtc(new Date("2028-03-31T00:00:00.000Z"), -1).toISOString()).toBe(
      "2028-02-29T00:00:00.000Z",
    );
    expect(addMonthsUtc(new Date("2026-12-07T06:00:00.000Z"), -12).toISOString()).toBe(
      "2025-12-07T06:00:00.000Z",
    );
  });
});
