/**
 * The ledger encoding of purchases and refunds, on real Postgres and the embedded ledger: the
 * document id is a UUIDv7 of the purchase's `occurred_at`, every purchase posts its earn transfer
 * (0 points too), and every refund its reversal naming the purchase, with the refunded spend.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import {
  documentTimeMs,
  isUuidV7U128,
  scanWalletTransfers,
  TransferCode,
  uuidToU128,
} from "../../ledger/index.ts";
import { loadOrgLedger } from "../intents/support.ts";
import { refundPurchase } from "../refunds/refund-purchase.ts";
import { recordPurchase } from "./record-purchase.ts";
import { recordPurchases } from "./record-purchases.ts";

const fixture = useLedgerFixture();

describe("purchases and refunds in the ledger", () => {
  it("dates each purchase's transfer by occurred_at, posts 0 points, and refunds name the purchase", async () => {
    const { deps, now } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id, { points: 0n });
    const { pointsLedger } = await loadOrgLedger(deps, org.id);
    const occurredAt = new Date(now().getTime() - 3 * 24 * 60 * 60 * 1000);

    // 0.50 EUR at 1 point per euro: 0 points, still a purchase in the ledger.
    const small = await recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 50n,
      currency: "EUR",
      occurredAt,
    });
    expect(small.pointsEarned).toBe(0n);
    expect(documentTimeMs(uuidToU128(small.transactionId))).toBe(occurredAt.getTime());

    // A batch without occurred_at: dated at the time of recording.
    const [batched] = await recordPurchases(deps, {
      orgId: org.id,
      items: [
        { externalId: externalId(), memberId: member.id, amountMinor: 1_000n, currency: "EUR" },
      ],
    });
    expect(batched?.status).toBe("created");
    const batchedId = batched?.status === "created" ? batched.outcome.transactionId : "";
    expect(batched).toMatchObject({ outcome: { pointsEarned: 10n } });
    expect(documentTimeMs(uuidToU128(batchedId))).toBe(now().getTime());

    const refundExternal = externalId("refund");
    const smallExternal = (
      await recordPurchase(deps, {
        orgId: org.id,
        externalId: refundExternal,
        memberId: member.id,
        amountMinor: 80n,
        currency: "EUR",
        occurredAt,
      })
    ).transactionId;
    const refund = await refundPurchase(deps, {
      orgId: org.id,
      purchaseExternalId: refundExternal,
      externalId: externalId("r"),
      amountMinor: 30n,
    });
    expect(refund).toMatchObject({ pointsToReverse: 0n, pointsReversed: 0n });
    expect(isUuidV7U128(uuidToU128(refund.transactionId))).toBe(true);

    const transfers = [];
    for await (const page of scanWalletTransfers(deps.ledger, {
      ledger: pointsLedger,
      memberId: member.id,
      codes: [TransferCode.purchaseEarn, TransferCode.refundReversal],
    })) {
      transfers.push(...page);
    }
    expect(
      transfers.map((transfer) => [transfer.code, transfer.amount, transfer.user_data_64]),
    ).toEqual([
      [TransferCode.purchaseEarn, 0n, 50n],
      [TransferCode.purchaseEarn, 10n, 1_000n],
      [TransferCode.purchaseEarn, 0n, 80n],
      [TransferCode.refundReversal, 0n, 30n],
    ]);
    expect(transfers[0]?.user_data_128).toBe(uuidToU128(small.transactionId));
    // The reversal names the refunded purchase: it carries the purchase's time.
    expect(transfers[3]?.user_data_128).toBe(uuidToU128(smallExternal));
    expect(documentTimeMs(transfers[3]?.user_data_128 ?? 0n)).toBe(occurredAt.getTime());
  });

  it("refuses a purchase dated before 1970", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    await expect(
      recordPurchase(deps, {
        orgId: org.id,
        externalId: externalId(),
        memberId: member.id,
        amountMinor: 100n,
        currency: "EUR",
        occurredAt: new Date("1969-12-31T23:59:59.999Z"),
      }),
    ).rejects.toMatchObject({ code: "invalid_input" });
  });
});
