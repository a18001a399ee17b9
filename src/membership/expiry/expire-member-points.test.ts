/**
 * Points expiry against the real Postgres and the embedded ledger: both policies computed from
 * the wallet's history (purchases dated by their `occurred_at`), FIFO lots across a redemption,
 * pending holds untouched, idempotence per member and run date, one notice per expiry day, and
 * recovery of an expiry a crash left pending. Time moves with the environment's clock.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import type { LedgerDeps } from "../deps.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import type { ExpirySettings } from "../orgs/settings.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { recoverPendingIntents } from "../recovery/recover-pending-intents.ts";
import { cancelRedemption } from "../redemptions/cancel-redemption.ts";
import { createRedemption } from "../redemptions/create-redemption.ts";
import { fulfilRedemption } from "../redemptions/fulfil-redemption.ts";
import { expireMemberPoints } from "./expire-member-points.ts";
import { addMonthsUtc } from "./lots.ts";
import { expireOrgMembersBatch, listExpiryOrgs } from "./run-org-expiry.ts";

const fixture = useLedgerFixture();
const dayMs = 86_400_000;
const daySeconds = 86_400;

async function setup(expiry: Exclude<ExpirySettings, { policy: "none" }>) {
  const { deps } = fixture.environment;
  const { org } = await buildLedgerOrg(deps, {
    // 1 point per euro; no welcome bonus, so every point comes from a dated purchase.
    settings: { expiry, welcomeBonusPoints: 0, baseRatePointsPerUnit: 1 },
  });
  const [ledgerRow] = await fixture.database.sql<{ ledger: number }[]>`
    select ledger from org_ledgers where org_id = ${org.id} and unit = 'points'`;
  const pointsLedger = ledgerRow?.ledger ?? 0;
  const member = await buildLedgerMember(deps, org.id);
  const earn = (points: number, occurredAt: Date) =>
    recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: BigInt(points) * 100n,
      currency: "EUR",
      occurredAt,
    });
  const run = (runDeps: LedgerDeps = deps) =>
    expireMemberPoints(runDeps, {
      orgId: org.id,
      pointsLedger,
      memberId: member.id,
      policy: expiry,
      asOfMs: fixture.environment.now().getTime(),
    });
  const balances = () => getMemberBalances(deps, { orgId: org.id, memberId: member.id });
  const redeem = async (points: bigint) =>
    createRedemption(deps, { orgId: org.id, memberId: member.id, points });
  return { deps, org, member, earn, run, balances, redeem };
}

async function topics(orgId: string, topic: string) {
  return fixture.database.sql<{ payload: Record<string, unknown> }[]>`
    select payload from outbox where org_id = ${orgId} and topic = ${topic} order by id`;
}

describe("lots policy", () => {
  it("consumes the oldest lot first: a redemption leaves the first lot nothing to expire", async () => {
    const env = fixture.environment;
    const t = await setup({ policy: "lots", months: 12 });
    const now = env.now().getTime();
    const t0 = new Date(now - 400 * dayMs);
    const t1 = new Date(now - 200 * dayMs);
    await t.earn(100, t0);
    await t.earn(50, t1);
    const redemption = await t.redeem(120n);
    await fulfilRedemption(t.deps, { orgId: t.org.id, redemptionId: redemption.id });

    // The first lot expired 35 days ago, but the redemption took all of it (and 20 of the second).
    expect(await t.run()).toEqual({ expired: 0n, notices: 0 });
    const before = await t.balances();
    expect(before.points.available).toBe(30n);
    expect(before.expiring).toEqual([
      { points: 30n, at: new Date(addMonthsUtc(t1.getTime(), 12)) },
    ]);

    env.advanceSeconds(170 * daySeconds);
    expect(await t.run()).toMatchObject({ expired: 30n });
    const after = await t.balances();
    expect(after.points.available).toBe(0n);
    expect(after.expiring).toEqual([]);
    const expired = await topics(t.org.id, "points.expired");
    expect(expired.map((row) => row.payload)).toEqual([
      expect.objectContaining({
        member_id: t.member.id,
        points: "30",
        balance: "0",
        document: { kind: "expiry", id: expect.any(String), external_id: null },
      }),
    ]);
    const trial = await getTrialBalance(t.deps, { orgId: t.org.id });
    expect(trial[0]?.trialBalance.balanced).toBe(true);
    expect(trial[0]?.trialBalance.controls.breakage?.creditsPosted).toBe(30n);
  });

  it("expires only what is left of the first lot", async () => {
    const env = fixture.environment;
    const t = await setup({ policy: "lots", months: 12 });
    const now = env.now().getTime();
    await t.earn(100, new Date(now - 400 * dayMs));
    await t.earn(50, new Date(now - 200 * dayMs));
    const redemption = await t.redeem(70n);
    await fulfilRedemption(t.deps, { orgId: t.org.id, redemptionId: redemption.id });

    expect(await t.run()).toMatchObject({ expired: 30n });
    expect((await t.balances()).points.available).toBe(50n);
  });

  it("never takes points held by a pending redemption, and is idempotent the same day", async () => {
    const env = fixture.environment;
    const t = await setup({ policy: "lots", months: 12 });
    await t.earn(100, new Date(env.now().getTime() - 400 * dayMs));
    const hold = await t.redeem(60n);

    expect(await t.run()).toMatchObject({ expired: 40n });
    expect((await t.balances()).points).toMatchObject({ available: 0n, pending: 60n });
    // Again the same day: the document exists, nothing more is posted.
    expect(await t.run()).toEqual({ expired: 0n, notices: 0 });
    const rows = await fixture.database.sql`
      select points, expired_points, status from expiries where member_id = ${t.member.id}`;
    expect(rows).toEqual([{ points: "40", expired_points: "40", status: "posted" }]);

    // The hold is cancelled: its points are the member's again, and due the next day.
    await cancelRedemption(t.deps, { orgId: t.org.id, redemptionId: hold.id });
    env.advanceSeconds(daySeconds);
    expect(await t.run()).toMatchObject({ expired: 60n });
    expect((await topics(t.org.id, "points.expired")).map((row) => row.payload.points)).toEqual([
      "40",
      "60",
    ]);
  });

  it("sends one points.expiring per expiry day, however often it runs", async () => {
    const env = fixture.environment;
    const t = await setup({ policy: "lots", months: 12 });
    const earnedAt = env.now().getTime() - 345 * dayMs;
    await t.earn(100, new Date(earnedAt));

    expect(await t.run()).toEqual({ expired: 0n, notices: 1 });
    expect(await t.run()).toEqual({ expired: 0n, notices: 0 });
    env.advanceSeconds(daySeconds);
    expect(await t.run()).toEqual({ expired: 0n, notices: 0 });
    const notices = await topics(t.org.id, "points.expiring");
    expect(notices.map((row) => row.payload)).toEqual([
      {
        member_id: t.member.id,
        points: "100",
        balance: "100",
        document: null,
        expires_at: new Date(addMonthsUtc(earnedAt, 12)).toISOString(),
        policy: "lots",
      },
    ]);
  });
});

describe("inactivity policy", () => {
  it("expires everything once the last earning is older than the months", async () => {
    const env = fixture.environment;
    const t = await setup({ policy: "inactivity", months: 6 });
    await t.earn(80, new Date(env.now().getTime() - 300 * dayMs));
    await t.earn(20, new Date(env.now().getTime() - 200 * dayMs));
    expect(await t.run()).toMatchObject({ expired: 100n });
    expect((await t.balances()).points.available).toBe(0n);
  });

  it("a new earning pushes the whole balance's expiry out", async () => {
    const env = fixture.environment;
    const t = await setup({ policy: "inactivity", months: 6 });
    await t.earn(80, new Date(env.now().getTime() - 300 * dayMs));
    const recent = new Date(env.now().getTime() - 10 * dayMs);
    await t.earn(20, recent);

    expect(await t.run()).toEqual({ expired: 0n, notices: 0 });
    expect((await t.balances()).expiring).toEqual([
      { points: 100n, at: new Date(addMonthsUtc(recent.getTime(), 6)) },
    ]);
  });
});

describe("recovery", () => {
  it("finishes an expiry a crash left pending", async () => {
    const env = fixture.environment;
    const t = await setup({ policy: "lots", months: 1 });
    await t.earn(100, new Date(env.now().getTime() - 40 * dayMs));
    const crashing: LedgerDeps = {
      ...t.deps,
      interrupt: (step) => {
        if (step === "after_intent") {
          throw new Error("simulated crash");
        }
      },
    };
    await expect(t.run(crashing)).rejects.toThrow("simulated crash");
    expect((await t.balances()).points.available).toBe(100n);

    const report = await recoverPendingIntents(t.deps, { olderThanMs: 0, limit: 10 });
    expect(report.expiries).toBe(1);
    expect((await t.balances()).points.available).toBe(0n);
    expect(await topics(t.org.id, "points.expired")).toHaveLength(1);
    // The run of the same day finds the finished document.
    expect(await t.run()).toEqual({ expired: 0n, notices: 0 });
  });
});

describe("expireOrgMembersBatch", () => {
  it("walks the org's members in bounded batches, and orgs without a policy are not listed", async () => {
    const env = fixture.environment;
    const { deps } = env;
    const t = await setup({ policy: "inactivity", months: 6 });
    await t.earn(10, new Date(env.now().getTime() - 300 * dayMs));
    const others = [
      await buildLedgerMember(deps, t.org.id, { points: 5n }),
      await buildLedgerMember(deps, t.org.id),
    ];
    const { org: plain } = await buildLedgerOrg(deps);
    const listed = await listExpiryOrgs(deps, { afterOrgId: null, limit: 1_000 });
    expect(listed).toContain(t.org.id);
    expect(listed).not.toContain(plain.id);

    const asOfMs = env.now().getTime();
    const first = await expireOrgMembersBatch(deps, {
      orgId: t.org.id,
      asOfMs,
      afterMemberId: null,
      limit: 2,
    });
    expect(first).toMatchObject({ members: 2 });
    expect(first.nextAfterMemberId).not.toBeNull();
    const second = await expireOrgMembersBatch(deps, {
      orgId: t.org.id,
      asOfMs,
      afterMemberId: first.nextAfterMemberId,
      limit: 2,
    });
    expect(second).toMatchObject({ members: 1, nextAfterMemberId: null });
    // Only the member inactive for 300 days loses points; the others earned just now.
    expect(first.expired + second.expired).toBe(10n);
    expect(first.notices + second.notices).toBe(0);
    expect(others).toHaveLength(2);
  });
});
