import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it, onTestFinished } from "vitest";
import { createTestDatabase } from "../../test/support/db.ts";
import { openAdminClient, openDatabase, quoteIdentifier, withDatabaseName } from "./db.ts";

const serverUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** Migrations in drizzle/, as the journal lists them: each one is applied exactly once. */
const migrationCount = (
  JSON.parse(
    readFileSync(new URL("../../drizzle/meta/_journal.json", import.meta.url), "utf8"),
  ) as {
    entries: unknown[];
  }
).entries.length;

/** A name that only survives if quoted properly: a dot, a quote, upper case and a space. */
function awkwardName(): string {
  return `loyalty_test_${process.pid}_${randomBytes(3).toString("hex")} A."q`;
}

async function databaseExists(name: string): Promise<boolean> {
  const admin = openAdminClient(serverUrl);
  try {
    const rows = await admin`select 1 from pg_database where datname = ${name}`;
    return rows.length > 0;
  } finally {
    await admin.end();
  }
}

async function dropAfterTest(name: string): Promise<void> {
  onTestFinished(async () => {
    const admin = openAdminClient(serverUrl);
    try {
      await admin.unsafe(`drop database if exists ${quoteIdentifier(name)} with (force)`);
    } finally {
      await admin.end();
    }
  });
}

describe("openDatabase", () => {
  it("creates a missing database, migrates it, and applies the pool settings", async () => {
    const name = awkwardName();
    await dropAfterTest(name);
    const url = withDatabaseName(serverUrl, name);

    const database = await openDatabase({ url, poolMax: 2, statementTimeoutMs: 1234 });
    try {
      expect(await databaseExists(name)).toBe(true);
      const [setting] = await database.sql`show statement_timeout`;
      expect(setting?.statement_timeout).toBe("1234ms");
      const tables = await database.sql<{ table_name: string }[]>`
        select table_name from information_schema.tables where table_schema = 'public'
        order by table_name`;
      expect(tables.map((table) => table.table_name)).toEqual([
        "adjustments",
        "api_keys",
        "idempotency_keys",
        "locations",
        "member_tiers",
        "members",
        "org_ledgers",
        "orgs",
        "outbox",
        "pos_transactions",
        "redemptions",
        "stamp_cards",
        "stamp_programs",
        "tiers",
      ]);
    } finally {
      await database.close();
      await database.close();
    }
  });

  it("tolerates processes opening the same new database at once", async () => {
    const name = awkwardName();
    await dropAfterTest(name);
    const url = withDatabaseName(serverUrl, name);

    const databases = await Promise.all(
      Array.from({ length: 4 }, () => openDatabase({ url, poolMax: 1, statementTimeoutMs: 5000 })),
    );
    try {
      for (const database of databases) {
        const [applied] = await database.sql<{ n: number }[]>`
          select count(*)::int as n from drizzle.__drizzle_migrations`;
        expect(applied?.n).toBe(migrationCount);
      }
    } finally {
      await Promise.all(databases.map((database) => database.close()));
    }
  });
});

describe("createTestDatabase", () => {
  it("gives each caller its own migrated database and drops it on close", async () => {
    const first = await createTestDatabase();
    const second = await createTestDatabase();
    expect(first.url).not.toBe(second.url);
    const name = new URL(first.url).pathname.slice(1);
    expect(await databaseExists(name)).toBe(true);

    await first.sql`insert into orgs (name, slug, currency, settings)
      values ('Only here', 'only-here', 'EUR', '{}')`;
    const [count] = await second.sql<{ n: number }[]>`select count(*)::int as n from orgs`;
    expect(count?.n).toBe(0);

    await Promise.all([first.close(), second.close()]);
    await first.close();
    expect(await databaseExists(name)).toBe(false);
  });
});
