import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../test/support/db.ts";
import { createTestDatabase } from "../../../test/support/db.ts";
import { buildOrg, createTestSecrets } from "../../../test/support/membership.ts";
import { platformActor } from "../audit/audit.ts";
import type { MembershipDeps } from "../deps.ts";
import { authenticateApiKey } from "./authenticate-api-key.ts";
import { createApiKey } from "./create-api-key.ts";
import { listApiKeys } from "./list-api-keys.ts";
import { revokeApiKey } from "./revoke-api-key.ts";

let database: TestDatabase;
let deps: MembershipDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = { db: database.db, secrets: createTestSecrets() };
});
afterAll(() => database?.close());

describe("API keys", () => {
  it("authenticate as their org and role, and only the HMAC is stored", async () => {
    const { org } = await buildOrg(deps);
    const key = await createApiKey(deps, {
      actor: platformActor,
      orgId: org.id,
      role: "pos",
      name: "till 3",
    });

    expect(key.id).toMatch(/^key_[0-9a-f]{32}$/);
    expect(key.token.startsWith(key.prefix)).toBe(true);
    expect(await authenticateApiKey(deps, { token: key.token })).toEqual({
      orgId: org.id,
      role: "pos",
      keyId: key.id,
    });

    const rows = await database.sql`select * from api_keys where id = ${key.id}`;
    expect(rows).toHaveLength(1);
    const stored = JSON.stringify(rows[0]);
    expect(stored).not.toContain(key.token);
    expect(stored).not.toContain(key.token.slice(key.prefix.length));
    expect(rows[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuse unknown, altered, empty and oversized tokens", async () => {
    const { org } = await buildOrg(deps);
    const key = await createApiKey(deps, {
      actor: platformActor,
      orgId: org.id,
      role: "admin",
      name: "ops",
    });
    const altered = `${key.token.slice(0, -1)}${key.token.endsWith("A") ? "B" : "A"}`;

    for (const token of [altered, "llk_unknown", "", "x".repeat(129)]) {
      expect(await authenticateApiKey(deps, { token })).toBeNull();
    }
  });

  it("do not authenticate under another server secret", async () => {
    const { apiKeys } = await buildOrg(deps);
    const otherServer = { ...deps, secrets: createTestSecrets() };
    expect(await authenticateApiKey(otherServer, { token: apiKeys.admin.token })).toBeNull();
  });

  it("stop authenticating once revoked, and revoking again keeps the first time", async () => {
    const { org } = await buildOrg(deps);
    const key = await createApiKey(deps, {
      actor: platformActor,
      orgId: org.id,
      role: "finance",
      name: "books",
    });

    const revoked = await revokeApiKey(deps, {
      actor: platformActor,
      orgId: org.id,
      keyId: key.id,
    });
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await authenticateApiKey(deps, { token: key.token })).toBeNull();

    const again = await revokeApiKey(deps, { actor: platformActor, orgId: org.id, keyId: key.id });
    expect(again.revokedAt).toEqual(revoked.revokedAt);
  });

  it("cannot be revoked through another org", async () => {
    const owner = await buildOrg(deps);
    const other = await buildOrg(deps);
    const keyId = owner.apiKeys.pos.id;

    await expect(
      revokeApiKey(deps, { actor: platformActor, orgId: other.org.id, keyId }),
    ).rejects.toMatchObject({
      code: "not_found",
    });
    await expect(
      revokeApiKey(deps, { actor: platformActor, orgId: other.org.id, keyId: "key_nope" }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect(await authenticateApiKey(deps, { token: owner.apiKeys.pos.token })).not.toBeNull();
  });

  it("record when they were last used", async () => {
    const { org, apiKeys } = await buildOrg(deps);
    const before = (await listApiKeys(deps, { orgId: org.id })).find(
      (key) => key.id === apiKeys.admin.id,
    );
    expect(before?.lastUsedAt).toBeNull();

    await authenticateApiKey(deps, { token: apiKeys.admin.token });
    const after = (await listApiKeys(deps, { orgId: org.id })).find(
      (key) => key.id === apiKeys.admin.id,
    );
    expect(after?.lastUsedAt).toBeInstanceOf(Date);
  });

  it("are listed per org without their secrets", async () => {
    const { org } = await buildOrg(deps);
    await buildOrg(deps);
    const keys = await listApiKeys(deps, { orgId: org.id });

    expect(keys.map((key) => key.role).sort()).toEqual(["admin", "finance", "pos"]);
    for (const key of keys) {
      expect(key.orgId).toBe(org.id);
      expect(Object.keys(key)).not.toContain("hash");
      expect(Object.keys(key)).not.toContain("token");
    }
  });
});
