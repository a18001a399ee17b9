/**
 * Promo codes over HTTP, on real Postgres, Redis and the embedded ledger: codes are created,
 * listed (prefix only) and changed by admins with audit entries that never hold the code;
 * redemption is case-insensitive, once per member, bounded by the code's total uses even under
 * 20 concurrent requests, gated by tier and window (every unredeemable code is the same 404),
 * braked after 10 failures, and per org. The trial balance stays balanced; a redemption left
 * pending by a crash is finished by recovery.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { redeemCode } from "../../src/membership/codes/redeem-code.ts";
import { platformActor } from "../../src/membership/index.ts";
import { recoverPendingIntents } from "../../src/membership/recovery/recover-pending-intents.ts";
import type { TestOrg } from "./support.ts";
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

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
  other = await buildTestOrg(harness);
});
afterAll(async () => harness.close());
// Failures are braked per key too: each test starts with none counted.
beforeEach(async () => {
  const keys = await harness.redis.keys(`${harness.redisKeyPrefix}code-failures:*`);
  if (keys.length > 0) {
    await harness.redis.del(...keys);
  }
});

async function createCode(of: TestOrg, body: Record<string, unknown>) {
  return call(harness.app, "POST", "/v1/codes", {
    key: of.keys.admin,
    body: { points: 100, once_per_member: true, ...body },
  });
}

function redeem(of: TestOrg, memberId: string, code: string, key = of.keys.pos) {
  return call(harness.app, "POST", `/v1/members/${memberId}/codes/redeem`, {
    key,
    body: { code },
  });
}

async function trialBalanced(of: TestOrg): Promise<boolean> {
  const response = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
    key: of.keys.finance,
  });
  expect(response.status).toBe(200);
  return list(response.body.units).every((unit) => (unit.balanced as unknown) === true);
}

describe("promo codes", () => {
  it("creates, lists (prefix only) and patches codes, audited without the code", async () => {
    const created = await createCode(org, { code: "Spring-Sale-26", max_uses_total: 5 });
    expect(created.status).toBe(201);
    expect(created.body.code).toMatchObject({
      prefix: "SPR",
      points: 100,
      max_uses_total: 5,
      uses: 0,
      once_per_member: true,
      active: true,
    });
    const id = String(created.body.code?.id);
    expect((await createCode(org, { code: "spring-sale-26" })).status).toBe(409);
    // Another org may have the same code.
    expect((await createCode(other, { code: "SPRING-SALE-26" })).status).toBe(201);

    const patched = await call(harness.app, "PATCH", `/v1/codes/${id}`, {
      key: org.keys.admin,
      body: { valid_until: "2099-01-01T00:00:00Z", max_uses_total: null, active: false },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.code).toMatchObject({ max_uses_total: null, active: false });
    const foreign = await call(harness.app, "PATCH", `/v1/codes/${id}`, {
      key: other.keys.admin,
      body: { active: true },
    });
    expect(foreign.status).toBe(404);

    const listed = await call(harness.app, "GET", "/v1/codes", { key: org.keys.admin });
    expect(listed.status).toBe(200);
    expect(list(listed.body.codes).map((code) => code.id)).toContain(id);
    expect(JSON.stringify(listed.body).toUpperCase()).not.toContain("SPRING-SALE");

    const audit = await harness.database.sql<{ action: string; text: string }[]>`
      select action, coalesce(before::text, '') || coalesce(after::text, '') as text
      from audit_log where org_id = ${org.id} and target_type = 'code'`;
    expect(audit.map((entry) => entry.action).sort()).toEqual(["code.created", "code.updated"]);
    for (const entry of audit) {
      expect(entry.text.toUpperCase()).not.toContain("SPRING-SALE");
    }
  });

  it("refuses invalid codes and bodies and writes nothing", async () => {
    const before = await harness.database.sql<{ n: number }[]>`
      select (select count(*) from codes where org_id = ${org.id})::int
        + (select count(*) from audit_log where org_id = ${org.id})::int as n`;
    for (const body of [
      { code: "ab" },
      { code: "no spaces" },
      { code: "x".repeat(65) },
      { code: "VALID-1", once_per_member: false },
      { code: "VALID-1", points: 0 },
      { code: "VALID-1", max_uses_total: 0 },
      { code: "VALID-1", valid_from: "2030-01-01T00:00:00Z", valid_until: "2029-01-01T00:00:00Z" },
      { code: "VALID-1", unknown: 1 },
    ]) {
      const response = await createCode(org, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    const foreignTier = other.result.tiers[0]?.id ?? "";
    expect((await createCode(org, { code: "VALID-1", min_tier_id: foreignTier })).status).toBe(400);
    const after = await harness.database.sql<{ n: number }[]>`
      select (select count(*) from codes where org_id = ${org.id})::int
        + (select count(*) from audit_log where org_id = ${org.id})::int as n`;
    expect(after[0]?.n).toBe(before[0]?.n);
  });

  it("redeems case-insensitively, once per member, with a points.promotion event", async () => {
    expect((await createCode(org, { code: "WELCOME-10", points: 250 })).status).toBe(201);
    const member = await enrollOverHttp(harness, org);
    const first = await redeem(org, member.id, "  welcome-10".trim());
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ points: 250, balance: { available: 250 } });
    const again = await redeem(org, member.id, "WELCOME-10", org.keys.admin);
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe("code_already_used");
    const full = await redeem(org, member.id, "ｗｅｌｃｏｍｅ-10");
    expect(full.status).toBe(409);
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.finance,
    });
    expect(JSON.stringify(balances.body)).toContain('"available":250');
    const events = await harness.database.sql`
      select payload from outbox where org_id = ${org.id} and topic = 'points.promotion'`;
    expect(events).toHaveLength(1);
    expect(events[0]?.payload).toMatchObject({
      member_id: member.id,
      points: "250",
      document: { kind: "code", external_id: null },
    });
    expect(await trialBalanced(org)).toBe(true);
  });

  it("gives the last use to exactly one of 20 concurrent redemptions", async () => {
    expect((await createCode(org, { code: "LAST-ONE", max_uses_total: 2 })).status).toBe(201);
    const early = await enrollOverHttp(harness, org);
    expect((await redeem(org, early.id, "last-one")).status).toBe(201);
    const racers = await Promise.all(
      Array.from({ length: 20 }, () => enrollOverHttp(harness, org)),
    );
    const answers = await Promise.all(racers.map((racer) => redeem(org, racer.id, "LAST-ONE")));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 404)).toHaveLength(19);
    const [code] = await harness.database.sql<{ uses: string }[]>`
      select uses::text from codes where org_id = ${org.id} and prefix = 'LAS'`;
    expect(code?.uses).toBe("2");
    const [posted] = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from code_redemptions r join codes c on c.id = r.code_id
      where c.org_id = ${org.id} and c.prefix = 'LAS' and r.status = 'posted'`;
    expect(posted?.n).toBe(2);
    expect(await trialBalanced(org)).toBe(true);
  });

  it("answers every unredeemable code with the same 404 and gates by tier", async () => {
    const now = harness.environment.now().getTime();
    const day = 86_400_000;
    await createCode(org, {
      code: "FUTURE-1",
      valid_from: new Date(now + day).toISOString(),
    });
    await createCode(org, {
      code: "PAST-1",
      valid_from: new Date(now - 2 * day).toISOString(),
      valid_until: new Date(now - day).toISOString(),
    });
    const inactive = await createCode(org, { code: "OFF-1" });
    await call(harness.app, "PATCH", `/v1/codes/${String(inactive.body.code?.id)}`, {
      key: org.keys.admin,
      body: { active: false },
    });
    const member = await enrollOverHttp(harness, org);
    const messages = new Set<string>();
    for (const code of ["FUTURE-1", "PAST-1", "OFF-1", "NEVER-MADE", "?"]) {
      const response = await redeem(org, member.id, code);
      expect(response.status, code).toBe(404);
      expect(response.body.error?.code).toBe("code_not_found");
      messages.add(String(response.body.error?.message));
    }
    expect(messages.size).toBe(1);

    const gold = org.result.tiers.find((tier) => tier.rank === 1);
    expect(gold).toBeDefined();
    await createCode(org, { code: "GOLD-ONLY", min_tier_id: gold?.id });
    const low = await redeem(org, member.id, "gold-only", org.keys.admin);
    expect(low.status).toBe(422);
    expect(low.body.error?.code).toBe("tier_too_low");
    const override = await call(harness.app, "PUT", `/v1/members/${member.id}/tier`, {
      key: org.keys.admin,
      body: { tier_id: gold?.id, reason: "code test" },
    });
    expect(override.status).toBe(200);
    expect((await redeem(org, member.id, "gold-only")).status).toBe(201);
  });

  it("brakes failures per member: the 11th within a minute is 429; successes do not count", async () => {
    await createCode(org, { code: "REAL-CODE" });
    const member = await enrollOverHttp(harness, org);
    for (let attempt = 0; attempt < 10; attempt += 1) {
      expect((await redeem(org, member.id, `GUESS-${attempt}`)).status).toBe(404);
    }
    const braked = await redeem(org, member.id, "REAL-CODE");
    expect(braked.status).toBe(429);
    expect(Number(braked.headers.get("Retry-After"))).toBeGreaterThan(0);
    // Another member of the same org, through another key, is not braked.
    const fresh = await enrollOverHttp(harness, org);
    expect((await redeem(org, fresh.id, "REAL-CODE", org.keys.admin)).status).toBe(201);
  });

  it("is per org and per role", async () => {
    await createCode(org, { code: "ORG-ONLY" });
    const stranger = await enrollOverHttp(harness, other);
    const member = await enrollOverHttp(harness, org);
    expect((await redeem(org, stranger.id, "ORG-ONLY")).status).toBe(404);
    expect((await redeem(other, stranger.id, "ORG-ONLY")).body.error?.code).toBe("code_not_found");
    expect((await redeem(org, member.id, "ORG-ONLY", org.keys.finance)).status).toBe(403);
    for (const key of [org.keys.pos, org.keys.finance]) {
      expect((await call(harness.app, "GET", "/v1/codes", { key })).status).toBe(403);
      expect(
        (await createCode({ ...org, keys: { ...org.keys, admin: key } }, { code: "NOPE-1" }))
          .status,
      ).toBe(403);
    }
  });

  it("finishes a redemption a crash left pending, crediting it once", async () => {
    await createCode(org, { code: "CRASH-1", points: 40 });
    const member = await enrollOverHttp(harness, org);
    const crashing = {
      ...harness.deps,
      interrupt: (step: string) => {
        if (step === "after_intent") {
          throw new Error("simulated crash");
        }
      },
    };
    await expect(
      redeemCode(crashing, {
        orgId: org.id,
        memberId: member.id,
        code: "crash-1",
        actor: platformActor,
      }),
    ).rejects.toThrow("simulated crash");
    const report = await recoverPendingIntents(harness.deps, { olderThanMs: 0, limit: 100 });
    expect(report.codeRedemptions).toBe(1);
    const again = await redeem(org, member.id, "CRASH-1");
    expect(again.status).toBe(409);
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.finance,
    });
    expect(JSON.stringify(balances.body)).toContain('"available":40');
    expect(await trialBalanced(org)).toBe(true);
  });
});
