/**
 * The command-line tool's org and key commands, run as real processes from source (tsx) against
 * a test database: create an org, list orgs, create, list and revoke keys (never the last admin
 * key), with JSON on stdout, reasons on stderr and the documented exit statuses.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { productionSecrets } from "./support/service-process.ts";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
const processTimeoutMs = 60_000;

let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  database = await createTestDatabase();
  env = {
    PATH: process.env.PATH ?? "",
    DATABASE_URL: database.url,
    NODE_ENV: "production",
    LOG_LEVEL: "warn",
    ...productionSecrets(),
  };
});
afterAll(async () => database.close());

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Exit> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      { cwd: root, timeout: processTimeoutMs, env },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

interface KeyJson {
  id: string;
  role: string;
  name: string;
  expires_at: string | null;
  revoked_at: string | null;
  token?: string;
}

describe("npm run cli", () => {
  it("creates and lists orgs, and creates, lists and revokes their keys", {
    timeout: 240_000,
  }, async () => {
    const slug = `cli-${randomBytes(3).toString("hex")}`;
    const created = await cli(
      "org",
      "create",
      "--name",
      "CLI Coffee",
      "--slug",
      slug,
      "--currency",
      "EUR",
    );
    expect(created.code, created.stderr).toBe(0);
    const org = JSON.parse(created.stdout) as { org: { id: string }; api_keys: { admin: string } };

    const orgs = await cli("org", "list");
    expect(orgs.code).toBe(0);
    expect(JSON.parse(orgs.stdout).orgs).toContainEqual(
      expect.objectContaining({ id: org.org.id, slug, currency: "EUR" }),
    );

    const made = await cli(
      "keys",
      "create",
      "--org",
      slug,
      "--role",
      "admin",
      "--name",
      "rescue",
      "--expires-at",
      "2999-01-01T00:00:00Z",
    );
    expect(made.code, made.stderr).toBe(0);
    const rescue = JSON.parse(made.stdout).api_key as KeyJson;
    expect(rescue).toMatchObject({
      role: "admin",
      name: "rescue",
      expires_at: "2999-01-01T00:00:00.000Z",
    });
    expect(rescue.token).toMatch(/^llk_/);

    const listed = await cli("keys", "list", "--org", slug);
    const keys = JSON.parse(listed.stdout).api_keys as KeyJson[];
    expect(keys.map((key) => key.name).sort()).toEqual(["admin", "finance", "pos", "rescue"]);
    expect(listed.stdout).not.toContain(rescue.token ?? "never");
    const first = keys.find((key) => key.name === "admin");

    const revoked = await cli("keys", "revoke", "--org", slug, "--id", first?.id ?? "");
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((JSON.parse(revoked.stdout).api_key as KeyJson).revoked_at).not.toBeNull();
    const last = await cli("keys", "revoke", "--org", slug, "--id", rescue.id);
    expect(last.code).toBe(1);
    expect(last.stderr).toContain("last admin key");
    expect(last.stdout).toBe("");

    const [entries] = await database.sql<{ n: number }[]>`
      select count(*)::int as n from audit_log
      where org_id = ${org.org.id} and action like 'api_key.%' and actor_key_id is null`;
    // Three keys of the org's creation, the rescue key, one revocation.
    expect(entries?.n).toBe(5);
  });

  it("answers a bad command with its usage (2) and an unknown org with not_found (1)", {
    timeout: 120_000,
  }, async () => {
    const unknownOrg = await cli("keys", "list", "--org", "no-such-org");
    expect(unknownOrg.code).toBe(1);
    expect(unknownOrg.stderr).toContain("not_found");
    const badRole = await cli("keys", "create", "--org", "x", "--role", "root", "--name", "n");
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain("--role");
    const badExpiry = await cli(
      "keys",
      "create",
      "--org",
      "x",
      "--role",
      "pos",
      "--name",
      "n",
      "--expires-at",
      "2001-01-01T00:00:00Z",
    );
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toContain("--expires-at: must be in the future");
    const unknown = await cli("keys", "rotate");
    expect(unknown.code).toBe(2);
  });
});
