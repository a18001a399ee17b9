/**
 * A private, migrated Postgres database per test file, dropped afterwards.
 *
 * Migrating for every file would repeat the same DDL many times, so the first caller of a run
 * builds a template database (named after a hash of `drizzle/`, so a new migration gets a new
 * template and an unchanged one is reused across runs) and every test database is a
 * `CREATE DATABASE ... TEMPLATE` copy of it. Postgres refuses to copy a template that has open
 * connections, so nothing ever stays connected to it: it is built under another name,
 * disconnected, and only then renamed into place.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql } from "postgres";
import type { Db } from "../../src/membership/store/db.ts";
import {
  isPostgresError,
  openAdminClient,
  openDatabase,
  quoteIdentifier,
  withDatabaseName,
} from "../../src/membership/store/db.ts";

/** The server tests run against; override for CI with TEST_POSTGRES_URL. */
const serverUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const testDatabasePrefix = "loyalty_test_";
const templatePrefix = "loyalty_tpl_";
/** Serialises template builds between test processes; any fixed int8 works. */
const templateLockKey = "7310593858020074351";
const migrationsFolder = fileURLToPath(new URL("../../drizzle", import.meta.url));

export interface TestDatabase {
  url: string;
  db: Db;
  /** The raw client, for reading rows as stored. */
  sql: Sql;
  /** Ends the pool and drops the database. Idempotent. */
  close(): Promise<void>;
}

let templateName: Promise<string> | undefined;
/** Builds of the template one test database may need when other runs keep dropping it. */
const templateAttemptsMax = 5;
/** Templates of other migrations kept (the newest), for other checkouts sharing the server. */
const otherTemplatesKept = 8;

/**
 * @example
 * const database = await createTestDatabase();
 * afterAll(() => database.close());
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `${testDatabasePrefix}${process.pid}_${randomBytes(4).toString("hex")}`;
  const url = withDatabaseName(serverUrl, name);

  const admin = openAdminClient(serverUrl, "loyalty-test-admin");
  try {
    for (let attempt = 1; ; attempt += 1) {
      templateName ??= ensureTemplate();
      const template = await templateName;
      try {
        await admin.unsafe(
          `create database ${quoteIdentifier(name)} template ${quoteIdentifier(template)}`,
        );
        break;
      } catch (error) {
        // 3D000: the template is gone. A run on other migrations (another checkout on the same
        // server) drops templates it does not know; build ours again.
        if (!isPostgresError(error, "3D000") || attempt >= templateAttemptsMax) {
          throw error;
        }
        templateName = undefined;
      }
    }
  } finally {
    await admin.end();
  }

  // openDatabase finds the copy up to date; running it still proves start-up against it.
  const database = await openDatabase({
    url,
    poolMax: 4,
    statementTimeoutMs: 30_000,
    applicationName: "loyalty-test",
  });
  let closing: Promise<void> | undefined;
  return {
    url,
    db: database.db,
    sql: database.sql,
    close() {
      closing ??= (async () => {
        await database.close();
        await dropDatabase(name, { force: true });
      })();
      return closing;
    },
  };
}

async function ensureTemplate(): Promise<string> {
  const name = `${templatePrefix}${migrationsHash()}`;
  const buildName = `${name}_build`;
  const admin = openAdminClient(serverUrl, "loyalty-test-admin");
  try {
    await admin`select pg_advisory_lock(${templateLockKey}::int8)`;
    await dropLeftovers(admin);
    const existing = await admin`select 1 as found from pg_database where datname = ${name}`;
    if (existing.length === 0) {
      // A build interrupted by a crash leaves this behind; it was never renamed into use.
      await admin.unsafe(`drop database if exists ${quoteIdentifier(buildName)} with (force)`);
      const build = await openDatabase({
        url: withDatabaseName(serverUrl, buildName),
        poolMax: 1,
        statementTimeoutMs: 30_000,
        applicationName: "loyalty-test-template",
      });
      await build.close();
      await admin.unsafe(
        `alter database ${quoteIdentifier(buildName)} rename to ${quoteIdentifier(name)}`,
      );
    }
    await admin`select pg_advisory_unlock(${templateLockKey}::int8)`;
  } finally {
    await admin.end();
  }
  return name;
}

/**
 * Drops databases left by test processes that died before cleaning up, and templates of older
 * migrations beyond the newest few. Without FORCE, and ignoring failures: anything still in use
 * is left alone. Other checkouts on other migrations may share the server and build their own
 * templates meanwhile: the newest are kept so that runs side by side do not drop each other's.
 */
async function dropLeftovers(admin: Sql): Promise<void> {
  const current = `${templatePrefix}${migrationsHash()}`;
  const rows = await admin<{ datname: string }[]>`
    select datname from pg_database
    where datname like ${`${testDatabasePrefix}%`} or datname like ${`${templatePrefix}%`}
    order by oid desc`;
  let templatesSeen = 0;
  for (const { datname } of rows) {
    let stale: boolean;
    if (datname.startsWith(testDatabasePrefix)) {
      stale = !isProcessAlive(Number(datname.slice(testDatabasePrefix.length).split("_")[0]));
    } else if (datname === current || datname.endsWith("_build")) {
      stale = false;
    } else {
      templatesSeen += 1;
      stale = templatesSeen > otherTemplatesKept;
    }
    if (stale) {
      await admin.unsafe(`drop database if exists ${quoteIdentifier(datname)}`).catch(() => {});
    }
  }
}

async function dropDatabase(name: string, options: { force: boolean }): Promise<void> {
  const admin = openAdminClient(serverUrl, "loyalty-test-admin");
  try {
    const force = options.force ? " with (force)" : "";
    await admin.unsafe(`drop database if exists ${quoteIdentifier(name)}${force}`);
  } catch (error) {
    // 3D000: already gone.
    if (!isPostgresError(error, "3D000")) {
      throw error;
    }
  } finally {
    await admin.end();
  }
}

function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    return true; // Not a name we made; leave it.
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Hash of every migration file, so the template changes when the migrations do. */
function migrationsHash(): string {
  const hash = createHash("sha256");
  const files = listFiles(migrationsFolder).sort();
  for (const file of files) {
    hash
      .update(file)
      .update("\u0000")
      .update(readFileSync(join(migrationsFolder, file)));
  }
  return hash.digest("hex").slice(0, 16);
}

function listFiles(folder: string, prefix = ""): string[] {
  const entries = readdirSync(join(folder, prefix), { withFileTypes: true });
  return entries.flatMap((entry) => {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    return entry.isDirectory() ? listFiles(folder, path) : [path];
  });
}
