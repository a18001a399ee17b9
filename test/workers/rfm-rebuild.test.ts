/**
 * RFM from ledger history on the real Postgres and the embedded ledger: a crafted population of
 * ten members whose quintiles and segments are computed by hand (scoring.test.ts shows the
 * arithmetic), members without a counted purchase (refunded in full, outside the window, none at
 * all) in `none`, the thresholds method, and a single member re-scored after a purchase and a
 * refund, announcing `rfm.segment_changed` exactly when the segment changes.
 */
import { randomBytes } from "node:crypto";
import { CreateTransferStatus } from "tigerbeetle-node";
import { describe, expect, it } from "vitest";
import {
  AccountCode,
  controlAccountId,
  type LedgerTransfer,
  TransferCode,
  uuidToU128,
  uuidV7,
  walletAccountId,
} from "../../src/ledger/index.ts";
import { getMemberRfm, listSegmentMembers, listSegments } from "../../src/membership/index.ts";
import { invalidateOrgCaches } from "../../src/membership/store/caches.ts";
import { rebuildOrgRfm, rescoreMember } from "../../src/workers/rfm/rebuild.ts";
import { dayMs } from "../../src/workers/rfm/scoring.ts";
import { transferOf } from "../ledger/builders.ts";
import { useLedgerFixture } from "../support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg } from "../support/ledger.ts";

const fixture = useLedgerFixture();

function randomId(): bigint {
  return BigInt(`0x${randomBytes(16).toString("hex")}`) | 1n;
}

/** A purchase document id: a UUIDv7 whose millisecond timestamp is the purchase's time. */
function purchaseDocumentId(occurredAtMs: number): bigint {
  return uuidToU128(uuidV7(occurredAtMs));
}

interface Ledgered {
  ledger: number;
  post(transfers: LedgerTransfer[]): Promise<void>;
  /** Posts a purchase earn (issuance → wallet) as the ledger encoding says; its document id. */
  purchase(memberId: string, daysAgo: number, spendMinor: bigint): Promise<bigint>;
  /** Posts a refund reversal (wallet → issuance) of `documentId`. */
  refund(memberId: string, documentId: bigint, refundedMinor: bigint): Promise<void>;
}

function ledgerOf(ledger: number): Ledgered {
  const { engine, now } = fixture.environment;
  const post = async (transfers: LedgerTransfer[]) => {
    const results = await engine.createTransfers(transfers);
    expect(results.map((result) => result.status)).toEqual(
      transfers.map(() => CreateTransferStatus.created),
    );
  };
  return {
    ledger,
    post,
    async purchase(memberId, daysAgo, spendMinor) {
      // A second short of `daysAgo` whole days, so the recency is exactly `daysAgo`.
      const documentId = purchaseDocumentId(now().getTime() - daysAgo * dayMs - 1_000);
      await post([
        {
          ...transferOf({ id: randomId(), amount: 1n, ledger }),
          debit_account_id: controlAccountId(ledger, AccountCode.issuance),
          credit_account_id: walletAccountId(ledger, memberId),
          amount: 10n,
          user_data_128: documentId,
          user_data_64: spendMinor,
          code: TransferCode.purchaseEarn,
        },
      ]);
      return documentId;
    },
    async refund(memberId, documentId, refundedMinor) {
      await post([
        {
          ...transferOf({ id: randomId(), amount: 1n, ledger }),
          debit_account_id: walletAccountId(ledger, memberId),
          credit_account_id: controlAccountId(ledger, AccountCode.issuance),
          amount: 1n,
          user_data_128: documentId,
          user_data_64: refundedMinor,
          code: TransferCode.refundReversal,
        },
      ]);
    },
  };
}

async function pointsLedgerOf(orgId: string): Promise<number> {
  const [row] = await fixture.database.sql<{ ledger: number }[]>`
    select ledger from org_ledgers where org_id = ${orgId} and unit = 'points'`;
  expect(row).toBeDefined();
  return row?.ledger ?? 0;
}

