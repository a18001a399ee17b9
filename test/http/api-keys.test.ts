/**
 * API key administration: a created key works for its role at once and its token is shown once;
 * listing never shows a token; a revoked or expired key stops working; the last live admin key
 * cannot be revoked (rotation is create, then revoke); every change is audited; per org.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, type Harness, list } from "./support.ts";

let harness: Harness;
/** The same app without the key cache: revocations show at once. */
let app: Harness["app"];
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  app = harness.variant({ apiKeyCacheTtlMs: 0 });
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness.close());

interface Key {
  id: string;
  role: string;
  name: string;
  prefix: string;
  expires_at: string | null;
  revoked_at: string | null;
  token?: string;
}

async function create(of: TestOrg, body: Record<string, unknown>) {
  return call(app, "POST", "/v1/api-keys", { key: of.keys.admin, body });
}

async function keysOf(of: TestOrg): Promise<Key[]> {
  const response = await call(app, "GET", "/v1/api-keys", { key: of.keys.admin });
  expect(response.status).toBe(200);
  return list(response.body.api_keys) as unknown as Key[];
}

describe("API keys", () => {
  it("creates a key that works for its role at once, shown once, listed without its token", async () => {
    const created = await create(org, { role: "finance", name: "auditor" });
    expect(created.status).toBe(201);
    const key = created.body.api_key as unknown as Key;
    expect(key).toMatchObject({ role: "finance", name: "auditor", expires_at: null });
    expect(key.token?.startsWith(key.prefix)).toBe(true);
    const trial = await call(app, "GET", "/v1/ledger/trial-balance", { key: key.token ?? "" });
    expect(trial.status).toBe(200);
    const denied = await call(app, "GET", "/v1/api-keys", { key: key.token ?? "" });
    expect(denied.status).toBe(403);
    const listed = await keysOf(org);
    expect(listed.map((entry) => entry.id)).toContain(key.id);
    expect(JSON.stringify(listed)).not.toContain(key.token ?? "never");
    expect((await keysOf(other)).map((entry) => entry.id)).not.toContain(key.id);
  });

  it("stops a revoked key and an expired one", async () => {
    const created = await create(org, {
      role: "pos",
      name: "till 9",
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const key = created.body.api_key as unknown as Key;
    const asKey = () =>
      call(app, "GET", "/v1/members?external_ref=nobody", { key: key.token ?? "" });
    expect((await asKey()).status).toBe(404);
    // Its expiry reached (moved here by hand rather than waiting an hour).
    await harness.database.sql`
      update api_keys set expires_at = now() - interval '1 second' where id = ${key.id}`;
    expect((await asKey()).status).toBe(401);

    const second = (await create(org, { role: "pos", name: "till 10" })).body
      .api_key as unknown as Key;
    const revoked = await call(app, "DELETE", `/v1/api-keys/${second.id}`, { key: org.keys.admin });
    expect(revoked.status).toBe(200);
    expect((revoked.body.api_key as unknown as Key).revoked_at).not.toBeNull();
    const again = await call(app, "DELETE", `/v1/api-keys/${second.id}`, { key: org.keys.admin });
    expect(again.status).toBe(200);
    expect(again.body.api_key).toEqual(revoked.body.api_key);
    const refused = await call(app, "GET", "/v1/members?external_ref=nobody", {
      key: second.token ?? "",
    });
    expect(refused.status).toBe(401);
  });

  it("rotates the last admin key without locking the org out", async () => {
    const first = org.result.apiKeys.admin;
    const last = await call(app, "DELETE", `/v1/api-keys/${first.id}`, { key: org.keys.admin });
    expect(last.status).toBe(409);
    const replacement = (await create(org, { role: "admin", name: "admin 2" })).body
      .api_key as unknown as Key;
    const rotated = await call(app, "DELETE", `/v1/api-keys/${first.id}`, {
      key: replacement.token ?? "",
    });
    expect(rotated.status).toBe(200);
    expect((await call(app, "GET", "/v1/api-keys", { key: org.keys.admin })).status).toBe(401);
    const now = await call(app, "GET", "/v1/api-keys", { key: replacement.token ?? "" });
    expect(now.status).toBe(200);
    // And the replacement is now the last one.
    const selfRevoke = await call(app, "DELETE", `/v1/api-keys/${replacement.id}`, {
      key: replacement.token ?? "",
    });
    expect(selfRevoke.status).toBe(409);
    org.keys.admin = replacement.token ?? "";

    const audit = await call(app, "GET", "/v1/audit?target_type=api_key", {
      key: org.keys.finance,
    });
    const actions = (
      list(audit.body.entries) as unknown as Array<{ action: string; target_id: string }>
    )
      .filter((entry) => entry.target_id === first.id || entry.target_id === replacement.id)
      .map((entry) => `${entry.action} ${entry.target_id === first.id ? "first" : "replacement"}`);
    expect(actions).toEqual([
      "api_key.revoked first",
      "api_key.created replacement",
      "api_key.created first",
    ]);
    expect(JSON.stringify(audit.body)).not.toContain(replacement.token ?? "never");
  });

  it("refuses bad input, other roles and another org's keys, changing nothing", async () => {
    const before = (await keysOf(org)).length;
    for (const body of [
      { role: "owner", name: "x" },
      { role: "pos", name: "" },
      { role: "pos" },
      { role: "pos", name: "x", expires_at: "2020-01-01T00:00:00Z" },
      { role: "pos", name: "x", expires_at: "tomorrow" },
    ]) {
      const response = await create(org, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    const pos = await call(app, "POST", "/v1/api-keys", {
      key: org.keys.pos,
      body: { role: "admin", name: "escalate" },
    });
    expect(pos.status).toBe(403);
    const foreign = await call(app, "DELETE", `/v1/api-keys/${org.result.apiKeys.pos.id}`, {
      key: other.keys.admin,
    });
    expect(foreign.status).toBe(404);
    const unknown = await call(app, "DELETE", `/v1/api-keys/key_${"0".repeat(32)}`, {
      key: org.keys.admin,
    });
    expect(unknown.status).toBe(404);
    expect((await keysOf(org)).length).toBe(before);
    const posStill = await call(app, "GET", "/v1/members?external_ref=nobody", {
      key: org.keys.pos,
    });
    expect(posStill.status).toBe(404);
  });
});
