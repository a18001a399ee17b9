/**
 * Manual tier overrides over HTTP: `PUT /v1/members/{id}/tier` holds a member in a tier at once,
 * up or down, and the next purchase earns with its multiplier while evaluation leaves it alone;
 * `DELETE /v1/members/{id}/tier/override` returns the member at once to the tier their ledger
 * history earns, up or down, with no grace, and is idempotent; an expired override shows as
 * ended at once. Admin only (pos and finance 403), another org's member or tier 404, refused
 * input changes nothing, and each change is in the audit log with its key and request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateMemberTier } from "../../src/membership/index.ts";
import type { Harness, Json, TestOrg } from "./support.ts";
import { buildTestOrg, call, countRows, createHarness, enrollOverHttp, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

let sequence = 0;

async function purchase(memberId: string, amount: number): Promise<number> {
  sequence += 1;
  const response = await call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    body: { external_id: `override-${sequence}`, member_id: memberId, amount, currency: "EUR" },
  });
  expect(response.status).toBe(201);
  return Number(response.body.points_earned);
}

function tierId(of: TestOrg, name: string): string {
  const tier = of.result.tiers.find((candidate) => candidate.name === name);
  expect(tier, name).toBeDefined();
  return tier?.id ?? "";
}

function put(memberId: string, body: unknown, key = org.keys.admin) {
  return call(harness.app, "PUT", `/v1/members/${memberId}/tier`, {
    key,
    body,
    headers: { "X-Request-Id": `override-put-${memberId.slice(0, 8)}` },
  });
}

function clear(memberId: string, key = org.keys.admin) {
  return call(harness.app, "DELETE", `/v1/members/${memberId}/tier/override`, { key });
}

function inOneHour(): string {
  return new Date(harness.environment.now().getTime() + 60 * 60 * 1000).toISOString();
}

async function auditOf(memberId: string): Promise<Json[]> {
  const response = await call(
    harness.app,
    "GET",
    `/v1/audit?target_type=member&target_id=${memberId}`,
    { key: org.keys.admin },
  );
  expect(response.status).toBe(200);
  return list(response.body.entries).reverse();
}

async function tierChanges(memberId: string): Promise<string[]> {
  const rows = await harness.database.sql<{ reason: string }[]>`
    select payload->>'reason' as reason from outbox
    where org_id = ${org.id} and topic = 'tier.changed' and payload->>'member_id' = ${memberId}
    order by id`;
  return rows.map((row) => row.reason);
}

describe("PUT /v1/members/{id}/tier", () => {
  it("holds a member above their tier, and DELETE returns them down at once, without grace", async () => {
    const member = await enrollOverHttp(harness, org);
    expect(await purchase(member.id, 20_000)).toBe(200);
    const expiresAt = inOneHour();
    const set = await put(member.id, {
      tier_id: tierId(org, "Gold"),
      reason: "Compensation for the March outage",
      expires_at: expiresAt,
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      tier: { name: "Gold", multiplier: "1.50" },
      source: "override",
      override: { reason: "Compensation for the March outage", expires_at: expiresAt },
      next: null,
      downgrade: null,
    });
    expect(typeof set.body.override?.set_at).toBe("string");
    // The next purchase earns Gold's 1.50; re-evaluation leaves the override alone.
    expect(await purchase(member.id, 10_000)).toBe(150);
    expect(
      (await evaluateMemberTier(harness.deps, { orgId: org.id, memberId: member.id })).action,
    ).toBe("skipped");
    const read = await call(harness.app, "GET", `/v1/members/${member.id}/tier`, {
      key: org.keys.pos,
    });
    // The same override; only the value moved with the purchase.
    expect({ ...read.body, qualifying: null }).toEqual({ ...set.body, qualifying: null });

    // 350 points earn Bronze: back there now, no downgrade scheduled.
    const cleared = await clear(member.id);
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({
      tier: { name: "Bronze" },
      source: "default",
      override: null,
      qualifying: { value: 350 },
      downgrade: null,
    });
    expect(await purchase(member.id, 10_000)).toBe(100);
    expect(await tierChanges(member.id)).toEqual(["override", "override_cleared"]);

    // Clearing again: the same 200, nothing written.
    const again = await clear(member.id);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ tier: { name: "Bronze" }, override: null });

    const audit = await auditOf(member.id);
    expect(audit.map((entry) => entry.action)).toEqual([
      "member.tier_overridden",
      "member.tier_override_cleared",
    ]);
    expect(audit[0]).toMatchObject({
      actor_key_id: org.result.apiKeys.admin.id,
      request_id: `override-put-${member.id.slice(0, 8)}`,
      before: {
        tier: { id: tierId(org, "Bronze"), name: "Bronze" },
        source: "default",
        override: null,
      },
      after: {
        tier: { id: tierId(org, "Gold"), name: "Gold" },
        source: "override",
        override: { reason: "Compensation for the March outage", expires_at: expiresAt },
      },
    });
    expect(audit[1]).toMatchObject({
      before: { tier: { name: "Gold" }, override: { reason: "Compensation for the March outage" } },
      after: { tier: { name: "Bronze" }, source: "default", override: null },
    });
  });

  it("holds a member below their tier, and DELETE returns them up at once", async () => {
    const member = await enrollOverHttp(harness, org);
    await purchase(member.id, 600_000);
    await evaluateMemberTier(harness.deps, { orgId: org.id, memberId: member.id });
    const set = await put(member.id, { tier_id: tierId(org, "Bronze"), reason: "under review" });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      tier: { name: "Bronze" },
      source: "override",
      override: { reason: "under review", expires_at: null },
    });
    expect(await purchase(member.id, 10_000)).toBe(100);
    expect(
      (await evaluateMemberTier(harness.deps, { orgId: org.id, memberId: member.id })).action,
    ).toBe("skipped");

    const cleared = await clear(member.id);
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({
      tier: { name: "Gold" },
      source: "earned",
      override: null,
      qualifying: { value: 6_100 },
    });
    expect(await purchase(member.id, 10_000)).toBe(150);
    expect(await tierChanges(member.id)).toEqual(["upgrade", "override", "override_cleared"]);
  });

  it("shows an expired override as ended at once", async () => {
    const member = await enrollOverHttp(harness, org);
    const set = await put(member.id, {
      tier_id: tierId(org, "Silver"),
      reason: "trial",
      expires_at: inOneHour(),
    });
    expect(set.status).toBe(200);
    harness.environment.advanceSeconds(60 * 60 + 1);
    const read = await call(harness.app, "GET", `/v1/members/${member.id}/tier`, {
      key: org.keys.finance,
    });
    expect(read.body).toMatchObject({
      tier: { name: "Bronze" },
      source: "default",
      override: null,
    });
  });

  it("answers 404 for another org's or an unknown member or tier, and 403 to pos and finance", async () => {
    const member = await enrollOverHttp(harness, org);
    const foreign = await enrollOverHttp(harness, other);
    const unknown = "00000000-0000-4000-8000-000000000000";
    const body = { tier_id: tierId(org, "Gold"), reason: "x" };
    for (const [path, tier] of [
      [foreign.id, tierId(org, "Gold")],
      [unknown, tierId(org, "Gold")],
      [member.id, tierId(other, "Gold")],
      [member.id, unknown],
      [member.id, "not-a-tier"],
    ] as const) {
      const response = await put(path, { ...body, tier_id: tier });
      expect(response.status, `${path} ${tier}`).toBe(404);
      expect(response.body.error?.code).toBe("not_found");
    }
    expect((await clear(foreign.id)).status).toBe(404);
    expect((await clear(unknown)).status).toBe(404);
    for (const role of ["pos", "finance"] as const) {
      expect((await put(member.id, body, org.keys[role])).status).toBe(403);
      expect((await clear(member.id, org.keys[role])).status).toBe(403);
    }
    // Another org's admin key reaches nothing of this org either.
    expect((await put(member.id, body, other.keys.admin)).status).toBe(404);
    expect((await clear(member.id, other.keys.admin)).status).toBe(404);
    expect(await auditOf(member.id)).toEqual([]);
  });

  it("refuses bad input naming the field, and changes nothing", async () => {
    const member = await enrollOverHttp(harness, org);
    const before = await call(harness.app, "GET", `/v1/members/${member.id}/tier`, {
      key: org.keys.admin,
    });
    const outboxBefore = await countRows(harness, "outbox", org.id);
    const gold = tierId(org, "Gold");
    const now = harness.environment.now().getTime();
    const cases: Array<[unknown, string]> = [
      [{ tier_id: gold }, "reason"],
      [{ tier_id: gold, reason: "" }, "reason"],
      [{ tier_id: gold, reason: "r".repeat(201) }, "reason"],
      [{ reason: "x" }, "tier_id"],
      [{ tier_id: gold, reason: "x", expires_at: "tomorrow" }, "expires_at"],
      [{ tier_id: gold, reason: "x", expires_at: new Date(now).toISOString() }, "expires_at"],
      [
        { tier_id: gold, reason: "x", expires_at: new Date(now - 1_000).toISOString() },
        "expires_at",
      ],
      [
        {
          tier_id: gold,
          reason: "x",
          expires_at: new Date(now + 3_661 * 86_400_000).toISOString(),
        },
        "expires_at",
      ],
      [{ tier_id: gold, reason: "x", extra: true }, ""],
    ];
    for (const [body, field] of cases) {
      const response = await put(member.id, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
      const paths = list(response.body.error?.details?.issues).map((issue) => String(issue.path));
      expect(paths, JSON.stringify(body)).toContain(field);
    }
    const after = await call(harness.app, "GET", `/v1/members/${member.id}/tier`, {
      key: org.keys.admin,
    });
    expect(after.body).toEqual(before.body);
    expect(await countRows(harness, "outbox", org.id)).toBe(outboxBefore);
    expect(await auditOf(member.id)).toEqual([]);
    const history = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from member_tiers where member_id = ${member.id}`;
    expect(history[0]?.n).toBe(1);
  });
});