async function segmentEvents(orgId: string): Promise<unknown[]> {
  const rows = await fixture.database.sql<{ payload: unknown }[]>`
    select payload from outbox where org_id = ${orgId} and topic = 'rfm.segment_changed'
    order by id`;
  return rows.map((row) => row.payload);
}

/** The ten members of scoring.test.ts: [days since last purchase, purchases, spend]. */
const population: Record<string, [number, number, bigint]> = {
  a: [1, 9, 90_000n],
  b: [3, 7, 50_000n],
  c: [10, 5, 70_000n],
  d: [30, 4, 30_000n],
  e: [60, 3, 20_000n],
  f: [90, 2, 10_000n],
  g: [120, 1, 5_000n],
  h: [200, 1, 1_000n],
  i: [300, 1, 3_000n],
  j: [2, 6, 60_000n],
};

const expectedQuintiles: Record<string, [number, number, number, string]> = {
  a: [5, 5, 5, "Champions"],
  b: [4, 5, 4, "Loyal Customers"],
  c: [4, 4, 5, "Loyal Customers"],
  d: [3, 3, 3, "Need Attention"],
  e: [3, 3, 3, "Need Attention"],
  f: [2, 2, 2, "Hibernating"],
  g: [2, 1, 2, "Hibernating"],
  h: [1, 1, 1, "Lost"],
  i: [1, 1, 1, "Lost"],
  j: [5, 4, 4, "Champions"],
};

async function buildPopulation() {
  const { deps } = fixture.environment;
  const { org } = await buildLedgerOrg(deps);
  const ledger = ledgerOf(await pointsLedgerOf(org.id));
  const ids: Record<string, string> = {};
  for (const name of [...Object.keys(population), "k", "l", "n"]) {
    ids[name] = (await buildLedgerMember(deps, org.id)).id;
  }
  const id = (name: string) => ids[name] as string;
  for (const [name, [days, purchases, spend]] of Object.entries(population)) {
    // The latest purchase `days` ago, the others a day apart before it; the spend split evenly.
    const each = spend / BigInt(purchases);
    for (let index = 0; index < purchases; index++) {
      const amount = index === 0 ? spend - each * BigInt(purchases - 1) : each;
      await ledger.purchase(id(name), days + index, amount);
    }
  }
  // b: a later purchase refunded in full (in two parts) counts for nothing, not even recency.
  const refunded = await ledger.purchase(id("b"), 0, 5_000n);
  await ledger.refund(id("b"), refunded, 2_000n);
  await ledger.refund(id("b"), refunded, 3_000n);
  // c: a purchase 2,000 above its share, partly refunded by 2,000: counted, net as planned.
  const partly = await ledger.purchase(id("c"), 40, 2_000n + 1n);
  await ledger.refund(id("c"), partly, 2_000n);
  // c is then at 6 purchases (tied with j: F 4 both) and 70,001: the same scores as planned.
  // k: its only purchase refunded in full. l: its only purchase outside the 365-day window.
  const only = await ledger.purchase(id("k"), 5, 4_000n);
  await ledger.refund(id("k"), only, 4_000n);
  await ledger.purchase(id("l"), 366, 80_000n);
  return { org, ledger, id };
}

