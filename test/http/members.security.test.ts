/**
 * Who may touch members: no key or a bad one is 401; a key of the wrong role is 403; another
 * org's key gets 404 on every member route, exactly like an unknown id, and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiKeyCacheTtlMs } from "../../src/http/limits.ts";
import { revokeApiKey } from "../../src/membership/api-keys/revoke-api-key.ts";
import { platformActor } from "../../src/membership/audit/audit.ts";
import type { Harness, Role, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  countRows,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;
let member: { id: string; externalRef: string };

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  member = await enrollOverHttp(harness, org, { email: "private@example.com" });
});
afterAll(async () => {
  await harness?.close();
});

/** Every member route, with a body that would succeed for the member's own org. */
function memberRoutes(): Array<{ method: string; path: string; body?: unknown }> {
  return [
    { method: "GET", path: `/v1/members/${member.id}` },
    {
      method: "GET",
      path: `/v1/members?external_ref=${encodeURIComponent(member.externalRef)}`,
    },
    { method: "PATCH", path: `/v1/members/${member.id}`, body: { first_name: "Mallory" } },
    { method: "GET", path: `/v1/members/${member.id}/balances` },
    { method: "GET", path: `/v1/members/${member.id}/history` },
    { method: "POST", path: `/v1/members/${member.id}/redemptions`, body: { points: 10 } },
  ];
}

describe("authentication", () => {
  it("answers 401 without a key, with a malformed header and with an unknown key", async () => {
    const routes = [...memberRoutes(), { method: "POST", path: "/v1/members", body: {} }];
    for (const route of routes) {
      const variants: Array<Record<string, string>> = [
        {},
        { Authorization: "Basic dXNlcjpwYXNz" },
        { Authorization: "Bearer lk_unknown_key" },
        { Authorization: `Bearer ${"x".repeat(500)}` },
      ];
      for (const headers of variants) {
        const response = await call(harness.app, route.method, route.path, {
          body: route.body,
          headers,
        });
        expect(response.status, `${route.method} ${route.path}`).toBe(401);
        expect(response.body.error?.code).toBe("unauthorized");
        expect(response.headers.get("www-authenticate")).toContain("Bearer");
      }
    }
  });

  it("stops accepting a revoked key once the key cache has expired", async () => {
    const fresh = await buildTestOrg(harness);
    const before = await call(harness.app, "POST", "/v1/members", {
      key: fresh.keys.pos,
      body: { external_ref: "card-revoked" },
    });
    expect(before.status).toBe(201);
    await revokeApiKey(harness.deps, {
      actor: platformActor,
      orgId: fresh.id,
      keyId: fresh.result.apiKeys.pos.id,
    });
    // Trusted from the cache for at most apiKeyCacheTtlMs (another process may have revoked it).
    const cached = await call(harness.app, "GET", "/v1/members?external_ref=card-revoked", {
      key: fresh.keys.pos,
    });
    expect(cached.status).toBe(200);
    harness.environment.advanceSeconds(Math.ceil(apiKeyCacheTtlMs / 1000));
    const after = await call(harness.app, "GET", "/v1/members?external_ref=card-revoked", {
      key: fresh.keys.pos,
    });
    expect(after.status).toBe(401);
  });

  it("stops accepting a key as soon as it is revoked when keys are not cached", async () => {
    const uncached = harness.variant({ apiKeyCacheTtlMs: 0 });
    const fresh = await buildTestOrg(harness);
    const before = await call(uncached, "POST", "/v1/members", {
      key: fresh.keys.pos,
      body: { external_ref: "card-revoked-now" },
    });
    expect(before.status).toBe(201);
    await revokeApiKey(harness.deps, {
      actor: platformActor,
      orgId: fresh.id,
      keyId: fresh.result.apiKeys.pos.id,
    });
    const after = await call(uncached, "GET", "/v1/members?external_ref=card-revoked-now", {
      key: fresh.keys.pos,
    });
    expect(after.status).toBe(401);
  });
});

describe("roles", () => {
  it("keeps finance keys away from personal data and enrolment", async () => {
    const forbidden: Array<[string, string, unknown?]> = [
      ["POST", "/v1/members", { external_ref: "card-finance" }],
      ["GET", `/v1/members/${member.id}`],
      ["GET", `/v1/members?external_ref=${encodeURIComponent(member.externalRef)}`],
      ["PATCH", `/v1/members/${member.id}`, { first_name: "F" }],
      ["POST", `/v1/members/${member.id}/redemptions`, { points: 1 }],
    ];
    for (const [method, path, body] of forbidden) {
      const response = await call(harness.app, method, path, { key: org.keys.finance, body });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body.error?.code).toBe("forbidden");
    }
    for (const path of [`/v1/members/${member.id}/balances`, `/v1/members/${member.id}/history`]) {
      const response = await call(harness.app, "GET", path, { key: org.keys.finance });
      expect(response.status, path).toBe(200);
    }
  });

  it("lets only an admin change a member's status", async () => {
    const response = await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.pos,
      body: { status: "closed" },
    });
    expect(response.status).toBe(403);
    const stored = await call(harness.app, "GET", `/v1/members/${member.id}`, {
      key: org.keys.admin,
    });
    expect(stored.body.status).toBe("active");
  });
});

describe("another org's key", () => {
  it("gets 404 on every member route, whatever its role, and changes nothing", async () => {
    const transfers = await ledgerTransferCount(harness);
    const redemptions = await countRows(harness, "redemptions", org.id);
    const roles: Role[] = ["admin", "pos", "finance"];
    for (const route of memberRoutes()) {
      let notFound = 0;
      for (const role of roles) {
        const response = await call(harness.app, route.method, route.path, {
          key: other.keys[role],
          body: route.body,
        });
        // A role that may not call the route at all is refused before the lookup (403);
        // every role that may call it learns nothing about the other org's member.
        if (response.status === 403) {
          continue;
        }
        expect(response.status, `${role} ${route.method} ${route.path}`).toBe(404);
        expect(response.body.error?.code).toBe("not_found");
        expect(JSON.stringify(response.body)).not.toContain("private@example.com");
        notFound += 1;
      }
      expect(notFound, `${route.method} ${route.path}`).toBeGreaterThan(0);
    }
    const unknown = await call(
      harness.app,
      "GET",
      "/v1/members/00000000-0000-4000-8000-000000000000",
      { key: other.keys.admin },
    );
    const foreign = await call(harness.app, "GET", `/v1/members/${member.id}`, {
      key: other.keys.admin,
    });
    expect(foreign.body.error?.message).toBe(unknown.body.error?.message);

    expect(await ledgerTransferCount(harness)).toBe(transfers);
    expect(await countRows(harness, "redemptions", org.id)).toBe(redemptions);
    const own = await call(harness.app, "GET", `/v1/members/${member.id}`, { key: org.keys.admin });
    expect(own.body.first_name).toBeNull();
  });
});
