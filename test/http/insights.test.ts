/**
 * Spending insights over HTTP, on the real purchase path: spend and points per category with a
 * refund taken pro rata and the integer remainders given to the largest share; calendar periods
 * read in the org's time zone (a purchase at local midnight of the 1st is this month's, one a
 * second earlier last month's); caps the member is close to read from the ledger after purchases
 * under a rule's cap and the org's; campaigns running now for the member's tier; tenancy (404
 * across orgs, roles) and the member app's /v1/me/insights and /v1/me/benefits.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getMemberInsights } from "../../src/membership/index.ts";
import type { Json, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  type Harness,
  list,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

// Tokyo has no daylight saving time: its months start at 00:00 +09:00, always.
const tokyoOffsetMs = 9 * 3_600_000;

beforeAll(async () => {
  harness = await createHarness();
  org = await newOrg({ timezone: "Asia/Tokyo" });
  other = await newOrg();
});
afterAll(async () => harness?.close());

async function newOrg(settings: Record<string, unknown> = {}): Promise<TestOrg> {
  const created = await buildTestOrg(harness, { welcomeBonusPoints: 0, baseRatePointsPerUnit: 1 });
  if (Object.keys(settings).length > 0) {
    const patched = await call(harness.app, "PATCH", "/v1/settings", {
      key: created.keys.admin,
      body: settings,
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
  }
  return created;
}

async function purchase(of: TestOrg, body: Record<string, unknown>): Promise<Json> {
  const recorded = await call(harness.app, "POST", "/v1/transactions", {
    key: of.keys.pos,
    body: { currency: "EUR", ...body },
  });
  expect(recorded.status, JSON.stringify(recorded.body)).toBe(201);
  return recorded.body;
}

async function insightsOf(of: TestOrg, memberId: string, period = "month"): Promise<Json> {
  const read = await call(harness.app, "GET", `/v1/members/${memberId}/insights?period=${period}`, {
    key: of.keys.pos,
  });
  expect(read.status, JSON.stringify(read.body)).toBe(200);
  return read.body;
}

async function tokenOf(of: TestOrg, memberId: string): Promise<string> {
  const session = await call(harness.app, "POST", `/v1/members/${memberId}/sessions`, {
    key: of.keys.pos,
  });
  expect(session.status).toBe(201);
  return String(session.body.token);
}

/** The first instant of the current month in Tokyo, and the local date-time text of an instant. */
function tokyoMonthStart(): Date {
  const local = new Date(harness.environment.now().getTime() + tokyoOffsetMs);
  return new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), 1) - tokyoOffsetMs);
}

function tokyoLocal(at: Date): string {
  return new Date(at.getTime() + tokyoOffsetMs).toISOString().slice(0, 19);
}

const coffee = (amount: number) => ({ sku: "LATTE", category: "coffee", quantity: 1, amount });
const food = (amount: number) => ({ sku: "BAGEL", category: "food", quantity: 1, amount });