describe("rebuildOrgRfm", () => {
  it("scores a crafted population by quintiles, as computed by hand", async () => {
    const { deps } = fixture.environment;
    const { org, id } = await buildPopulation();

    const result = await rebuildOrgRfm(deps, { orgId: org.id });
    expect(result).toMatchObject({ population: 10, changed: 0 });

    for (const [name, [r, f, m, segment]] of Object.entries(expectedQuintiles)) {
      const rfm = await getMemberRfm(deps, { orgId: org.id, memberId: id(name) });
      expect({ name, r: rfm.r, f: rfm.f, m: rfm.m, segment: rfm.segment }).toEqual({
        name,
        r,
        f,
        m,
        segment,
      });
    }
    const b = await getMemberRfm(deps, { orgId: org.id, memberId: id("b") });
    expect(b).toMatchObject({ recencyDays: 3, frequency: 7, monetaryMinor: 50_000n });
    const c = await getMemberRfm(deps, { orgId: org.id, memberId: id("c") });
    expect(c).toMatchObject({ recencyDays: 10, frequency: 6, monetaryMinor: 70_001n });
    for (const name of ["k", "l", "n"]) {
      const rfm = await getMemberRfm(deps, { orgId: org.id, memberId: id(name) });
      expect(rfm).toMatchObject({ segment: "none", r: null, recencyDays: null, frequency: 0 });
    }
    const counts = await listSegments(deps, { orgId: org.id });
    expect(counts.computedAt).toEqual(result.computedAt);
    expect(Object.fromEntries(counts.segments.map((s) => [s.name, s.members]))).toMatchObject({
      Champions: 2,
      "Loyal Customers": 2,
      "Need Attention": 2,
      Hibernating: 2,
      Lost: 2,
      none: 3,
      "At Risk": 0,
    });
    const champions = await listSegmentMembers(deps, {
      orgId: org.id,
      segment: "Champions",
      limit: 1,
    });
    expect(champions.members).toHaveLength(1);
    expect(champions.nextCursor).not.toBeNull();
    const rest = await listSegmentMembers(deps, {
      orgId: org.id,
      segment: "Champions",
      limit: 1,
      cursor: champions.nextCursor ?? "",
    });
    expect([...champions.members, ...rest.members].map((m) => m.memberId).sort()).toEqual(
      [id("a"), id("j")].sort(),
    );
    expect(rest.nextCursor).toBeNull();
    // The org's first rebuild had nothing to change from.
    expect(await segmentEvents(org.id)).toEqual([]);
  });

  it("scores by the org's thresholds and announces the segments that changed", async () => {
    const { deps } = fixture.environment;
    const { org, id } = await buildPopulation();
    await rebuildOrgRfm(deps, { orgId: org.id });
    await fixture.database.sql`
      update orgs set settings = settings || ${JSON.stringify({
        rfm: {
          method: "thresholds",
          windowDays: 365,
          thresholds: {
            recencyDays: [7, 30, 90, 180],
            frequency: [2, 4, 6, 8],
            monetaryMinor: ["5000", "20000", "50000", "80000"],
          },
        },
      })}::jsonb where id = ${org.id}`;
    invalidateOrgCaches(deps.caches, org.id);

    const result = await rebuildOrgRfm(deps, { orgId: org.id });
    // By hand, R: days <= 7 → 5, <= 30 → 4, <= 90 → 3, <= 180 → 2, else 1; F and M: boundaries
    // reached. FM = floor((F + M + 1) / 2).
    const expected: Record<string, [number, number, number, string]> = {
      a: [5, 5, 5, "Champions"], // 1 day, 9, 90,000
      b: [5, 4, 4, "Champions"], // 3 days, 7, 50,000
      c: [4, 4, 4, "Loyal Customers"], // 10 days, 6, 70,001
      d: [4, 3, 3, "Potential Loyalist"], // 30 days, 4, 30,000
      e: [3, 2, 3, "Need Attention"], // 60 days, 3, 20,000
      f: [3, 2, 2, "About To Sleep"], // 90 days, 2, 10,000
      g: [2, 1, 2, "Hibernating"], // 120 days, 1, 5,000
      h: [1, 1, 1, "Lost"], // 200 days, 1, 1,000
      i: [1, 1, 1, "Lost"], // 300 days, 1, 3,000
      j: [5, 4, 4, "Champions"], // 2 days, 6, 60,000
    };
    for (const [name, [r, f, m, segment]] of Object.entries(expected)) {
      const rfm = await getMemberRfm(deps, { orgId: org.id, memberId: id(name) });
      expect({ name, r: rfm.r, f: rfm.f, m: rfm.m, segment: rfm.segment }).toEqual({
        name,
        r,
        f,
        m,
        segment,
      });
    }
    // Changed from the quintiles: b (Loyal Customers → Champions), d (Need Attention →
    // Potential Loyalist), f (Hibernating → About To Sleep); c stays Loyal Customers.
    const events = await segmentEvents(org.id);
    expect(events).toEqual(
      expect.arrayContaining([
        { member_id: id("b"), from: "Loyal Customers", to: "Champions" },
        { member_id: id("d"), from: "Need Attention", to: "Potential Loyalist" },
        { member_id: id("f"), from: "Hibernating", to: "About To Sleep" },
      ]),
    );
    expect(events).toHaveLength(3);
    expect(result.changed).toBe(3);
  });
  it("turns members who left the population to none, announcing each", async () => {
    const { deps } = fixture.environment;
    const { org, id } = await buildPopulation();
    await rebuildOrgRfm(deps, { orgId: org.id });
    // A 5-day window keeps only purchases of the last 4 whole days: a, b and j.
    await fixture.database.sql`
      update orgs set settings = settings || ${JSON.stringify({
        rfm: { method: "quintiles", windowDays: 5 },
      })}::jsonb where id = ${org.id}`;
    invalidateOrgCaches(deps.caches, org.id);

    const result = await rebuildOrgRfm(deps, { orgId: org.id });
    expect(result.population).toBe(3);
    const left = ["c", "d", "e", "f", "g", "h", "i"];
    for (const name of left) {
      const rfm = await getMemberRfm(deps, { orgId: org.id, memberId: id(name) });
      expect({ name, segment: rfm.segment, r: rfm.r }).toEqual({ name, segment: "none", r: null });
    }
    const events = (await segmentEvents(org.id)) as Array<{ member_id: string; to: string }>;
    const toNone = events.filter((event) => event.to === "none").map((event) => event.member_id);
    expect(toNone.sort()).toEqual(left.map(id).sort());
    const none = await listSegmentMembers(deps, { orgId: org.id, segment: "none", limit: 100 });
    // The seven who left and the three who never counted (k, l, n).
    expect(none.members.map((member) => member.memberId).sort()).toEqual(
      [...left, "k", "l", "n"].map(id).sort(),
    );
  });
});

