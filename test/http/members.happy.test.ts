/**
 * Members over HTTP, the paths that succeed: enrol with personal data, read by id and by
 * external ref, update and clear fields, suspend (admin), balances, and history pages.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMonthsUtc } from "../../src/membership/expiry/lots.ts";
import { buildLedgerOrg } from "../support/ledger.ts";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

describe("POST /v1/members", () => {
  it("enrols a member with personal data and credits the welcome bonus", async () => {
    const response = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.admin,
      body: {
        external_ref: "card-happy-1",
        email: "grace@example.com",
        phone: "+44 20 7946 0000",
        first_name: "Grace",
        last_name: "Hopper",
      },
    });
    expect(response.status).toBe(201);
    expect(response.body.welcome_bonus).toBe(100);
    expect(response.body.member).toMatchObject({
      external_ref: "card-happy-1",
      status: "active",
      email: "grace@example.com",
      phone: "+44 20 7946 0000",
      first_name: "Grace",
      last_name: "Hopper",
    });
    expect(response.body.member?.id).toMatch(/^[0-9a-f-]{36}$/);
    // Personal data is encrypted at rest: the e-mail is nowhere in the row as stored.
    const [row] = await harness.database.sql<{ row: string }[]>`
      select to_jsonb(m)::text as row from members m where id = ${String(response.body.member?.id)}`;
    expect(row?.row).not.toContain("grace@example.com");
  });
});

describe("GET /v1/members/:id and ?external_ref=", () => {
  it("reads the member by id and by external ref", async () => {
    const member = await enrollOverHttp(harness, org, { first_name: "Ada" });
    const byId = await call(harness.app, "GET", `/v1/members/${member.id}`, { key: org.keys.pos });
    expect(byId.status).toBe(200);
    expect(byId.body).toMatchObject({ id: member.id, first_name: "Ada", email: null });

    const byRef = await call(
      harness.app,
      "GET",
      `/v1/members?external_ref=${encodeURIComponent(member.externalRef)}`,
      { key: org.keys.admin },
    );
    expect(byRef.status).toBe(200);
    expect(byRef.body).toEqual(byId.body);
  });
});

describe("PATCH /v1/members/:id", () => {
  it("changes given fields, clears null ones and leaves absent ones", async () => {
    const member = await enrollOverHttp(harness, org, {
      email: "old@example.com",
      phone: "0612345678",
      first_name: "Lin",
    });
    const response = await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.pos,
      body: { email: "new@example.com", phone: null },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      email: "new@example.com",
      phone: null,
      first_name: "Lin",
      status: "active",
    });
  });

  it("lets an admin suspend a member", async () => {
    const member = await enrollOverHttp(harness, org);
    const response = await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.admin,
      body: { status: "suspended" },
    });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe("suspended");
  });
});

describe("GET /v1/members/:id/balances and /history", () => {
  it("reads balances and pages the history newest first", async () => {
    const member = await enrollOverHttp(harness, org);
    for (const [index, amount] of [1_000, 2_000].entries()) {
      const purchase = await call(harness.app, "POST", "/v1/transactions", {
        key: org.keys.pos,
        body: {
          external_id: `history-${member.id}-${index}`,
          member_id: member.id,
          amount,
          currency: "EUR",
        },
      });
      expect(purchase.status).toBe(201);
    }
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.finance,
    });
    expect(balances.body.points).toEqual({
      available: 130,
      pending: 0,
      lifetime_earned: 130,
      lifetime_redeemed: 0,
    });
    // Points never expire under the default policy.
    expect(balances.body.expiring).toEqual([]);

    const first = await call(harness.app, "GET", `/v1/members/${member.id}/history?limit=2`, {
      key: org.keys.pos,
    });
    expect(first.status).toBe(200);
    expect(list(first.body.entries).map((entry) => entry.points)).toEqual([20, 10]);
    expect(list(first.body.entries)[0]).toMatchObject({
      operation: "purchase_earn",
      direction: "credit",
      spend_minor: 2_000,
    });
    expect(typeof first.body.next_cursor).toBe("string");

    const second = await call(
      harness.app,
      "GET",
      `/v1/members/${member.id}/history?limit=2&cursor=${String(first.body.next_cursor)}`,
      { key: org.keys.pos },
    );
    expect(list(second.body.entries).map((entry) => entry.operation)).toEqual(["welcome_bonus"]);
    expect(second.body.next_cursor).toBeNull();
  });
});

describe("GET /v1/members/:id/balances with an expiry policy", () => {
  it("lists the points still to expire, soonest first", async () => {
    const created = await buildLedgerOrg(harness.deps, { settings: { welcomeBonusPoints: 0 } });
    const lotsOrg = {
      key: created.apiKeys.pos.token,
      admin: created.apiKeys.admin.token,
    };
    const patched = await call(harness.app, "PATCH", "/v1/settings", {
      key: lotsOrg.admin,
      body: { expiry: { policy: "lots", months: 12 } },
    });
    expect(patched.status).toBe(200);
    const enrolled = await call(harness.app, "POST", "/v1/members", {
      key: lotsOrg.admin,
      body: { external_ref: "card-expiring-1" },
    });
    const memberId = String(enrolled.body.member?.id);
    const now = harness.environment.now().getTime();
    const dayMs = 86_400_000;
    for (const [index, daysAgo] of [100, 30].entries()) {
      const purchase = await call(harness.app, "POST", "/v1/transactions", {
        key: lotsOrg.key,
        body: {
          external_id: `expiring-${index}`,
          member_id: memberId,
          amount: 1_000 * (index + 1),
          currency: "EUR",
          occurred_at: new Date(now - daysAgo * dayMs).toISOString(),
        },
      });
      expect(purchase.status).toBe(201);
    }
    const balances = await call(harness.app, "GET", `/v1/members/${memberId}/balances`, {
      key: lotsOrg.key,
    });
    expect(balances.status).toBe(200);
    const inAYear = (daysAgo: number) =>
      new Date(addMonthsUtc(now - daysAgo * dayMs, 12)).toISOString();
    expect(balances.body.expiring).toEqual([
      { points: 10, at: inAYear(100) },
      { points: 20, at: inAYear(30) },
    ]);
  });
});
