/**
 * The production build as an operator runs it: `npm run build` output, `npm start` stopped by a
 * SIGTERM sent to npm, and the schema rule at start (production refuses an out-of-date schema
 * unless MIGRATE_ON_START=true; `npm run migrate` applies it). Each start is a real process on
 * a database, data directory and Redis key prefix of its own.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { knownMigrations, pendingMigrations } from "../../src/membership/index.ts";
import {
  openAdminClient,
  openDatabase,
  quoteIdentifier,
  withDatabaseName,
} from "../../src/membership/store/db.ts";
import type { TestDatabase } from "../support/db.ts";
import { createTestDatabase } from "../support/db.ts";
import { deleteKeys, redisUrl } from "../support/redis.ts";
import {
  buildIfStale,
  freePort,
  logLines,
  portIsFree,
  productionSecrets,
  repoRoot,
  startProcess,
  waitForReady,
} from "../support/service-process.ts";
import { waitFor } from "../support/workers.ts";

const serverUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** Compiling the whole tree on a loaded 2-core machine takes a minute or two. */
const buildTimeoutMs = 300_000;
const processTestTimeoutMs = 180_000;
const readyDeadlineMs = 120_000;

const directory = mkdtempSync(join(tmpdir(), "loyalty-production-test-"));
/** Databases this file created without the test helper; dropped at the end. */
const createdDatabases: string[] = [];

function serviceEnv(databaseUrl: string, port: number, extra: Record<string, string> = {}) {
  return {
    LOG_LEVEL: "info",
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    LEDGER_DATA_FILE: join(directory, `ledger-${port}.tb`),
    REDIS_KEY_PREFIX: `production-test-${process.pid}-${port}:`,
    ...extra,
  };
}