describe("rescoreMember", () => {
  it("does nothing before the org's first rebuild", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    expect(await rescoreMember(deps, { orgId: org.id, memberId: member.id })).toEqual({
      kind: "no_rebuild",
    });
  });

  it("re-scores one member against the last rebuild and announces a changed segment", async () => {
    const { deps } = fixture.environment;
    const { org, ledger, id } = await buildPopulation();
    await rebuildOrgRfm(deps, { orgId: org.id });
    const before = await getMemberRfm(deps, { orgId: org.id, memberId: id("a") });

    // n buys today for 500: R 5 (0 <= 2 days), F 1, M 1 → New Customers.
    const bought = await ledger.purchase(id("n"), 0, 500n);
    expect(await rescoreMember(deps, { orgId: org.id, memberId: id("n") })).toEqual({
      kind: "rescored",
      from: "none",
      to: "New Customers",
    });
    expect(await getMemberRfm(deps, { orgId: org.id, memberId: id("n") })).toMatchObject({
      recencyDays: 0,
      frequency: 1,
      monetaryMinor: 500n,
      r: 5,
      f: 1,
      m: 1,
      segment: "New Customers",
    });
    // At-least-once delivery: the same event again changes nothing and announces nothing new.
    await rescoreMember(deps, { orgId: org.id, memberId: id("n") });
    // Refunded in full: back to none.
    await ledger.refund(id("n"), bought, 500n);
    await rescoreMember(deps, { orgId: org.id, memberId: id("n") });
    expect(await segmentEvents(org.id)).toEqual([
      { member_id: id("n"), from: "none", to: "New Customers" },
      { member_id: id("n"), from: "New Customers", to: "none" },
    ]);
    // Nobody else moved: the boundaries are the rebuild's.
    expect(await getMemberRfm(deps, { orgId: org.id, memberId: id("a") })).toEqual(before);
  });
});
