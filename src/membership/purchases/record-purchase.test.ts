/**
 * Recording purchases and refunds one at a time: points by rate and tier, locations and stamps,
 * idempotent replays that post nothing twice (checked on the ledger itself), conflicts, stamp
 * cards completing as one chain, and partial refunds that add up to a full one.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import {
  buildLedgerMember,
  buildLedgerOrg,
  countCreateTransfers,
  externalId,
} from "../../../test/support/ledger.ts";
import { transferId, walletBalance } from "../../ledger/index.ts";
import { assignTier } from "../members/assign-tier.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { getMemberHistory } from "../members/get-member-history.ts";
import { updateMember } from "../members/update-member.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import { refundPurchase } from "../refunds/refund-purchase.ts";
import { createStampProgram } from "../stamp-programs/create-stamp-program.ts";
import { recordPurchase } from "./record-purchase.ts";

const fixture = useLedgerFixture();

async function countRows(table: "pos_transactions" | "outbox", orgId: string): Promise<number> {
  const [row] = await fixture.database.sql<{ n: number }[]>`
    select count(*)::int as n from ${fixture.database.sql(table)} where org_id = ${orgId}`;
  return row?.n ?? -1;
}

describe("recordPurchase", () => {
  it("earns by the org's rate and the member's tier multiplier, rounding down once", async () => {
    const { deps } = fixture.environment;
    const { org, tiers } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const silver = tiers.find((tier) => tier.name === "Silver");
    await assignTier(deps, {
      orgId: org.id,
      memberId: member.id,
      tierId: silver?.id ?? "",
      reason: "manual",
    });

    // base 19.99 → 19, tier 19.99 × 0.25 = 4.99… → 4: each entry rounded down once.
    const result = await recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 1_999n,
      currency: "EUR",
    });
    expect(result.pointsEarned).toBe(23n);
    expect(result.breakdown).toEqual([
      { kind: "base", points: 19n },
      { kind: "tier", points: 4n },
    ]);
    expect(result.balance).toEqual({
      available: 23n,
      pending: 0n,
      lifetimeEarned: 23n,
      lifetimeRedeemed: 0n,
    });
  });

  it("replays a retried purchase with its stored outcome and posts nothing twice", async () => {
    const { deps, engine } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const request = {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 12_345n,
      currency: "EUR",
      occurredAt: new Date("2026-01-02T03:04:05Z"),
      locationRef: "store-1",
      items: [{ sku: "A-1", category: "coffee", quantity: 2 }],
    };
    const first = await recordPurchase(deps, request);
    expect(first).toMatchObject({ pointsEarned: 123n, replayed: false });
    const trialBefore = await getTrialBalance(deps, { orgId: org.id });

    const counting = countCreateTransfers(engine);
    const again = await recordPurchase({ ...deps, ledger: counting.client }, request);
    expect(again).toEqual({ ...first, replayed: true });
    expect(counting.createTransfersCalls()).toBe(0);

    const earnId = transferId({
      orgId: org.id,
      source: "purchase",
      externalId: request.externalId,
      leg: "earn",
    });
    const [earn] = await engine.lookupTransfers([earnId]);
    expect(earn?.amount).toBe(123n);
    expect(await getTrialBalance(deps, { orgId: org.id })).toEqual(trialBefore);
    expect(await countRows("pos_transactions", org.id)).toBe(1);
    const earned = await fixture.database.sql`
      select 1 from outbox where org_id = ${org.id} and topic = 'points.earned'`;
    expect(earned).toHaveLength(1);
  });

  it("refuses a different purchase under a used external id, changing nothing", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const request = {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 1_000n,
      currency: "EUR",
    };
    await recordPurchase(deps, request);
    const trialBefore = await getTrialBalance(deps, { orgId: org.id });
    const outboxBefore = await countRows("outbox", org.id);

    await expect(recordPurchase(deps, { ...request, amountMinor: 1_001n })).rejects.toMatchObject({
      code: "conflict",
      details: { externalId: request.externalId },
    });
    await expect(
      recordPurchase(deps, { ...request, items: [{ sku: "X", quantity: 1 }] }),
    ).rejects.toMatchObject({ code: "conflict" });
    expect(await getTrialBalance(deps, { orgId: org.id })).toEqual(trialBefore);
    expect(await countRows("pos_transactions", org.id)).toBe(1);
    expect(await countRows("outbox", org.id)).toBe(outboxBefore);
  });

  it("finds the member by external ref and numbers locations per org on first use", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const purchase = (locationRef: string) =>
      recordPurchase(deps, {
        orgId: org.id,
        externalId: externalId(),
        memberExternalRef: member.externalRef,
        amountMinor: 100n,
        currency: "EUR",
        locationRef,
      });
    await purchase("north");
    await purchase("south");
    await purchase("north");

    const history = await getMemberHistory(deps, { orgId: org.id, memberId: member.id, limit: 10 });
    expect(history.entries.map((entry) => entry.locationNumber)).toEqual([1, 2, 1]);
    const locations = await fixture.database.sql<{ external_ref: string; number: number }[]>`
      select external_ref, number from locations where org_id = ${org.id} order by number`;
    expect(locations).toEqual([
      { external_ref: "north", number: 1 },
      { external_ref: "south", number: 2 },
    ]);
  });

  it("refuses inactive members, other currencies and malformed requests", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const base = {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 1_000n,
      currency: "EUR",
    };
    await expect(recordPurchase(deps, { ...base, currency: "USD" })).rejects.toMatchObject({
      code: "invalid_input",
      details: { field: "currency" },
    });
    await expect(recordPurchase(deps, { ...base, amountMinor: 0n })).rejects.toMatchObject({
      code: "invalid_input",
      details: { field: "amountMinor" },
    });
    await expect(
      recordPurchase(deps, { ...base, amountMinor: 10n ** 12n + 1n }),
    ).rejects.toMatchObject({ code: "invalid_input", details: { field: "amountMinor" } });
    await expect(
      recordPurchase(deps, { ...base, memberExternalRef: member.externalRef }),
    ).rejects.toMatchObject({ code: "invalid_input" });
    await expect(
      recordPurchase(deps, { ...base, items: [{ sku: "A", quantity: 0 }] }),
    ).rejects.toMatchObject({ code: "invalid_input", details: { field: "items.0.quantity" } });
    await expect(recordPurchase(deps, { ...base, memberId: randomUUID() })).rejects.toMatchObject({
      code: "not_found",
    });

    await updateMember(deps, {
      orgId: org.id,
      memberId: member.id,
      patch: { status: "suspended" },
    });
    await expect(recordPurchase(deps, base)).rejects.toMatchObject({ code: "member_inactive" });
    expect(await countRows("pos_transactions", org.id)).toBe(0);
  });
});

describe("stamp cards", () => {
  it("stamps one per purchase, or one per unit of the program's category", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const visits = await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 10n,
      rewardPoints: 100n,
    });
    const coffee = await createStampProgram(deps, {
      orgId: org.id,
      name: "Coffee",
      stampsRequired: 10n,
      rewardPoints: 50n,
      earn: { per: "item", categories: ["coffee"] },
    });
    const member = await buildLedgerMember(deps, org.id);
    const result = await recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 800n,
      currency: "EUR",
      items: [
        { sku: "espresso", category: "coffee", quantity: 3 },
        { sku: "tea", category: "tea", quantity: 1 },
        { sku: "latte", category: "coffee", quantity: 2 },
      ],
    });
    expect(result.stampsEarned).toEqual([
      { programId: visits.id, stamps: 1n, completed: false },
      { programId: coffee.id, stamps: 5n, completed: false },
    ]);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.stamps.map((card) => card.balance)).toEqual([1n, 5n]);
  });

  it("completes a full card in one chain, as often as the stamps allow", async () => {
    const { deps, engine } = fixture.environment;
    const { org, pointsLedger } = await buildLedgerOrg(deps, {
      settings: { welcomeBonusPoints: 0 },
    });
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Pastries",
      stampsRequired: 3n,
      rewardPoints: 40n,
      earn: { per: "item", categories: ["pastry"] },
    });
    const member = await buildLedgerMember(deps, org.id);
    const result = await recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 100n,
      currency: "EUR",
      items: [{ sku: "croissant", category: "pastry", quantity: 7 }],
    });
    // 7 stamps: two cards of 3 complete, 1 stamp is left, 2 × 40 points are credited.
    expect(result.stampsEarned).toEqual([{ programId: program.id, stamps: 7n, completed: true }]);
    expect(result.balance.available).toBe(1n + 80n);
    const card = await walletBalance(engine, { ledger: program.ledger, memberId: member.id });
    expect(card?.available).toBe(1n);

    for (const completionNumber of [1, 2]) {
      const parts = {
        orgId: org.id,
        source: "stamp_card",
        externalId: `${program.id}:${member.id}:${completionNumber}`,
      };
      const [stamps, reward] = await engine.lookupTransfers([
        transferId({ ...parts, leg: "stamps" }),
        transferId({ ...parts, leg: "reward" }),
      ]);
      expect(stamps).toMatchObject({ amount: 3n, ledger: program.ledger });
      expect(reward).toMatchObject({ amount: 40n, ledger: pointsLedger });
    }
    const [cardRow] = await fixture.database.sql<{ completions: number }[]>`
      select completions from stamp_cards where program_id = ${program.id}`;
    expect(cardRow?.completions).toBe(2);
    for (const unit of await getTrialBalance(deps, { orgId: org.id })) {
      expect(unit.trialBalance.balanced).toBe(true);
    }
  });

  it("completes each card exactly once when purchases race to fill it", async () => {
    const { deps, engine } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 3n,
      rewardPoints: 10n,
    });
    const member = await buildLedgerMember(deps, org.id);
    // Opens the card first, so the race is about completing, not about opening the wallet.
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 1n,
      currency: "EUR",
    });
    const purchases = 10;
    const results = await Promise.all(
      Array.from({ length: purchases }, () =>
        recordPurchase(deps, {
          orgId: org.id,
          externalId: externalId(),
          memberId: member.id,
          amountMinor: 1n,
          currency: "EUR",
        }),
      ),
    );
    // 11 stamps: 3 cards complete, 2 stamps are left.
    const completedCount = results.filter((result) => result.stampsEarned[0]?.completed).length;
    // One purchase may complete two cards in its loop, so 1..3 purchases report a completion.
    expect(completedCount).toBeGreaterThanOrEqual(1);
    expect(completedCount).toBeLessThanOrEqual(3);
    const card = await walletBalance(engine, { ledger: program.ledger, memberId: member.id });
    expect(card?.available).toBe(2n);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(30n);
    const [cardRow] = await fixture.database.sql<{ completions: number }[]>`
      select completions from stamp_cards where program_id = ${program.id}`;
    expect(cardRow?.completions).toBe(3);
  });
});

describe("refundPurchase", () => {
  it("takes back the cumulative share, so partial refunds add up to a full one", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const purchaseId = externalId();
    const purchase = await recordPurchase(deps, {
      orgId: org.id,
      externalId: purchaseId,
      memberId: member.id,
      amountMinor: 1_000n,
      currency: "EUR",
    });
    expect(purchase.pointsEarned).toBe(10n);

    // Each third alone would be floor(10 × 333 / 1000) = 3: 9 in total, one point adrift.
    const reversed: bigint[] = [];
    for (const amountMinor of [333n, 333n, 334n]) {
      const refund = await refundPurchase(deps, {
        orgId: org.id,
        purchaseExternalId: purchaseId,
        externalId: externalId("refund"),
        amountMinor,
      });
      expect(refund.shortfall).toBe(0n);
      reversed.push(refund.pointsReversed);
    }
    expect(reversed).toEqual([3n, 3n, 4n]);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(0n);

    await expect(
      refundPurchase(deps, {
        orgId: org.id,
        purchaseExternalId: purchaseId,
        externalId: externalId("refund"),
        amountMinor: 1n,
      }),
    ).rejects.toMatchObject({ code: "refund_exceeds_purchase" });
  });

  it("replays a retried refund and refuses a different one under the same id", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const purchaseId = externalId();
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: purchaseId,
      memberId: member.id,
      amountMinor: 5_000n,
      currency: "EUR",
    });
    const request = {
      orgId: org.id,
      purchaseExternalId: purchaseId,
      externalId: externalId("refund"),
      amountMinor: 2_500n,
    };
    const first = await refundPurchase(deps, request);
    expect(first).toMatchObject({ pointsReversed: 25n, replayed: false });
    const counting = countCreateTransfers(fixture.environment.engine);
    const again = await refundPurchase({ ...deps, ledger: counting.client }, request);
    expect(again).toEqual({ ...first, replayed: true });
    expect(counting.createTransfersCalls()).toBe(0);
    await expect(refundPurchase(deps, { ...request, amountMinor: 2_000n })).rejects.toMatchObject({
      code: "conflict",
    });
    await expect(
      refundPurchase(deps, { ...request, externalId: externalId("refund"), amountMinor: 2_501n }),
    ).rejects.toMatchObject({ code: "refund_exceeds_purchase" });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(100n + 50n - 25n);
  });
});
