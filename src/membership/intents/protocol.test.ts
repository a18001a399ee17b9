/**
 * The failure rules of the intent protocol, against real Postgres and the embedded ledger:
 * - the ledger accepted, the posted mark could not be written (the outbox table is briefly
 *   renamed away, so the mark's statement fails in Postgres): the caller hears success, the row
 *   stays pending, and a retry or recovery converges on exactly one recording;
 * - the ledger refuses a document for good: it becomes `failed` with the ledger's reason, is
 *   counted, does not hold up the other documents, and its retry is a `conflict` (a purchase
 *   and a refund alike);
 * - a refused redemption is final for its external id, `member_inactive` as `insufficient_points`.
 */
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import {
  buildLedgerMember,
  buildLedgerOrg,
  externalId,
  occupyTransferId,
} from "../../../test/support/ledger.ts";
import { walletBalance } from "../../ledger/index.ts";
import { adjustMemberPoints } from "../adjustments/adjust-member-points.ts";
import { platformActor } from "../audit/audit.ts";
import type { IntentRef, LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { updateMember } from "../members/update-member.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { recordPurchases } from "../purchases/record-purchases.ts";
import { recoverPendingIntents } from "../recovery/recover-pending-intents.ts";
import { createRedemption } from "../redemptions/create-redemption.ts";
import { refundPurchase } from "../refunds/refund-purchase.ts";
import { createIntentMetrics } from "./metrics.ts";

const fixture = useLedgerFixture();

const everything = { olderThanMs: 0, limit: 1_000 };

/** Deps whose posted marks for `table` fail in Postgres: the outbox is renamed away meanwhile. */
function failingMarks(table: IntentRef["table"]): { deps: LedgerDeps; restore(): Promise<void> } {
  let away = false;
  return {
    deps: {
      ...fixture.environment.deps,
      interrupt: async (step, intent) => {
        if (step === "after_ledger" && intent.table === table && !away) {
          away = true;
          await fixture.database.sql`alter table outbox rename to outbox_away`;
        }
      },
    },
    async restore() {
      if (away) {
        await fixture.database.sql`alter table outbox_away rename to outbox`;
        away = false;
      }
    },
  };
}

/** The fixture's deps with intent counters in a registry of their own. */
function countingDeps(): { registry: Registry; deps: LedgerDeps } {
  const registry = new Registry();
  return {
    registry,
    deps: { ...fixture.environment.deps, intentMetrics: createIntentMetrics(registry) },
  };
}

/** `deps` that stop every document right after its intent is committed, as a crash would. */
function crashingAfterIntent(deps: LedgerDeps): LedgerDeps {
  return {
    ...deps,
    interrupt: (step) => {
      if (step === "after_intent") {
        throw new Error("crash after the intent");
      }
    },
  };
}

async function statusOf(table: "pos_transactions" | "adjustments", id: string) {
  const rows = await fixture.database.sql<{ status: string; failure_reason: string | null }[]>`
    select status, failure_reason from ${fixture.database.sql(table)} where id = ${id}`;
  return rows[0];
}

async function eventsOf(topic: string, key: string, id: string): Promise<number> {
  const [row] = await fixture.database.sql<{ n: number }[]>`
    select count(*)::int as n from outbox where topic = ${topic} and payload ->> ${key} = ${id}`;
  return row?.n ?? -1;
}

describe("a 503 tells the truth: the ledger accepted, the mark failed", () => {
  it("answers a purchase as created, and a retry and recovery record it once", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const failing = failingMarks("pos_transactions");
    const purchase = {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 2_000n,
      currency: org.currency,
    };
    let result: Awaited<ReturnType<typeof recordPurchase>>;
    try {
      result = await recordPurchase(failing.deps, purchase);
    } finally {
      await failing.restore();
    }
    expect(result.replayed).toBe(false);
    expect(result.pointsEarned).toBe(20n);
    expect(await statusOf("pos_transactions", result.transactionId)).toEqual({
      status: "pending",
      failure_reason: null,
    });
    // The same request again: the stored intent is posted again (`exists`) and marked now.
    const retry = await recordPurchase(deps, purchase);
    expect(retry).toMatchObject({ replayed: true, transactionId: result.transactionId });
    expect(retry.balance.available).toBe(result.balance.available);
    await recoverPendingIntents(deps, everything);
    expect((await statusOf("pos_transactions", result.transactionId))?.status).toBe("posted");
    expect(await eventsOf("points.earned", "transaction_id", result.transactionId)).toBe(1);
  });

  it("answers a refund, an adjustment and a hold, and recovery marks each once", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 100n });
    const purchaseId = externalId();
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: purchaseId,
      memberId: member.id,
      amountMinor: 5_000n,
      currency: org.currency,
    });

    const refunds = failingMarks("pos_transactions");
    const refund = await refundPurchase(refunds.deps, {
      orgId: org.id,
      purchaseExternalId: purchaseId,
      externalId: externalId("refund"),
      amountMinor: 5_000n,
    }).finally(() => refunds.restore());
    expect(refund).toMatchObject({ replayed: false, pointsToReverse: 50n, pointsReversed: 50n });
    expect((await statusOf("pos_transactions", refund.transactionId))?.status).toBe("pending");

    const adjustments = failingMarks("adjustments");
    const adjustment = await adjustMemberPoints(adjustments.deps, {
      actor: platformActor,
      orgId: org.id,
      memberId: member.id,
      direction: "credit",
      points: 7n,
      reason: "goodwill",
      externalId: externalId("adjust"),
    }).finally(() => adjustments.restore());
    expect(adjustment).toMatchObject({ replayed: false, points: 7n });
    expect(adjustment.balance.available).toBe(107n);
    expect((await statusOf("adjustments", adjustment.adjustmentId))?.status).toBe("pending");

    const holds = failingMarks("redemptions");
    const redemption = await createRedemption(holds.deps, {
      orgId: org.id,
      memberId: member.id,
      points: 10n,
      externalId: externalId("redeem"),
    }).finally(() => holds.restore());
    expect(redemption.status).toBe("pending");

    const report = await recoverPendingIntents(deps, everything);
    expect(report).toMatchObject({ refunds: 1, adjustments: 1, holds: 1 });
    expect((await statusOf("pos_transactions", refund.transactionId))?.status).toBe("posted");
    expect((await statusOf("adjustments", adjustment.adjustmentId))?.status).toBe("posted");
    expect(await eventsOf("points.reversed", "transaction_id", refund.transactionId)).toBe(1);
    expect(await eventsOf("points.adjusted", "adjustment_id", adjustment.adjustmentId)).toBe(1);
    expect(await eventsOf("redemption.created", "redemption_id", redemption.id)).toBe(1);
    const pointsLedger = await fixture.database.sql<{ ledger: number }[]>`
      select ledger from org_ledgers where org_id = ${org.id} and unit = 'points'`;
    const balance = await walletBalance(deps.ledger, {
      ledger: pointsLedger[0]?.ledger ?? 0,
      memberId: member.id,
    });
    // 100 + 50 earned − 50 reversed + 7 credited, 10 of it held.
    expect(balance).toMatchObject({ available: 97n, pending: 10n });
  });

  it("a recovery pass racing the live request posts and announces the purchase once", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const racing: LedgerDeps = {
      ...deps,
      interrupt: async (step, intent) => {
        if (step === "after_ledger" && intent.table === "pos_transactions") {
          // A young intent, between its post and its mark: recovery may well see it.
          await recoverPendingIntents(deps, everything);
        }
      },
    };
    const result = await recordPurchases(racing, {
      orgId: org.id,
      items: [
        { externalId: externalId(), memberId: member.id, amountMinor: 900n, currency: "EUR" },
      ],
    });
    const [first] = result;
    expect(first?.status).toBe("created");
    const id = first?.status === "created" ? first.outcome.transactionId : "";
    expect(await eventsOf("points.earned", "transaction_id", id)).toBe(1);
    expect((await statusOf("pos_transactions", id))?.status).toBe("posted");
  });
});

