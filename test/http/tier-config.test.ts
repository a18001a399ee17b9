/**
 * Program configuration of tiers over the real app, Postgres, Redis (a private key prefix) and the
 * embedded ledger, with a tiers worker running in this process: tier sets and tiers are created,
 * read, changed and deleted by an admin, each write audited; a ladder left invalid is refused with
 * the field's path and writes nothing; deleting a tier members hold is 409 until they are
 * reassigned; a threshold change moves nobody in the request and the worker then moves members,
 * with `benefit.applied`; a member's benefits list where each comes from; the tier simulation
 * counts every member from ledger history. Another org's ids are 404 like unknown ones.
 */
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateMemberTier, recordPurchase } from "../../src/membership/index.ts";
import { createJobProducer, type JobProducer } from "../../src/workers/index.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { externalId } from "../support/ledger.ts";
import { deleteKeys } from "../support/redis.ts";
import { testWorkerDeps, waitFor } from "../support/workers.ts";
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
let org: TestOrg;
let other: TestOrg;
const keyPrefix = `test:http-tier-config:${process.pid}:${randomBytes(4).toString("hex")}:`;

beforeAll(async () => {
  producer = createJobProducer({ redisUrl, keyPrefix });
  harness = await createHarness({ jobs: producer });
  workers = await startWorkers(testWorkerDeps(harness.deps, producer), {
    redisUrl,
    queues: ["tiers"],
    schedulers: false,
  });
  await workers.ready();
  org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
  other = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
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

const admin = (of: TestOrg) => of.keys.admin;

async function earningSet(of: TestOrg): Promise<Json> {
  const sets = await call(harness.app, "GET", "/v1/tier-sets", { key: of.keys.finance });
  expect(sets.status).toBe(200);
  const found = list(sets.body.tier_sets).find((set) => set.earning === (true as unknown as Json));
  expect(found).toBeDefined();
  return found as Json;
}

async function tiersOf(of: TestOrg, tierSetId: string): Promise<Json[]> {
  const answer = await call(harness.app, "GET", `/v1/tiers?tier_set_id=${tierSetId}`, {
    key: of.keys.pos,
  });
  expect(answer.status).toBe(200);
  return list(answer.body.tiers);
}

async function auditActions(of: TestOrg, targetType: string): Promise<unknown[]> {
  const answer = await call(harness.app, "GET", `/v1/audit?target_type=${targetType}`, {
    key: admin(of),
  });
  expect(answer.status).toBe(200);
  return list(answer.body.entries).map((entry) => entry.action);
}

async function tierRowCount(of: TestOrg): Promise<number> {
  const rows = (await harness.deps.db.execute(
    sql`select count(*)::int as n from tiers where org_id = ${of.id} and deleted_at is null`,
  )) as unknown as Array<{ n: number }>;
  return Number(rows[0]?.n);
}

async function purchase(of: TestOrg, memberId: string, amountMinor: bigint): Promise<void> {
  await recordPurchase(harness.deps, {
    orgId: of.id,
    externalId: externalId(),
    memberId,
    amountMinor,
    currency: "EUR",
  });
}

async function tierName(of: TestOrg, memberId: string): Promise<unknown> {
  const answer = await call(harness.app, "GET", `/v1/members/${memberId}/tier`, {
    key: of.keys.pos,
  });
  expect(answer.status).toBe(200);
  return answer.body.tier?.name;
}

describe("tier sets", () => {
  it("every org has its default earning set holding the seeded ladder", async () => {
    const set = await earningSet(org);
    expect(set).toMatchObject({ name: "Default", metric: "points", window_months: 12 });
    const ladder = await tiersOf(org, String(set.id));
    expect(ladder.map((tier) => [tier.name, tier.rank, tier.threshold, tier.multiplier])).toEqual([
      ["Bronze", 0, 0, "1.00"],
      ["Silver", 1, 1_000, "1.25"],
      ["Gold", 2, 5_000, "1.50"],
      ["Platinum", 3, 15_000, "2.00"],
    ]);
  });

  it("creates, reads, patches and deletes a set, each write audited; earning is not dropped", async () => {
    const created = await call(harness.app, "POST", "/v1/tier-sets", {
      key: admin(org),
      body: { name: "Dining", metric: "spend", window_months: 6, base_tier_name: "Diner" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const set = created.body.tier_set as Json;
    expect(set).toMatchObject({
      name: "Dining",
      metric: "spend",
      window_months: 6,
      earning: false,
    });
    const id = String(set.id);
    expect((await tiersOf(org, id)).map((tier) => [tier.name, tier.rank, tier.threshold])).toEqual([
      ["Diner", 0, 0],
    ]);

    const again = await call(harness.app, "POST", "/v1/tier-sets", {
      key: admin(org),
      body: { name: "Dining" },
    });
    expect(again.status).toBe(409);

    const patched = await call(harness.app, "PATCH", `/v1/tier-sets/${id}`, {
      key: admin(org),
      body: { grace_days: 7 },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({ tier_set: { grace_days: 7 }, reevaluation_job_id: null });

    // The earning set stops earning only when another is made earning (earning-set.test.ts).
    const stopped = await call(
      harness.app,
      "PATCH",
      `/v1/tier-sets/${(await earningSet(org)).id}`,
      {
        key: admin(org),
        body: { earning: false },
      },
    );
    expect(stopped.status).toBe(409);
    expect(stopped.body.error?.code).toBe("invalid_state");

    const read = await call(harness.app, "GET", `/v1/tier-sets/${id}`, { key: org.keys.finance });
    expect(read.body.tier_set).toMatchObject({ grace_days: 7, earning: false });

    for (const [method, key] of [
      ["GET", admin(other)],
      ["PATCH", admin(other)],
      ["DELETE", admin(other)],
    ] as const) {
      const foreign = await call(harness.app, method, `/v1/tier-sets/${id}`, {
        key,
        ...(method === "PATCH" ? { body: { name: "Theirs" } } : {}),
      });
      expect(foreign.status, `${method} another org's set`).toBe(404);
    }
    const byPos = await call(harness.app, "POST", "/v1/tier-sets", {
      key: org.keys.pos,
      body: { name: "Retail" },
    });
    expect(byPos.status).toBe(403);

    const deleted = await call(harness.app, "DELETE", `/v1/tier-sets/${id}`, { key: admin(org) });
    expect(deleted.status).toBe(200);
    expect(
      (await call(harness.app, "GET", `/v1/tier-sets/${id}`, { key: admin(org) })).status,
    ).toBe(404);
    expect(await auditActions(org, "tier_set")).toEqual([
      "tier_set.deleted",
      "tier_set.updated",
      "tier_set.created",
    ]);
  });

  it("the earning set's window is the org's tier setting, changed together", async () => {
    const set = await earningSet(org);
    const patched = await call(harness.app, "PATCH", `/v1/tier-sets/${set.id}`, {
      key: admin(org),
      body: { window_months: 6 },
    });
    expect(patched.status).toBe(200);
    expect(typeof patched.body.reevaluation_job_id).toBe("string");
    const settings = await call(harness.app, "GET", "/v1/settings", { key: admin(org) });
    expect(settings.body.tier_window_months).toBe(6);
    const back = await call(harness.app, "PATCH", "/v1/settings", {
      key: admin(org),
      body: { tier_window_months: 12 },
    });
    expect(back.status).toBe(200);
    expect((await earningSet(org)).window_months).toBe(12);

    const removed = await call(harness.app, "DELETE", `/v1/tier-sets/${set.id}`, {
      key: admin(org),
    });
    expect(removed.status).toBe(409);
  });
});

describe("tiers", () => {
  it("refuses a ladder left invalid with the field's path, writing nothing", async () => {
    const set = await earningSet(org);
    const ladder = await tiersOf(org, String(set.id));
    const bronze = ladder[0] as Json;
    const before = await tierRowCount(org);
    const refusals: Array<[string, string, Record<string, unknown>, string]> = [
      // Not above Gold's 5,000 though ranked above it.
      [
        "POST",
        "/v1/tiers",
        { tier_set_id: set.id, name: "Jade", rank: 4, threshold: 5_000, multiplier: "3" },
        "threshold",
      ],
      [
        "POST",
        "/v1/tiers",
        { tier_set_id: set.id, name: "Twin", rank: 1, threshold: 2_000, multiplier: "1.3" },
        "rank",
      ],
      [
        "POST",
        "/v1/tiers",
        { tier_set_id: set.id, name: "Odd", rank: 5, threshold: 90_000, multiplier: "1.23456" },
        "multiplier",
      ],
      ["PATCH", `/v1/tiers/${bronze.id}`, { threshold: 10 }, "threshold"],
      ["PATCH", `/v1/tiers/${bronze.id}`, { rank: 9 }, "rank"],
    ];
    for (const [method, path, body, field] of refusals) {
      const answer = await call(harness.app, method, path, { key: admin(org), body });
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.error?.code).toBe("validation_failed");
      expect(list(answer.body.error?.details?.issues).map((issue) => issue.path)).toContain(field);
    }
    const base = await call(harness.app, "DELETE", `/v1/tiers/${bronze.id}`, { key: admin(org) });
    expect(base.status).toBe(400);
    expect(await tierRowCount(org)).toBe(before);
    expect(await auditActions(org, "tier")).toEqual([]);
  });

  it("creates, reads and patches a tier with benefits; another org's ids are 404", async () => {
    const perk = await call(harness.app, "POST", "/v1/benefits", {
      key: admin(org),
      body: { name: "Lounge", kind: "perk" },
    });
    expect(perk.status).toBe(201);
    const perkId = String(perk.body.benefit?.id);
    const set = await earningSet(org);
    const created = await call(harness.app, "POST", "/v1/tiers", {
      key: admin(org),
      body: {
        tier_set_id: set.id,
        name: "Diamond",
        rank: 4,
        threshold: 50_000,
        multiplier: "2.5",
        climbable: false,
        benefits: [perkId],
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.tier).toMatchObject({
      name: "Diamond",
      threshold: 50_000,
      multiplier: "2.50",
      climbable: false,
      immutable: false,
      benefits: [perkId],
    });
    expect(typeof created.body.reevaluation_job_id).toBe("string");
    const id = String(created.body.tier?.id);

    const renamed = await call(harness.app, "PATCH", `/v1/tiers/${id}`, {
      key: admin(org),
      body: { name: "Black", multiplier: "3", benefits: [] },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({
      tier: { name: "Black", multiplier: "3.00", benefits: [] },
      reevaluation_job_id: null,
    });

    const foreignSet = await call(harness.app, "POST", "/v1/tiers", {
      key: admin(other),
      body: { tier_set_id: set.id, name: "X", rank: 9, threshold: 90_000, multiplier: "1" },
    });
    expect(foreignSet.status).toBe(404);
    const foreignBenefit = await call(harness.app, "PATCH", `/v1/tiers/${id}`, {
      key: admin(org),
      body: { benefits: ["00000000-0000-4000-8000-000000000000"] },
    });
    expect(foreignBenefit.status).toBe(400);
    expect(list(foreignBenefit.body.error?.details?.issues)[0]?.path).toBe("benefits.0");
    for (const method of ["GET", "PATCH", "DELETE"]) {
      const foreign = await call(harness.app, method, `/v1/tiers/${id}`, {
        key: admin(other),
        ...(method === "PATCH" ? { body: { name: "Theirs" } } : {}),
      });
      expect(foreign.status, `${method} another org's tier`).toBe(404);
    }
    const deleted = await call(harness.app, "DELETE", `/v1/tiers/${id}`, { key: admin(org) });
    expect(deleted.status).toBe(200);
    expect(deleted.body.reassigned).toBe(0);
    expect((await call(harness.app, "GET", `/v1/tiers/${id}`, { key: admin(org) })).status).toBe(
      404,
    );
    expect(await auditActions(org, "tier")).toEqual([
      "tier.deleted",
      "tier.updated",
      "tier.created",
    ]);
  });

  it("deleting a tier members hold is 409 until they are reassigned in its set", async () => {
    const of = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const set = await earningSet(of);
    const ladder = await tiersOf(of, String(set.id));
    const [, silver, gold] = ladder as [Json, Json, Json];
    const member = await enrollOverHttp(harness, of);
    await purchase(of, member.id, 120_000n);
    await evaluateMemberTier(harness.deps, { orgId: of.id, memberId: member.id });
    expect(await tierName(of, member.id)).toBe("Silver");

    const held = await call(harness.app, "DELETE", `/v1/tiers/${silver.id}`, { key: admin(of) });
    expect(held.status).toBe(409);
    expect(held.body.error?.details?.members).toBe(1);

    const dining = await call(harness.app, "POST", "/v1/tier-sets", {
      key: admin(of),
      body: { name: "Dining" },
    });
    const diner = (await tiersOf(of, String(dining.body.tier_set?.id)))[0] as Json;
    const across = await call(
      harness.app,
      "DELETE",
      `/v1/tiers/${silver.id}?reassign_to=${diner.id}`,
      {
        key: admin(of),
      },
    );
    expect(across.status).toBe(400);
    expect(list(across.body.error?.details?.issues)[0]?.path).toBe("reassign_to");

    const moved = await call(
      harness.app,
      "DELETE",
      `/v1/tiers/${silver.id}?reassign_to=${gold.id}`,
      {
        key: admin(of),
      },
    );
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body.reassigned).toBe(1);
    expect(await tierName(of, member.id)).toBe("Gold");
    const events = (await harness.deps.db.execute(
      sql`select payload from outbox where org_id = ${of.id} and topic = 'tier.changed'
          order by id desc limit 1`,
    )) as unknown as Array<{ payload: Record<string, unknown> }>;
    expect(events[0]?.payload).toMatchObject({ member_id: member.id, reason: "reassigned" });
    expect((await tiersOf(of, String(set.id))).map((tier) => tier.name)).toEqual([
      "Bronze",
      "Gold",
      "Platinum",
    ]);
  });

  it("a threshold change moves nobody in the request; the worker upgrades, with benefit.applied", async () => {
    const of = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const set = await earningSet(of);
    const [, , gold] = (await tiersOf(of, String(set.id))) as [Json, Json, Json];
    const member = await enrollOverHttp(harness, of);
    await purchase(of, member.id, 200_000n);
    await evaluateMemberTier(harness.deps, { orgId: of.id, memberId: member.id });
    expect(await tierName(of, member.id)).toBe("Silver");

    const perk = await call(harness.app, "POST", "/v1/benefits", {
      key: admin(of),
      body: { name: "Priority line", kind: "perk" },
    });
    const perkId = String(perk.body.benefit?.id);
    const changed = await call(harness.app, "PATCH", `/v1/tiers/${gold.id}`, {
      key: admin(of),
      body: { threshold: 1_500, benefits: [perkId] },
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    const jobId = String(changed.body.reevaluation_job_id);
    expect(jobId).toMatch(/^tiers-reevaluate-/);
    // The request wrote the tier only.
    expect(await tierName(of, member.id)).toBe("Silver");

    await waitFor(async () => (await tierName(of, member.id)) === "Gold", {
      what: "the tiers worker to upgrade the member",
    });
    const job = await producer.getJob("tiers", jobId);
    expect(job).toBeDefined();
    const applied = (await harness.deps.db.execute(
      sql`select payload from outbox where org_id = ${of.id} and topic = 'benefit.applied'`,
    )) as unknown as Array<{ payload: Record<string, unknown> }>;
    expect(applied.map((row) => row.payload)).toEqual([
      {
        member_id: member.id,
        benefit_id: perkId,
        name: "Priority line",
        kind: "perk",
        source: { type: "tier", tier_id: gold.id, tier_set_id: set.id },
      },
    ]);

    // A member's active benefits, from each set: Gold's perk, and the Dining base tier's.
    const dining = await call(harness.app, "POST", "/v1/tier-sets", {
      key: admin(of),
      body: { name: "Dining", metric: "spend" },
    });
    const diningId = String(dining.body.tier_set?.id);
    const diner = (await tiersOf(of, diningId))[0] as Json;
    const coffee = await call(harness.app, "POST", "/v1/benefits", {
      key: admin(of),
      body: { name: "Coffee", kind: "points_multiplier", value: "2" },
    });
    const ended = await call(harness.app, "POST", "/v1/benefits", {
      key: admin(of),
      body: {
        name: "Launch week",
        kind: "perk",
        active_from: "2020-01-01T00:00:00Z",
        active_until: "2020-01-08T00:00:00Z",
      },
    });
    const attach = await call(harness.app, "PATCH", `/v1/tiers/${diner.id}`, {
      key: admin(of),
      body: { benefits: [coffee.body.benefit?.id, ended.body.benefit?.id] },
    });
    expect(attach.status).toBe(200);
    const listed = await call(harness.app, "GET", `/v1/members/${member.id}/benefits`, {
      key: of.keys.pos,
    });
    expect(listed.status).toBe(200);
    expect(list(listed.body.benefits)).toEqual([
      expect.objectContaining({
        name: "Coffee",
        kind: "points_multiplier",
        value: "2.00",
        source: { type: "tier", tier_id: diner.id, tier_set_id: diningId },
      }),
      expect.objectContaining({
        id: perkId,
        name: "Priority line",
        source: { type: "tier", tier_id: gold.id, tier_set_id: set.id },
      }),
    ]);
    const foreign = await call(harness.app, "GET", `/v1/members/${member.id}/benefits`, {
      key: other.keys.pos,
    });
    expect(foreign.status).toBe(404);
  });
});

describe("benefits", () => {
  it("creates, lists, patches and deletes, audited; bad values name their field", async () => {
    const perkWithValue = await call(harness.app, "POST", "/v1/benefits", {
      key: admin(org),
      body: { name: "Odd", kind: "perk", value: "2" },
    });
    expect(perkWithValue.status).toBe(400);
    expect(list(perkWithValue.body.error?.details?.issues)[0]?.path).toBe("value");
    const missing = await call(harness.app, "POST", "/v1/benefits", {
      key: admin(org),
      body: { name: "Double", kind: "points_multiplier" },
    });
    expect(missing.status).toBe(400);

    const created = await call(harness.app, "POST", "/v1/benefits", {
      key: admin(org),
      body: { name: "Double", kind: "points_multiplier", value: "2", description: "Weekends" },
    });
    expect(created.status).toBe(201);
    const id = String(created.body.benefit?.id);
    const patched = await call(harness.app, "PATCH", `/v1/benefits/${id}`, {
      key: admin(org),
      body: { value: "1.5", description: null },
    });
    expect(patched.body.benefit).toMatchObject({ value: "1.50", description: null });
    const read = await call(harness.app, "GET", `/v1/benefits/${id}`, { key: org.keys.pos });
    expect(read.body.benefit).toMatchObject({ name: "Double", value: "1.50" });
    const all = await call(harness.app, "GET", "/v1/benefits", { key: org.keys.pos });
    expect(list(all.body.benefits).map((benefit) => benefit.id)).toContain(id);
    for (const method of ["GET", "PATCH", "DELETE"]) {
      const foreign = await call(harness.app, method, `/v1/benefits/${id}`, {
        key: admin(other),
        ...(method === "PATCH" ? { body: { name: "Theirs" } } : {}),
      });
      expect(foreign.status, `${method} another org's benefit`).toBe(404);
    }
    const deleted = await call(harness.app, "DELETE", `/v1/benefits/${id}`, { key: admin(org) });
    expect(deleted.status).toBe(200);
    expect((await call(harness.app, "GET", `/v1/benefits/${id}`, { key: admin(org) })).status).toBe(
      404,
    );
    const actions = await auditActions(org, "benefit");
    expect(actions.slice(0, 3)).toEqual(["benefit.deleted", "benefit.updated", "benefit.created"]);
  });
});

describe("POST /v1/simulate/tiers", () => {
  it("counts every member from ledger history, those without a purchase in the base tier", async () => {
    const of = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const set = await earningSet(of);
    const big = await enrollOverHttp(harness, of);
    const small = await enrollOverHttp(harness, of);
    await enrollOverHttp(harness, of);
    await purchase(of, big.id, 120_000n);
    await purchase(of, small.id, 6_000n);
    // The big spender holds Silver (rank 1) now; the others Bronze.
    await evaluateMemberTier(harness.deps, { orgId: of.id, memberId: big.id });
    const ladder = [
      { name: "Base", rank: 0, threshold: 0, multiplier: "1" },
      { name: "Mid", rank: 1, threshold: 50, multiplier: "1.1" },
      { name: "Top", rank: 2, threshold: 1_000, multiplier: "1.5" },
    ];
    const simulated = await call(harness.app, "POST", "/v1/simulate/tiers", {
      key: admin(of),
      body: { tier_set_id: set.id, tiers: ladder },
    });
    expect(simulated.status, JSON.stringify(simulated.body)).toBe(200);
    expect(simulated.body).toEqual({
      members_total: 3,
      tiers: [
        { name: "Base", members: 1 },
        { name: "Mid", members: 1 },
        { name: "Top", members: 1 },
      ],
      moves: { up: 2, down: 0, same: 1 },
    });

    const invalid = await call(harness.app, "POST", "/v1/simulate/tiers", {
      key: admin(of),
      body: { tier_set_id: set.id, tiers: [ladder[0], { ...ladder[1], threshold: 0 }] },
    });
    expect(invalid.status).toBe(400);
    expect(list(invalid.body.error?.details?.issues)[0]?.path).toBe("tiers.1.threshold");
    const foreign = await call(harness.app, "POST", "/v1/simulate/tiers", {
      key: admin(other),
      body: { tier_set_id: set.id, tiers: ladder },
    });
    expect(foreign.status).toBe(404);
    const byPos = await call(harness.app, "POST", "/v1/simulate/tiers", {
      key: of.keys.pos,
      body: { tier_set_id: set.id, tiers: ladder },
    });
    expect(byPos.status).toBe(403);
  });
});
