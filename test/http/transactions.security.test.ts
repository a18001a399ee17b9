/**
 * Who may post transactions: only pos keys (admin and finance are 403); no key is 401; another
 * org's pos key cannot earn for, or refund, this org's members and purchases (404, nothing
 * posted).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  countRows,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;
let member: { id: string; externalRef: string };

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  member = await enrollOverHttp(harness, org);
  const sold = await call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    body: { external_id: "sold-1", member_id: member.id, amount: 5_000, currency: "EUR" },
  });
  expect(sold.status).toBe(201);
});
afterAll(async () => {
  await harness?.close();
});

function routes(): Array<[string, unknown]> {
  return [
    [
      "/v1/transactions",
      { external_id: "x-1", member_id: member.id, amount: 100, currency: "EUR" },
    ],
    [
      "/v1/transactions/batch",
      {
        transactions: [{ external_id: "x-2", member_id: member.id, amount: 100, currency: "EUR" }],
      },
    ],
    ["/v1/transactions/sold-1/refunds", { external_id: "sold-1:r", amount: 100 }],
  ];
}

describe("transactions security", () => {
  it("answers 401 without a key", async () => {
    for (const [path, body] of routes()) {
      const response = await call(harness.app, "POST", path, { body });
      expect(response.status, path).toBe(401);
    }
  });

  it("answers 403 to admin and finance keys", async () => {
    const transfers = await ledgerTransferCount(harness);
    for (const [path, body] of routes()) {
      for (const key of [org.keys.admin, org.keys.finance]) {
        const response = await call(harness.app, "POST", path, { key, body });
        expect(response.status, path).toBe(403);
        expect(response.body.error?.code).toBe("forbidden");
      }
    }
    expect(await ledgerTransferCount(harness)).toBe(transfers);
  });

  it("keeps another org's pos key away from this org's members and purchases", async () => {
    const transfers = await ledgerTransferCount(harness);
    const rows = await countRows(harness, "pos_transactions", org.id);

    const byId = await call(harness.app, "POST", "/v1/transactions", {
      key: other.keys.pos,
      body: { external_id: "y-1", member_id: member.id, amount: 100, currency: "EUR" },
    });
    expect(byId.status).toBe(404);
    const byCard = await call(harness.app, "POST", "/v1/transactions", {
      key: other.keys.pos,
      body: {
        external_id: "y-2",
        member_external_ref: member.externalRef,
        amount: 100,
        currency: "EUR",
      },
    });
    expect(byCard.status).toBe(404);
    const refund = await call(harness.app, "POST", "/v1/transactions/sold-1/refunds", {
      key: other.keys.pos,
      body: { external_id: "sold-1:steal", amount: 5_000 },
    });
    expect(refund.status).toBe(404);
    const batch = await call(harness.app, "POST", "/v1/transactions/batch", {
      key: other.keys.pos,
      body: {
        transactions: [{ external_id: "y-3", member_id: member.id, amount: 100, currency: "EUR" }],
      },
    });
    expect(batch.status).toBe(200);
    expect(batch.body.results?.[0]?.error?.code).toBe("not_found");

    expect(await ledgerTransferCount(harness)).toBe(transfers);
    expect(await countRows(harness, "pos_transactions", org.id)).toBe(rows);
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.body.points?.available).toBe(150);
  });
});