describe("a document the ledger refuses for good", () => {
  it("becomes failed with its reason, is counted, blocks nothing, and its retry is a conflict", async () => {
    const { registry, deps } = countingDeps();
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const crashed = crashingAfterIntent(deps);
    const poisoned = {
      orgId: org.id,
      externalId: externalId("poisoned"),
      memberId: member.id,
      amountMinor: 1_000n,
      currency: org.currency,
    };
    const healthy = { ...poisoned, externalId: externalId("healthy"), amountMinor: 3_000n };
    await expect(recordPurchase(crashed, poisoned)).rejects.toThrow("crash after the intent");
    await expect(recordPurchase(crashed, healthy)).rejects.toThrow("crash after the intent");
    const [row] = await fixture.database.sql<{ id: string; transfer_ids: string[] }[]>`
      select id, transfer_ids from pos_transactions
      where org_id = ${org.id} and external_id = ${poisoned.externalId}`;
    await occupyTransferId(deps.ledger, BigInt(row?.transfer_ids[0] ?? "0"));

    const report = await recoverPendingIntents(deps, everything);
    expect(report.purchases).toBe(2);
    expect(await statusOf("pos_transactions", row?.id ?? "")).toEqual({
      status: "failed",
      failure_reason: "exists_with_different_debit_account_id",
    });
    const [other] = await fixture.database.sql<{ status: string }[]>`
      select status from pos_transactions
      where org_id = ${org.id} and external_id = ${healthy.externalId}`;
    expect(other?.status).toBe("posted");
    const counted = await registry.getSingleMetric("loyalty_intents_failed_total")?.get();
    expect(counted?.values).toEqual([
      {
        labels: { table: "pos_transactions", reason: "exists_with_different_debit_account_id" },
        value: 1,
      },
    ]);
    // Recovery does not see it again, and its retry is refused clearly.
    expect((await recoverPendingIntents(deps, everything)).purchases).toBe(0);
    const retry = recordPurchase(deps, poisoned);
    await expect(retry).rejects.toBeInstanceOf(DomainError);
    await expect(retry).rejects.toMatchObject({
      code: "conflict",
      details: { reason: "exists_with_different_debit_account_id" },
    });
    // A refund of the failed purchase is refused the same way.
    await expect(
      refundPurchase(deps, {
        orgId: org.id,
        purchaseExternalId: poisoned.externalId,
        externalId: externalId("refund"),
        amountMinor: 1n,
      }),
    ).rejects.toMatchObject({ code: "conflict" });
  });
});

