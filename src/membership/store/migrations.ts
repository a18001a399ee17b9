/**
 * Which migrations in `drizzle/` a database still lacks, and the service's rule for them: apply
 * them at start when allowed (`MIGRATE_ON_START`), otherwise refuse to serve an out-of-date
 * schema and say which migrations are missing and how to apply them (`npm run migrate`).
 *
 * A migration counts as applied the way drizzle's migrator counts it: its journal timestamp
 * (`when` in drizzle/meta/_journal.json) is at most the newest `created_at` recorded in
 * `drizzle.__drizzle_migrations`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "postgres";
import { z } from "zod";
import type { Database, OpenDatabaseOptions } from "./db.ts";
import { databaseNameOf, isPostgresError, migrationsFolder, openDatabase } from "./db.ts";

/** The command that applies migrations; named in the refusal so an operator can act on it. */
export const migrateCommand = "npm run migrate";

const journalSchema = z.object({
  entries: z
    .array(z.object({ tag: z.string().min(1), when: z.number().int().nonnegative() }))
    .min(1),
});

export interface Migration {
  /** The file name without `.sql`, e.g. `0004_pos_transactions_org_key`. */
  tag: string;
  /** Journal timestamp (ms): what the migrator records as `created_at`. */
  when: number;
}

let journal: Migration[] | undefined;

/** The migrations this build ships, oldest first. */
export function knownMigrations(): Migration[] {
  if (journal === undefined) {
    const text = readFileSync(join(migrationsFolder, "meta", "_journal.json"), "utf8");
    const entries = journalSchema.parse(JSON.parse(text)).entries;
    for (let index = 1; index < entries.length; index += 1) {
      assert.ok(
        (entries[index]?.when ?? 0) > (entries[index - 1]?.when ?? 0),
        "migration journal timestamps must increase",
      );
    }
    journal = entries.map((entry) => ({ tag: entry.tag, when: entry.when }));
  }
  return journal;
}

/** SQLSTATE 3D000: the database named in the URL does not exist. */
const undefinedDatabase = "3D000";

/**
 * The migrations the database behind `sql` lacks, oldest first: all of them when the database
 * or drizzle's bookkeeping table does not exist yet.
 */
export async function pendingMigrations(sql: Sql): Promise<Migration[]> {
  const known = knownMigrations();
  let last: string | null;
  try {
    const [table] = await sql<Array<{ tracked: boolean }>>`
      select to_regclass('drizzle.__drizzle_migrations') is not null as tracked`;
    if (table?.tracked !== true) {
      return known;
    }
    const [row] = await sql<Array<{ last: string | null }>>`
      select max(created_at)::text as last from drizzle.__drizzle_migrations`;
    last = row?.last ?? null;
  } catch (error) {
    if (isPostgresError(error, undefinedDatabase)) {
      return known;
    }
    throw error;
  }
  if (last === null) {
    return known;
  }
  const lastApplied = Number(last);
  assert.ok(Number.isSafeInteger(lastApplied), `unexpected migration timestamp ${last}`);
  return known.filter((migration) => migration.when > lastApplied);
}

/** The schema lacks migrations and this process may not apply them. */
export class SchemaOutOfDateError extends Error {
  readonly pending: string[];

  constructor(database: string, pending: Migration[]) {
    const tags = pending.map((migration) => migration.tag);
    super(
      `the schema of database "${database}" is out of date: ${tags.length} migration(s) not applied ` +
        `(${tags.join(", ")}). Apply them with \`${migrateCommand}\` (or start once with ` +
        "MIGRATE_ON_START=true), then start the service again",
    );
    this.name = "SchemaOutOfDateError";
    this.pending = tags;
  }
}

export interface ServiceDatabase {
  database: Database;
  /** Migrations found pending at start and applied by this process (or a concurrent one). */
  migrated: string[];
}

/**
 * Opens the pool and checks the schema on it (one round trip when it is current). Pending
 * migrations are applied when `migrate` is true (under the migrator's lock, so processes starting
 * together apply them once) and refused with a `SchemaOutOfDateError` otherwise.
 *
 * @example
 * const { database } = await openServiceDatabase(options, { migrate: config.postgres.migrateOnStart });
 */
export async function openServiceDatabase(
  options: Omit<OpenDatabaseOptions, "migrate">,
  policy: { migrate: boolean },
): Promise<ServiceDatabase> {
  const current = await openDatabase({ ...options, migrate: false });
  let pending: Migration[];
  try {
    pending = await pendingMigrations(current.sql);
  } catch (error) {
    await current.close();
    throw error;
  }
  if (pending.length === 0) {
    return { database: current, migrated: [] };
  }
  await current.close();
  if (!policy.migrate) {
    throw new SchemaOutOfDateError(databaseNameOf(options.url), pending);
  }
  const database = await openDatabase({ ...options, migrate: true });
  return { database, migrated: pending.map((migration) => migration.tag) };
}
