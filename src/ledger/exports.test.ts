/**
 * Export reads on the embedded engine (never a mock): ranged scans are half-open, ordered and
 * paged without gaps or repeats, stay on their ledger, and read nothing before they are pulled;
 * rows name accounts and members; the watermark bounds every commit; balances at an instant
 * follow the wallet's history.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createEmbeddedClient } from "./embedded/index.ts";
import {
  createExportRowDecoder,
  ledgerCommitWatermark,
  scanLedgerRange,
  walletBalanceAt,
} from "./exports.ts";
import { uuidV7, walletAccountId } from "./ids.ts";
import { earnMany, enroll } from "./loyalty.ts";

const second = 1_000_000_000n;

function setup() {
  let now = 1_800_000_000n * second;
  const client = createEmbeddedClient({ clock: () => now });
  return {
    client,
    orgId: randomUUID(),
    advance(seconds: number) {
      now += BigInt(seconds) * second;
    },
  };
}

function earn(orgId: string, ledger: number, memberId: string, points: bigint) {
  return {
    orgId,
    ledger,
    memberId,
    externalId: randomUUID(),
    points,
    spendMinor: 100n * points,
    locationNumber: 0,
    documentId: uuidV7(1_700_000_000_000),
  };
}

describe("ranged ledger scans", () => {
  it("page through [from, to) without gaps or repeats, on their ledger only", async () => {
    const { client, orgId, advance } = setup();
    const alice = randomUUID();
    await enroll(client, { orgId, ledger: 1, memberId: alice, welcomeBonusPoints: 5n });
    const bob = randomUUID();
    await enroll(client, { orgId, ledger: 2, memberId: bob, welcomeBonusPoints: 7n });
    for (let i = 0; i < 5; i++) {
      advance(1);
      await earnMany(client, [earn(orgId, 1, alice, BigInt(i + 1)), earn(orgId, 2, bob, 1n)]);
    }
    const all = [];
    for await (const page of scanLedgerRange(client, {
      ledger: 1,
      timestampFrom: 0n,
      timestampTo: (await ledgerCommitWatermark(client)) + 1n,
      pageTransfersMax: 2,
    })) {
      expect(page.length).toBeLessThanOrEqual(2);
      all.push(...page);
    }
    expect(all.map((transfer) => transfer.amount)).toEqual([5n, 1n, 2n, 3n, 4n, 5n]);
    expect(all.every((transfer) => transfer.ledger === 1)).toBe(true);

    // Split at a transfer's timestamp: it belongs to the second half only.
    const split = (all[3] as (typeof all)[number]).timestamp;
    const halves = [];
    for (const [from, to] of [
      [0n, split],
      [split, split + 10n * second],
    ] as const) {
      for await (const page of scanLedgerRange(client, {
        ledger: 1,
        timestampFrom: from,
        timestampTo: to,
        pageTransfersMax: 1,
      })) {
        halves.push(...page);
      }
    }
    expect(halves.map((transfer) => transfer.id)).toEqual(all.map((transfer) => transfer.id));
    const empty = scanLedgerRange(client, { ledger: 1, timestampFrom: split, timestampTo: split });
    expect((await empty.next()).done).toBe(true);
  });

  it("read a page only when it is pulled", async () => {
    const { client, orgId } = setup();
    await enroll(client, { orgId, ledger: 3, memberId: randomUUID(), welcomeBonusPoints: 1n });
    let queries = 0;
    const counting = {
      ...client,
      queryTransfers: (filter: Parameters<typeof client.queryTransfers>[0]) => {
        queries += 1;
        return client.queryTransfers(filter);
      },
    };
    const scan = scanLedgerRange(counting, {
      ledger: 3,
      timestampFrom: 0n,
      timestampTo: 2n ** 63n,
    });
    expect(queries).toBe(0);
    await scan.next();
    expect(queries).toBe(1);
  });

  it("sees every commit at or below the watermark, and later ones above it", async () => {
    const { client, orgId, advance } = setup();
    expect(await ledgerCommitWatermark(client)).toBe(0n);
    await enroll(client, { orgId, ledger: 4, memberId: randomUUID(), welcomeBonusPoints: 1n });
    const watermark = await ledgerCommitWatermark(client);
    const [newest] = await client.queryTransfers({
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      ledger: 0,
      code: 0,
      timestamp_min: 0n,
      timestamp_max: 0n,
      limit: 1,
      flags: 1,
    });
    expect(newest?.timestamp).toBe(watermark);
    advance(1);
    await enroll(client, { orgId, ledger: 4, memberId: randomUUID(), welcomeBonusPoints: 1n });
    expect(await ledgerCommitWatermark(client)).toBeGreaterThan(watermark);
  });
});

describe("export rows", () => {
  it("name control accounts, wallets by member, operations and documents", async () => {
    const { client, orgId } = setup();
    const alice = randomUUID();
    await enroll(client, { orgId, ledger: 5, memberId: alice, welcomeBonusPoints: 5n });
    const purchase = earn(orgId, 5, alice, 3n);
    await earnMany(client, [purchase]);
    const decode = createExportRowDecoder(client, 5);
    const scan = scanLedgerRange(client, { ledger: 5, timestampFrom: 0n, timestampTo: 2n ** 63n });
    const page = await scan.next();
    const rows = await decode(page.done === true ? [] : page.value);
    expect(rows.map((row) => [row.operation, row.debitAccount, row.creditAccount])).toEqual([
      ["welcome_bonus", "promotions", `wallet:${alice}`],
      ["purchase_earn", "issuance", `wallet:${alice}`],
    ]);
    expect(rows[1]).toMatchObject({
      memberId: alice,
      amount: 3n,
      phase: "single",
      documentId: purchase.documentId,
      documentTimeMs: 1_700_000_000_000,
    });
    expect(rows[0]?.documentTimeMs).toBeNull();
  });
});

describe("wallet balances at an instant", () => {
  it("are the balances after the last transfer at or before it", async () => {
    const { client, orgId, advance } = setup();
    const alice = randomUUID();
    advance(1);
    const beforeWallet = 1_800_000_000n * second + second - 1n;
    await enroll(client, { orgId, ledger: 6, memberId: alice, welcomeBonusPoints: 5n });
    advance(10);
    await earnMany(client, [earn(orgId, 6, alice, 3n)]);
    const [account] = await client.lookupAccounts([walletAccountId(6, alice)]);
    if (account === undefined) {
      throw new Error("the wallet exists");
    }
    expect(await walletBalanceAt(client, { account, atTimestamp: beforeWallet })).toBeNull();
    const afterBonus = await walletBalanceAt(client, {
      account,
      atTimestamp: account.timestamp + 5n * second,
    });
    expect(afterBonus).toMatchObject({ creditsPosted: 5n, debitsPosted: 0n });
    const latest = await walletBalanceAt(client, {
      account,
      atTimestamp: account.timestamp + 60n * second,
    });
    expect(latest).toMatchObject({ creditsPosted: 8n, debitsPending: 0n });
    // The wallet opened, nothing credited yet: zeros, not absent.
    expect(await walletBalanceAt(client, { account, atTimestamp: account.timestamp })).toEqual({
      creditsPosted: 0n,
      debitsPosted: 0n,
      creditsPending: 0n,
      debitsPending: 0n,
      entryTimestamp: null,
    });
  });
});
