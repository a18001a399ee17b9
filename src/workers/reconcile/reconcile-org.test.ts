/**
 * The reconciliation of one org, on a real Postgres database and the embedded ledger: a small
 * population made through the use cases (enrollments, purchases with stamps, one of 0 points, a
 * partial refund, a refund with a shortfall, redemptions fulfilled and cancelled, adjustments) reconciles clean with exact counts, across
 * page boundaries; then defects planted in Postgres (a changed amount or spend, a transfer id
 * nobody posted, a member without a wallet) and an intent left pending are each found, by kind.
 */
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import {
  buildLedgerMember,
  buildLedgerOrg,
  cardNumber,
  externalId,
} from "../../../test/support/ledger.ts";
import { platformActor } from "../../membership/audit/audit.ts";
import {
  adjustMemberPoints,
  cancelRedemption,
  createCode,
  createRedemption,
  createStampProgram,
  enrollMember,
  expireMembersPoints,
  fulfilRedemption,
  type LedgerDeps,
  recordPurchase,
  redeemCode,
  refundPurchase,
} from "../../membership/index.ts";
import { adjustments, members, posTransactions } from "../../membership/store/schema.ts";
import { reconcileOrg } from "./reconcile-org.ts";

const fixture = useLedgerFixture();

class SimulatedCrash extends Error {}

/** An org with members, purchases (one earning stamps), a refund, redemptions, adjustments. */
async function buildPopulation(deps: LedgerDeps) {
  const { org } = await buildLedgerOrg(deps);
  await createStampProgram(deps, {
    orgId: org.id,
    name: "Coffee card",
    stampsRequired: 10n,
    rewardPoints: 50n,
  });
  const [first, second, third] = [
    await buildLedgerMember(deps, org.id),
    await buildLedgerMember(deps, org.id),
    await buildLedgerMember(deps, org.id),
  ];
  if (first === undefined || second === undefined || third === undefined) {
    throw new Error("three members");
  }
  const purchase = (memberId: string, amountMinor: bigint) =>
    recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId,
      amountMinor,
      currency: "EUR",
    });
  const large = await purchase(first.id, 5_000n);
  await purchase(second.id, 2_000n);
  await purchase(third.id, 50n); // 0.50 EUR: 0 points, still one earn transfer
  const [refunded] = await deps.db
    .select({ externalId: posTransactions.externalId })
    .from(posTransactions)
    .where(eq(posTransactions.id, large.transactionId));
  await refundPurchase(deps, {
    orgId: org.id,
    purchaseExternalId: refunded?.externalId ?? "",
    externalId: externalId("refund"),
    amountMinor: 2_000n,
  });
  const fulfilled = await createRedemption(deps, {
    orgId: org.id,
    memberId: second.id,
    points: 30n,
  });
  await fulfilRedemption(deps, { orgId: org.id, redemptionId: fulfilled.id });
  const cancelled = await createRedemption(deps, { orgId: org.id, memberId: first.id, points: 5n });
  await cancelRedemption(deps, { orgId: org.id, redemptionId: cancelled.id });
  await createRedemption(deps, { orgId: org.id, memberId: third.id, points: 1n });
  await adjustMemberPoints(deps, {
    actor: platformActor,
    orgId: org.id,
    memberId: third.id,
    direction: "credit",
    points: 7n,
    reason: "goodwill",
    externalId: externalId("adj"),
  });
  // A refund with a shortfall: the member spent most of the points before the refund.
  const spender = await buildLedgerMember(deps, org.id);
  const spent = await purchase(spender.id, 3_000n);
  await adjustMemberPoints(deps, {
    actor: platformActor,
    orgId: org.id,
    memberId: spender.id,
    direction: "debit",
    points: 125n,
    reason: "spent elsewhere",
    externalId: externalId("adj"),
  });
  const [spentRow] = await deps.db
    .select({ externalId: posTransactions.externalId })
    .from(posTransactions)
    .where(eq(posTransactions.id, spent.transactionId));
  const shortfall = await refundPurchase(deps, {
    orgId: org.id,
    purchaseExternalId: spentRow?.externalId ?? "",
    externalId: externalId("refund"),
    amountMinor: 3_000n,
  });
  expect(shortfall).toMatchObject({ pointsToReverse: 30n, pointsReversed: 5n, shortfall: 25n });
  return { org, members: [first, second, third, spender] };
}

