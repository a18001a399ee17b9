/**
 * Crashes between the protocol's steps, simulated with the `interrupt` seam: the use case stops
 * after committing its intent (nothing on the ledger yet) or after the ledger answered (nothing
 * marked yet). Recovery must finish every such intent with the same transfer ids, post nothing
 * twice however often it runs, and leave intents younger than its threshold alone.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import {
  buildLedgerMember,
  buildLedgerOrg,
  cardNumber,
  countCreateTransfers,
  externalId,
} from "../../../test/support/ledger.ts";
import { TransferCode, transferId, walletBalance } from "../../ledger/index.ts";
import { adjustMemberPoints } from "../adjustments/adjust-member-points.ts";
import { platformActor } from "../audit/audit.ts";
import type { IntentRef, IntentStep, LedgerDeps } from "../deps.ts";
import { enrollMemberWithLedger } from "../members/enroll-member-with-ledger.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import { updateOrgSettings } from "../orgs/update-org-settings.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { recordPurchases } from "../purchases/record-purchases.ts";
import { createRedemption } from "../redemptions/create-redemption.ts";
import { fulfilRedemption } from "../redemptions/fulfil-redemption.ts";
import { refundPurchase } from "../refunds/refund-purchase.ts";
import { createStampProgram } from "../stamp-programs/create-stamp-program.ts";
import { recoverPendingIntents } from "./recover-pending-intents.ts";

const fixture = useLedgerFixture();

class SimulatedCrash extends Error {}

/** Deps that "crash" at `step` for any intent of `table`. */
function crashingAt(step: IntentStep, table: IntentRef["table"]): LedgerDeps {
  return {
    ...fixture.environment.deps,
    interrupt: (at, intent) => {
      if (at === step && intent.table === table) {
        throw new SimulatedCrash(`crash ${at} ${intent.table} ${intent.id}`);
      }
    },
  };
}

const everything = { olderThanMs: 0, limit: 1_000 };
const nothing = {
  enrollments: 0,
  purchases: 0,
  refunds: 0,
  adjustments: 0,
  codeRedemptions: 0,
  rewardStock: 0,
  referrals: 0,
  holds: 0,
  resolutions: 0,
  expiries: 0,
};

/** Recovers, then checks that a second pass finds nothing and posts nothing. */
async function recoverTwice() {
  const report = await recoverPendingIntents(fixture.environment.deps, everything);
  const counting = countCreateTransfers(fixture.environment.engine);
  const second = await recoverPendingIntents(
    { ...fixture.environment.deps, ledger: counting.client },
    everything,
  );
  expect(second).toEqual(nothing);
  expect(counting.createTransfersCalls()).toBe(0);
  return report;
}

async function pendingCount(table: "pos_transactions" | "adjustments"): Promise<number> {
  const [row] = await fixture.database.sql<{ n: number }[]>`
    select count(*)::int as n from ${fixture.database.sql(table)} where status = 'pending'`;
  return row?.n ?? -1;
}

