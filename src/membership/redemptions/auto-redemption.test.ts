/**
 * Automatic redemption: a reward redeemed once per crossing of the member's threshold from
 * below, found in the wallet's balance history; a repeated or concurrent run (a redelivered
 * event, two postings racing) never redeems one crossing twice; setting and clearing audited.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { adjustMemberPoints } from "../adjustments/adjust-member-points.ts";
import { listAudit, platformActor } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { createReward } from "../rewards/manage-rewards.ts";
import {
  clearAutoRedemption,
  getAutoRedemption,
  runAutoRedemption,
  setAutoRedemption,
} from "./auto-redemption.ts";

const fixture = useLedgerFixture();

async function setUp(deps: LedgerDeps, thresholdPoints = 100n) {
  const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
  const member = await buildLedgerMember(deps, org.id);
  const reward = await createReward(deps, {
    orgId: org.id,
    name: "Auto-cashback",
    kind: "cashback",
    costPoints: 50n,
    valueMinor: 500n,
  });
  await setAutoRedemption(deps, {
    orgId: org.id,
    memberId: member.id,
    rewardId: reward.id,
    thresholdPoints,
    actor: platformActor,
  });
  const move = (direction: "credit" | "debit", points: bigint) =>
    adjustMemberPoints(deps, {
      orgId: org.id,
      memberId: member.id,
      direction,
      points,
      reason: "test",
      externalId: externalId("adj"),
      actor: platformActor,
    });
  const run = () => runAutoRedemption(deps, { orgId: org.id, memberId: member.id });
  const rows = () =>
    fixture.database.sql<{ external_id: string; points: string; status: string }[]>`
      select external_id, points::text, status from redemptions
      where org_id = ${org.id} order by id`;
  return { org, member, reward, move, run, rows };
}

describe("automatic redemption", () => {
  it("redeems once per crossing: two postings crossing once, then a drop and a second crossing", async () => {
    const { deps } = fixture.environment;
    const { org, move, run, rows } = await setUp(deps);
    await move("credit", 60n);
    await move("credit", 60n); // 60 → 120: one crossing
    const first = await run();
    expect(first).toMatchObject({ crossings: 1, refused: [] });
    expect(first.redemptions).toHaveLength(1);
    expect(first.redemptions[0]).toMatchObject({ status: "pending", points: 50n });
    // A redelivered event finds nothing new.
    expect((await run()).crossings).toBe(0);
    await move("credit", 10n); // 70 (after the hold of 50) → 80: below
    expect((await run()).crossings).toBe(0);
    await move("credit", 30n); // 80 → 110: crossed again
    const second = await run();
    expect(second.redemptions).toHaveLength(1);
    expect(await rows()).toHaveLength(2);
    const topics = await fixture.database.sql<{ topic: string }[]>`
      select topic from outbox where org_id = ${org.id} and topic = 'redemption.created'`;
    expect(topics).toHaveLength(2);
  });

  it("does not redeem for a balance already above the threshold when it was set", async () => {
    const { deps } = fixture.environment;
    const { org, member, reward, move, run } = await setUp(deps);
    await move("credit", 500n);
    // Set again: the cursor starts where the wallet stands.
    await setAutoRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      rewardId: reward.id,
      thresholdPoints: 100n,
      actor: platformActor,
    });
    await move("credit", 10n);
    expect((await run()).crossings).toBe(0);
    await move("debit", 450n); // 60
    await move("credit", 40n); // 100: crossed
    expect((await run()).redemptions).toHaveLength(1);
  });

  it("redeems one crossing once when postings and runs race, and after a lost cursor", async () => {
    const { deps } = fixture.environment;
    const { org, member, move, run, rows } = await setUp(deps);
    await Promise.all([move("credit", 60n), move("credit", 60n)]);
    const runs = await Promise.all([run(), run(), run()]);
    expect(runs.reduce((sum, one) => sum + one.crossings, 0)).toBe(1);
    expect(await rows()).toHaveLength(1);
    // A crash before the cursor moved: the run finds the crossing again and replays it.
    await fixture.database.sql`
      update auto_redemptions set scanned_until = 0, available_at_scan = 0
      where org_id = ${org.id} and member_id = ${member.id}`;
    const again = await run();
    expect(again.crossings).toBe(1);
    expect(again.redemptions[0]?.id).toBe(runs.flatMap((one) => one.redemptions)[0]?.id);
    expect(await rows()).toHaveLength(1);
  });

  it("is set, read and cleared with audit entries; unknown members and rewards are not found", async () => {
    const { deps } = fixture.environment;
    const { org, member, reward } = await setUp(deps, 250n);
    expect(await getAutoRedemption(deps, { orgId: org.id, memberId: member.id })).toMatchObject({
      rewardId: reward.id,
      thresholdPoints: 250n,
    });
    await expect(
      setAutoRedemption(deps, {
        orgId: org.id,
        memberId: member.id,
        rewardId: "6e8a0c2e-4f6b-4d8a-a0c2-e4f6b8d0a2c4",
        thresholdPoints: 1n,
        actor: platformActor,
      }),
    ).rejects.toMatchObject({ code: "not_found" });
    await clearAutoRedemption(deps, { orgId: org.id, memberId: member.id, actor: platformActor });
    await expect(
      getAutoRedemption(deps, { orgId: org.id, memberId: member.id }),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(
      clearAutoRedemption(deps, { orgId: org.id, memberId: member.id, actor: platformActor }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect((await runAutoRedemption(deps, { orgId: org.id, memberId: member.id })).crossings).toBe(
      0,
    );
    const audit = await listAudit(deps, { orgId: org.id, targetType: "member", limit: 10 });
    expect(audit.entries.map((entry) => entry.action).sort()).toEqual([
      "auto_redemption.cleared",
      "auto_redemption.set",
    ]);
  });
});