/** A database name that does not exist yet (the test helpers' prefix, so leftovers get swept). */
function freshDatabaseUrl(): string {
  const name = `loyalty_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  createdDatabases.push(name);
  return withDatabaseName(serverUrl, name);
}

async function pendingTags(url: string): Promise<string[]> {
  const database = await openDatabase({
    url,
    poolMax: 1,
    statementTimeoutMs: 10_000,
    migrate: false,
  });
  try {
    return (await pendingMigrations(database.sql)).map((migration) => migration.tag);
  } finally {
    await database.close();
  }
}

async function databaseExists(url: string): Promise<boolean> {
  const name = new URL(url).pathname.slice(1);
  const admin = openAdminClient(serverUrl, "loyalty-test-admin");
  try {
    return (await admin`select 1 from pg_database where datname = ${name}`).length > 0;
  } finally {
    await admin.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

function listFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: "utf8" });
}

beforeAll(() => buildIfStale(), buildTimeoutMs);

afterAll(async () => {
  rmSync(directory, { recursive: true, force: true });
  // Every start used a prefix of this run's: the job queues' keys go with them.
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await deleteKeys(redis, `production-test-${process.pid}-`).catch(() => undefined);
  await redis.quit().catch(() => redis.disconnect());
  const admin = openAdminClient(serverUrl, "loyalty-test-admin");
  try {
    for (const name of createdDatabases) {
      await admin.unsafe(`drop database if exists ${quoteIdentifier(name)} with (force)`);
    }
  } finally {
    await admin.end();
  }
});

describe("npm run build", () => {
  it("compiles the service, the CLI and the migrate command into dist/, without tests or test helpers", () => {
    const files = listFiles(join(repoRoot, "dist"));
    expect(files).toEqual(expect.arrayContaining(["main.js", "cli.js", "migrate.js"]));
    expect(files.filter((file) => /\.test\.js$|testing/.test(file))).toEqual([]);
    expect(files.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))).toEqual([]);
    // The service entry is one bundle that runs without tsx.
    const main = readFileSync(join(repoRoot, "dist", "main.js"), "utf8");
    expect(main).not.toMatch(/from ["']tsx|import\(["']tsx/);
    expect(main).not.toMatch(/from ["']\.\/[^"']+\.ts["']/);
  });

  it("keeps tsx out of the production dependencies", () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies)).not.toContain("tsx");
    expect(Object.keys(manifest.devDependencies)).toContain("tsx");
    expect(manifest.scripts.start).toMatch(/^exec node .*dist\/main\.js$/);
  });
});

describe("npm run start:workers", () => {
  it("refuses to start on the embedded ledger, saying why and what to run instead", async () => {
    const port = await freePort();
    const workers = startProcess(
      "node",
      ["dist/main.js", "workers"],
      serviceEnv("postgres://postgres@127.0.0.1:5432/unused", port),
    );
    expect(await workers.exited).toEqual({ code: 1, signal: null });
    expect(workers.output()).toContain("start:workers needs TB_ADDRESS");
    expect(workers.output()).toContain("npm start");
  });
});

describe("npm start", () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.close();
  });

  it(
    "stops the service gracefully when npm receives SIGTERM, and frees the port",
    async () => {
      const port = await freePort();
      const npm = startProcess("npm", ["start"], serviceEnv(database.url, port));
      await waitForReady(npm, port, readyDeadlineMs);
      const up = logLines(npm.output()).find((line) => line.msg === "loyalty ledger is up");
      const servicePid = Number(up?.pid);
      expect(Number.isSafeInteger(servicePid) && servicePid !== npm.child.pid).toBe(true);

      try {
        // The workers run in the same process: the relay picks up a committed outbox row.
        expect(up?.queues).toEqual(expect.arrayContaining(["relay", "events"]));
        const [row] = await database.sql<{ id: string }[]>`
          insert into outbox (org_id, topic, payload)
          values (gen_random_uuid(), 'tier.changed', '{"member_id": null}'::jsonb)
          returning id::text as id`;
        await waitFor(
          async () =>
            (
              await database.sql`select 1 from outbox where id = ${row?.id ?? "0"} and delivered_at is not null`
            ).length === 1,
          { what: "the relay of npm start to deliver the outbox row", timeoutMs: 60_000 },
        );
        npm.child.kill("SIGTERM");
        const exit = await npm.exited;

        expect(exit).toEqual({ code: 0, signal: null });
        const messages = logLines(npm.output())
          .filter((line) => line.pid === servicePid)
          .map((line) => line.msg);
        expect(messages).toEqual(expect.arrayContaining(["shutting down", "stopped"]));
        expect(isAlive(servicePid)).toBe(false);
        expect(await portIsFree(port)).toBe(true);
      } finally {
        // A service orphaned by a failed stop must not outlive the test.
        if (isAlive(servicePid)) {
          process.kill(servicePid, "SIGKILL");
        }
      }
    },
    processTestTimeoutMs,
  );
});

/** The database of the previous version: every migration but the newest recorded as applied. */
async function forgetNewestMigration(database: TestDatabase) {
  const last = knownMigrations().at(-1);
  await database.sql`
    delete from drizzle.__drizzle_migrations where created_at = ${last?.when ?? -1}`;
  expect(await pendingTags(database.url)).toEqual([last?.tag]);
  return last;
}

describe("the schema at start", () => {
  it(
    "in production, refuses an out-of-date schema, naming the missing migration and npm run migrate, and changes nothing",
    async () => {
      const database = await createTestDatabase();
      try {
        const last = await forgetNewestMigration(database);

        const port = await freePort();
        const service = startProcess(
          process.execPath,
          ["dist/main.js"],
          serviceEnv(database.url, port, { NODE_ENV: "production", ...productionSecrets() }),
        );
        const exit = await service.exited;

        expect(exit.code).toBe(1);
        const fatal = logLines(service.output()).find((line) => line.level === 60);
        expect(fatal?.pending).toEqual([last?.tag]);
        expect(String(fatal?.msg)).toContain(String(last?.tag));
        expect(String(fatal?.msg)).toContain("npm run migrate");
        expect(String(fatal?.msg)).toContain("MIGRATE_ON_START=true");
        expect(await pendingTags(database.url)).toEqual([last?.tag]);
      } finally {
        await database.close();
      }
    },
    processTestTimeoutMs,
  );

  it(
    "in production, the CLI refuses an out-of-date schema as the service does, and changes nothing",
    async () => {
      const database = await createTestDatabase();
      try {
        const last = await forgetNewestMigration(database);

        const cli = startProcess(
          process.execPath,
          ["dist/cli.js", "org", "create", "--name", "Late", "--slug", "late", "--currency", "EUR"],
          serviceEnv(database.url, await freePort(), {
            NODE_ENV: "production",
            ...productionSecrets(),
          }),
        );
        const exit = await cli.exited;

        expect(exit.code).toBe(1);
        expect(cli.output()).toContain(String(last?.tag));
        expect(cli.output()).toContain("npm run migrate");
        expect(await pendingTags(database.url)).toEqual([last?.tag]);
        const [orgs] = await database.sql<{ count: string }[]>`select count(*) from orgs`;
        expect(orgs?.count).toBe("0");
      } finally {
        await database.close();
      }
    },
    processTestTimeoutMs,
  );

  it(
    "in production with MIGRATE_ON_START=true, creates and migrates the database, then serves",
    async () => {
      const url = freshDatabaseUrl();
      const port = await freePort();
      const service = startProcess(
        process.execPath,
        ["dist/main.js"],
        serviceEnv(url, port, {
          NODE_ENV: "production",
          MIGRATE_ON_START: "true",
          ...productionSecrets(),
        }),
      );
      await waitForReady(service, port, readyDeadlineMs);
      service.child.kill("SIGTERM");
      expect((await service.exited).code).toBe(0);

      expect(await pendingTags(url)).toEqual([]);
      const applied = logLines(service.output()).find(
        (line) => line.msg === "applied pending migrations",
      );
      expect(applied?.migrations).toEqual(knownMigrations().map((migration) => migration.tag));
    },
    processTestTimeoutMs,
  );

  it(
    "in production without MIGRATE_ON_START, does not create a missing database",
    async () => {
      const url = freshDatabaseUrl();
      const port = await freePort();
      const service = startProcess(
        process.execPath,
        ["dist/main.js"],
        serviceEnv(url, port, { NODE_ENV: "production", ...productionSecrets() }),
      );
      expect((await service.exited).code).toBe(1);
      expect(service.output()).toContain("npm run migrate");
      expect(await databaseExists(url)).toBe(false);
    },
    processTestTimeoutMs,
  );
});

describe("npm run migrate", () => {
  it(
    "creates the database, applies every migration and reports them; a second run has nothing to do",
    async () => {
      const url = freshDatabaseUrl();
      const env = { DATABASE_URL: url, NODE_ENV: "production" };
      const tags = knownMigrations().map((migration) => migration.tag);

      const first = startProcess("npm", ["run", "--silent", "migrate"], env);
      expect((await first.exited).code).toBe(0);
      expect(first.output()).toContain(`applied ${tags.length} migration(s): ${tags.join(", ")}`);
      expect(await pendingTags(url)).toEqual([]);

      const second = startProcess("npm", ["run", "--silent", "migrate"], env);
      expect((await second.exited).code).toBe(0);
      expect(second.output()).toContain("schema is up to date, nothing to apply");
    },
    processTestTimeoutMs,
  );
});
