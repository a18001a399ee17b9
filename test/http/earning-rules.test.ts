/**
 * Earning rules over HTTP, on real Postgres: an admin creates, lists, reads, edits and deletes
 * rules; each edit is a new version and old versions stay readable; each write is audited with
 * before and after; a refused request writes neither a row nor an audit entry; local date-times
 * are read in the org's time zone; pos keys read, finance keys do not; another org's ids are 404
 * like unknown ones. The domain's reads for the purchase path (`activeEarningRules`,
 * `earningRuleVersion`) are checked against what the routes wrote.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activeEarningRules, earningRuleVersion } from "../../src/membership/index.ts";
import type { Json, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, type Harness, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  const paris = await call(harness.app, "PATCH", "/v1/settings", {
    key: org.keys.admin,
    body: { timezone: "Europe/Paris" },
  });
  expect(paris.status).toBe(200);
});
afterAll(async () => harness?.close());

const coffee = {
  name: "Triple points on coffee",
  kind: "category_multiplier",
  categories: ["coffee"],
  multiplier: "3",
  caps: { per_member: { day: 300 } },
};

const winter = {
  name: "Winter weekends",
  kind: "campaign",
  starts_at: "2026-01-01T00:00:00",
  ends_at: "2026-01-10T23:59:59",
  days_of_week: [7, 6],
  min_spend: 1000,
  bonus_points: 50,
  priority: 10,
  stackable: true,
};

async function create(of: TestOrg, body: Record<string, unknown>) {
  return call(harness.app, "POST", "/v1/earning-rules", { key: of.keys.admin, body });
}

async function created(of: TestOrg, body: Record<string, unknown>): Promise<Json> {
  const response = await create(of, body);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.earning_rule as Json;
}

async function counts(of: TestOrg): Promise<{ rules: number; versions: number; audit: number }> {
  const result = await harness.deps.db.execute(sql`
    select (select count(*)::int from earning_rules where org_id = ${of.id}) as rules,
           (select count(*)::int from earning_rule_versions where org_id = ${of.id}) as versions,
           (select count(*)::int from audit_log where org_id = ${of.id}
              and target_type = 'earning_rule') as audit`);
  const row = (result as unknown as Array<{ rules: number; versions: number; audit: number }>)[0];
  return { rules: Number(row?.rules), versions: Number(row?.versions), audit: Number(row?.audit) };
}

async function auditOf(of: TestOrg, ruleId: string): Promise<Json[]> {
  const response = await call(
    harness.app,
    "GET",
    `/v1/audit?target_type=earning_rule&target_id=${ruleId}`,
    { key: of.keys.admin },
  );
  expect(response.status).toBe(200);
  return list(response.body.entries);
}

describe("earning rules", () => {
  it("creates a rule as version 1, lists and reads it, audited", async () => {
    const rule = await created(org, coffee);
    expect(rule).toMatchObject({
      version: 1,
      name: "Triple points on coffee",
      kind: "category_multiplier",
      active: true,
      priority: 0,
      stackable: false,
      caps: { per_member: { day: 300 } },
      categories: ["coffee"],
      multiplier: "3",
      deleted_at: null,
    });
    const id = String(rule.id);
    for (const key of [org.keys.admin, org.keys.pos]) {
      const one = await call(harness.app, "GET", `/v1/earning-rules/${id}`, { key });
      expect(one.status).toBe(200);
      expect(one.body.earning_rule).toEqual(rule);
      const listed = await call(harness.app, "GET", "/v1/earning-rules", { key });
      expect(listed.status).toBe(200);
      expect(list(listed.body.earning_rules).map((entry) => entry.id)).toContain(id);
    }
    const entries = await auditOf(org, id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: "earning_rule.created",
      before: null,
      after: { version: 1, name: "Triple points on coffee", multiplier: "3" },
      actor_key_id: org.result.apiKeys.admin.id,
    });
  });

  it("reads local date-times in the org's time zone, winter and summer", async () => {
    const rule = await created(org, winter);
    // Paris is UTC+1 in January.
    expect(rule).toMatchObject({
      starts_at: "2025-12-31T23:00:00.000Z",
      ends_at: "2026-01-10T22:59:59.000Z",
      days_of_week: [6, 7],
      min_spend: 1000,
      bonus_points: 50,
      multiplier: null,
      tier_ids: null,
      locations: null,
      categories: null,
      priority: 10,
      stackable: true,
    });
    const summer = await created(org, {
      ...winter,
      name: "Summer",
      starts_at: "2026-07-01T09:00:00",
      ends_at: "2026-07-01T18:00:00+00:00",
    });
    // UTC+2 in July; a date-time with an offset is taken as it is.
    expect(summer).toMatchObject({
      starts_at: "2026-07-01T07:00:00.000Z",
      ends_at: "2026-07-01T18:00:00.000Z",
    });
    // Another org's time zone (UTC) reads the same text differently.
    const utc = await created(other, winter);
    expect(utc.starts_at).toBe("2026-01-01T00:00:00.000Z");
    // A campaign wholly in the past may be created (back-dated purchases earn by it).
    expect(
      (
        await create(org, {
          ...winter,
          starts_at: "2020-01-01T00:00:00Z",
          ends_at: "2020-02-01" + "T00:00:00Z",
        })
      ).status,
    ).toBe(201);
  });

  it("edits into new versions, keeps the old ones readable, and audits before and after", async () => {
    const rule = await created(org, { ...winter, name: "Versioned" });
    const id = String(rule.id);
    const patched = await call(harness.app, "PATCH", `/v1/earning-rules/${id}`, {
      key: org.keys.admin,
      body: { multiplier: "1.5", bonus_points: null, ends_at: "2026-01-20T00:00:00Z" },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.earning_rule).toMatchObject({
      id,
      version: 2,
      multiplier: "1.5",
      bonus_points: null,
      starts_at: "2025-12-31T23:00:00.000Z",
      ends_at: "2026-01-20T00:00:00.000Z",
      days_of_week: [6, 7],
      created_at: rule.created_at,
    });
    const second = await call(harness.app, "PATCH", `/v1/earning-rules/${id}`, {
      key: org.keys.admin,
      body: { active: false },
    });
    expect(second.body.earning_rule).toMatchObject({ version: 3, active: false });

    const v1 = await call(harness.app, "GET", `/v1/earning-rules/${id}?version=1`, {
      key: org.keys.pos,
    });
    expect(v1.status).toBe(200);
    expect(v1.body.earning_rule).toEqual(rule);
    const v2 = await call(harness.app, "GET", `/v1/earning-rules/${id}?version=2`, {
      key: org.keys.admin,
    });
    expect(v2.body.earning_rule).toEqual(patched.body.earning_rule);
    for (const version of ["4", "0"]) {
      const missing = await call(harness.app, "GET", `/v1/earning-rules/${id}?version=${version}`, {
        key: org.keys.admin,
      });
      expect(missing.status, version).toBe(version === "0" ? 400 : 404);
    }

    const entries = await auditOf(org, id);
    expect(entries.map((entry) => entry.action)).toEqual([
      "earning_rule.updated",
      "earning_rule.updated",
      "earning_rule.created",
    ]);
    expect(entries[1]).toMatchObject({
      before: { version: 1, bonus_points: 50, multiplier: null },
      after: { version: 2, bonus_points: null, multiplier: "1.5" },
    });

    // The purchase path's reads: version 3 is inactive, so it does not apply; every version
    // stays readable by number.
    const active = await activeEarningRules(harness.deps, org.id);
    expect(active.map((entry) => entry.id)).not.toContain(id);
    const old = await earningRuleVersion(harness.deps, org.id, id, 2);
    expect(old).toMatchObject({ id, version: 2, kind: "campaign", multiplierBps: 15_000 });
    expect(old?.kind === "campaign" && old.bonusPoints).toBe(null);
    expect(await earningRuleVersion(harness.deps, org.id, id, 9)).toBeNull();
    expect(await earningRuleVersion(harness.deps, other.id, id, 1)).toBeNull();
  });

  it("refuses invalid rules with field paths, writing nothing", async () => {
    const before = await counts(org);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...coffee, multiplier: "1.23456" }, "multiplier"],
      [{ ...coffee, multiplier: "1" }, "multiplier"],
      [{ ...coffee, multiplier: "0.5" }, "multiplier"],
      [{ ...coffee, multiplier: 3 }, "multiplier"],
      [{ ...coffee, multiplier: "101" }, "multiplier"],
      [{ ...coffee, categories: [123] }, "categories.0"],
      [{ ...coffee, categories: [] }, "categories"],
      [{ ...coffee, kind: "weekday_bonus" }, "kind"],
      [{ ...coffee, caps: { per_member: {} } }, "caps.per_member"],
      [{ ...coffee, caps: { per_member: { day: 0 } } }, "caps.per_member.day"],
      [{ ...coffee, skus: ["x"] }, ""],
      [{ name: "Sku", kind: "sku_bonus", skus: ["a"], points_per_unit: 1.5 }, "points_per_unit"],
      [{ ...winter, multiplier: "2" }, "bonus_points"],
      [{ ...winter, bonus_points: undefined }, "multiplier"],
      [{ ...winter, ends_at: "2025-12-01T00:00:00" }, "ends_at"],
      [{ ...winter, ends_at: winter.starts_at }, "ends_at"],
      [{ ...winter, starts_at: "2026-02-30T00:00:00" }, "starts_at"],
      [{ ...winter, starts_at: "next monday" }, "starts_at"],
      [{ ...winter, days_of_week: [0] }, "days_of_week.0"],
      [{ ...winter, days_of_week: [1, 1] }, "days_of_week"],
      [{ ...winter, tier_ids: ["not-a-uuid"] }, "tier_ids.0"],
    ];
    for (const [body, path] of cases) {
      const response = await create(org, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error?.code, JSON.stringify(body)).toBe("validation_failed");
      const paths = list(response.body.error?.details?.issues).map((issue) => issue.path);
      expect(paths, JSON.stringify(body)).toContain(path);
    }
    // Another org's tier is refused like an unknown one.
    const foreignTier = other.result.tiers[0]?.id ?? "";
    const foreign = await create(org, { ...winter, tier_ids: [foreignTier] });
    expect(foreign.status).toBe(400);
    expect(foreign.body.error?.details?.field).toBe("tier_ids");
    expect(await counts(org)).toEqual(before);
  });

  it("refuses bad edits with field paths and writes no version", async () => {
    const rule = await created(org, { ...coffee, name: "Edits" });
    const id = String(rule.id);
    const before = await counts(org);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ kind: "campaign" }, "kind"],
      [{ multiplier: "0.9" }, "multiplier"],
      [{ skus: ["a"] }, "skus"],
      [{ starts_at: "2026-01-01T00:00:00" }, "starts_at"],
      [{ categories: null }, "categories"],
      [{}, ""],
    ];
    for (const [body, path] of cases) {
      const response = await call(harness.app, "PATCH", `/v1/earning-rules/${id}`, {
        key: org.keys.admin,
        body,
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
      const paths = list(response.body.error?.details?.issues).map((issue) => issue.path);
      expect(paths, JSON.stringify(body)).toContain(path);
    }
    const campaign = await created(org, { ...winter, name: "Edit window" });
    const late = await call(harness.app, "PATCH", `/v1/earning-rules/${String(campaign.id)}`, {
      key: org.keys.admin,
      body: { ends_at: "2025-06-01T00:00:00" },
    });
    expect(late.status).toBe(400);
    expect(list(late.body.error?.details?.issues)[0]?.path).toBe("ends_at");
    const after = await counts(org);
    expect(after.versions).toBe(before.versions + 1);
    expect(after.audit).toBe(before.audit + 1);
  });

  it("deletes softly: the rule stops applying, its versions stay readable", async () => {
    const rule = await created(org, { ...coffee, name: "Short-lived" });
    const id = String(rule.id);
    expect((await activeEarningRules(harness.deps, org.id)).map((entry) => entry.id)).toContain(id);
    const deleted = await call(harness.app, "DELETE", `/v1/earning-rules/${id}`, {
      key: org.keys.admin,
    });
    expect(deleted.status).toBe(200);
    expect(deleted.body.earning_rule).toMatchObject({ id, version: 1, active: true });
    expect(typeof deleted.body.earning_rule?.deleted_at).toBe("string");
    expect((await activeEarningRules(harness.deps, org.id)).map((entry) => entry.id)).not.toContain(
      id,
    );
    const listed = await call(harness.app, "GET", "/v1/earning-rules?limit=200", {
      key: org.keys.admin,
    });
    expect(list(listed.body.earning_rules).map((entry) => entry.id)).not.toContain(id);
    const read = await call(harness.app, "GET", `/v1/earning-rules/${id}?version=1`, {
      key: org.keys.admin,
    });
    expect(read.status).toBe(200);
    expect(read.body.earning_rule?.deleted_at).toBe(deleted.body.earning_rule?.deleted_at);
    const again = await call(harness.app, "DELETE", `/v1/earning-rules/${id}`, {
      key: org.keys.admin,
    });
    expect(again.body).toEqual(deleted.body);
    const edit = await call(harness.app, "PATCH", `/v1/earning-rules/${id}`, {
      key: org.keys.admin,
      body: { name: "Back" },
    });
    expect(edit.status).toBe(409);
    const entries = await auditOf(org, id);
    expect(entries.map((entry) => entry.action)).toEqual([
      "earning_rule.deleted",
      "earning_rule.created",
    ]);
    expect(entries[0]?.after).toMatchObject({ deleted_at: deleted.body.earning_rule?.deleted_at });
  });

  it("pages with a cursor and filters by active and kind", async () => {
    const own = await buildTestOrg(harness);
    const ids: string[] = [];
    for (const [index, body] of [coffee, winter, coffee, winter, coffee].entries()) {
      const rule = await created(own, { ...body, name: `Rule ${index}`, active: index !== 2 });
      ids.push(String(rule.id));
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page += 1) {
      const query: string = cursor === null ? "?limit=2" : `?limit=2&cursor=${cursor}`;
      const response = await call(harness.app, "GET", `/v1/earning-rules${query}`, {
        key: own.keys.pos,
      });
      expect(response.status).toBe(200);
      seen.push(...list(response.body.earning_rules).map((entry) => String(entry.id)));
      cursor = response.body.next_cursor === null ? null : String(response.body.next_cursor);
      if (cursor === null) {
        break;
      }
    }
    expect(seen).toEqual(ids);
    const campaigns = await call(harness.app, "GET", "/v1/earning-rules?kind=campaign", {
      key: own.keys.admin,
    });
    expect(list(campaigns.body.earning_rules).map((entry) => entry.id)).toEqual([ids[1], ids[3]]);
    const inactive = await call(harness.app, "GET", "/v1/earning-rules?active=false", {
      key: own.keys.admin,
    });
    expect(list(inactive.body.earning_rules).map((entry) => entry.id)).toEqual([ids[2]]);
    for (const query of ["?kind=weekly", "?active=yes", "?cursor=abc", "?limit=0"]) {
      const bad = await call(harness.app, "GET", `/v1/earning-rules${query}`, {
        key: own.keys.admin,
      });
      expect(bad.status, query).toBe(400);
    }
    // The purchase path sees the active ones, by descending priority.
    const active = await activeEarningRules(harness.deps, own.id);
    expect(active.map((entry) => entry.id)).toEqual([ids[1], ids[3], ids[0], ids[4]]);
  });

  it("answers another org's rules as unknown, and is admin-only for writes", async () => {
    const rule = await created(org, { ...coffee, name: "Private" });
    const id = String(rule.id);
    const unknown = "00000000-0000-4000-8000-000000000000";
    for (const target of [id, unknown, "not-a-uuid"]) {
      for (const [method, body] of [
        ["GET", undefined],
        ["PATCH", { name: "Mine" }],
        ["DELETE", undefined],
      ] as const) {
        const response = await call(harness.app, method, `/v1/earning-rules/${target}`, {
          key: other.keys.admin,
          ...(body === undefined ? {} : { body }),
        });
        expect(response.status, `${method} ${target}`).toBe(404);
      }
    }
    const theirs = await call(harness.app, "GET", "/v1/earning-rules", { key: other.keys.admin });
    expect(list(theirs.body.earning_rules).map((entry) => entry.id)).not.toContain(id);
    expect(
      (await call(harness.app, "POST", "/v1/earning-rules", { key: org.keys.pos, body: coffee }))
        .status,
    ).toBe(403);
    expect(
      (
        await call(harness.app, "PATCH", `/v1/earning-rules/${id}`, {
          key: org.keys.pos,
          body: { name: "x" },
        })
      ).status,
    ).toBe(403);
    expect(
      (await call(harness.app, "DELETE", `/v1/earning-rules/${id}`, { key: org.keys.pos })).status,
    ).toBe(403);
    expect(
      (await call(harness.app, "GET", "/v1/earning-rules", { key: org.keys.finance })).status,
    ).toBe(403);
    const still = await call(harness.app, "GET", `/v1/earning-rules/${id}`, { key: org.keys.pos });
    expect(still.body.earning_rule).toEqual(rule);
  });

  it("documents that local date-times are read in the org's time zone", async () => {
    const document = await call(harness.app, "GET", "/openapi.json");
    const operations = document.body.paths?.["/v1/earning-rules"] as Json;
    const post = JSON.stringify(operations.post);
    expect(post).toContain("read in the org's time zone");
    const body = JSON.stringify(operations.post?.requestBody);
    expect(body).toContain("shifted forward by the gap");
    expect(body).toContain("1 = Monday");
  });
});
