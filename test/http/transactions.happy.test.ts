/**
 * POS transactions over HTTP, the paths that succeed: a purchase by member id or card, its
 * replay by external id (200, same outcome, nothing posted twice), stamps, a batch with
 * per-item outcomes, and partial refunds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStampProgram } from "../../src/membership/index.ts";
import type { Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
  list,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

describe("POST /v1/transactions", () => {
  it("records a purchase (201) and answers its replay with the same outcome (200)", async () => {
    const member = await enrollOverHttp(harness, org);
    const body = {
      external_id: "till-9:0001",
      member_id: member.id,
      amount: 1_999,
      currency: "EUR",
      occurred_at: "2026-01-31T12:00:00+01:00",
      location: "store-9",
      items: [{ sku: "LATTE", quantity: 1, amount: 1_999 }],
    };
    const first = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body,
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      points_earned: 19,
      stamps_earned: [],
      balance: { available: 119, pending: 0, lifetime_earned: 119, lifetime_redeemed: 0 },
    });
    const transfers = await ledgerTransferCount(harness);

    const replay = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body,
    });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get("idempotency-replayed")).toBeNull();
    expect(await ledgerTransferCount(harness)).toBe(transfers);
  });

  it("finds the member by card and earns stamps", async () => {
    const member = await enrollOverHttp(harness, org);
    const program = await createStampProgram(harness.deps, {
      orgId: org.id,
      name: "Coffee card",
      stampsRequired: 5n,
      rewardPoints: 50n,
      earn: { per: "item", categories: ["coffee"] },
    });
    const response = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: {
        external_id: "till-9:0002",
        member_external_ref: member.externalRef,
        amount: 900,
        currency: "EUR",
        items: [
          { sku: "ESPRESSO", category: "coffee", quantity: 2, amount: 500 },
          { sku: "CROISSANT", category: "bakery", quantity: 1, amount: 400 },
        ],
      },
    });
    expect(response.status).toBe(201);
    expect(response.body.stamps_earned).toEqual([
      { program_id: program.id, stamps: 2, completed: false },
    ]);
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.body.stamps).toEqual([
      { program_id: program.id, name: "Coffee card", balance: 2, stamps_required: 5 },
    ]);
  });
});

describe("POST /v1/transactions/batch", () => {
  it("answers one outcome per purchase, in order", async () => {
    const member = await enrollOverHttp(harness, org);
    const recorded = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: { external_id: "batch-0", member_id: member.id, amount: 500, currency: "EUR" },
    });
    expect(recorded.status).toBe(201);
    const response = await call(harness.app, "POST", "/v1/transactions/batch", {
      key: org.keys.pos,
      body: {
        transactions: [
          { external_id: "batch-1", member_id: member.id, amount: 1_000, currency: "EUR" },
          { external_id: "batch-0", member_id: member.id, amount: 500, currency: "EUR" },
          {
            external_id: "batch-2",
            member_external_ref: "no-such-card",
            amount: 1_000,
            currency: "EUR",
          },
          { external_id: "batch-3", member_id: member.id, amount: 2_000, currency: "EUR" },
        ],
      },
    });
    expect(response.status).toBe(200);
    const results = list(response.body.results);
    expect(results.map((result) => [result.external_id, result.status])).toEqual([
      ["batch-1", "created"],
      ["batch-0", "replayed"],
      ["batch-2", "error"],
      ["batch-3", "created"],
    ]);
    expect(results[0]?.points_earned).toBe(10);
    expect(results[1]?.transaction_id).toBe(recorded.body.transaction_id);
    expect(results[2]?.error?.code).toBe("not_found");
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.body.points?.available).toBe(100 + 5 + 10 + 20);
  });

  it("accepts the largest batch", async () => {
    const member = await enrollOverHttp(harness, org);
    const transactions = Array.from({ length: 1_000 }, (_, index) => ({
      external_id: `big-batch-${index}`,
      member_id: member.id,
      amount: 100,
      currency: "EUR",
    }));
    const response = await call(harness.app, "POST", "/v1/transactions/batch", {
      key: org.keys.pos,
      body: { transactions },
    });
    expect(response.status).toBe(200);
    expect(list(response.body.results).every((result) => String(result.status) === "created")).toBe(
      true,
    );
  });
});

describe("POST /v1/transactions/:external_id/refunds", () => {
  it("refunds in parts that add up to the whole, and replays a refund (200)", async () => {
    const member = await enrollOverHttp(harness, org);
    const purchase = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: { external_id: "refund-me", member_id: member.id, amount: 10_000, currency: "EUR" },
    });
    expect(purchase.body.points_earned).toBe(100);

    const part = { external_id: "refund-me:r1", amount: 3_333 };
    const first = await call(harness.app, "POST", "/v1/transactions/refund-me/refunds", {
      key: org.keys.pos,
      body: part,
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ points_to_reverse: 33, points_reversed: 33, shortfall: 0 });

    const replay = await call(harness.app, "POST", "/v1/transactions/refund-me/refunds", {
      key: org.keys.pos,
      body: part,
    });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);

    const rest = await call(harness.app, "POST", "/v1/transactions/refund-me/refunds", {
      key: org.keys.pos,
      body: { external_id: "refund-me:r2", amount: 6_667 },
    });
    expect(rest.status).toBe(201);
    expect(rest.body.points_to_reverse).toBe(67);
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.body.points?.available).toBe(100);
  });
});
