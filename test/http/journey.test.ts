/**
 * The whole journey over HTTP, as README walks through it: create an org, enrol a member, buy,
 * read the balance, hold points for a redemption, fulfil it, refund the purchase after the
 * points were spent (a shortfall), and end with a trial balance that balances.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness } from "./support.ts";
import { call, createHarness, list } from "./support.ts";

const platformToken = "p".repeat(40);
let harness: Harness;

beforeAll(async () => {
  harness = await createHarness({ platformToken });
});
afterAll(async () => {
  await harness?.close();
});

describe("a member's journey over HTTP", () => {
  it("earns, redeems, is refunded with a shortfall, and the books balance", async () => {
    const { app } = harness;
    const created = await call(app, "POST", "/v1/orgs", {
      key: platformToken,
      body: { name: "Corner Coffee", slug: "corner-coffee-journey", currency: "EUR" },
    });
    expect(created.status).toBe(201);
    expect(created.body.org).toMatchObject({ slug: "corner-coffee-journey", currency: "EUR" });
    const keys = {
      admin: String(created.body.api_keys?.admin),
      pos: String(created.body.api_keys?.pos),
      finance: String(created.body.api_keys?.finance),
    };

    const enrolled = await call(app, "POST", "/v1/members", {
      key: keys.pos,
      body: { external_ref: "card-0001", email: "ada@example.com", first_name: "Ada" },
    });
    expect(enrolled.status).toBe(201);
    expect(enrolled.body.welcome_bonus).toBe(100);
    expect(enrolled.body.member).toMatchObject({
      external_ref: "card-0001",
      email: "ada@example.com",
      first_name: "Ada",
      status: "active",
    });
    const memberId = String(enrolled.body.member?.id);

    // 250.00 EUR at 1 point per euro, Bronze: 250 points on top of the 100 bonus.
    const purchase = await call(app, "POST", "/v1/transactions", {
      key: keys.pos,
      body: {
        external_id: "till-1:0001",
        member_external_ref: "card-0001",
        amount: 25_000,
        currency: "EUR",
        location: "store-7",
        items: [{ sku: "BEANS-1KG", category: "coffee", quantity: 2, amount: 25_000 }],
      },
    });
    expect(purchase.status).toBe(201);
    expect(purchase.body.points_earned).toBe(250);
    expect(purchase.body.balance).toMatchObject({ available: 350, pending: 0 });

    const balances = await call(app, "GET", `/v1/members/${memberId}/balances`, {
      key: keys.pos,
    });
    expect(balances.status).toBe(200);
    expect(balances.body).toEqual({
      points: { available: 350, pending: 0, lifetime_earned: 350, lifetime_redeemed: 0 },
      stamps: [],
      expiring: [],
    });

    const hold = await call(app, "POST", `/v1/members/${memberId}/redemptions`, {
      key: keys.pos,
      body: { points: 300, external_id: "reward-1" },
    });
    expect(hold.status).toBe(201);
    expect(hold.body.redemption).toMatchObject({ status: "pending", points: 300 });
    const held = await call(app, "GET", `/v1/members/${memberId}/balances`, { key: keys.pos });
    expect(held.body.points).toMatchObject({ available: 50, pending: 300 });

    const fulfilled = await call(
      app,
      "POST",
      `/v1/redemptions/${String(hold.body.redemption?.id)}/fulfill`,
      { key: keys.pos },
    );
    expect(fulfilled.status).toBe(200);
    expect(fulfilled.body.redemption?.status).toBe("fulfilled");

    // The whole purchase is refunded: 250 points to take back, only 50 left to take.
    const refund = await call(app, "POST", "/v1/transactions/till-1:0001/refunds", {
      key: keys.pos,
      body: { external_id: "till-1:refund-0001", amount: 25_000 },
    });
    expect(refund.status).toBe(201);
    expect(refund.body).toMatchObject({
      points_to_reverse: 250,
      points_reversed: 50,
      shortfall: 200,
    });

    const after = await call(app, "GET", `/v1/members/${memberId}/balances`, { key: keys.pos });
    expect(after.body.points).toEqual({
      available: 0,
      pending: 0,
      lifetime_earned: 350,
      lifetime_redeemed: 300,
    });

    const history = await call(app, "GET", `/v1/members/${memberId}/history?limit=10`, {
      key: keys.finance,
    });
    expect(history.status).toBe(200);
    expect(list(history.body.entries).map((entry) => entry.operation)).toEqual([
      "refund_reversal",
      "redemption_fulfilled",
      "redemption_hold",
      "purchase_earn",
      "welcome_bonus",
    ]);

    const books = await call(app, "GET", "/v1/ledger/trial-balance", { key: keys.finance });
    expect(books.status).toBe(200);
    const [points] = list(books.body.units);
    expect(points).toMatchObject({
      unit: "points",
      balanced: true,
      outstanding_liability: 0,
      pending_redemptions: 0,
    });
    expect(points?.totals?.debits_posted).toBe(points?.totals?.credits_posted);
  });
});
