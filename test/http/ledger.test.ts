/**
 * `GET /v1/ledger/trial-balance`: finance and admin keys read their own org's books (every
 * control account, the members' total, balanced, liability); pos keys are 403; no key is 401;
 * another org's books are never mixed in.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  const member = await enrollOverHttp(harness, org);
  await call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    body: { external_id: "books-1", member_id: member.id, amount: 5_000, currency: "EUR" },
  });
  await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
    key: org.keys.pos,
    body: { points: 30 },
  });
  await enrollOverHttp(harness, other);
});
afterAll(async () => {
  await harness?.close();
});

describe("GET /v1/ledger/trial-balance", () => {
  it("reports every control account and the members' total, balanced", async () => {
    for (const key of [org.keys.finance, org.keys.admin]) {
      const response = await call(harness.app, "GET", "/v1/ledger/trial-balance", { key });
      expect(response.status).toBe(200);
      const [points] = list(response.body.units);
      expect(points).toMatchObject({
        unit: "points",
        name: null,
        balanced: true,
        outstanding_liability: 150,
        pending_redemptions: 30,
        members: { count: 1, credits_posted: 150, debits_posted: 0, debits_pending: 30 },
      });
      expect(Object.keys(points?.controls ?? {}).sort()).toEqual([
        "adjustments",
        "breakage",
        "cap_usage",
        "completions",
        "earning_allowances",
        "issuance",
        "opening_balances",
        "promotions",
        "redemptions",
      ]);
      expect(points?.controls?.promotions?.debits_posted).toBe(100);
      expect(points?.controls?.issuance?.debits_posted).toBe(50);
      expect(points?.controls?.redemptions?.credits_pending).toBe(30);
      expect(points?.totals?.debits_posted).toBe(points?.totals?.credits_posted);
    }
  });

  it("answers 401 without a key and 403 to pos keys", async () => {
    expect((await call(harness.app, "GET", "/v1/ledger/trial-balance")).status).toBe(401);
    const pos = await call(harness.app, "GET", "/v1/ledger/trial-balance", { key: org.keys.pos });
    expect(pos.status).toBe(403);
  });

  it("shows another org only its own books", async () => {
    const response = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
      key: other.keys.finance,
    });
    const [points] = list(response.body.units);
    expect(points?.members).toMatchObject({ count: 1, credits_posted: 100 });
    expect(points?.pending_redemptions).toBe(0);
  });
});
