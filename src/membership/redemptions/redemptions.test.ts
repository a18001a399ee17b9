/**
 * Redemptions and adjustments: holds that can never overdraw a wallet however many race for
 * it (the ledger's account flag decides, not a Postgres read), idempotent fulfil and cancel,
 * holds lapsing on the ledger's clock, and manual adjustments.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { holdSecondsMax } from "../../ledger/index.ts";
import { adjustMemberPoints } from "../adjustments/adjust-member-points.ts";
import { platformActor } from "../audit/audit.ts";
import { DomainError } from "../errors.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { updateMember } from "../members/update-member.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import { cancelRedemption } from "./cancel-redemption.ts";
import { createRedemption } from "./create-redemption.ts";
import { fulfilRedemption } from "./fulfil-redemption.ts";

const fixture = useLedgerFixture();

async function outboxTopics(orgId: string): Promise<string[]> {
  const rows = await fixture.database.sql<{ topic: string }[]>`
    select topic from outbox where org_id = ${orgId} and topic::text like 'redemption.%' order by id`;
  return rows.map((row) => row.topic);
}

describe("createRedemption", () => {
  it("never overdraws a wallet, however many holds race for it", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const balance = 1_000n;
    const member = await buildLedgerMember(deps, org.id, { points: balance });

    const attempts = 100;
    const results = await Promise.allSettled(
      Array.from({ length: attempts }, (_, index) =>
        createRedemption(deps, {
          orgId: org.id,
          memberId: member.id,
          // 13..62 points each: about 3,750 asked for in total, far beyond the balance.
          points: BigInt(13 + (index % 50)),
        }),
      ),
    );
    let held = 0n;
    let refused = 0;
    for (const result of results) {
      if (result.status === "fulfilled") {
        expect(result.value.status).toBe("pending");
        held += result.value.points;
      } else {
        expect(result.reason).toBeInstanceOf(DomainError);
        expect(result.reason).toMatchObject({ code: "insufficient_points" });
        refused += 1;
      }
    }
    expect(held).toBeLessThanOrEqual(balance);
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(attempts);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.pending).toBe(held);
    expect(balances.points.available).toBe(balance - held);
    const rows = await fixture.database.sql<{ status: string; n: number }[]>`
      select status, count(*)::int as n from redemptions where org_id = ${org.id}
      group by status order by status`;
    expect(rows).toEqual([
      { status: "pending", n: attempts - refused },
      { status: "failed", n: refused },
    ]);
    const trial = await getTrialBalance(deps, { orgId: org.id });
    expect(trial[0]?.trialBalance.pendingRedemptions).toBe(held);
  });

  it("replays a retry with the same external id and refuses a different request", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 500n });
    const request = {
      orgId: org.id,
      memberId: member.id,
      points: 200n,
      externalId: externalId("red"),
      holdSeconds: 600,
    };
    const first = await createRedemption(deps, request);
    const again = await createRedemption(deps, request);
    expect(again).toEqual(first);
    await expect(createRedemption(deps, { ...request, points: 201n })).rejects.toMatchObject({
      code: "conflict",
    });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toMatchObject({ available: 300n, pending: 200n });

    // A refused hold stays refused: its id is burnt on the ledger, and the row says so.
    const tooMuch = { ...request, externalId: externalId("red"), points: 301n };
    await expect(createRedemption(deps, tooMuch)).rejects.toMatchObject({
      code: "insufficient_points",
    });
    await adjustMemberPoints(deps, {
      actor: platformActor,
      orgId: org.id,
      memberId: member.id,
      direction: "credit",
      points: 1_000n,
      reason: "top up",
      externalId: externalId("adj"),
    });
    await expect(createRedemption(deps, tooMuch)).rejects.toMatchObject({
      code: "insufficient_points",
    });
  });

  it("refuses bad holds and inactive members", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 500n });
    const base = { orgId: org.id, memberId: member.id, points: 10n };
    await expect(createRedemption(deps, { ...base, points: 0n })).rejects.toMatchObject({
      code: "invalid_input",
    });
    await expect(
      createRedemption(deps, { ...base, holdSeconds: holdSecondsMax + 1 }),
    ).rejects.toMatchObject({ code: "invalid_input", details: { field: "holdSeconds" } });
    await expect(createRedemption(deps, { ...base, holdSeconds: 0 })).rejects.toMatchObject({
      code: "invalid_input",
    });
    await expect(
      createRedemption(deps, { ...base, holdSeconds: holdSecondsMax }),
    ).resolves.toMatchObject({ status: "pending" });
    await updateMember(deps, { orgId: org.id, memberId: member.id, patch: { status: "closed" } });
    await expect(createRedemption(deps, base)).rejects.toMatchObject({ code: "member_inactive" });
  });
});

describe("fulfilRedemption and cancelRedemption", () => {
  it("fulfil spends the hold once; fulfilling again returns it; cancelling it is refused", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 300n });
    const redemption = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      points: 120n,
    });
    const fulfilled = await fulfilRedemption(deps, { orgId: org.id, redemptionId: redemption.id });
    expect(fulfilled).toMatchObject({ id: redemption.id, status: "fulfilled" });
    expect(fulfilled.resolvedAt).toBeInstanceOf(Date);
    const again = await fulfilRedemption(deps, { orgId: org.id, redemptionId: redemption.id });
    expect(again).toEqual(fulfilled);
    await expect(
      cancelRedemption(deps, { orgId: org.id, redemptionId: redemption.id }),
    ).rejects.toMatchObject({ code: "invalid_state", details: { status: "fulfilled" } });

    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toEqual({
      available: 180n,
      pending: 0n,
      lifetimeEarned: 300n,
      lifetimeRedeemed: 120n,
    });
    expect(await outboxTopics(org.id)).toEqual(["redemption.created", "redemption.fulfilled"]);
  });

  it("cancel returns the points; cancelling again returns it; fulfilling it is refused", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 300n });
    const redemption = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      points: 120n,
    });
    const cancelled = await cancelRedemption(deps, { orgId: org.id, redemptionId: redemption.id });
    expect(cancelled.status).toBe("cancelled");
    expect(await cancelRedemption(deps, { orgId: org.id, redemptionId: redemption.id })).toEqual(
      cancelled,
    );
    await expect(
      fulfilRedemption(deps, { orgId: org.id, redemptionId: redemption.id }),
    ).rejects.toMatchObject({ code: "invalid_state", details: { status: "cancelled" } });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toMatchObject({ available: 300n, pending: 0n, lifetimeRedeemed: 0n });
    expect(await outboxTopics(org.id)).toEqual(["redemption.created", "redemption.cancelled"]);
  });

  it("a concurrent fulfil and cancel settle on one outcome", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 300n });
    const redemption = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      points: 100n,
    });
    const args = { orgId: org.id, redemptionId: redemption.id };
    const [fulfil, cancel] = await Promise.allSettled([
      fulfilRedemption(deps, args),
      cancelRedemption(deps, args),
    ]);
    const outcomes = [fulfil.status, cancel.status].sort();
    expect(outcomes).toEqual(["fulfilled", "rejected"]);
    const [row] = await fixture.database.sql<{ status: string }[]>`
      select status from redemptions where id = ${redemption.id}`;
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.pending).toBe(0n);
    expect(balances.points.available).toBe(row?.status === "fulfilled" ? 200n : 300n);
  });

  it("a hold that lapsed on the ledger is marked expired and cannot be fulfilled", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 300n });
    const redemption = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      points: 100n,
      holdSeconds: 60,
    });
    fixture.environment.advanceSeconds(61);
    await expect(
      fulfilRedemption(deps, { orgId: org.id, redemptionId: redemption.id }),
    ).rejects.toMatchObject({ code: "invalid_state", details: { status: "expired" } });
    await expect(
      cancelRedemption(deps, { orgId: org.id, redemptionId: redemption.id }),
    ).rejects.toMatchObject({ code: "invalid_state", details: { status: "expired" } });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toMatchObject({ available: 300n, pending: 0n });
    // The lapse is noticed by the first resolution, which writes the one expiry event.
    expect(await outboxTopics(org.id)).toEqual(["redemption.created", "redemption.expired"]);
  });

  it("an unknown redemption is not found", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    for (const redemptionId of [randomUUID(), "not-a-uuid"]) {
      await expect(fulfilRedemption(deps, { orgId: org.id, redemptionId })).rejects.toMatchObject({
        code: "not_found",
      });
    }
  });
});

describe("adjustMemberPoints", () => {
  it("credits and debits, refuses a debit beyond the balance, and replays by external id", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const credit = {
      orgId: org.id,
      memberId: member.id,
      direction: "credit" as const,
      points: 75n,
      reason: "goodwill",
      externalId: externalId("adj"),
      actor: platformActor,
    };
    const first = await adjustMemberPoints(deps, credit);
    expect(first).toMatchObject({ points: 75n, replayed: false, balance: { available: 75n } });
    expect(await adjustMemberPoints(deps, credit)).toMatchObject({
      adjustmentId: first.adjustmentId,
      replayed: true,
      balance: { available: 75n },
    });
    await expect(adjustMemberPoints(deps, { ...credit, reason: "other" })).rejects.toMatchObject({
      code: "conflict",
    });
    await expect(
      adjustMemberPoints(deps, {
        ...credit,
        direction: "debit",
        points: 76n,
        externalId: externalId("adj"),
      }),
    ).rejects.toMatchObject({ code: "insufficient_points" });
    const debit = await adjustMemberPoints(deps, {
      ...credit,
      direction: "debit",
      points: 75n,
      externalId: externalId("adj"),
    });
    expect(debit.balance.available).toBe(0n);
    const topics = await fixture.database.sql<{ topic: string }[]>`
      select topic from outbox where org_id = ${org.id} and topic = 'points.adjusted'`;
    expect(topics).toHaveLength(2);
  });
});
