/**
 * What a program manager worries about, end to end over HTTP against the ledger: a cap reached
 * in the middle of a purchase, 20 concurrent purchases against one cap, a campaign ending at
 * midnight in the org's timezone, a tier change between two purchases, a rule edited between a
 * purchase and its refund, and simulation equal to reality.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp, type Harness } from "./support.ts";

let harness: Harness;

beforeAll(async () => {
  harness = await createHarness();
});
afterAll(async () => harness.close());

interface Line {
  kind: string;
  rule_id?: string;
  rule_version?: number;
  points: number;
  capped_by?: { scope: string; period: string };
}

async function newOrg(settings: Record<string, unknown> = {}): Promise<TestOrg> {
  const org = await buildTestOrg(harness, { welcomeBonusPoints: 0, baseRatePointsPerUnit: 1 });
  if (Object.keys(settings).length > 0) {
    const patched = await call(harness.app, "PATCH", "/v1/settings", {
      key: org.keys.admin,
      body: settings,
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
  }
  return org;
}

async function createRule(org: TestOrg, body: Record<string, unknown>): Promise<string> {
  const created = await call(harness.app, "POST", "/v1/earning-rules", {
    key: org.keys.admin,
    body,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const rule = created.body.earning_rule as { id?: string } | undefined;
  return String(rule?.id);
}

async function purchase(org: TestOrg, body: Record<string, unknown>) {
  return call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    body: { currency: "EUR", ...body },
  });
}

async function balanceOf(org: TestOrg, memberId: string): Promise<number> {
  const read = await call(harness.app, "GET", `/v1/members/${memberId}/balances`, {
    key: org.keys.pos,
  });
  expect(read.status).toBe(200);
  const points = read.body.points as { available: number } | undefined;
  return points?.available ?? -1;
}

const coffeeLine = { sku: "LATTE", category: "coffee", quantity: 1, amount: 600 };
const foodLine = { sku: "BAGEL", category: "food", quantity: 1, amount: 400 };
const day = "2026-11-02T10:00:00Z";

describe("earning rules on real purchases", () => {
  it("3× on coffee earns 10 base + 12 extra, one transfer per entry, the rule version recorded", async () => {
    const org = await newOrg();
    const rule = await createRule(org, {
      name: "Coffee 3x",
      kind: "category_multiplier",
      categories: ["coffee"],
      multiplier: "3",
    });
    const member = await enrollOverHttp(harness, org);
    const recorded = await purchase(org, {
      external_id: "p-1",
      member_id: member.id,
      amount: 1000,
      occurred_at: day,
      items: [coffeeLine, foodLine],
    });
    expect(recorded.status, JSON.stringify(recorded.body)).toBe(201);
    expect(recorded.body.points_earned).toBe(22);
    expect(recorded.body.breakdown).toEqual([
      { kind: "base", points: 10 },
      { kind: "category_multiplier", rule_id: rule, rule_version: 1, points: 12 },
    ]);
    const history = await call(harness.app, "GET", `/v1/members/${member.id}/history`, {
      key: org.keys.pos,
    });
    const entries = history.body.entries as unknown as Array<{
      operation: string;
      points: number;
      breakdown?: Line[];
    }>;
    expect(entries.map((entry) => [entry.operation, entry.points]).sort()).toEqual([
      ["category_multiplier_earn", 12],
      ["purchase_earn", 10],
    ]);
    expect(entries.find((entry) => entry.operation === "purchase_earn")?.breakdown).toEqual(
      recorded.body.breakdown,
    );
    expect(await balanceOf(org, member.id)).toBe(22);
  });

  it("20 concurrent purchases of one member never earn past a rule's cap", async () => {
    const org = await newOrg();
    const rule = await createRule(org, {
      name: "Coffee 3x, 30 a day",
      kind: "category_multiplier",
      categories: ["coffee"],
      multiplier: "3",
      caps: { per_member: { day: 30 } },
    });
    const member = await enrollOverHttp(harness, org);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        purchase(org, {
          external_id: `c-${index}`,
          member_id: member.id,
          amount: 600,
          occurred_at: day,
          items: [coffeeLine],
        }),
      ),
    );
    let total = 0;
    let extra = 0;
    for (const result of results) {
      expect(result.status, JSON.stringify(result.body)).toBe(201);
      const lines = result.body.breakdown as unknown as Line[];
      total += Number(result.body.points_earned);
      const ruleLine = lines.find((line) => line.rule_id === rule);
      extra += ruleLine?.points ?? 0;
      expect(lines.reduce((sum, line) => sum + line.points, 0)).toBe(result.body.points_earned);
      if (ruleLine !== undefined && ruleLine.points < 12) {
        expect(ruleLine.capped_by).toEqual({ scope: "rule", period: "day" });
      }
    }
    // Each asks 12 extra; together they get exactly the day's 30, never more.
    expect(extra).toBe(30);
    expect(total).toBe(20 * 6 + 30);
    expect(await balanceOf(org, member.id)).toBe(total);
    // A retry replays its answer and reserves nothing more.
    const again = await purchase(org, {
      external_id: "c-0",
      member_id: member.id,
      amount: 600,
      occurred_at: day,
      items: [coffeeLine],
    });
    expect(again.body.breakdown).toEqual(results[0]?.body.breakdown);
    // Another day has its own cap.
    const tomorrow = await purchase(org, {
      external_id: "c-next-day",
      member_id: member.id,
      amount: 600,
      occurred_at: "2026-11-03T10:00:00Z",
      items: [coffeeLine],
    });
    expect(tomorrow.body.points_earned).toBe(18);
    // The books balance, and the caps are their own line.
    const books = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
      key: org.keys.finance,
    });
    const units = books.body.units as unknown as Array<{
      balanced: boolean;
      outstanding_liability: number;
      earning_caps: { count: number };
    }>;
    expect(units[0]?.balanced).toBe(true);
    expect(units[0]?.outstanding_liability).toBe(total + 18);
    expect(units[0]?.earning_caps.count).toBe(2);
  });

  it("the org's overall cap trims in reverse order, reached in the middle of a purchase", async () => {
    const org = await newOrg({ earning_caps: { day: 25 } });
    const rule = await createRule(org, {
      name: "Coffee 3x",
      kind: "category_multiplier",
      categories: ["coffee"],
      multiplier: "3",
    });
    const member = await enrollOverHttp(harness, org);
    const first = await purchase(org, {
      external_id: "o-1",
      member_id: member.id,
      amount: 1000,
      occurred_at: day,
      items: [coffeeLine, foodLine],
    });
    // 10 base + 12 extra = 22 of the day's 25.
    expect(first.body.points_earned).toBe(22);
    const second = await purchase(org, {
      external_id: "o-2",
      member_id: member.id,
      amount: 1000,
      occurred_at: day,
      items: [coffeeLine, foodLine],
    });
    // 3 left: the base keeps them, the rule's entry is trimmed to 0 and says why.
    expect(second.body.breakdown).toEqual([
      { kind: "base", points: 3, capped_by: { scope: "overall", period: "day" } },
      {
        kind: "category_multiplier",
        rule_id: rule,
        rule_version: 1,
        points: 0,
        capped_by: { scope: "overall", period: "day" },
      },
    ]);
    expect(await balanceOf(org, member.id)).toBe(25);
  });

  it("simulation equals reality, caps included", async () => {
    const org = await newOrg({ earning_caps: { week: 40 } });
    await createRule(org, {
      name: "Latte bonus",
      kind: "sku_bonus",
      skus: ["LATTE"],
      points_per_unit: 7,
      caps: { per_member: { month: 10 } },
    });
    const member = await enrollOverHttp(harness, org);
    for (let index = 0; index < 3; index++) {
      const body = {
        member_id: member.id,
        amount: 1000,
        occurred_at: day,
        items: [coffeeLine, foodLine],
      };
      const simulated = await call(harness.app, "POST", "/v1/simulate/purchase", {
        key: org.keys.pos,
        body,
      });
      expect(simulated.status).toBe(200);
      const recorded = await purchase(org, { ...body, external_id: `s-${index}` });
      expect(recorded.status).toBe(201);
      expect(simulated.body.points_earned).toBe(recorded.body.points_earned);
      expect(simulated.body.breakdown).toEqual(recorded.body.breakdown);
    }
    // 17, then 13 (the bonus capped at its month's 10), then 10 (the week's 40).
    expect(await balanceOf(org, member.id)).toBe(40);
  });

  it("a campaign ending at midnight in the org's timezone: 23:59:59 earns it, 00:00:00 does not", async () => {
    const org = await newOrg({ timezone: "Europe/Paris" });
    await createRule(org, {
      name: "Double until midnight",
      kind: "campaign",
      starts_at: "2026-06-01T00:00:00",
      ends_at: "2026-06-16T00:00:00",
      multiplier: "2",
      priority: 1,
    });
    const member = await enrollOverHttp(harness, org);
    const before = await purchase(org, {
      external_id: "m-1",
      member_id: member.id,
      amount: 1000,
      occurred_at: "2026-06-15T23:59:59+02:00",
    });
    const after = await purchase(org, {
      external_id: "m-2",
      member_id: member.id,
      amount: 1000,
      occurred_at: "2026-06-16T00:00:00+02:00",
    });
    expect(before.body.points_earned).toBe(20);
    expect(after.body.points_earned).toBe(10);
  });

  it("a tier change between two purchases: the second earns the new tier's bonus", async () => {
    const org = await newOrg();
    const member = await enrollOverHttp(harness, org);
    const first = await purchase(org, { external_id: "t-1", member_id: member.id, amount: 1000 });
    expect(first.body.breakdown).toEqual([{ kind: "base", points: 10 }]);
    const silver = org.result.tiers.find((tier) => tier.rank === 1);
    const overridden = await call(harness.app, "PUT", `/v1/members/${member.id}/tier`, {
      key: org.keys.admin,
      body: { tier_id: silver?.id ?? "", reason: "promotion" },
    });
    expect(overridden.status).toBe(200);
    const second = await purchase(org, { external_id: "t-2", member_id: member.id, amount: 1000 });
    expect(second.body.breakdown).toEqual([
      { kind: "base", points: 10 },
      { kind: "tier", points: 2 },
    ]);
  });

  it("a rule edited between a purchase and its refund: the refund reverses what the purchase earned", async () => {
    const org = await newOrg();
    const rule = await createRule(org, {
      name: "Coffee 3x",
      kind: "category_multiplier",
      categories: ["coffee"],
      multiplier: "3",
    });
    const member = await enrollOverHttp(harness, org);
    const recorded = await purchase(org, {
      external_id: "r-1",
      member_id: member.id,
      amount: 1000,
      items: [coffeeLine, foodLine],
    });
    expect(recorded.body.points_earned).toBe(22);
    const edited = await call(harness.app, "PATCH", `/v1/earning-rules/${rule}`, {
      key: org.keys.admin,
      body: { multiplier: "5" },
    });
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    expect((edited.body.earning_rule as { version?: number } | undefined)?.version).toBe(2);
    // Half of the purchase back: half of each entry, by what it earned (v1), not what v2 says.
    const refund = await call(harness.app, "POST", "/v1/transactions/r-1/refunds", {
      key: org.keys.pos,
      body: { external_id: "r-1-refund", amount: 500 },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    expect(refund.body.points_reversed).toBe(11);
    expect(await balanceOf(org, member.id)).toBe(11);
    // The next purchase earns by version 2.
    const next = await purchase(org, {
      external_id: "r-2",
      member_id: member.id,
      amount: 600,
      items: [coffeeLine],
    });
    expect(next.body.breakdown).toContainEqual({
      kind: "category_multiplier",
      rule_id: rule,
      rule_version: 2,
      points: 24,
    });
  });

  it("simulates a rule over a past period: what its own entries would have added", async () => {
    const org = await newOrg();
    const [ana, ben] = [await enrollOverHttp(harness, org), await enrollOverHttp(harness, org)];
    const inOctober = [
      { member_id: ana.id, occurred_at: "2026-10-05T10:00:00Z", items: [coffeeLine, foodLine] },
      { member_id: ana.id, occurred_at: "2026-10-06T10:00:00Z", items: [foodLine] },
      { member_id: ben.id, occurred_at: "2026-10-31T23:59:59Z", items: [coffeeLine] },
    ];
    for (const [index, body] of inOctober.entries()) {
      const amount = body.items.reduce((sum, item) => sum + item.amount, 0);
      expect((await purchase(org, { ...body, amount, external_id: `h-${index}` })).status).toBe(
        201,
      );
    }
    // Outside the period: November.
    await purchase(org, {
      member_id: ben.id,
      amount: 600,
      occurred_at: "2026-11-01T00:00:00Z",
      items: [coffeeLine],
      external_id: "h-nov",
    });
    const rule = {
      name: "Coffee 3x, 20 a day",
      kind: "category_multiplier",
      categories: ["coffee"],
      multiplier: "3",
    };
    const simulated = await call(harness.app, "POST", "/v1/simulate/rules", {
      key: org.keys.admin,
      body: { rule, from: "2026-10-01T00:00:00Z", to: "2026-11-01T00:00:00Z" },
    });
    expect(simulated.status, JSON.stringify(simulated.body)).toBe(200);
    expect(simulated.body).toEqual({ purchases_matched: 2, members: 2, points: 24 });
    // The rule's own cap counts per member and period.
    const capped = await call(harness.app, "POST", "/v1/simulate/rules", {
      key: org.keys.admin,
      body: {
        rule: { ...rule, caps: { per_member: { month: 5 } } },
        from: "2026-10-01T00:00:00Z",
        to: "2026-11-01T00:00:00Z",
      },
    });
    expect(capped.body).toEqual({ purchases_matched: 2, members: 2, points: 10 });
    // Nothing was stored, and a bad rule is refused with its path.
    const bad = await call(harness.app, "POST", "/v1/simulate/rules", {
      key: org.keys.admin,
      body: {
        rule: { ...rule, multiplier: "0.5" },
        from: "2026-10-01T00:00:00Z",
        to: "2026-11-01T00:00:00Z",
      },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("rule.multiplier");
    const rules = await call(harness.app, "GET", "/v1/earning-rules", { key: org.keys.admin });
    expect(rules.body.earning_rules).toEqual([]);
    const pos = await call(harness.app, "POST", "/v1/simulate/rules", {
      key: org.keys.pos,
      body: { rule, from: "2026-10-01T00:00:00Z", to: "2026-11-01T00:00:00Z" },
    });
    expect(pos.status).toBe(403);
  });

  it("a campaign carries benefits to the members it runs for, while it runs", async () => {
    const org = await newOrg();
    const benefit = await call(harness.app, "POST", "/v1/benefits", {
      key: org.keys.admin,
      body: { name: "Double espresso", kind: "perk" },
    });
    expect(benefit.status).toBe(201);
    const benefitId = String((benefit.body.benefit as { id?: string } | undefined)?.id);
    const silver = org.result.tiers.find((tier) => tier.rank === 1);
    const rule = await createRule(org, {
      name: "Silver month",
      kind: "campaign",
      starts_at: "2020-01-01T00:00:00Z",
      ends_at: "2100-01-01T00:00:00Z",
      tier_ids: [silver?.id],
      bonus_points: 5,
      benefits: [benefitId],
    });
    const other = await newOrg();
    const foreign = await call(harness.app, "POST", "/v1/earning-rules", {
      key: other.keys.admin,
      body: {
        name: "Theirs",
        kind: "campaign",
        starts_at: "2020-01-01T00:00:00Z",
        ends_at: "2100-01-01T00:00:00Z",
        bonus_points: 5,
        benefits: [benefitId],
      },
    });
    expect(foreign.status).toBe(400);
    const member = await enrollOverHttp(harness, org);
    const listed = async () =>
      (await call(harness.app, "GET", `/v1/members/${member.id}/benefits`, { key: org.keys.pos }))
        .body.benefits as unknown as Array<{ id: string; source: Record<string, string> }>;
    expect(await listed()).toEqual([]);
    await call(harness.app, "PUT", `/v1/members/${member.id}/tier`, {
      key: org.keys.admin,
      body: { tier_id: silver?.id ?? "", reason: "campaign test" },
    });
    expect(await listed()).toEqual([
      expect.objectContaining({ id: benefitId, source: { type: "campaign", rule_id: rule } }),
    ]);
    // The campaign ends: its benefit goes with it.
    await call(harness.app, "PATCH", `/v1/earning-rules/${rule}`, {
      key: org.keys.admin,
      body: { ends_at: "2021-01-01T00:00:00Z" },
    });
    expect(await listed()).toEqual([]);
  });
});
