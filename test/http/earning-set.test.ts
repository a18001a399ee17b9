/**
 * Moving `earning` to another tier set (`PATCH /v1/tier-sets/{id}` `{earning: true}`) over the
 * real app, Postgres, Redis (a private key prefix) and the embedded ledger, with a tiers worker
 * running in this process: every member's tier swaps between the two sets in the request, the
 * next purchase earns by the new set's multiplier, the old tier stays in the old set, a member
 * without a tier in the new set lands in its base tier, an override is kept in the old set and
 * cleared on the member, switching back restores, the switch is audited, another org's set is
 * 404, and two concurrent switches leave exactly one earning set with every member in it.
 */
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  enrollImport,
  evaluateMemberOtherTiers,
  evaluateMemberTier,
  recordPurchase,
} from "../../src/membership/index.ts";
import { createJobProducer, type JobProducer } from "../../src/workers/index.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { externalId } from "../support/ledger.ts";
import { deleteKeys } from "../support/redis.ts";
import { testWorkerDeps } from "../support/workers.ts";
import type { Json, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  type Harness,
  list,
  redisUrl,
  testRedis,
} from "./support.ts";

let harness: Harness;
let producer: JobProducer;
let workers: WorkerRuntime;
const keyPrefix = `test:http-earning-set:${process.pid}:${randomBytes(4).toString("hex")}:`;

beforeAll(async () => {
  producer = createJobProducer({ redisUrl, keyPrefix });
  harness = await createHarness({ jobs: producer });
  workers = await startWorkers(testWorkerDeps(harness.deps, producer), {
    redisUrl,
    queues: ["tiers"],
    schedulers: false,
  });
  await workers.ready();
});

afterAll(async () => {
  await workers?.close(5_000);
  await producer?.close();
  const cleaner = testRedis();
  await cleaner.connect();
  await deleteKeys(cleaner, keyPrefix).catch(() => undefined);
  await cleaner.quit().catch(() => cleaner.disconnect());
  await harness?.close();
});

async function rows<T>(query: ReturnType<typeof sql>): Promise<T[]> {
  return (await harness.deps.db.execute(query)) as unknown as T[];
}

async function sets(of: TestOrg): Promise<Json[]> {
  const answer = await call(harness.app, "GET", "/v1/tier-sets", { key: of.keys.finance });
  expect(answer.status).toBe(200);
  return list(answer.body.tier_sets);
}

async function tiersOf(of: TestOrg, tierSetId: string): Promise<Json[]> {
  const answer = await call(harness.app, "GET", `/v1/tiers?tier_set_id=${tierSetId}`, {
    key: of.keys.pos,
  });
  expect(answer.status).toBe(200);
  return list(answer.body.tiers);
}