describe("GET /v1/members/{id}/insights", () => {
  it("splits spend and points over categories, refunds pro rata, remainders to the largest share", async () => {
    const member = await enrollOverHttp(harness, org);
    const start = tokyoMonthStart();
    // 10.00 EUR: coffee 3.33, food 3.33, the rest 3.34 uncategorised; 10 points at 1 per unit.
    const first = await purchase(org, {
      external_id: "split-1",
      member_id: member.id,
      amount: 1000,
      occurred_at: start.toISOString(),
      items: [coffee(333), food(333)],
    });
    expect(first.points_earned).toBe(10);
    // No lines: all uncategorised, 5 points.
    await purchase(org, {
      external_id: "split-2",
      member_id: member.id,
      amount: 500,
      occurred_at: start.toISOString(),
    });
    let insights = await insightsOf(org, member.id);
    let current = insights.current as Json;
    // Floors 3 + 3 + 3 of the first purchase's 10 points: the 1 left goes to the largest share.
    expect(current.categories).toEqual([
      { category: null, spend_minor: "834", points: "9", purchases: 2 },
      { category: "coffee", spend_minor: "333", points: "3", purchases: 1 },
      { category: "food", spend_minor: "333", points: "3", purchases: 1 },
    ]);
    expect(current.totals).toEqual({ spend_minor: "1500", points: "15", purchases: 2 });

    const refund = await call(harness.app, "POST", "/v1/transactions/split-1/refunds", {
      key: org.keys.pos,
      body: { external_id: "split-1-refund", amount: 500 },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    expect(refund.body.points_reversed).toBe(5);
    insights = await insightsOf(org, member.id);
    current = insights.current as Json;
    // Half refunded: spend 166 + 166 + 167 (+1 to the largest) = 500; points 1 + 1 + 1 (+2) = 5.
    expect(current.categories).toEqual([
      { category: null, spend_minor: "668", points: "8", purchases: 2 },
      { category: "coffee", spend_minor: "166", points: "1", purchases: 1 },
      { category: "food", spend_minor: "166", points: "1", purchases: 1 },
    ]);
    expect(current.totals).toEqual({ spend_minor: "1000", points: "10", purchases: 2 });
    expect(insights.truncated).toBe(false);
  });

  it("reads at most the bound's newest purchases and says it left the rest out", async () => {
    const member = await enrollOverHttp(harness, org);
    const start = tokyoMonthStart();
    for (const [n, at] of [
      [1, new Date(start.getTime() - 60_000)],
      [2, start],
      [3, start],
    ] as const) {
      await purchase(org, {
        external_id: `bound-${n}`,
        member_id: member.id,
        amount: 100 * n,
        occurred_at: at.toISOString(),
      });
    }
    const read = (purchasesMax: number) =>
      getMemberInsights(harness.deps, {
        orgId: org.id,
        memberId: member.id,
        period: "month",
        purchasesMax,
      });
    const all = await read(3);
    expect(all.truncated).toBe(false);
    expect(all.previous.totals.spendMinor).toBe(100n);
    const bounded = await read(2);
    // The newest two, this month's: last month's purchase is left out, and the answer says so.
    expect(bounded.truncated).toBe(true);
    expect(bounded.current.totals).toEqual({ spendMinor: 500n, points: 5n, purchases: 2 });
    expect(bounded.previous.totals.purchases).toBe(0);
  });

  it("reads calendar periods in the org's time zone, for month, quarter and year", async () => {
    const member = await enrollOverHttp(harness, org);
    const start = tokyoMonthStart();
    // Both fall in the same UTC month; in Tokyo the first is last month's, the second this one's.
    await purchase(org, {
      external_id: "edge-before",
      member_id: member.id,
      amount: 700,
      occurred_at: new Date(start.getTime() - 1_000).toISOString(),
      items: [food(700)],
    });
    await purchase(org, {
      external_id: "edge-at",
      member_id: member.id,
      amount: 300,
      occurred_at: start.toISOString(),
      items: [coffee(300)],
    });
    const month = await insightsOf(org, member.id, "month");
    const local = new Date(start.getTime() + tokyoOffsetMs);
    const year = local.getUTCFullYear();
    const label = `${year}-${String(local.getUTCMonth() + 1).padStart(2, "0")}`;
    expect(month).toMatchObject({ period: "month", timezone: "Asia/Tokyo", truncated: false });
    expect(month.current).toMatchObject({
      label,
      start: start.toISOString(),
      categories: [{ category: "coffee", spend_minor: "300", points: "3", purchases: 1 }],
      totals: { spend_minor: "300", points: "3", purchases: 1 },
    });
    expect(month.previous).toMatchObject({
      end: start.toISOString(),
      categories: [{ category: "food", spend_minor: "700", points: "7", purchases: 1 }],
    });
    expect(String((month.previous as Json).start) < start.toISOString()).toBe(true);

    const yearly = await insightsOf(org, member.id, "year");
    expect((yearly.current as Json).label).toBe(String(year));
    expect((yearly.previous as Json).label).toBe(String(year - 1));
    expect((yearly.current as Json).start).toBe(
      new Date(Date.UTC(year, 0, 1) - tokyoOffsetMs).toISOString(),
    );
    const quarterly = await insightsOf(org, member.id, "quarter");
    expect((quarterly.current as Json).label).toBe(
      `${year}-Q${Math.floor(local.getUTCMonth() / 3) + 1}`,
    );
    // Both purchases are this year's; January's first second of the month is last year's.
    const both = (yearly.current as Json).totals as Json;
    const januaryFirst = local.getUTCMonth() === 0;
    expect(both.spend_minor).toBe(januaryFirst ? "300" : "1000");
  });

  it("lists the caps the member is close to, from the ledger, after purchases under a rule's cap", async () => {
    const capped = await newOrg({ earning_caps: { week: 180 } });
    const created = await call(harness.app, "POST", "/v1/earning-rules", {
      key: capped.keys.admin,
      body: {
        name: "Triple points on coffee",
        kind: "category_multiplier",
        categories: ["coffee"],
        multiplier: "3",
        caps: { per_member: { month: 100, day: 1000 } },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const ruleId = String((created.body.earning_rule as Json).id);
    const member = await enrollOverHttp(harness, capped);
    // Nothing earned yet: every cap is whole, none is listed.
    expect((await insightsOf(capped, member.id)).close_to).toEqual([]);
    // Each 10 EUR of coffee: 10 base + 20 extra under the rule's caps, 30 under the week's.
    for (const n of [1, 2]) {
      await purchase(capped, {
        external_id: `cap-${n}`,
        member_id: member.id,
        amount: 1000,
        items: [coffee(1000)],
      });
    }
    // The rule's month: 60 of 100 left (more than half); the week's 120 of 180: none listed.
    expect((await insightsOf(capped, member.id)).close_to).toEqual([]);
    await purchase(capped, {
      external_id: "cap-3",
      member_id: member.id,
      amount: 1000,
      items: [coffee(1000)],
    });
    const insights = await insightsOf(capped, member.id);
    expect(insights.close_to).toEqual([
      { rule_id: ruleId, name: "Triple points on coffee", period: "month", cap: 100, left: 40 },
      { rule_id: null, name: "Overall earning cap", period: "week", cap: 180, left: 90 },
    ]);
    // Used up: no longer "close to".
    for (const n of [4, 5]) {
      await purchase(capped, {
        external_id: `cap-${n}`,
        member_id: member.id,
        amount: 1000,
        items: [coffee(1000)],
      });
    }
    const after = await insightsOf(capped, member.id);
    expect(list(after.close_to).map((entry) => entry.rule_id)).toEqual([null]);
    expect(list(after.close_to)[0]).toMatchObject({ period: "week", left: 30 });
  });

  it("lists the campaigns running now for the member's tier", async () => {
    const campaigns = await newOrg({ timezone: "Asia/Tokyo" });
    const [base, higher] = [...campaigns.result.tiers].sort((a, b) => a.rank - b.rank);
    expect(base).toBeDefined();
    expect(higher).toBeDefined();
    const now = harness.environment.now();
    const window = {
      starts_at: tokyoLocal(new Date(now.getTime() - 86_400_000)),
      ends_at: tokyoLocal(new Date(now.getTime() + 10 * 86_400_000)),
    };
    const rule = async (body: Record<string, unknown>) => {
      const created = await call(harness.app, "POST", "/v1/earning-rules", {
        key: campaigns.keys.admin,
        body: { kind: "campaign", bonus_points: 50, priority: 1, ...window, ...body },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created.body.earning_rule as Json;
    };
    const anyone = await rule({ name: "Double week" });
    const forBase = await rule({ name: "Welcome tier week", tier_ids: [base?.id] });
    await rule({ name: "Gold only", tier_ids: [higher?.id] });
    await rule({
      name: "Over",
      starts_at: tokyoLocal(new Date(now.getTime() - 3 * 86_400_000)),
      ends_at: tokyoLocal(new Date(now.getTime() - 86_400_000)),
    });
    await rule({ name: "Paused", active: false });
    const member = await enrollOverHttp(harness, campaigns);
    const insights = await insightsOf(campaigns, member.id);
    expect(
      list(insights.campaigns)
        .map((entry) => entry.name)
        .sort(),
    ).toEqual(["Double week", "Welcome tier week"]);
    expect(list(insights.campaigns).find((entry) => entry.rule_id === anyone.id)).toEqual({
      rule_id: anyone.id,
      name: "Double week",
      ends_at: anyone.ends_at,
    });
    expect(list(insights.campaigns).some((entry) => entry.rule_id === forBase.id)).toBe(true);
  });

  it("answers 404 across orgs and for unknown members, 403 to finance, 400 for a bad period", async () => {
    const member = await enrollOverHttp(harness, org);
    const path = `/v1/members/${member.id}/insights`;
    const foreign = await call(harness.app, "GET", path, { key: other.keys.admin });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error?.code).toBe("not_found");
    const unknown = await call(harness.app, "GET", `/v1/members/${randomUUID()}/insights`, {
      key: org.keys.admin,
    });
    expect(unknown.status).toBe(404);
    expect((await call(harness.app, "GET", path, { key: org.keys.finance })).status).toBe(403);
    expect((await call(harness.app, "GET", path)).status).toBe(401);
    const bad = await call(harness.app, "GET", `${path}?period=week`, { key: org.keys.admin });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe("validation_failed");
    expect(list(bad.body.error?.details?.issues).map((issue) => issue.path)).toContain("period");
    const defaulted = await call(harness.app, "GET", path, { key: org.keys.admin });
    expect(defaulted.status).toBe(200);
    expect(defaulted.body.period).toBe("month");
  });
});

describe("/v1/me/insights and /v1/me/benefits", () => {
  it("answer the token's own member as the admin routes do; API keys never reach them", async () => {
    const member = await enrollOverHttp(harness, org);
    await purchase(org, {
      external_id: "me-insights-1",
      member_id: member.id,
      amount: 1200,
      items: [coffee(800)],
    });
    const token = await tokenOf(org, member.id);
    for (const [mine, admin] of [
      ["/v1/me/insights?period=quarter", `/v1/members/${member.id}/insights?period=quarter`],
      ["/v1/me/insights", `/v1/members/${member.id}/insights`],
      ["/v1/me/benefits", `/v1/members/${member.id}/benefits`],
    ] as const) {
      const own = await call(harness.app, "GET", mine, { key: token });
      const reference = await call(harness.app, "GET", admin, { key: org.keys.admin });
      expect(own.status, mine).toBe(200);
      expect(own.body, mine).toEqual(reference.body);
      expect((await call(harness.app, "GET", mine, { key: org.keys.admin })).status).toBe(401);
    }
    const own = await call(harness.app, "GET", "/v1/me/insights", { key: token });
    expect(own.body.member_id).toBe(member.id);
    expect((own.body.current as Json).totals).toEqual({
      spend_minor: "1200",
      points: "12",
      purchases: 1,
    });
    const bad = await call(harness.app, "GET", "/v1/me/insights?period=decade", { key: token });
    expect(bad.status).toBe(400);
    // A member token opens no org-scoped route.
    const admin = await call(harness.app, "GET", `/v1/members/${member.id}/insights`, {
      key: token,
    });
    expect(admin.status).toBe(403);
  });
});