describe("a refund the ledger refuses for good", () => {
  it("becomes failed with its reason, is counted, and its retry is a conflict", async () => {
    const { registry, deps } = countingDeps();
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const purchase = {
      orgId: org.id,
      externalId: externalId("purchase"),
      memberId: member.id,
      amountMinor: 1_000n,
      currency: org.currency,
    };
    await recordPurchase(deps, purchase);
    const crashed = crashingAfterIntent(deps);
    const refund = {
      orgId: org.id,
      purchaseExternalId: purchase.externalId,
      externalId: externalId("refund"),
      amountMinor: 500n,
    };
    await expect(refundPurchase(crashed, refund)).rejects.toThrow("crash after the intent");
    const [row] = await fixture.database.sql<{ id: string; transfer_ids: string[] }[]>`
      select id, transfer_ids from pos_transactions
      where org_id = ${org.id} and external_id = ${refund.externalId}`;
    expect(row?.transfer_ids).toHaveLength(1);
    await occupyTransferId(deps.ledger, BigInt(row?.transfer_ids[0] ?? "0"));

    const report = await recoverPendingIntents(deps, everything);
    expect(report.refunds).toBe(1);
    expect(await statusOf("pos_transactions", row?.id ?? "")).toEqual({
      status: "failed",
      failure_reason: "exists_with_different_flags",
    });
    const counted = await registry.getSingleMetric("loyalty_intents_failed_total")?.get();
    expect(counted?.values).toEqual([
      {
        labels: { table: "pos_transactions", reason: "exists_with_different_flags" },
        value: 1,
      },
    ]);
    expect((await recoverPendingIntents(deps, everything)).refunds).toBe(0);
    await expect(refundPurchase(deps, refund)).rejects.toMatchObject({
      code: "conflict",
      details: { reason: "exists_with_different_flags" },
    });
  });
});

describe("a refused redemption is final for its external id", () => {
  it("answers insufficient_points again after the points arrived", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 5n });
    const request = { orgId: org.id, memberId: member.id, points: 10n, externalId: externalId() };
    await expect(createRedemption(deps, request)).rejects.toMatchObject({
      code: "insufficient_points",
    });
    await adjustMemberPoints(deps, {
      actor: platformActor,
      orgId: org.id,
      memberId: member.id,
      direction: "credit",
      points: 20n,
      reason: "top up",
      externalId: externalId("adjust"),
    });
    await expect(createRedemption(deps, request)).rejects.toMatchObject({
      code: "insufficient_points",
    });
    const fresh = await createRedemption(deps, { ...request, externalId: externalId() });
    expect(fresh.status).toBe("pending");
  });

  it("answers member_inactive again after the member is active again", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 50n });
    await updateMember(deps, {
      orgId: org.id,
      memberId: member.id,
      patch: { status: "suspended" },
    });
    const request = { orgId: org.id, memberId: member.id, points: 10n, externalId: externalId() };
    await expect(createRedemption(deps, request)).rejects.toMatchObject({
      code: "member_inactive",
    });
    await updateMember(deps, { orgId: org.id, memberId: member.id, patch: { status: "active" } });
    await expect(createRedemption(deps, request)).rejects.toMatchObject({
      code: "member_inactive",
    });
    // Another request under the same external id is still a conflict, as for any document.
    await expect(createRedemption(deps, { ...request, points: 11n })).rejects.toMatchObject({
      code: "conflict",
    });
    const fresh = await createRedemption(deps, { ...request, externalId: externalId() });
    expect(fresh.status).toBe("pending");
  });
});