async function createSet(of: TestOrg, body: Record<string, unknown>): Promise<string> {
  const created = await call(harness.app, "POST", "/v1/tier-sets", { key: of.keys.admin, body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return String(created.body.tier_set?.id);
}

async function createTier(of: TestOrg, body: Record<string, unknown>): Promise<string> {
  const created = await call(harness.app, "POST", "/v1/tiers", { key: of.keys.admin, body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return String(created.body.tier?.id);
}

async function memberTier(of: TestOrg, memberId: string): Promise<Json> {
  const answer = await call(harness.app, "GET", `/v1/members/${memberId}/tier`, {
    key: of.keys.pos,
  });
  expect(answer.status).toBe(200);
  return answer.body;
}

async function earn(of: TestOrg, memberId: string, amountMinor: bigint): Promise<bigint> {
  const result = await recordPurchase(harness.deps, {
    orgId: of.id,
    externalId: externalId(),
    memberId,
    amountMinor,
    currency: "EUR",
  });
  return result.pointsEarned;
}

/** The member's tier name in each set that is not the earning one (member_set_tiers). */
async function sideTiers(of: TestOrg, memberId: string): Promise<Record<string, string>> {
  const found = await rows<{ set: string; tier: string }>(sql`
    select s.name as set, t.name as tier from member_set_tiers mst
      join tier_sets s on s.org_id = mst.org_id and s.id = mst.tier_set_id
      join tiers t on t.org_id = mst.org_id and t.id = mst.tier_id
      where mst.org_id = ${of.id} and mst.member_id = ${memberId}`);
  return Object.fromEntries(found.map((row) => [row.set, row.tier]));
}

async function switchTo(of: TestOrg, tierSetId: string) {
  return call(harness.app, "PATCH", `/v1/tier-sets/${tierSetId}`, {
    key: of.keys.admin,
    body: { earning: true },
  });
}

/** Members whose tier is not in the earning ladder, and side rows of the earning set. */
async function strays(of: TestOrg): Promise<number> {
  const [found] = await rows<{ n: number }>(sql`
    select (select count(*) from members m join tiers t on t.org_id = m.org_id and t.id = m.tier_id
        join tier_sets s on s.org_id = t.org_id and s.id = t.tier_set_id
        where m.org_id = ${of.id} and not s.earning)
      + (select count(*) from member_set_tiers mst join tier_sets s
          on s.org_id = mst.org_id and s.id = mst.tier_set_id
          where mst.org_id = ${of.id} and s.earning) as n`);
  return Number(found?.n);
}

describe("moving earning to another tier set", () => {
  it("swaps every member's tier between the sets; purchases earn by the new set; back restores", async () => {
    const org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const other = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const defaultSet = (await sets(org))[0] as Json;
    expect(defaultSet).toMatchObject({ name: "Default", earning: true });
    const defaultId = String(defaultSet.id);
    const gold = (await tiersOf(org, defaultId)).find(
      (tier) => String(tier.name) === "Gold",
    ) as Json;

    const diningId = await createSet(org, {
      name: "Dining",
      metric: "points",
      window_months: 6,
      grace_days: 10,
      base_tier_name: "Diner",
    });
    await createTier(org, {
      tier_set_id: diningId,
      name: "Gourmet",
      rank: 1,
      threshold: 100,
      multiplier: "3.00",
    });

    // A climbs to Silver (earning) and Gourmet (Dining); B never buys; C is held in Gold.
    const a = (await enrollOverHttp(harness, org)).id;
    const b = (await enrollOverHttp(harness, org)).id;
    const c = (await enrollOverHttp(harness, org)).id;
    expect(await earn(org, a, 150_000n)).toBe(1_500n);
    await evaluateMemberTier(harness.deps, { orgId: org.id, memberId: a });
    await evaluateMemberOtherTiers(harness.deps, { orgId: org.id, memberId: a });
    expect((await memberTier(org, a)).tier?.name).toBe("Silver");
    expect(await sideTiers(org, a)).toEqual({ Dining: "Gourmet" });
    expect(await earn(org, a, 10_000n)).toBe(125n);
    const held = await call(harness.app, "PUT", `/v1/members/${c}/tier`, {
      key: org.keys.admin,
      body: { tier_id: gold.id, reason: "VIP guest" },
    });
    expect(held.status, JSON.stringify(held.body)).toBe(200);

    const unknown = await switchTo(org, "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e");
    expect(unknown.status).toBe(404);
    const foreign = await switchTo(other, diningId);
    expect(foreign.status).toBe(404);
    const stopping = await call(harness.app, "PATCH", `/v1/tier-sets/${defaultId}`, {
      key: org.keys.admin,
      body: { earning: false },
    });
    expect(stopping.status).toBe(409);
    expect(stopping.body.error?.code).toBe("invalid_state");
    const badValue = await call(harness.app, "PATCH", `/v1/tier-sets/${diningId}`, {
      key: org.keys.admin,
      body: { earning: "yes" },
    });
    expect(badValue.status).toBe(400);
    expect(badValue.body.error?.code).toBe("validation_failed");
    expect((await sets(org)).map((set) => [set.name, set.earning])).toEqual([
      ["Default", true],
      ["Dining", false],
    ]);

    // Purchases racing the switch earn by one set or the other, never a mix.
    const [switched, ...raced] = await Promise.all([
      switchTo(org, diningId),
      ...Array.from({ length: 4 }, () => earn(org, a, 10_000n)),
    ]);
    for (const points of raced) {
      expect([125n, 300n]).toContain(points);
    }
    expect(switched.status, JSON.stringify(switched.body)).toBe(200);
    expect(switched.body.tier_set).toMatchObject({ id: diningId, earning: true });
    expect(String(switched.body.reevaluation_job_id)).toMatch(/^tiers-reevaluate-/);
    expect((await sets(org)).map((set) => [set.name, set.earning])).toEqual([
      ["Dining", true],
      ["Default", false],
    ]);
    const settings = await call(harness.app, "GET", "/v1/settings", { key: org.keys.admin });
    expect(settings.body).toMatchObject({
      tier_metric: "points",
      tier_window_months: 6,
      tier_downgrade_grace_days: 10,
    });

    // The earning tier is the Dining one now; the Default tier is kept in its set.
    const aTier = await memberTier(org, a);
    expect(aTier).toMatchObject({ tier: { name: "Gourmet" }, source: "earned", override: null });
    expect(await sideTiers(org, a)).toEqual({ Default: "Silver" });
    expect(await memberTier(org, b)).toMatchObject({ tier: { name: "Diner" }, source: "default" });
    expect(await sideTiers(org, b)).toEqual({ Default: "Bronze" });
    expect(await memberTier(org, c)).toMatchObject({ tier: { name: "Diner" }, override: null });
    expect(await sideTiers(org, c)).toEqual({ Default: "Gold" });
    expect(await strays(org)).toBe(0);
    expect(await earn(org, a, 10_000n)).toBe(300n);
    expect(await earn(org, b, 10_000n)).toBe(100n);

    const changed = await rows<{ payload: Record<string, unknown> }>(sql`
      select payload from outbox where org_id = ${org.id} and topic = 'tier.changed'
        and payload ->> 'reason' = 'earning_set_changed' order by id`);
    expect(changed.map((row) => row.payload)).toHaveLength(3);
    expect(changed.map((row) => row.payload).find((p) => p.member_id === a)).toMatchObject({
      from: { name: "Silver" },
      to: { name: "Gourmet" },
      qualifying_value: null,
    });
    const history = await rows<{ member_id: string; name: string }>(sql`
      select mt.member_id, t.name from member_tiers mt join tiers t on t.id = mt.tier_id
        where mt.org_id = ${org.id} and mt.reason = 'earning_set_changed'`);
    expect(history.map((row) => [row.member_id, row.name]).sort()).toEqual(
      [
        [a, "Gourmet"],
        [b, "Diner"],
        [c, "Diner"],
      ].sort(),
    );

    const audit = await call(harness.app, "GET", "/v1/audit?action=tier_set.updated", {
      key: org.keys.admin,
    });
    const entries = list(audit.body.entries);
    expect(entries.find((entry) => String(entry.target_id) === diningId)).toMatchObject({
      before: { earning: false },
      after: { earning: true, window_months: 6 },
    });
    expect(entries.find((entry) => String(entry.target_id) === defaultId)).toMatchObject({
      before: { earning: true },
      after: { earning: false },
    });

    // Twice is a no-op for members: no new history.
    const again = await switchTo(org, diningId);
    expect(again.status).toBe(200);
    const [counted] = await rows<{ n: number }>(sql`
      select count(*)::int as n from member_tiers
        where org_id = ${org.id} and reason = 'earning_set_changed'`);
    expect(Number(counted?.n)).toBe(3);

    // Back: each member's Default tier returns as it was (the override as an earned tier).
    const back = await switchTo(org, defaultId);
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect((await memberTier(org, a)).tier?.name).toBe("Silver");
    expect(await sideTiers(org, a)).toEqual({ Dining: "Gourmet" });
    expect((await memberTier(org, b)).tier?.name).toBe("Bronze");
    expect(await memberTier(org, c)).toMatchObject({ tier: { name: "Gold" }, override: null });
    expect(await strays(org)).toBe(0);
    expect(await earn(org, a, 10_000n)).toBe(125n);
    const restored = await call(harness.app, "GET", "/v1/settings", { key: org.keys.admin });
    expect(restored.body).toMatchObject({ tier_window_months: 12 });
  });

  it("two concurrent switches leave exactly one earning set with every member in it", async () => {
    const org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const x = await createSet(org, { name: "X" });
    const y = await createSet(org, { name: "Y" });
    for (let i = 0; i < 5; i++) {
      await enrollOverHttp(harness, org);
    }
    // Enrollments race the switches too: each new member lands in whichever set earns.
    const [answers] = await Promise.all([
      Promise.all([switchTo(org, x), switchTo(org, y), switchTo(org, x)]),
      Promise.all([enrollOverHttp(harness, org), enrollOverHttp(harness, org)]),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    const earning = (await sets(org)).filter((set) => set.earning === (true as unknown as Json));
    expect(earning).toHaveLength(1);
    expect(await strays(org)).toBe(0);
    const [total] = await rows<{ n: number }>(sql`
      select count(*)::int as n from members where org_id = ${org.id}`);
    expect(Number(total?.n)).toBe(7);

    // A settings change racing a switch: the org's tier settings stay the earning set's.
    const target = String(earning[0]?.id) === x ? y : x;
    const [moved, patched] = await Promise.all([
      switchTo(org, target),
      call(harness.app, "PATCH", "/v1/settings", {
        key: org.keys.admin,
        body: { tier_window_months: 9 },
      }),
    ]);
    expect([moved.status, patched.status]).toEqual([200, 200]);
    const now = (await sets(org)).find((set) => set.earning === (true as unknown as Json));
    const settings = await call(harness.app, "GET", "/v1/settings", { key: org.keys.admin });
    expect(settings.body.tier_window_months).toBe(now?.window_months);
  });

  it("members enrolled after a switch, one by one or imported, start in the earning set's base", async () => {
    const org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    // Sets whose base tiers are not the earning one's: a new member must not land there.
    await createSet(org, { name: "A", base_tier_name: "A base" });
    const b = await createSet(org, { name: "B", base_tier_name: "B base" });
    await createSet(org, { name: "C", base_tier_name: "C base" });
    expect((await switchTo(org, b)).status).toBe(200);

    const enrolled = (await enrollOverHttp(harness, org)).id;
    expect(await memberTier(org, enrolled)).toMatchObject({ tier: { name: "B base" } });
    const ref = `IMP-${randomBytes(4).toString("hex")}`;
    const accepted = await call(harness.app, "POST", "/v1/imports/members", {
      key: org.keys.admin,
      rawBody: `external_ref\r\n${ref}\r\n`,
      headers: { "Content-Type": "text/csv" },
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const result = await enrollImport(harness.deps, {
      orgId: org.id,
      importId: String(accepted.body.import_id),
    });
    expect(result.status).toBe("completed");
    const [imported] = await rows<{ name: string }>(sql`
      select t.name from members m join tiers t on t.org_id = m.org_id and t.id = m.tier_id
        where m.org_id = ${org.id} and m.external_ref = ${ref}`);
    expect(imported?.name).toBe("B base");
    expect(await strays(org)).toBe(0);
  });
});
