/**
 * The loyalty operations on the embedded engine (never a mock): each operation's postings, its
 * idempotent retry, its refusals, and the trial balance after it.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AccountCode } from "./codes.ts";
import { createEmbeddedClient } from "./embedded/index.ts";
import { controlAccountId, transferId, uuidToU128, walletAccountId } from "./ids.ts";
import {
  adjustmentTransferId,
  adjustPoints,
  completeStampCard,
  currencyExponent,
  earnMany,
  enroll,
  holdRedemption,
  LedgerRefusedError,
  pointsForPurchase,
  postChains,
  resolveRedemption,
  reversalTransferId,
  reversePoints,
  reversePointsMany,
  stampEarnChain,
} from "./loyalty.ts";
import { trialBalance, walletBalance, walletHistory, walletsAvailable } from "./reads.ts";

const second = 1_000_000_000n;

function setup() {
  let now = 1_800_000_000n * second;
  const client = createEmbeddedClient({ clock: () => now });
  const orgId = randomUUID();
  const ledger = 7;
  return {
    client,
    orgId,
    ledger,
    advance(seconds: number) {
      now += BigInt(seconds) * second;
    },
    async member(welcomeBonusPoints = 100n) {
      const memberId = randomUUID();
      await enroll(client, { orgId, ledger, memberId, welcomeBonusPoints });
      return memberId;
    },
  };
}

function purchase(
  orgId: string,
  ledger: number,
  memberId: string,
  points: bigint,
  externalId = randomUUID(),
) {
  return {
    orgId,
    ledger,
    memberId,
    externalId,
    points,
    spendMinor: 1999n,
    locationNumber: 3,
    documentId: randomUUID(),
  };
}

describe("points for a purchase", () => {
  it("rounds down once, after the multiplier", () => {
    const args = { currencyExponent: 2, basePointsPerUnit: 1n };
    expect(pointsForPurchase({ ...args, amountMinor: 1999n, multiplierBps: 12_500n })).toBe(24n);
    expect(pointsForPurchase({ ...args, amountMinor: 99n, multiplierBps: 10_000n })).toBe(0n);
    expect(pointsForPurchase({ ...args, amountMinor: 100n, multiplierBps: 20_000n })).toBe(2n);
    expect(pointsForPurchase({ ...args, amountMinor: 10n ** 12n, multiplierBps: 10_000n })).toBe(
      10n ** 10n,
    );
  });

  it("knows each currency's minor unit", () => {
    expect(currencyExponent("USD")).toBe(2);
    expect(currencyExponent("JPY")).toBe(0);
    expect(currencyExponent("KWD")).toBe(3);
    expect(
      pointsForPurchase({
        amountMinor: 1500n,
        currencyExponent: 0,
        basePointsPerUnit: 1n,
        multiplierBps: 10_000n,
      }),
    ).toBe(1500n);
  });
});

describe("loyalty operations", () => {
  it("enrolls with the welcome bonus once, however often it is retried", async () => {
    const { client, orgId, ledger } = setup();
    const memberId = randomUUID();
    for (let i = 0; i < 3; i++) {
      expect(await enroll(client, { orgId, ledger, memberId, welcomeBonusPoints: 100n })).toEqual({
        welcomeBonus: 100n,
      });
    }
    expect(await walletBalance(client, { ledger, memberId })).toEqual({
      available: 100n,
      pending: 0n,
      lifetimeEarned: 100n,
      lifetimeRedeemed: 0n,
    });
    const [promotions] = await client.lookupAccounts([
      controlAccountId(ledger, AccountCode.promotions),
    ]);
    expect(promotions?.debits_posted).toBe(100n);
  });

  it("earns many purchases in one request and never twice on retry", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(0n);
    const inputs = Array.from({ length: 10 }, () => purchase(orgId, ledger, memberId, 5n));
    inputs.push(purchase(orgId, ledger, memberId, 0n));
    const first = await earnMany(client, inputs);
    // The purchase earning 0 points posts too: its time and spend are in the ledger.
    expect(first.every((outcome) => outcome.kind === "created")).toBe(true);
    const again = await earnMany(client, inputs);
    expect(again.every((outcome) => outcome.kind === "exists")).toBe(true);
    expect((await walletBalance(client, { ledger, memberId }))?.available).toBe(50n);
    const zero = await client.lookupTransfers([
      transferId({
        orgId,
        source: "purchase",
        externalId: inputs[10]?.externalId ?? "",
        leg: "earn",
      }),
    ]);
    expect(zero[0]?.amount).toBe(0n);
    expect(zero[0]?.user_data_64).toBe(1999n);
  });

  it("packs more chains than one request holds into several requests", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(0n);
    const inputs = Array.from({ length: 9000 }, () => purchase(orgId, ledger, memberId, 1n));
    const outcomes = await earnMany(client, inputs);
    expect(outcomes.filter((outcome) => outcome?.kind === "created")).toHaveLength(9000);
    expect((await walletBalance(client, { ledger, memberId }))?.available).toBe(9000n);
  });

  it("holds, fulfils and cancels redemptions, and refuses what is not there", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(100n);
    const fulfilled = randomUUID();
    await holdRedemption(client, {
      orgId,
      ledger,
      memberId,
      redemptionId: fulfilled,
      points: 60n,
      holdSeconds: 60,
    });
    expect(await walletBalance(client, { ledger, memberId })).toMatchObject({
      available: 40n,
      pending: 60n,
    });

    const refused = holdRedemption(client, {
      orgId,
      ledger,
      memberId,
      redemptionId: randomUUID(),
      points: 41n,
      holdSeconds: 60,
    });
    await expect(refused).rejects.toMatchObject({ refusal: "insufficient_points" });

    await resolveRedemption(client, {
      orgId,
      ledger,
      redemptionId: fulfilled,
      resolution: "fulfil",
    });
    await resolveRedemption(client, {
      orgId,
      ledger,
      redemptionId: fulfilled,
      resolution: "fulfil",
    });
    await expect(
      resolveRedemption(client, { orgId, ledger, redemptionId: fulfilled, resolution: "cancel" }),
    ).rejects.toMatchObject({ refusal: "hold_already_fulfilled" });
    expect(await walletBalance(client, { ledger, memberId })).toEqual({
      available: 40n,
      pending: 0n,
      lifetimeEarned: 100n,
      lifetimeRedeemed: 60n,
    });

    const cancelled = randomUUID();
    await holdRedemption(client, {
      orgId,
      ledger,
      memberId,
      redemptionId: cancelled,
      points: 40n,
      holdSeconds: 60,
    });
    await resolveRedemption(client, {
      orgId,
      ledger,
      redemptionId: cancelled,
      resolution: "cancel",
    });
    expect((await walletBalance(client, { ledger, memberId }))?.available).toBe(40n);
    await expect(
      resolveRedemption(client, {
        orgId,
        ledger,
        redemptionId: randomUUID(),
        resolution: "fulfil",
      }),
    ).rejects.toBeInstanceOf(LedgerRefusedError);
  });

  it("releases an expired hold and refuses to fulfil it", async () => {
    const { client, orgId, ledger, member, advance } = setup();
    const memberId = await member(100n);
    const redemptionId = randomUUID();
    await holdRedemption(client, {
      orgId,
      ledger,
      memberId,
      redemptionId,
      points: 100n,
      holdSeconds: 30,
    });
    advance(31);
    await expect(
      resolveRedemption(client, { orgId, ledger, redemptionId, resolution: "fulfil" }),
    ).rejects.toMatchObject({ refusal: "hold_expired" });
    expect((await walletBalance(client, { ledger, memberId }))?.available).toBe(100n);
  });

  it("claws back what is left on a refund and reports the shortfall", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(0n);
    await earnMany(client, [purchase(orgId, ledger, memberId, 100n)]);
    const redemptionId = randomUUID();
    await holdRedemption(client, {
      orgId,
      ledger,
      memberId,
      redemptionId,
      points: 70n,
      holdSeconds: 60,
    });
    await resolveRedemption(client, { orgId, ledger, redemptionId, resolution: "fulfil" });
    const refund = {
      orgId,
      ledger,
      memberId,
      reason: "refund" as const,
      transferId: reversalTransferId({ orgId, reason: "refund", externalId: "R-1" }),
      points: 100n,
      documentId: randomUUID(),
    };
    expect(await reversePoints(client, refund)).toEqual({ reversed: 30n, shortfall: 70n });
    // A retry reports the same outcome and moves nothing more.
    expect(await reversePoints(client, refund)).toEqual({ reversed: 30n, shortfall: 70n });
    expect((await walletBalance(client, { ledger, memberId }))?.available).toBe(0n);
  });

  it("posts a refund reversing 0 points, carrying the purchase's id and the refunded spend", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(0n);
    const bought = purchase(orgId, ledger, memberId, 0n);
    await earnMany(client, [bought]);
    const id = reversalTransferId({ orgId, reason: "refund", externalId: "R-0" });
    const refund = {
      orgId,
      ledger,
      memberId,
      reason: "refund" as const,
      transferId: id,
      points: 0n,
      documentId: bought.documentId,
      spendMinor: 999n,
    };
    expect(await reversePoints(client, refund)).toEqual({ reversed: 0n, shortfall: 0n });
    expect(await reversePoints(client, refund)).toEqual({ reversed: 0n, shortfall: 0n });
    const [posted] = await client.lookupTransfers([id]);
    expect(posted?.amount).toBe(0n);
    expect(posted?.user_data_64).toBe(999n);
    expect(posted?.user_data_128).toBe(uuidToU128(bought.documentId));
  });

  it("posts many expiries in one request: each bounded by its wallet, a refusal blocks no other", async () => {
    const { client, orgId, ledger, member } = setup();
    const rich = await member(100n);
    const held = await member(100n);
    const other = await member(100n);
    await holdRedemption(client, {
      orgId,
      ledger,
      memberId: held,
      redemptionId: randomUUID(),
      points: 60n,
      holdSeconds: 60,
    });
    const expiry = (memberId: string, points: bigint, externalId = memberId) => ({
      orgId,
      ledger,
      memberId,
      reason: "expiry" as const,
      transferId: reversalTransferId({ orgId, reason: "expiry", externalId }),
      points,
      documentId: randomUUID(),
    });
    const earlier = expiry(other, 50n);
    expect(await reversePoints(client, earlier)).toEqual({ reversed: 50n, shortfall: 0n });
    // The third re-sends that id with a smaller amount: refused for good, and alone.
    const inputs = [expiry(rich, 40n), expiry(held, 100n), { ...earlier, points: 10n }];
    const outcomes = await reversePointsMany(client, inputs);
    expect(outcomes[0]).toEqual({ reversed: 40n, shortfall: 0n });
    // The hold is untouched: only what was available (40) left the wallet.
    expect(outcomes[1]).toEqual({ reversed: 40n, shortfall: 60n });
    expect(outcomes[2]).toBeInstanceOf(LedgerRefusedError);
    expect((await walletBalance(client, { ledger, memberId: held }))?.pending).toBe(60n);
    const available = await walletsAvailable(client, { ledger, memberIds: [rich, held, other] });
    expect([...available.values()]).toEqual([60n, 0n, 50n]);
    expect((await trialBalance(client, ledger)).balanced).toBe(true);
  });

  it("adjusts in both directions and refuses to overdraw", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(10n);
    const documentId = randomUUID();
    const adjustment = (externalId: string, direction: "credit" | "debit", points: bigint) => ({
      orgId,
      ledger,
      memberId,
      documentId,
      direction,
      points,
      transferId: adjustmentTransferId({ orgId, externalId, direction }),
    });
    await adjustPoints(client, adjustment("A-1", "credit", 5n));
    await adjustPoints(client, adjustment("A-2", "debit", 15n));
    await expect(adjustPoints(client, adjustment("A-3", "debit", 1n))).rejects.toMatchObject({
      refusal: "insufficient_points",
    });
    // The refused id is burned; its retry answers the same refusal.
    await expect(adjustPoints(client, adjustment("A-3", "debit", 1n))).rejects.toMatchObject({
      refusal: "insufficient_points",
    });
    expect((await walletBalance(client, { ledger, memberId }))?.available).toBe(0n);
  });

  it("decodes history newest first, page by page", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(100n);
    await earnMany(client, [purchase(orgId, ledger, memberId, 7n)]);
    const redemptionId = randomUUID();
    await holdRedemption(client, {
      orgId,
      ledger,
      memberId,
      redemptionId,
      points: 50n,
      holdSeconds: 60,
    });
    await resolveRedemption(client, { orgId, ledger, redemptionId, resolution: "cancel" });
    const first = await walletHistory(client, { ledger, memberId, limit: 3 });
    expect(first.entries.map((entry) => [entry.operation, entry.direction, entry.amount])).toEqual([
      ["redemption_cancelled", "debit", 50n],
      ["redemption_hold", "debit", 50n],
      ["purchase_earn", "credit", 7n],
    ]);
    expect(first.entries[2]).toMatchObject({ spendMinor: 1999n, locationNumber: 3 });
    expect(first.nextBefore).not.toBeNull();
    const second = await walletHistory(client, {
      ledger,
      memberId,
      limit: 3,
      before: first.nextBefore ?? 0n,
    });
    expect(second.entries.map((entry) => entry.operation)).toEqual(["welcome_bonus"]);
    expect(second.nextBefore).toBeNull();
  });

  it("keeps the trial balance balanced and the liability equal to what members hold", async () => {
    const { client, orgId, ledger, member } = setup();
    const alice = await member(100n);
    const bob = await member(100n);
    await earnMany(client, [purchase(orgId, ledger, alice, 40n), purchase(orgId, ledger, bob, 2n)]);
    const redemptionId = randomUUID();
    await holdRedemption(client, {
      orgId,
      ledger,
      memberId: bob,
      redemptionId,
      points: 30n,
      holdSeconds: 60,
    });
    const balance = await trialBalance(client, ledger);
    expect(balance.balanced).toBe(true);
    expect(balance.wallets.count).toBe(2);
    expect(balance.outstandingLiability).toBe(242n);
    expect(balance.pendingRedemptions).toBe(30n);
    expect(balance.controls.promotions?.debitsPosted).toBe(200n);
    expect(balance.controls.issuance?.debitsPosted).toBe(42n);
    expect(balance.controls.redemptions?.creditsPending).toBe(30n);
    expect(balance.totals.debitsPosted).toBe(balance.totals.creditsPosted);
  });

  it("exchanges a full stamp card for its reward atomically, and refuses a card that is not full", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(0n);
    const stampsLedger = ledger + 100;
    await enroll(client, { orgId, ledger: stampsLedger, memberId, welcomeBonusPoints: 0n });
    const programId = randomUUID();
    const earn = (externalId: string, stamps: bigint) =>
      stampEarnChain({
        orgId,
        ledger: stampsLedger,
        memberId,
        externalId,
        programId,
        stamps,
        documentId: randomUUID(),
      });
    expect(earn("P-0", 0n)).toBeNull();
    await postChains(client, [earn("P-1", 3n) ?? [], earn("P-2", 1n) ?? []]);
    const card = {
      orgId,
      memberId,
      programId,
      stampsLedger,
      stampsRequired: 5n,
      pointsLedger: ledger,
      rewardPoints: 50n,
    };
    await expect(completeStampCard(client, { ...card, completionNumber: 1 })).rejects.toMatchObject(
      {
        refusal: "insufficient_points",
      },
    );
    expect((await walletBalance(client, { ledger, memberId }))?.available).toBe(0n);
    await postChains(client, [earn("P-3", 2n) ?? []]);
    expect((await completeStampCard(client, { ...card, completionNumber: 2 })).kind).toBe(
      "created",
    );
    expect((await completeStampCard(client, { ...card, completionNumber: 2 })).kind).toBe("exists");
    expect((await walletBalance(client, { ledger: stampsLedger, memberId }))?.available).toBe(1n);
    expect((await walletBalance(client, { ledger, memberId }))?.available).toBe(50n);
    expect((await trialBalance(client, stampsLedger)).balanced).toBe(true);
  });

  it("keeps organizations apart: another ledger sees none of it", async () => {
    const { client, orgId, ledger, member } = setup();
    const memberId = await member(100n);
    expect(await walletBalance(client, { ledger: ledger + 1, memberId })).toBeNull();
    expect(walletAccountId(ledger, memberId)).not.toBe(walletAccountId(ledger + 1, memberId));
    await expect(
      holdRedemption(client, {
        orgId,
        ledger: ledger + 1,
        memberId,
        redemptionId: randomUUID(),
        points: 1n,
        holdSeconds: 60,
      }),
    ).rejects.toMatchObject({ refusal: "not_found" });
  });
});
