/**
 * The audit log and manual adjustments over HTTP: every admin action writes one entry (who, in
 * which request, the object before and after) in its own transaction; a refused action writes
 * none; entries are the org's own, filterable and paged; the database refuses to change them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness.close());

interface Entry {
  id: string;
  at: string;
  actor_key_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  request_id: string | null;
}

async function audit(of: TestOrg, query = ""): Promise<Entry[]> {
  const response = await call(harness.app, "GET", `/v1/audit${query}`, { key: of.keys.finance });
  expect(response.status).toBe(200);
  return list(response.body.entries) as unknown as Entry[];
}

describe("the audit log", () => {
  it("records a settings change with its actor, request and the settings before and after", async () => {
    const response = await call(harness.app, "PATCH", "/v1/settings", {
      key: org.keys.admin,
      headers: { "X-Request-Id": "audit-test-settings-1" },
      body: { tier_metric: "spend", tier_window_months: 6 },
    });
    expect(response.status).toBe(200);
    const [entry] = await audit(org, "?action=settings.updated");
    expect(entry).toMatchObject({
      actor_key_id: org.result.apiKeys.admin.id,
      action: "settings.updated",
      target_type: "settings",
      target_id: org.id,
      request_id: "audit-test-settings-1",
      before: expect.objectContaining({ tierMetric: "points", tierWindowMonths: 12 }),
      after: expect.objectContaining({ tierMetric: "spend", tierWindowMonths: 6 }),
    });
    // A refused patch changes nothing and writes no entry.
    const refused = await call(harness.app, "PATCH", "/v1/settings", {
      key: org.keys.admin,
      body: { tier_window_months: 0 },
    });
    expect(refused.status).toBe(400);
    expect(await audit(org, "?action=settings.updated")).toHaveLength(1);
  });

  it("records webhooks created and deleted, never their secret", async () => {
    const created = await call(harness.app, "POST", "/v1/webhooks", {
      key: org.keys.admin,
      body: { url: "https://hooks.example.com/audit", events: ["points.earned"] },
    });
    expect(created.status).toBe(201);
    const webhook = created.body.webhook as unknown as { id: string; secret: string };
    const deleted = await call(harness.app, "DELETE", `/v1/webhooks/${webhook.id}`, {
      key: org.keys.admin,
    });
    expect(deleted.status).toBe(200);
    const entries = await audit(org, `?target_type=webhook&target_id=${webhook.id}`);
    expect(entries.map((entry) => entry.action)).toEqual(["webhook.deleted", "webhook.created"]);
    expect(entries[1]).toMatchObject({
      before: null,
      after: { url: "https://hooks.example.com/audit", events: ["points.earned"] },
    });
    expect(entries[0]).toMatchObject({ before: { url: "https://hooks.example.com/audit" } });
    expect(JSON.stringify(entries)).not.toContain(webhook.secret.slice("whsec_".length));
  });

  it("is the org's own, filtered, paged, and readable by admin and finance only", async () => {
    // The other org sees its own entries only: the creation of its three keys.
    const others = await audit(other);
    expect(others.map((entry) => entry.target_id).sort()).toEqual(
      Object.values(other.result.apiKeys)
        .map((key) => key.id)
        .sort(),
    );
    const pos = await call(harness.app, "GET", "/v1/audit", { key: org.keys.pos });
    expect(pos.status).toBe(403);
    const all = await audit(org);
    expect(all.length).toBeGreaterThanOrEqual(6);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "?limit=1" : `?limit=1&cursor=${cursor}`;
      const page = await call(harness.app, "GET", `/v1/audit${query}`, { key: org.keys.admin });
      expect(page.status).toBe(200);
      seen.push(...(list(page.body.entries) as unknown as Entry[]).map((entry) => entry.id));
      cursor = page.body.next_cursor as unknown as string | null;
    } while (cursor !== null);
    expect(seen).toEqual(all.map((entry) => entry.id));
    const future = await audit(org, "?from=2999-01-01T00:00:00Z");
    expect(future).toEqual([]);
    const before = await audit(org, `?to=${encodeURIComponent(all.at(-1)?.at ?? "")}`);
    expect(before).toEqual([]);
    const bad = await call(harness.app, "GET", "/v1/audit?cursor=abc", { key: org.keys.admin });
    expect(bad.status).toBe(400);
  });

  it("cannot be changed or removed, whoever asks", async () => {
    const { sql } = harness.database;
    const [row] = await sql<{ seq: string }[]>`select seq::text as seq from audit_log limit 1`;
    expect(row).toBeDefined();
    await expect(
      sql`update audit_log set action = 'x' where seq = ${row?.seq ?? "0"}`,
    ).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_log where seq = ${row?.seq ?? "0"}`).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`truncate audit_log`).rejects.toThrow(/append-only/);
    const [count] = await sql<{ n: number }[]>`select count(*)::int as n from audit_log`;
    expect(count?.n).toBeGreaterThan(0);
  });
});

describe("POST /v1/members/{id}/adjustments", () => {
  it("credits and debits with a signed amount, audited, idempotent by external id", async () => {
    const member = await enrollOverHttp(harness, org);
    const path = `/v1/members/${member.id}/adjustments`;
    const balanceBefore = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.admin,
    });
    const start = (balanceBefore.body.points as unknown as { available: number }).available;

    const credit = { external_id: "adj-credit-1", points: 250, reason: "goodwill: late delivery" };
    const first = await call(harness.app, "POST", path, {
      key: org.keys.admin,
      headers: { "X-Request-Id": "audit-test-adjust-1" },
      body: credit,
    });
    expect(first.status).toBe(201);
    expect(first.body.adjustment).toMatchObject({
      member_id: member.id,
      external_id: "adj-credit-1",
      points: 250,
      reason: "goodwill: late delivery",
      balance: { available: start + 250 },
    });
    const again = await call(harness.app, "POST", path, { key: org.keys.admin, body: credit });
    expect(again.status).toBe(200);
    expect(again.body.adjustment).toMatchObject({
      id: (first.body.adjustment as unknown as { id: string }).id,
    });
    const changed = await call(harness.app, "POST", path, {
      key: org.keys.admin,
      body: { ...credit, points: 251 },
    });
    expect(changed.status).toBe(409);

    const debit = await call(harness.app, "POST", path, {
      key: org.keys.admin,
      body: { external_id: "adj-debit-1", points: -50, reason: "correction" },
    });
    expect(debit.status).toBe(201);
    expect(debit.body.adjustment).toMatchObject({
      points: -50,
      balance: { available: start + 200 },
    });

    // Beyond the balance: 422, nothing moves, no entry.
    const tooMuch = await call(harness.app, "POST", path, {
      key: org.keys.admin,
      body: { external_id: "adj-debit-2", points: -(start + 201), reason: "too much" },
    });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.error).toMatchObject({ code: "insufficient_points" });
    const after = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.admin,
    });
    expect(after.body.points).toMatchObject({ available: start + 200 });

    const entries = await audit(org, `?action=member.points_adjusted&target_id=${member.id}`);
    expect(entries.map((entry) => entry.after?.external_id)).toEqual([
      "adj-debit-1",
      "adj-credit-1",
    ]);
    expect(entries[1]).toMatchObject({
      actor_key_id: org.result.apiKeys.admin.id,
      request_id: "audit-test-adjust-1",
      target_type: "member",
      after: { direction: "credit", points: "250", reason: "goodwill: late delivery" },
    });
  });

  it("refuses bad input, other roles and another org's member, and changes nothing", async () => {
    const member = await enrollOverHttp(harness, org);
    const path = `/v1/members/${member.id}/adjustments`;
    const valid = { external_id: "adj-refused", points: 10, reason: "r" };
    for (const body of [
      { ...valid, points: 0 },
      { ...valid, points: 1.5 },
      { ...valid, reason: "" },
      { external_id: "adj-refused", points: 10 },
    ]) {
      const response = await call(harness.app, "POST", path, { key: org.keys.admin, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    const pos = await call(harness.app, "POST", path, { key: org.keys.pos, body: valid });
    expect(pos.status).toBe(403);
    const foreign = await call(harness.app, "POST", path, { key: other.keys.admin, body: valid });
    expect(foreign.status).toBe(404);
    const unknown = await call(
      harness.app,
      "POST",
      "/v1/members/00000000-0000-4000-8000-000000000000/adjustments",
      { key: org.keys.admin, body: valid },
    );
    expect(unknown.status).toBe(404);
    expect(await audit(org, `?target_id=${member.id}`)).toEqual([]);
    expect(await audit(other, `?target_id=${member.id}`)).toEqual([]);
  });
});
