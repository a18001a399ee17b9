/**
 * The migration that gave stamp programs earn rules and a window keeps the programs made before
 * it earning as they did: a database migrated up to the one before, holding a program without a
 * category and one with, is migrated to the end, and the first earns one stamp per purchase, the
 * second one stamp per unit of its category's items.
 */
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import { describe, expect, it, onTestFinished } from "vitest";
import { openAdminClient, quoteIdentifier, withDatabaseName } from "./db.ts";

const serverUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const migrationsFolder = fileURLToPath(new URL("../../../drizzle", import.meta.url));
/** Found by name: the number may change when branches adding migrations are merged. */
const migrationTagSuffix = "_stamp_programs_config";

interface Journal {
  entries: Array<{ tag: string }>;
}

/** A copy of drizzle/ whose journal stops before the stamp programs migration. */
function migrationsBefore(): string {
  const folder = mkdtempSync(join(tmpdir(), "loyalty-migrations-"));
  onTestFinished(() => rmSync(folder, { recursive: true, force: true }));
  cpSync(migrationsFolder, folder, { recursive: true });
  const journalPath = join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as Journal;
  const index = journal.entries.findIndex((entry) => entry.tag.endsWith(migrationTagSuffix));
  expect(index).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, index);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe("migration stamp_programs_config", () => {
  it("turns match_category into earn rules that earn as before", async () => {
    const name = `loyalty_test_${process.pid}_${randomBytes(4).toString("hex")}`;
    const admin = openAdminClient(serverUrl);
    await admin.unsafe(`create database ${quoteIdentifier(name)}`);
    onTestFinished(async () => {
      await admin.unsafe(`drop database if exists ${quoteIdentifier(name)} with (force)`);
      await admin.end();
    });
    const client = openAdminClient(withDatabaseName(serverUrl, name));
    onTestFinished(() => client.end());

    await migrate(drizzle(client), { migrationsFolder: migrationsBefore() });
    const orgId = "0b5e7a3c-1d2f-4a6b-8c9d-0e1f2a3b4c5d";
    await client`insert into orgs (id, name, slug, currency, settings)
      values (${orgId}, 'Old org', 'old-org', 'EUR', '{}'::jsonb)`;
    const ledgers = await client<Array<{ ledger: number }>>`
      insert into org_ledgers (org_id, unit)
      values (${orgId}, 'stamps:a'), (${orgId}, 'stamps:b') returning ledger`;
    const [visits, coffee] = ledgers.map((row) => row.ledger);
    await client`insert into stamp_programs
      (id, org_id, name, ledger, stamps_required, reward_points, match_category)
      values
      ('1a2b3c4d-0000-4000-8000-000000000001', ${orgId}, 'Visits', ${visits ?? 0}, 10, 50, null),
      ('1a2b3c4d-0000-4000-8000-000000000002', ${orgId}, 'Coffee', ${coffee ?? 0}, 5, 20, 'coffee')`;

    await migrate(drizzle(client), { migrationsFolder });
    const rows = await client<
      Array<{
        name: string;
        earn_per: string;
        earn_categories: string[];
        earn_skus: string[];
        earn_amount_min_minor: string | null;
        active_from: Date | null;
        active_until: Date | null;
        active: boolean;
      }>
    >`select name, earn_per, earn_categories, earn_skus, earn_amount_min_minor, active_from,
        active_until, active
      from stamp_programs order by name`;
    expect(rows).toEqual([
      {
        name: "Coffee",
        earn_per: "item",
        earn_categories: ["coffee"],
        earn_skus: [],
        earn_amount_min_minor: null,
        active_from: null,
        active_until: null,
        active: true,
      },
      {
        name: "Visits",
        earn_per: "purchase",
        earn_categories: [],
        earn_skus: [],
        earn_amount_min_minor: null,
        active_from: null,
        active_until: null,
        active: true,
      },
    ]);
    const columns = await client<Array<{ column_name: string }>>`
      select column_name from information_schema.columns
      where table_name = 'stamp_programs' and column_name = 'match_category'`;
    expect(columns).toEqual([]);
  });
});
