/**
 * Ledger scans on the embedded engine (never a mock): codes merged oldest first, pages bounded,
 * `timestampMin` honoured, and a wallet's transfers on both sides.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { TransferCode } from "./codes.ts";
import { createEmbeddedClient } from "./embedded/index.ts";
import { documentTimeMs, reversalTransferId, uuidToU128, uuidV7 } from "./index.ts";
import { adjustmentTransferId, adjustPoints, earnMany, enroll, reversePoints } from "./loyalty.ts";
import { scanLedgerTransfers, scanPageTransfersMax, scanWalletTransfers } from "./scans.ts";

const second = 1_000_000_000n;

function setup() {
  let now = 1_800_000_000n * second;
  const client = createEmbeddedClient({ clock: () => now });
  return {
    client,
    orgId: randomUUID(),
    ledger: 9,
    advance(seconds: number) {
      now += BigInt(seconds) * second;
    },
  };
}

async function collect<T>(pages: AsyncGenerator<T[]>): Promise<{ pages: number; all: T[] }> {
  const all: T[] = [];
  let count = 0;
  for await (const page of pages) {
    count += 1;
    all.push(...page);
  }
  return { pages: count, all };
}

function earn(orgId: string, ledger: number, memberId: string, points: bigint, ms: number) {
  return {
    orgId,
    ledger,
    memberId,
    externalId: randomUUID(),
    points,
    spendMinor: 1000n + points,
    locationNumber: 0,
    documentId: uuidV7(ms),
  };
}

describe("ledger scans", () => {
  it("merges the ledger's transfers of several codes oldest first", async () => {
    const { client, orgId, ledger, advance } = setup();
    const alice = randomUUID();
    const bob = randomUUID();
    await enroll(client, { orgId, ledger, memberId: alice, welcomeBonusPoints: 5n });
    await enroll(client, { orgId, ledger, memberId: bob, welcomeBonusPoints: 0n });
    const purchases = [];
    for (let i = 0; i < 6; i++) {
      advance(1);
      const bought = earn(
        orgId,
        ledger,
        i % 2 === 0 ? alice : bob,
        BigInt(i),
        1_700_000_000_000 + i,
      );
      purchases.push(bought);
      await earnMany(client, [bought]);
      if (i % 3 === 2) {
        advance(1);
        await reversePoints(client, {
          orgId,
          ledger,
          memberId: bought.memberId,
          reason: "refund",
          points: 1n,
          documentId: bought.documentId,
          spendMinor: 10n,
          transferId: reversalTransferId({ orgId, reason: "refund", externalId: `R-${i}` }),
        });
      }
    }
    const { all } = await collect(
      scanLedgerTransfers(client, {
        ledger,
        codes: [TransferCode.refundReversal, TransferCode.purchaseEarn],
      }),
    );
    expect(all.map((transfer) => transfer.code)).toEqual([2, 2, 2, 3, 2, 2, 2, 3]);
    const timestamps = all.map((transfer) => transfer.timestamp);
    expect([...timestamps].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(timestamps);
    // Document times come back from user_data_128, refunds carrying their purchase's.
    expect(all.map((transfer) => documentTimeMs(transfer.user_data_128))).toEqual([
      1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002, 1_700_000_000_002, 1_700_000_000_003,
      1_700_000_000_004, 1_700_000_000_005, 1_700_000_000_005,
    ]);
    // The welcome bonus is another code: not read.
    expect(all.some((transfer) => transfer.code === TransferCode.welcomeBonus)).toBe(false);

    const fourth = all[4];
    const later = await collect(
      scanLedgerTransfers(client, {
        ledger,
        codes: [TransferCode.purchaseEarn, TransferCode.refundReversal],
        timestampMin: fourth?.timestamp,
      }),
    );
    expect(later.all).toEqual(all.slice(4));
    expect((await collect(scanLedgerTransfers(client, { ledger: 10, codes: [2] }))).pages).toBe(0);
  });

  it("pages more transfers than one query answers, in bounded pages", async () => {
    const { client, orgId, ledger } = setup();
    const memberId = randomUUID();
    await enroll(client, { orgId, ledger, memberId, welcomeBonusPoints: 0n });
    const inputs = Array.from({ length: scanPageTransfersMax + 20 }, (_, i) =>
      earn(orgId, ledger, memberId, 1n, 1_000 + i),
    );
    await earnMany(client, inputs);
    for (let i = 0; i < 3; i++) {
      await adjustPoints(client, {
        orgId,
        ledger,
        memberId,
        direction: "debit",
        points: 1n,
        documentId: uuidV7(5_000 + i),
        transferId: adjustmentTransferId({ orgId, externalId: `A-${i}`, direction: "debit" }),
      });
    }
    const scan = await collect(
      scanLedgerTransfers(client, {
        ledger,
        codes: [TransferCode.purchaseEarn, TransferCode.adjustmentDebit],
      }),
    );
    expect(scan.pages).toBe(2);
    expect(scan.all).toHaveLength(scanPageTransfersMax + 23);
    expect(new Set(scan.all.map((transfer) => transfer.id)).size).toBe(scan.all.length);

    const wallet = await collect(scanWalletTransfers(client, { ledger, memberId }));
    expect(wallet.pages).toBe(2);
    expect(wallet.all.map((transfer) => transfer.id)).toEqual(
      scan.all.map((transfer) => transfer.id),
    );
  });

  it("reads one wallet's transfers on both sides, by code when asked", async () => {
    const { client, orgId, ledger, advance } = setup();
    const memberId = randomUUID();
    const other = randomUUID();
    await enroll(client, { orgId, ledger, memberId, welcomeBonusPoints: 50n });
    await enroll(client, { orgId, ledger, memberId: other, welcomeBonusPoints: 50n });
    advance(1);
    const bought = earn(orgId, ledger, memberId, 20n, 1_000);
    await earnMany(client, [bought, earn(orgId, ledger, other, 7n, 1_001)]);
    advance(1);
    await reversePoints(client, {
      orgId,
      ledger,
      memberId,
      reason: "refund",
      points: 5n,
      documentId: bought.documentId,
      spendMinor: 250n,
      transferId: reversalTransferId({ orgId, reason: "refund", externalId: "R-1" }),
    });
    const everything = await collect(scanWalletTransfers(client, { ledger, memberId }));
    expect(everything.all.map((transfer) => transfer.code)).toEqual([1, 2, 3]);
    const counted = await collect(
      scanWalletTransfers(client, {
        ledger,
        memberId,
        codes: [TransferCode.purchaseEarn, TransferCode.refundReversal],
      }),
    );
    expect(
      counted.all.map((transfer) => [transfer.code, transfer.amount, transfer.user_data_64]),
    ).toEqual([
      [2, 20n, 1020n],
      [3, 5n, 250n],
    ]);
    expect(counted.all[1]?.user_data_128).toBe(uuidToU128(bought.documentId));
    expect(
      (await collect(scanWalletTransfers(client, { ledger, memberId: randomUUID() }))).pages,
    ).toBe(0);
  });

  it("refuses a scan without codes or with a code twice", () => {
    const { client } = setup();
    expect(() => scanLedgerTransfers(client, { ledger: 1, codes: [] })).toThrow(/codes/);
    expect(() => scanLedgerTransfers(client, { ledger: 1, codes: [2, 2] })).toThrow(/once/);
  });
});