describe("reconcileOrg", () => {
  it("finds a real population clean, with counts, across pages", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildPopulation(deps);
    const result = await reconcileOrg(deps, { orgId: org.id, now: new Date(), pageSize: 2 });
    expect(result.mismatches).toEqual([]);
    expect(result.mismatchCount).toBe(0);
    expect(result.checked).toEqual({
      // 4 purchases, 2 refunds (one with a shortfall), 3 redemptions, 2 adjustments.
      documents: 11,
      // 4 welcome bonuses; 4 earns and 4 stamp grants; 2 reversals; 3 holds, 1 post, 1 void;
      // 2 adjustments.
      transfers: 21,
      wallets: 4,
    });
  });

  it("reports each planted defect by kind, and nothing of another org", async () => {
    const { deps } = fixture.environment;
    const { org, members: population } = await buildPopulation(deps);
    const other = await buildPopulation(deps);
    const [first, second] = population;
    const { sql } = fixture.database;

    // A purchase whose points were changed after posting, one whose spend was.
    const [earned] = await sql<{ id: string }[]>`
      select id from pos_transactions
      where org_id = ${org.id} and kind = 'purchase' and member_id = ${first?.id ?? ""}`;
    await sql`update pos_transactions set points = points + 1 where id = ${earned?.id ?? ""}`;
    const [spent] = await sql<{ id: string }[]>`
      select id from pos_transactions
      where org_id = ${org.id} and kind = 'purchase' and member_id = ${second?.id ?? ""}`;
    await sql`update pos_transactions set amount_minor = 1999 where id = ${spent?.id ?? ""}`;
    // A posted adjustment whose transfer nobody posted.
    const [adjustment] = await deps.db
      .update(adjustments)
      .set({ transferId: "12345678901234567890" })
      .where(and(eq(adjustments.orgId, org.id), eq(adjustments.direction, "credit")))
      .returning({ id: adjustments.id });
    // A member marked enrolled on the ledger, with a welcome bonus, without a wallet.
    const walletless = await enrollMember(deps, { orgId: org.id, externalRef: cardNumber() });
    await deps.db
      .update(members)
      .set({ ledgerStatus: "posted", welcomeBonusPoints: 100n })
      .where(and(eq(members.orgId, org.id), eq(members.id, walletless.id)));

    const result = await reconcileOrg(deps, { orgId: org.id, now: new Date() });
    const found = result.mismatches.map((m) => [m.kind, m.document.kind, m.document.id]);
    expect(found).toEqual(
      expect.arrayContaining([
        ["amount_mismatch", "purchase", earned?.id],
        ["spend_mismatch", "purchase", spent?.id],
        ["missing_transfer", "adjustment", adjustment?.id],
        ["missing_wallet", "member", walletless.id],
        ["missing_transfer", "member", walletless.id],
      ]),
    );
    const amount = result.mismatches.find((m) => m.kind === "amount_mismatch");
    expect(amount).toMatchObject({ expected: "51", actual: "50" });
    const spend = result.mismatches.find((m) => m.kind === "spend_mismatch");
    expect(spend).toMatchObject({ expected: "1999", actual: "2000" });
    const missing = result.mismatches.find(
      (m) => m.kind === "missing_transfer" && m.document.kind === "adjustment",
    );
    expect(missing).toMatchObject({ transferId: 12345678901234567890n, actual: null });
    expect(result.mismatchCount).toBe(5);
    expect(result.mismatches).toHaveLength(5);

    const untouched = await reconcileOrg(deps, { orgId: other.org.id, now: new Date() });
    expect(untouched.mismatchCount).toBe(0);
  });

  it("compares promo code redemptions with their credits and finds a changed amount", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const code = await createCode(deps, {
      orgId: org.id,
      code: "WELCOME-BACK",
      points: 40n,
      oncePerMember: true,
    });
    const redeemed = await redeemCode(deps, {
      orgId: org.id,
      memberId: member.id,
      code: "welcome-back",
      actor: platformActor,
    });
    const clean = await reconcileOrg(deps, { orgId: org.id, now: new Date() });
    expect(clean.mismatchCount).toBe(0);
    // The member (welcome bonus) and the redemption.
    expect(clean.checked.documents).toBe(1);
    await fixture.database.sql`
      update code_redemptions set points = 41 where id = ${redeemed.redemptionId}`;
    const changed = await reconcileOrg(deps, { orgId: org.id, now: new Date() });
    expect(changed.mismatches).toEqual([
      expect.objectContaining({
        kind: "amount_mismatch",
        document: expect.objectContaining({ kind: "code_redemption", id: redeemed.redemptionId }),
        expected: "41",
        actual: "40",
      }),
    ]);
    expect(code.id).toBe(redeemed.codeId);
  });

  it("compares an expiry posted by the daily run with its balancing debit", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 240n });
    const [ledger] = await fixture.database.sql<{ ledger: number }[]>`
      select ledger from org_ledgers where org_id = ${org.id} and unit = 'points'`;
    const expiry = await expireMembersPoints(deps, {
      orgId: org.id,
      pointsLedger: ledger?.ledger ?? 0,
      memberIds: [member.id],
      policy: { policy: "inactivity", months: 1 },
      asOfMs: fixture.environment.now().getTime() + 90 * 24 * 60 * 60 * 1000,
    });
    expect(expiry.expired).toBe(240n);
    const clean = await reconcileOrg(deps, { orgId: org.id, now: new Date() });
    expect(clean).toMatchObject({
      // The top-up adjustment and the expiry; the welcome bonus, the adjustment, the expiry.
      checked: { documents: 2, transfers: 3, wallets: 1 },
      mismatchCount: 0,
    });

    await fixture.database.sql`
      update expiries set expired_points = expired_points - 1 where org_id = ${org.id}`;
    const planted = await reconcileOrg(deps, { orgId: org.id, now: new Date() });
    expect(planted.mismatches).toMatchObject([
      { kind: "amount_mismatch", document: { kind: "expiry" }, expected: "239", actual: "240" },
    ]);
  });

  it("flags an intent pending longer than five minutes, not a younger one", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const crashing: LedgerDeps = {
      ...deps,
      interrupt: (step) => {
        if (step === "after_intent") {
          throw new SimulatedCrash("crash after the intent");
        }
      },
    };
    await expect(
      adjustMemberPoints(crashing, {
        actor: platformActor,
        orgId: org.id,
        memberId: member.id,
        direction: "credit",
        points: 3n,
        reason: "left pending",
        externalId: externalId("adj"),
      }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    const [pending] = await deps.db
      .select({ id: adjustments.id, createdAt: adjustments.createdAt })
      .from(adjustments)
      .where(and(eq(adjustments.orgId, org.id), eq(adjustments.status, "pending")));
    if (pending === undefined) {
      throw new Error("the intent stays pending");
    }

    const young = await reconcileOrg(deps, {
      orgId: org.id,
      now: new Date(pending.createdAt.getTime() + 4 * 60_000),
    });
    expect(young.mismatchCount).toBe(0);

    const later = new Date(pending.createdAt.getTime() + 6 * 60_000);
    const old = await reconcileOrg(deps, { orgId: org.id, now: later });
    expect(old.mismatches).toEqual([
      {
        kind: "stale_intent",
        document: expect.objectContaining({ kind: "adjustment", id: pending.id }),
        transferId: null,
        expected: "posted",
        actual: `pending since ${pending.createdAt.toISOString()}`,
      },
    ]);
    // The pending row is not compared with the ledger: only posted documents are.
    expect(old.checked.documents).toBe(0);
  });

  it("has nothing to compare for an org without documents", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const result = await reconcileOrg(deps, { orgId: org.id, now: new Date() });
    expect(result).toEqual({
      checked: { documents: 0, transfers: 0, wallets: 0 },
      mismatches: [],
      mismatchCount: 0,
    });
  });
});