describe("recoverPendingIntents", () => {
  it("finishes an enrollment whose ledger half never happened", async () => {
    const { deps, engine } = fixture.environment;
    const { org, pointsLedger } = await buildLedgerOrg(deps, {
      settings: { welcomeBonusPoints: 40 },
    });
    await expect(
      enrollMemberWithLedger(crashingAt("after_intent", "members"), {
        orgId: org.id,
        externalRef: cardNumber(),
      }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    const [member] = await fixture.database.sql<{ id: string; ledger_status: string }[]>`
      select id, ledger_status from members where org_id = ${org.id}`;
    expect(member?.ledger_status).toBe("pending");
    expect(await walletBalance(engine, { ledger: pointsLedger, memberId: member?.id ?? "" })).toBe(
      null,
    );

    // The org's bonus changes before recovery: the member still gets what was decided then.
    await fixture.database.sql`update orgs set settings = settings || '{"welcomeBonusPoints": 999}'
      where id = ${org.id}`;
    const report = await recoverTwice();
    expect(report.enrollments).toBeGreaterThanOrEqual(1);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member?.id ?? "" });
    expect(balances.points.available).toBe(40n);
    const [after] = await fixture.database.sql<{ ledger_status: string }[]>`
      select ledger_status from members where id = ${member?.id ?? ""}`;
    expect(after?.ledger_status).toBe("posted");
  });

  it("posts a purchase that crashed after its intent, once, with the same ids", async () => {
    const { deps, engine } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 1n,
      rewardPoints: 5n,
    });
    const member = await buildLedgerMember(deps, org.id);
    const request = {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 4_200n,
      currency: "EUR",
    };
    await expect(
      recordPurchase(crashingAt("after_intent", "pos_transactions"), request),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    const earnId = transferId({
      orgId: org.id,
      source: "purchase",
      externalId: request.externalId,
      leg: "earn",
    });
    expect(await engine.lookupTransfers([earnId])).toEqual([]);
    const [row] = await fixture.database.sql<{ status: string; transfer_ids: string[] }[]>`
      select status, transfer_ids from pos_transactions where external_id = ${request.externalId}`;
    expect(row?.status).toBe("pending");
    expect(row?.transfer_ids[0]).toBe(earnId.toString());

    const report = await recoverTwice();
    expect(report.purchases).toBe(1);
    expect((await engine.lookupTransfers([earnId]))[0]?.amount).toBe(42n);
    // The card of one stamp completed during recovery, so the reward arrived too.
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(42n + 5n);
    expect(balances.stamps).toEqual([
      { programId: program.id, name: "Visits", balance: 0n, stampsRequired: 1n },
    ]);

    // The POS retries: it gets the outcome recovery stored, and nothing is posted.
    const counting = countCreateTransfers(engine);
    const retried = await recordPurchase({ ...deps, ledger: counting.client }, request);
    expect(retried).toMatchObject({ pointsEarned: 42n, replayed: true });
    expect(counting.createTransfersCalls()).toBe(0);
  });

  it("finishes a capped purchase that crashed between its cap reservation and its points, holding what it reserved", async () => {
    const { deps, engine } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    await updateOrgSettings(deps, {
      orgId: org.id,
      patch: { earningCaps: { day: 30, week: null, month: null } },
      actor: platformActor,
    });
    const member = await buildLedgerMember(deps, org.id);
    const purchase = (externalIdValue: string) => ({
      orgId: org.id,
      externalId: externalIdValue,
      memberId: member.id,
      amountMinor: 2_000n,
      currency: "EUR",
      occurredAt: new Date("2026-11-02T10:00:00Z"),
    });
    const first = externalId();
    await expect(
      recordPurchase(crashingAt("after_intent", "pos_transactions"), purchase(first)),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    // Recovery reserves (20 of the day's 30), then the ledger fails before the points post.
    const failing = new Proxy(engine, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === "createTransfers" && typeof value === "function") {
          return (...args: Parameters<typeof engine.createTransfers>) => {
            // The cap opens and the reservation posts; the request with the points never does.
            if (args[0].some((transfer) => transfer.code === TransferCode.purchaseEarn)) {
              throw new SimulatedCrash("ledger gone after the reservation");
            }
            return target.createTransfers(...args);
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await expect(
      recoverPendingIntents({ ...deps, ledger: failing }, everything),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    // Another purchase meanwhile finds only what the reservation left: 10.
    const second = await recordPurchase(deps, purchase(externalId()));
    expect(second.pointsEarned).toBe(10n);
    expect(second.breakdown).toEqual([
      { kind: "base", points: 10n, cappedBy: { scope: "overall", period: "day" } },
    ]);
    // Recovery finishes the first with what it reserved, once.
    const report = await recoverTwice();
    expect(report.purchases).toBe(1);
    const retried = await recordPurchase(deps, purchase(first));
    expect(retried).toMatchObject({ pointsEarned: 20n, replayed: true });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(30n);
  });

  it("recovers 0-point purchases and refunds recorded before they posted a transfer, as recorded", async () => {
    const { deps, engine } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 9n,
      rewardPoints: 1n,
    });
    const member = await buildLedgerMember(deps, org.id);
    const paid = externalId();
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: paid,
      memberId: member.id,
      amountMinor: 90n,
      currency: "EUR",
    });
    const purchase = {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 50n,
      currency: "EUR",
    };
    await expect(
      recordPurchase(crashingAt("after_intent", "pos_transactions"), purchase),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    const refund = {
      orgId: org.id,
      purchaseExternalId: paid,
      externalId: externalId("r"),
      amountMinor: 10n,
    };
    await expect(
      refundPurchase(crashingAt("after_intent", "pos_transactions"), refund),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    // As an earlier version recorded them: no earn id for 0 points, no reversal id for 0 points.
    const earnId = transferId({
      orgId: org.id,
      source: "purchase",
      externalId: purchase.externalId,
      leg: "earn",
    });
    await fixture.database.sql`
      update pos_transactions set transfer_ids = array_remove(transfer_ids, ${earnId.toString()})
      where external_id = ${purchase.externalId}`;
    await fixture.database.sql`
      update pos_transactions set transfer_ids = '{}' where external_id = ${refund.externalId}`;

    const report = await recoverTwice();
    expect(report).toMatchObject({ purchases: 1, refunds: 1 });
    expect(await engine.lookupTransfers([earnId])).toEqual([]);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.stamps[0]?.balance).toBe(2n);
    const rows = await fixture.database.sql<{ status: string }[]>`
      select status from pos_transactions where org_id = ${org.id} order by external_id`;
    expect(rows.every((row) => row.status === "posted")).toBe(true);
  });

  it("marks a purchase that crashed after the ledger answered, without posting it again", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    await expect(
      recordPurchase(crashingAt("after_ledger", "pos_transactions"), {
        orgId: org.id,
        externalId: externalId(),
        memberId: member.id,
        amountMinor: 1_000n,
        currency: "EUR",
      }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    const trialBefore = await getTrialBalance(deps, { orgId: org.id });
    expect(trialBefore[0]?.trialBalance.outstandingLiability).toBe(10n);

    const report = await recoverTwice();
    expect(report.purchases).toBe(1);
    expect(await getTrialBalance(deps, { orgId: org.id })).toEqual(trialBefore);
    const [events] = await fixture.database.sql<{ n: number }[]>`
      select count(*)::int as n from outbox where org_id = ${org.id} and topic = 'points.earned'`;
    expect(events?.n).toBe(1);
  });

  it("posts a whole crashed batch in one ledger request", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const items = Array.from({ length: 50 }, () => ({
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 100n,
      currency: "EUR",
    }));
    await expect(
      recordPurchases(crashingAt("after_intent", "pos_transactions"), { orgId: org.id, items }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    expect(await pendingCount("pos_transactions")).toBe(50);

    const counting = countCreateTransfers(fixture.environment.engine);
    const report = await recoverPendingIntents({ ...deps, ledger: counting.client }, everything);
    expect(report.purchases).toBe(50);
    expect(counting.createTransfersCalls()).toBe(1);
    await recoverTwice();
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(50n);
  });

  it("finishes crashed refunds, adjustments, holds and resolutions", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id, { points: 1_000n });
    const purchaseId = externalId();
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: purchaseId,
      memberId: member.id,
      amountMinor: 10_000n,
      currency: "EUR",
    });
    await expect(
      refundPurchase(crashingAt("after_intent", "pos_transactions"), {
        orgId: org.id,
        purchaseExternalId: purchaseId,
        externalId: externalId("refund"),
        amountMinor: 5_000n,
      }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    await expect(
      adjustMemberPoints(crashingAt("after_intent", "adjustments"), {
        actor: platformActor,
        orgId: org.id,
        memberId: member.id,
        direction: "debit",
        points: 300n,
        reason: "correction",
        externalId: externalId("adj"),
      }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    const toFulfil = await createRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      points: 200n,
    });
    await expect(
      fulfilRedemption(crashingAt("after_intent", "redemptions"), {
        orgId: org.id,
        redemptionId: toFulfil.id,
      }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    await expect(
      createRedemption(crashingAt("after_intent", "redemptions"), {
        orgId: org.id,
        memberId: member.id,
        points: 100n,
      }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    // Nothing of the four reached the ledger yet: 1,000 + 100 earned, 200 held.
    let balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points).toMatchObject({ available: 900n, pending: 200n });

    const report = await recoverTwice();
    expect(report).toMatchObject({ refunds: 1, adjustments: 1, holds: 1, resolutions: 1 });
    balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    // 1,100 − 50 refunded − 300 debited − 200 redeemed − 100 held.
    expect(balances.points).toMatchObject({
      available: 450n,
      pending: 100n,
      lifetimeRedeemed: 200n,
    });
    const statuses = await fixture.database.sql<{ status: string; hold_status: string }[]>`
      select status, hold_status from redemptions where org_id = ${org.id} order by points`;
    expect(statuses).toEqual([
      { status: "pending", hold_status: "posted" },
      { status: "fulfilled", hold_status: "posted" },
    ]);
    const topics = await fixture.database.sql<{ topic: string }[]>`
      select topic from outbox where org_id = ${org.id} order by id`;
    expect(
      topics
        .map((row) => row.topic)
        .slice(-4)
        .sort(),
    ).toEqual(["points.adjusted", "points.reversed", "redemption.created", "redemption.fulfilled"]);
  });

  it("leaves intents younger than its threshold to the request still driving them", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    await expect(
      recordPurchase(crashingAt("after_intent", "pos_transactions"), {
        orgId: org.id,
        externalId: externalId(),
        memberId: member.id,
        amountMinor: 100n,
        currency: "EUR",
      }),
    ).rejects.toBeInstanceOf(SimulatedCrash);
    const report = await recoverPendingIntents(deps, { olderThanMs: 3_600_000, limit: 10 });
    expect(report).toEqual(nothing);
    expect(await pendingCount("pos_transactions")).toBe(1);
    await recoverTwice();
    expect(await pendingCount("pos_transactions")).toBe(0);
  });

  it("concurrent passes split the work: every intent is finished once", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const crashing = crashingAt("after_intent", "pos_transactions");
    const intents = 20;
    for (let index = 0; index < intents; index += 1) {
      await expect(
        recordPurchase(crashing, {
          orgId: org.id,
          externalId: externalId(),
          memberId: member.id,
          amountMinor: 100n,
          currency: "EUR",
        }),
      ).rejects.toBeInstanceOf(SimulatedCrash);
    }
    const reports = await Promise.all(
      [0, 1, 2].map(() => recoverPendingIntents(deps, { olderThanMs: 0, limit: 8 })),
    );
    const recovered = reports.reduce((sum, report) => sum + report.purchases, 0);
    expect(recovered).toBeLessThanOrEqual(intents);
    await recoverTwice();
    expect(await pendingCount("pos_transactions")).toBe(0);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(BigInt(intents));
    const [events] = await fixture.database.sql<{ n: number }[]>`
      select count(*)::int as n from outbox where org_id = ${org.id} and topic = 'points.earned'`;
    expect(events?.n).toBe(intents);
  });
});
