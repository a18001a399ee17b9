import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it, onTestFinished } from "vitest";
import { createTestDatabase } from "../../../test/support/db.ts";
import { buildOrg, createTestSecrets } from "../../../test/support/membership.ts";
import { enrollMember } from "../members/enroll-member.ts";
import { ensureLocation } from "../orgs/ensure-location.ts";
import { openAdminClient, openDatabase, quoteIdentifier, withDatabaseName } from "./db.ts";

const serverUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** Migrations in drizzle/, as the journal lists them: each one is applied exactly once. */
const migrationCount = (
  JSON.parse(
    readFileSync(new URL("../../../drizzle/meta/_journal.json", import.meta.url), "utf8"),
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
        "audit_log",
        "auto_redemptions",
        "benefits",
        "code_redemptions",
        "codes",
        "earning_rule_versions",
        "earning_rules",
        "expiries",
        "expiry_notices",
        "idempotency_keys",
        "import_rows",
        "imports",
        "inbox_events",
        "installation",
        "locations",
        "member_rfm",
        "member_set_tiers",
        "member_tiers",
        "members",
        "org_ledgers",
        "orgs",
        "outbox",
        "pos_transactions",
        "reconciliations",
        "redemptions",
        "referrals",
        "rewards",
        "rfm_runs",
        "stamp_cards",
        "stamp_programs",
        "tier_benefits",
        "tier_sets",
        "tiers",
        "webhook_attempts",
        "webhook_deliveries",
        "webhooks",
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

describe("statement plans", () => {
  it("follow a table's growth: a statement prepared on a small table uses its index later", async () => {
    const database = await createTestDatabase();
    onTestFinished(() => database.close());
    const connection = await database.sql.reserve();
    try {
      await connection`create table growing (id int primary key, payload text)`;
      await connection`insert into growing values (1, 'a'), (2, 'b')`;
      // Statistics say "two rows": as for a table an autoanalyze saw while it was small.
      await connection`analyze growing`;
      await connection`prepare lookup(int) as select payload from growing where id = $1`;
      // More than the five calls after which Postgres may settle on a generic plan.
      for (let call = 0; call < 8; call += 1) {
        await connection`execute lookup(1)`;
      }
      await connection`insert into growing select n, 'x' from generate_series(3, 200000) as n`;
      const plan = await connection.unsafe<{ "QUERY PLAN": string }[]>(
        "explain execute lookup(150000)",
      );
      const text = plan.map((line) => line["QUERY PLAN"]).join("\n");
      // A generic plan made on two rows would still scan all 200,000.
      expect(text).toMatch(/Index Scan using growing_pkey/);
      expect(text).not.toMatch(/Seq Scan/);
    } finally {
      connection.release();
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

describe("rows that documents refer to without a foreign key", () => {
  it("are never deleted, truncated or re-keyed, so no reference can dangle", async () => {
    const database = await createTestDatabase();
    onTestFinished(() => database.close());
    const deps = { db: database.db, secrets: createTestSecrets() };
    const { org } = await buildOrg(deps);
    const member = await enrollMember(deps, { orgId: org.id, externalRef: "card-1" });
    const location = await ensureLocation(database.db, { orgId: org.id, externalRef: "store-1" });
    const { sql } = database;

    const refused = [
      sql`delete from members where id = ${member.id}`,
      sql`delete from locations where id = ${location.id}`,
      sql`delete from orgs where id = ${org.id}`,
      sql`truncate members cascade`,
      sql`update members set id = gen_random_uuid() where id = ${member.id}`,
      sql`update locations set org_id = gen_random_uuid() where id = ${location.id}`,
      sql`update orgs set id = gen_random_uuid() where id = ${org.id}`,
    ];
    for (const statement of refused) {
      await expect(statement).rejects.toMatchObject({ code: "23001" });
    }
    const [counts] = await sql<{ orgs: number; members: number; locations: number }[]>`
      select (select count(*)::int from orgs where id = ${org.id}) as orgs,
        (select count(*)::int from members where id = ${member.id}) as members,
        (select count(*)::int from locations where id = ${location.id}) as locations`;
    expect(counts).toEqual({ orgs: 1, members: 1, locations: 1 });
    // Everything else about them may change: closing a member is an update.
    await sql`update members set status = 'closed' where id = ${member.id}`;
  });
});
