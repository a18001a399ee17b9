/**
 * The rewards catalog over HTTP, on real Postgres: an admin creates, lists, reads and changes
 * rewards, each write audited in its own transaction with before and after; a refused request
 * writes neither a row nor an audit entry; pos keys read, finance keys do not; another org's ids
 * are 404 like unknown ones.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Json, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, type Harness, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness?.close());

const voucher = {
  name: "€5 voucher",
  description: "Five euros off",
  kind: "voucher",
  cost_points: 500,
  value_minor: 500,
  inventory: 100,
  active_from: "2026-12-01T00:00:00+01:00",
  active_until: "2027-01-01T00:00:00Z",
  per_member_limit: 2,
};

async function create(of: TestOrg, body: Record<string, unknown>) {
  return call(harness.app, "POST", "/v1/rewards", { key: of.keys.admin, body });
}

async function rowCount(of: TestOrg): Promise<number> {
  const result = await harness.deps.db.execute(
    sql`select count(*)::int as n from rewards where org_id = ${of.id}`,
  );
  return Number((result as unknown as Array<{ n: number }>)[0]?.n);
}

async function auditOf(of: TestOrg, rewardId?: string): Promise<Json[]> {
  const query =
    rewardId === undefined ? "?target_type=reward" : `?target_type=reward&target_id=${rewardId}`;
  const response = await call(harness.app, "GET", `/v1/audit${query}`, { key: of.keys.admin });
  expect(response.status).toBe(200);
  return list(response.body.entries);
}

describe("rewards catalog", () => {
  it("creates, lists, reads and patches, each write audited with before and after", async () => {
    const created = await create(org, voucher);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const reward = created.body.reward;
    expect(reward).toMatchObject({
      name: "€5 voucher",
      description: "Five euros off",
      kind: "voucher",
      cost_points: 500,
      value_minor: 500,
      inventory: 100,
      min_tier_id: null,
      active_from: "2026-11-30T23:00:00.000Z",
      active_until: "2027-01-01T00:00:00.000Z",
      per_member_limit: 2,
    });
    const id = String(reward?.id);

    const item = await create(org, {
      name: "Mug",
      kind: "item",
      cost_points: 1_000_000_000_000_000,
    });
    expect(item.status, JSON.stringify(item.body)).toBe(201);
    expect(item.body.reward).toMatchObject({
      kind: "item",
      value_minor: null,
      inventory: null,
      per_member_limit: null,
      description: null,
    });

    for (const key of [org.keys.admin, org.keys.pos]) {
      const listed = await call(harness.app, "GET", "/v1/rewards", { key });
      expect(listed.status).toBe(200);
      expect(list(listed.body.rewards).map((entry) => entry.id)).toEqual([
        id,
        item.body.reward?.id,
      ]);
      const one = await call(harness.app, "GET", `/v1/rewards/${id}`, { key });
      expect(one.status).toBe(200);
      expect(one.body.reward).toEqual(reward);
    }

    const gold = org.result.tiers.find((tier) => tier.rank === 1);
    expect(gold).toBeDefined();
    const patched = await call(harness.app, "PATCH", `/v1/rewards/${id}`, {
      key: org.keys.admin,
      body: {
        cost_points: 450,
        inventory: null,
        min_tier_id: gold?.id,
        active_until: null,
        description: null,
      },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.reward).toMatchObject({
      name: "€5 voucher",
      kind: "voucher",
      cost_points: 450,
      value_minor: 500,
      inventory: null,
      min_tier_id: gold?.id,
      active_from: "2026-11-30T23:00:00.000Z",
      active_until: null,
      description: null,
      per_member_limit: 2,
    });

    const entries = await auditOf(org, id);
    expect(entries.map((entry) => entry.action)).toEqual(["reward.updated", "reward.created"]);
    expect(entries[1]).toMatchObject({
      target_type: "reward",
      target_id: id,
      before: null,
      after: { name: "€5 voucher", kind: "voucher", cost_points: "500", inventory: "100" },
    });
    expect(entries[0]).toMatchObject({
      before: { cost_points: "500", inventory: "100", min_tier_id: null },
      after: { cost_points: "450", inventory: null, min_tier_id: gold?.id, description: null },
    });
    expect(entries[0]?.actor_key_id).toBe(org.result.apiKeys.admin.id);
  });

  it("refuses invalid rewards with field paths, writing no row and no audit entry", async () => {
    const rowsBefore = await rowCount(org);
    const auditBefore = (await auditOf(org)).length;
    const foreignTier = other.result.tiers[0]?.id ?? "";
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...voucher, cost_points: 0 }, "cost_points"],
      [{ ...voucher, cost_points: 1.5 }, "cost_points"],
      [{ ...voucher, cost_points: 10 ** 15 + 1 }, "cost_points"],
      [{ ...voucher, value_minor: undefined }, "value_minor"],
      [{ ...voucher, kind: "cashback", value_minor: 0 }, "value_minor"],
      [{ name: "Mug", kind: "item", cost_points: 10, value_minor: 100 }, "value_minor"],
      [{ ...voucher, inventory: -1 }, "inventory"],
      [{ ...voucher, per_member_limit: 0 }, "per_member_limit"],
      [{ ...voucher, active_until: "2026-12-01T00:00:00+01:00" }, "active_until"],
      [{ ...voucher, active_from: "2026-12-01T00:00:00" }, "active_from"],
      [{ ...voucher, kind: "gift" }, "kind"],
      [{ ...voucher, name: "" }, "name"],
      [{ ...voucher, min_tier_id: foreignTier }, "min_tier_id"],
      [{ ...voucher, min_tier_id: "00000000-0000-4000-8000-000000000000" }, "min_tier_id"],
    ];
    for (const [body, path] of cases) {
      const response = await create(org, body);
      expect(response.status, `${path}: ${JSON.stringify(response.body)}`).toBe(400);
      const issues = list(response.body.error?.details?.issues);
      expect(
        issues.map((issue) => issue.path),
        `${path}: ${JSON.stringify(response.body)}`,
      ).toContain(path);
    }

    const created = await create(org, { ...voucher, name: "Patch target" });
    expect(created.status).toBe(201);
    const id = String(created.body.reward?.id);
    const patches: Array<[Record<string, unknown>, string]> = [
      [{ kind: "item" }, "kind"],
      [{ value_minor: null }, "value_minor"],
      [{ cost_points: -5 }, "cost_points"],
      [{ active_from: "2027-02-01T00:00:00Z" }, "active_until"],
      [{ min_tier_id: foreignTier }, "min_tier_id"],
      [{ per_member_limit: 0 }, "per_member_limit"],
    ];
    for (const [body, path] of patches) {
      const response = await call(harness.app, "PATCH", `/v1/rewards/${id}`, {
        key: org.keys.admin,
        body,
      });
      expect(response.status, `${path}: ${JSON.stringify(response.body)}`).toBe(400);
      const issues = list(response.body.error?.details?.issues);
      expect(issues.map((issue) => issue.path)).toContain(path);
    }
    const after = await call(harness.app, "GET", `/v1/rewards/${id}`, { key: org.keys.admin });
    expect(after.body.reward).toEqual(created.body.reward);
    expect(await rowCount(org)).toBe(rowsBefore + 1);
    expect((await auditOf(org)).length).toBe(auditBefore + 1);
  });

  it("answers 404 for unknown and another org's rewards, changing nothing", async () => {
    const created = await create(org, { name: "Ours", kind: "item", cost_points: 10 });
    const id = String(created.body.reward?.id);
    for (const target of [id, "00000000-0000-4000-8000-000000000000", "not-a-uuid"]) {
      const read = await call(harness.app, "GET", `/v1/rewards/${target}`, {
        key: other.keys.admin,
      });
      expect(read.status).toBe(404);
      const patch = await call(harness.app, "PATCH", `/v1/rewards/${target}`, {
        key: other.keys.admin,
        body: { name: "Theirs" },
      });
      expect(patch.status).toBe(404);
    }
    const listed = await call(harness.app, "GET", "/v1/rewards", { key: other.keys.admin });
    expect(list(listed.body.rewards).map((entry) => entry.id)).not.toContain(id);
    const mine = await call(harness.app, "GET", `/v1/rewards/${id}`, { key: org.keys.pos });
    expect(mine.body.reward?.name).toBe("Ours");
    expect(await auditOf(other)).toEqual([]);
  });

  it("lets pos read but not write, and finance neither", async () => {
    const created = await create(org, { name: "Roles", kind: "item", cost_points: 10 });
    const id = String(created.body.reward?.id);
    const rowsBefore = await rowCount(org);
    const pos = org.keys.pos;
    expect((await call(harness.app, "GET", "/v1/rewards", { key: pos })).status).toBe(200);
    expect((await call(harness.app, "GET", `/v1/rewards/${id}`, { key: pos })).status).toBe(200);
    const posCreate = await call(harness.app, "POST", "/v1/rewards", {
      key: pos,
      body: { name: "No", kind: "item", cost_points: 1 },
    });
    expect(posCreate.status).toBe(403);
    const posPatch = await call(harness.app, "PATCH", `/v1/rewards/${id}`, {
      key: pos,
      body: { name: "No" },
    });
    expect(posPatch.status).toBe(403);
    const finance = org.keys.finance;
    expect((await call(harness.app, "GET", "/v1/rewards", { key: finance })).status).toBe(403);
    expect((await call(harness.app, "GET", `/v1/rewards/${id}`, { key: finance })).status).toBe(
      403,
    );
    const financeCreate = await call(harness.app, "POST", "/v1/rewards", {
      key: finance,
      body: { name: "No", kind: "item", cost_points: 1 },
    });
    expect(financeCreate.status).toBe(403);
    expect((await call(harness.app, "GET", "/v1/rewards")).status).toBe(401);
    expect(await rowCount(org)).toBe(rowsBefore);
    const entries = await auditOf(org, id);
    expect(entries.map((entry) => entry.action)).toEqual(["reward.created"]);
  });
});
