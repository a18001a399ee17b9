/**
 * One member's life through the ledger-backed use cases, on real Postgres and the embedded
 * ledger: enrol, buy, earn stamps, redeem, get refunded after spending, and end with every
 * ledger of the org balanced and every change announced in the outbox.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerOrg, cardNumber } from "../../../test/support/ledger.ts";
import { enrollMemberWithLedger } from "../members/enroll-member-with-ledger.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { getMemberHistory } from "../members/get-member-history.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import { createRedemption } from "../redemptions/create-redemption.ts";
import { fulfilRedemption } from "../redemptions/fulfil-redemption.ts";
import { refundPurchase } from "../refunds/refund-purchase.ts";
import { createStampProgram } from "../stamp-programs/create-stamp-program.ts";
import { recordPurchase } from "./record-purchase.ts";

const fixture = useLedgerFixture();

describe("a member's journey", () => {
  it("earns, redeems, is refunded with a shortfall, and every ledger balances", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 100 } });
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Coffee card",
      stampsRequired: 2n,
      rewardPoints: 10n,
    });

    const { member, welcomeBonus } = await enrollMemberWithLedger(deps, {
      orgId: org.id,
      externalRef: cardNumber(),
    });
    expect(welcomeBonus).toBe(100n);

    // 200.00 EUR at 1 point per euro, Bronze (1.0x): 200 points and one stamp.
    const first = await recordPurchase(deps, {
      orgId: org.id,
      externalId: "till-1:0001",
      memberId: member.id,
      amountMinor: 20_000n,
      currency: "EUR",
      locationRef: "store-7",
    });
    expect(first).toMatchObject({
      pointsEarned: 200n,
      stampsEarned: [{ programId: program.id, stamps: 1n, completed: false }],
      replayed: false,
    });
    expect(first.balance.available).toBe(300n);

    // The second stamp fills the card: 2 stamps out, 10 reward points in, one chain.
    const second = await recordPurchase(deps, {
      orgId: org.id,
      externalId: "till-1:0002",
      memberExternalRef: member.externalRef,
      amountMinor: 550n,
      currency: "EUR",
    });
    expect(second.pointsEarned).toBe(5n);
    expect(second.stampsEarned).toEqual([{ programId: program.id, stamps: 1n, completed: true }]);
    expect(second.balance.available).toBe(315n);

    let balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toEqual({
      available: 315n,
      pending: 0n,
      lifetimeEarned: 315n,
      lifetimeRedeemed: 0n,
    });
    expect(balances.stamps).toEqual([
      { programId: program.id, name: "Coffee card", balance: 0n, stampsRequired: 2n },
    ]);

    const redemption = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      points: 250n,
    });
    expect(redemption).toMatchObject({ status: "pending", points: 250n });
    expect(redemption.expiresAt.getTime()).toBe(
      fixture.environment.now().getTime() + org.settings.holdSecondsDefault * 1000,
    );
    balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toMatchObject({ available: 65n, pending: 250n });

    const fulfilled = await fulfilRedemption(deps, {
      orgId: org.id,
      redemptionId: redemption.id,
    });
    expect(fulfilled.status).toBe("fulfilled");
    balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toEqual({
      available: 65n,
      pending: 0n,
      lifetimeEarned: 315n,
      lifetimeRedeemed: 250n,
    });

    // The first purchase is refunded in full: its 200 points should go, but only 65 are left.
    const refund = await refundPurchase(deps, {
      orgId: org.id,
      purchaseExternalId: "till-1:0001",
      externalId: "till-1:r0001",
      amountMinor: 20_000n,
    });
    expect(refund).toMatchObject({
      purchaseId: first.transactionId,
      pointsToReverse: 200n,
      pointsReversed: 65n,
      shortfall: 135n,
      replayed: false,
    });
    balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(0n);

    const history = await getMemberHistory(deps, { orgId: org.id, memberId: member.id, limit: 50 });
    expect(history.entries.map((entry) => entry.operation)).toEqual([
      "refund_reversal",
      "redemption_fulfilled",
      "redemption_hold",
      "stamp_card_reward",
      "purchase_earn",
      "purchase_earn",
      "welcome_bonus",
    ]);
    expect(history.nextCursor).toBeNull();
    // The purchase and its refund's reversal both name the purchase (so carry its time).
    const [reversal, ...rest] = history.entries.filter(
      (entry) => entry.documentId === first.transactionId,
    );
    expect(reversal).toMatchObject({
      operation: "refund_reversal",
      amount: 65n,
      spendMinor: 20_000n,
    });
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatchObject({
      operation: "purchase_earn",
      spendMinor: 20_000n,
      locationNumber: 1,
    });

    const trial = await getTrialBalance(deps, { orgId: org.id });
    expect(trial.map((unit) => unit.unit)).toEqual(["points", `stamps:${program.id}`]);
    for (const unit of trial) {
      expect(unit.trialBalance.balanced).toBe(true);
    }
    const points = trial[0]?.trialBalance;
    expect(points?.outstandingLiability).toBe(0n);
    expect(points?.wallets.count).toBe(1);
    // Everything that entered the wallet left it again: 315 in, 250 redeemed, 65 reversed.
    expect(points?.controls.redemptions?.creditsPosted).toBe(250n);
    expect(points?.controls.issuance?.creditsPosted).toBe(65n);
    expect(trial[1]?.trialBalance.controls.completions?.creditsPosted).toBe(2n);

    const events = await fixture.database.sql<
      { topic: string; payload: Record<string, unknown> }[]
    >`
      select topic, payload from outbox where org_id = ${org.id} order by id`;
    expect(events.map((event) => event.topic)).toEqual([
      "member.enrolled",
      "points.earned",
      // The second purchase fills the card: its completion is written before its posted mark.
      "stamp_card.completed",
      "points.earned",
      "redemption.created",
      "redemption.fulfilled",
      "points.reversed",
    ]);
    expect(events[2]?.payload).toMatchObject({ member_id: member.id, completion: 1 });
    expect(events[6]?.payload).toMatchObject({
      transaction_id: refund.transactionId,
      points_reversed: "65",
      shortfall: "135",
    });
  });
});
