/**
 * POS transactions over HTTP, the refusals. Amounts must be integers from 1 to 10^12 (floats,
 * strings and zero are 400 with the field's path); a reused external id with another body is
 * 409 (line amounts included); refunds beyond the purchase are 422; a batch with one malformed item is refused whole.
 * Every refusal leaves Postgres and the ledger unchanged.
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
  list,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let member: { id: string; externalRef: string };

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  member = await enrollOverHttp(harness, org);
});
afterAll(async () => {
  await harness?.close();
});

async function snapshot(): Promise<number[]> {
  return [
    await countRows(harness, "pos_transactions", org.id),
    await countRows(harness, "outbox", org.id),
    await countRows(harness, "locations", org.id),
    await countRows(harness, "idempotency_keys", org.id),
    await ledgerTransferCount(harness),
  ];
}

function purchase(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    external_id: `bad-${Math.random().toString(36).slice(2)}`,
    member_id: member.id,
    amount: 1_000,
    currency: "EUR",
    location: "store-never-created",
    ...overrides,
  };
}

async function expectRefused(
  path: string,
  body: unknown,
  status: number,
): Promise<Awaited<ReturnType<typeof call>>> {
  const before = await snapshot();
  const response = await call(harness.app, "POST", path, {
    key: org.keys.pos,
    body,
    headers: { "Idempotency-Key": `key-${Math.random()}` },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(await snapshot()).toEqual(before);
  return response;
}

function paths(response: Awaited<ReturnType<typeof call>>): string[] {
  return list(response.body.error?.details?.issues).map((issue) => String(issue.path));
}

describe("amount bounds", () => {
  it("refuses floats, strings, zero and 10^12 + 1 with the field's path", async () => {
    for (const amount of [19.99, "1999", 0, -5, 1_000_000_000_001, null]) {
      const response = await expectRefused("/v1/transactions", purchase({ amount }), 400);
      expect(paths(response), String(amount)).toEqual(["amount"]);
    }
  });

  it("accepts 1 and 10^12", async () => {
    for (const amount of [1, 1_000_000_000_000]) {
      const response = await call(harness.app, "POST", "/v1/transactions", {
        key: org.keys.pos,
        body: purchase({ amount }),
      });
      expect(response.status, String(amount)).toBe(201);
    }
  });

  it("refuses item amounts, quantities and too many items with their paths", async () => {
    const item = { sku: "A", quantity: 1, amount: 100 };
    const cases: Array<[unknown[], string]> = [
      [[{ ...item, amount: 1.5 }], "items.0.amount"],
      [[item, { ...item, quantity: 0 }], "items.1.quantity"],
      [[{ ...item, sku: "" }], "items.0.sku"],
      [[{ ...item, colour: "red" }], "items.0"],
      [Array.from({ length: 201 }, () => item), "items"],
    ];
    for (const [items, path] of cases) {
      const response = await expectRefused("/v1/transactions", purchase({ items }), 400);
      expect(paths(response)).toEqual([path]);
    }
  });

  it("refuses items whose amounts add up to more than the purchase, and accepts them equal", async () => {
    const items = [
      { sku: "A", quantity: 1, amount: 600 },
      { sku: "B", quantity: 2, amount: 401 },
    ];
    const response = await expectRefused("/v1/transactions", purchase({ items }), 400);
    expect(paths(response)).toEqual(["items"]);
    const equal = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: purchase({ items: [items[0], { ...items[1], amount: 400 }] }),
    });
    expect(equal.status).toBe(201);
  });

  it("accepts a purchase of 200 items, the bound", async () => {
    const item = { sku: "A", quantity: 1, amount: 5 };
    const response = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: purchase({ items: Array.from({ length: 200 }, () => item) }),
    });
    expect(response.status).toBe(201);
  });
});

describe("member and currency", () => {
  it("needs exactly one of member_id and member_external_ref", async () => {
    const both = await expectRefused(
      "/v1/transactions",
      purchase({ member_external_ref: member.externalRef }),
      400,
    );
    expect(paths(both)).toEqual(["member_id"]);
    const neither = await expectRefused(
      "/v1/transactions",
      purchase({ member_id: undefined }),
      400,
    );
    expect(paths(neither)).toEqual(["member_id"]);
  });

  it("answers 404 for an unknown member and 400 for another currency", async () => {
    const unknown = await expectRefused(
      "/v1/transactions",
      purchase({ member_id: undefined, member_external_ref: "card-nobody" }),
      404,
    );
    expect(unknown.body.error?.code).toBe("not_found");
    const currency = await expectRefused("/v1/transactions", purchase({ currency: "USD" }), 400);
    expect(currency.body.error).toMatchObject({ code: "invalid_input" });
  });

  it("answers 422 member_inactive for a suspended member", async () => {
    const suspended = await enrollOverHttp(harness, org);
    await call(harness.app, "PATCH", `/v1/members/${suspended.id}`, {
      key: org.keys.admin,
      body: { status: "suspended" },
    });
    const response = await expectRefused(
      "/v1/transactions",
      purchase({ member_id: suspended.id }),
      422,
    );
    expect(response.body.error?.code).toBe("member_inactive");
  });
});

describe("external id reuse", () => {
  it("answers 409 when an external id comes back with another body", async () => {
    const body = purchase({ external_id: "reused-1" });
    const first = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body,
    });
    expect(first.status).toBe(201);
    const response = await expectRefused("/v1/transactions", { ...body, amount: 2_000 }, 409);
    expect(response.body.error?.code).toBe("conflict");
  });

  it("answers 409 when only the line amounts differ, and 200 for the same lines", async () => {
    const lines = [
      { sku: "latte", category: "coffee", quantity: 2, amount: 700 },
      { sku: "bagel", quantity: 1, amount: 300 },
    ];
    const body = purchase({ external_id: "reused-lines", items: lines });
    const first = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body,
    });
    expect(first.status).toBe(201);
    const moved = [
      { ...lines[0], amount: 600 },
      { ...lines[1], amount: 400 },
    ];
    const response = await expectRefused("/v1/transactions", { ...body, items: moved }, 409);
    expect(response.body.error?.code).toBe("conflict");
    const replay = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body,
    });
    expect(replay.status).toBe(200);
    expect(replay.body.transaction_id).toBe(first.body.transaction_id);
  });
});

describe("refunds", () => {
  it("answers 422 beyond the purchase and 404 for an unknown purchase", async () => {
    const bought = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: purchase({ external_id: "refund-limit", amount: 1_000 }),
    });
    expect(bought.status).toBe(201);
    const beyond = await expectRefused(
      "/v1/transactions/refund-limit/refunds",
      { external_id: "refund-limit:r1", amount: 1_001 },
      422,
    );
    expect(beyond.body.error?.code).toBe("refund_exceeds_purchase");
    const unknown = await expectRefused(
      "/v1/transactions/never-sold/refunds",
      { external_id: "never-sold:r1", amount: 1 },
      404,
    );
    expect(unknown.body.error?.code).toBe("not_found");
    const float = await expectRefused(
      "/v1/transactions/refund-limit/refunds",
      { external_id: "refund-limit:r2", amount: 0.5 },
      400,
    );
    expect(paths(float)).toEqual(["amount"]);
  });
});

describe("batch", () => {
  it("refuses a batch with one malformed item whole, naming the item", async () => {
    const transactions = Array.from({ length: 5 }, (_, index) =>
      purchase({ external_id: `batch-bad-${index}` }),
    );
    transactions[3] = { ...transactions[3], amount: 10.5 };
    const response = await expectRefused("/v1/transactions/batch", { transactions }, 400);
    expect(paths(response)).toEqual(["transactions.3.amount"]);
  });

  it("refuses an empty batch and one of 1,001 purchases", async () => {
    const empty = await expectRefused("/v1/transactions/batch", { transactions: [] }, 400);
    expect(paths(empty)).toEqual(["transactions"]);
    const transactions = Array.from({ length: 1_001 }, (_, index) =>
      purchase({ external_id: `too-many-${index}`, location: undefined }),
    );
    const tooMany = await expectRefused("/v1/transactions/batch", { transactions }, 400);
    expect(paths(tooMany)).toEqual(["transactions"]);
  });
});
