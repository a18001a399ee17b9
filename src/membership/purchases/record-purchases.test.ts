/**
 * The offline-sync batch: a thousand purchases posted in one ledger request (counted on the
 * real engine through a proxy), one outcome per item, and bad items that block nothing.
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
import { purchaseBatchItemsMax } from "../limits.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { updateMember } from "../members/update-member.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import { createStampProgram } from "../stamp-programs/create-stamp-program.ts";
import type { Member } from "../types.ts";
import { recordPurchase } from "./record-purchase.ts";
import { recordPurchases } from "./record-purchases.ts";

const fixture = useLedgerFixture();

describe("recordPurchases", () => {
  it("posts a batch of 1,000 purchases with stamps in one ledger request", async () => {
    const { deps, engine } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 1_000n,
      rewardPoints: 500n,
    });
    const members: Member[] = [];
    for (let index = 0; index < 10; index += 1) {
      members.push(await buildLedgerMember(deps, org.id));
    }
    const items = Array.from({ length: purchaseBatchItemsMax }, (_, index) => ({
      externalId: `offline-${index}`,
      memberId: members[index % members.length]?.id ?? "",
      amountMinor: BigInt(100 + index),
      currency: "EUR",
      locationRef: `store-${index % 3}`,
    }));

    const counting = countCreateTransfers(engine);
    const countingDeps = { ...deps, ledger: counting.client };
    const outcomes = await recordPurchases(countingDeps, { orgId: org.id, items });
    // 1,000 earn chains and 1,000 stamp chains fit one request of at most 8,189 transfers.
    expect(counting.createTransfersCalls()).toBe(1);
    expect(outcomes).toHaveLength(purchaseBatchItemsMax);
    expect(outcomes.every((outcome) => outcome.status === "created")).toBe(true);

    const expectedPoints = items.reduce((sum, item) => sum + item.amountMinor / 100n, 0n);
    const balances = await Promise.all(
      members.map((member) => getMemberBalances(deps, { orgId: org.id, memberId: member.id })),
    );
    expect(balances.reduce((sum, balance) => sum + balance.points.available, 0n)).toBe(
      expectedPoints,
    );
    expect(balances.map((balance) => balance.stamps[0]?.balance)).toEqual(members.map(() => 100n));
    const trial = await getTrialBalance(deps, { orgId: org.id });
    expect(trial.map((unit) => unit.unit)).toEqual(["points", `stamps:${program.id}`]);
    expect(trial[1]?.trialBalance.wallets.creditsPosted).toBe(1_000n);
    const [events] = await fixture.database.sql<{ n: number }[]>`
      select count(*)::int as n from outbox where org_id = ${org.id} and topic = 'points.earned'`;
    expect(events?.n).toBe(purchaseBatchItemsMax);

    // The same batch again: all replayed from Postgres, nothing sent to the ledger.
    const replayed = await recordPurchases(countingDeps, { orgId: org.id, items });
    expect(counting.createTransfersCalls()).toBe(1);
    expect(replayed.every((outcome) => outcome.status === "replayed")).toBe(true);
    expect(replayed.map((outcome) => outcome.status !== "error" && outcome.outcome)).toEqual(
      outcomes.map((outcome) => outcome.status !== "error" && outcome.outcome),
    );
  });

  it("gives each item its own outcome; bad items block nothing", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const other = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const suspended = await buildLedgerMember(deps, org.id);
    await updateMember(deps, {
      orgId: org.id,
      memberId: suspended.id,
      patch: { status: "suspended" },
    });
    const stranger = await buildLedgerMember(deps, other.org.id);
    const seen = {
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 700n,
      currency: "EUR",
    };
    await recordPurchase(deps, { orgId: org.id, ...seen });

    const valid = (amountMinor: bigint) => ({
      externalId: externalId(),
      memberId: member.id,
      amountMinor,
      currency: "EUR",
    });
    const first = valid(100n);
    const outcomes = await recordPurchases(deps, {
      orgId: org.id,
      items: [
        first,
        { ...valid(200n), currency: "USD" },
        { ...valid(300n), memberId: randomUUID() },
        { ...valid(300n), memberId: stranger.id },
        { ...valid(400n), memberId: suspended.id },
        first,
        { ...first, amountMinor: 101n },
        seen,
        { ...seen, amountMinor: 701n },
        { ...valid(0n) },
        valid(500n),
      ],
    });
    expect(
      outcomes.map((outcome) => [outcome.status, "code" in outcome ? outcome.code : null]),
    ).toEqual([
      ["created", null],
      ["error", "invalid_input"],
      ["error", "not_found"],
      ["error", "not_found"],
      ["error", "member_inactive"],
      ["replayed", null],
      ["error", "conflict"],
      ["replayed", null],
      ["error", "conflict"],
      ["error", "invalid_input"],
      ["created", null],
    ]);
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(7n + 1n + 5n);
    const [rows] = await fixture.database.sql<{ n: number }[]>`
      select count(*)::int as n from pos_transactions where org_id = ${org.id}`;
    expect(rows?.n).toBe(3);
  });

  it("refuses a batch beyond its bound and writes nothing", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const items = Array.from({ length: purchaseBatchItemsMax + 1 }, () => ({
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 100n,
      currency: "EUR",
    }));
    await expect(recordPurchases(deps, { orgId: org.id, items })).rejects.toMatchObject({
      code: "invalid_input",
      details: { field: "items" },
    });
    const [rows] = await fixture.database.sql<{ n: number }[]>`
      select count(*)::int as n from pos_transactions where org_id = ${org.id}`;
    expect(rows?.n).toBe(0);
  });
});

describe("what a posted purchase leaves in Postgres", () => {
  it("stores the outcome and writes the points.earned event with the row's exact values", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const visits = await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 2n,
      rewardPoints: 5n,
    });
    const coffee = await createStampProgram(deps, {
      orgId: org.id,
      name: "Coffee",
      stampsRequired: 10n,
      rewardPoints: 50n,
      earn: { per: "item", categories: ["coffee"] },
    });
    const member = await buildLedgerMember(deps, org.id);
    const occurredAt = new Date("2026-11-20T09:08:07.006Z");
    const [first, second, plain] = await recordPurchases(deps, {
      orgId: org.id,
      items: [
        {
          externalId: "till-1",
          memberId: member.id,
          amountMinor: 1_250n,
          currency: "EUR",
          occurredAt,
          locationRef: "store-9",
          items: [{ sku: "latte", category: "coffee", quantity: 3 }],
        },
        // Fills the Visits card (2 stamps); earns no points (below one unit).
        { externalId: "till-2", memberId: member.id, amountMinor: 99n, currency: "EUR" },
        // In a batch, the completion is reported on the card's last purchase: this one.
        { externalId: "till-3", memberId: member.id, amountMinor: 50n, currency: "EUR" },
      ],
    });
    expect([first?.status, second?.status, plain?.status]).toEqual([
      "created",
      "created",
      "created",
    ]);

    const rows = await fixture.database.sql<
      { id: string; external_id: string; response: unknown; location_id: string | null }[]
    >`select id, external_id, response, location_id from pos_transactions
      where org_id = ${org.id} order by external_id`;
    const [row1, row2, row3] = rows;
    expect(row1?.response).toEqual({
      transaction_id: row1?.id,
      points_earned: "12",
      breakdown: [{ kind: "base", points: "12" }],
      stamps_earned: [
        { program_id: visits.id, stamps: "1", completed: false },
        { program_id: coffee.id, stamps: "3", completed: false },
      ],
    });
    expect(row2?.response).toEqual({
      transaction_id: row2?.id,
      points_earned: "0",
      breakdown: [],
      stamps_earned: [{ program_id: visits.id, stamps: "1", completed: false }],
    });
    expect(row3?.response).toEqual({
      transaction_id: row3?.id,
      points_earned: "0",
      breakdown: [],
      stamps_earned: [{ program_id: visits.id, stamps: "1", completed: true }],
    });

    const events = await fixture.database.sql<{ payload: unknown }[]>`
      select payload from outbox where org_id = ${org.id} and topic = 'points.earned' order by id`;
    expect(events.map((event) => event.payload)).toEqual([
      {
        transaction_id: row1?.id,
        member_id: member.id,
        external_id: "till-1",
        points: "12",
        stamps: [
          { program_id: visits.id, stamps: "1" },
          { program_id: coffee.id, stamps: "3" },
        ],
        amount_minor: "1250",
        currency: "EUR",
        occurred_at: "2026-11-20T09:08:07.006Z",
        location_id: row1?.location_id,
      },
      expect.objectContaining({ external_id: "till-2", points: "0", location_id: null }),
      expect.objectContaining({ external_id: "till-3", amount_minor: "50" }),
    ]);
    expect(row1?.location_id).not.toBeNull();
  });
});
