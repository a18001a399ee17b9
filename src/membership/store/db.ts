/**
 * Opening the membership database: create it if missing, apply the migrations in `drizzle/`
 * on a dedicated single connection, then hand out a pooled drizzle instance.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql as drizzleSql } from "drizzle-orm";
import type { PgDatabase } from "drizzle-orm/pg-core";
import type { PostgresJsDatabase, PostgresJsQueryResultHKT } from "drizzle-orm/postgres-js";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import type { Sql } from "postgres";
import postgres from "postgres";
import {
  closeTimeoutSeconds,
  connectionLifetimeSeconds,
  connectTimeoutSeconds,
  migrationStatementTimeoutMs,
  poolConnectTimeoutSeconds,
  poolIdleTimeoutSeconds,
  poolReconnectBackoffSecondsMax,
  poolReconnectBackoffSecondsMin,
} from "../limits.ts";
import * as schema from "./schema.ts";

export type Schema = typeof schema;
/** The pooled drizzle instance. */
export type Db = PostgresJsDatabase<Schema>;
/** Either the pooled instance or a transaction: what every use case runs its queries on. */
export type DbExecutor = PgDatabase<PostgresJsQueryResultHKT, Schema>;

export interface OpenDatabaseOptions {
  /** postgres://user@host:port/database; the database is created if it does not exist. */
  url: string;
  poolMax: number;
  /** Server-side `statement_timeout` for every pooled connection. */
  statementTimeoutMs: number;
  idleTimeoutSeconds?: number;
  /** Defaults to "loyalty-ledger"; shows in pg_stat_activity. */
  applicationName?: string;
  /** Called for server notices; ignored by default (the driver would print them). */
  onNotice?: (notice: postgres.Notice) => void;
  /** Called with every statement sent (profiling and tests that count round trips). */
  onQuery?: (statement: string) => void;
  /**
   * Create the database if missing and apply pending migrations first (the default). `false`
   * opens the pool as the database is: see `openServiceDatabase` (migrations.ts).
   */
  migrate?: boolean;
}

export interface Database {
  db: Db;
  sql: Sql;
  /** Ends the pool, waiting a bounded time for queries in flight. Idempotent. */
  close(): Promise<void>;
}

/**
 * `drizzle/` of the package this file belongs to: the nearest one up from here, so the same code
 * finds it from src/, from dist/ and from the one-file bundle of dist/main.js.
 */
export const migrationsFolder = findMigrationsFolder(dirname(fileURLToPath(import.meta.url)));

function findMigrationsFolder(start: string): string {
  for (let directory = start; ; directory = dirname(directory)) {
    const candidate = join(directory, "drizzle");
    if (existsSync(join(candidate, "meta", "_journal.json"))) {
      return candidate;
    }
    assert.ok(dirname(directory) !== directory, `no drizzle/ migrations folder above ${start}`);
  }
}
/** Serialises migrations between processes starting at once; any fixed int8 works. */
const migrationLockKey = "21514665346233465";
const maintenanceDatabase = "postgres";
/** Postgres truncates identifiers to 63 bytes; refuse instead of creating a surprise name. */
const identifierBytesMax = 63;
const ignoreNotice = (): void => {};

/**
 * Creates the database if needed, migrates it, and returns a pool.
 *
 * @example
 * const database = await openDatabase({ url, poolMax: 10, statementTimeoutMs: 5_000 });
 * await database.close();
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  assert.ok(Number.isInteger(options.poolMax) && options.poolMax >= 1, "poolMax must be >= 1");
  assert.ok(
    Number.isInteger(options.statementTimeoutMs) && options.statementTimeoutMs >= 1,
    "statementTimeoutMs must be a positive integer",
  );
  const applicationName = options.applicationName ?? "loyalty-ledger";

  if (options.migrate ?? true) {
    await ensureDatabaseExists(options.url, applicationName);
    await migrateDatabase(options.url, applicationName);
  }
  return openPool(options);
}

/**
 * The pool alone, on a database that is already there and migrated. Every bound a request
 * relies on is set here (see limits.ts): connect timeout, reconnect pause, statement timeout.
 */
export function openPool(options: OpenDatabaseOptions): Database {
  assert.ok(Number.isInteger(options.poolMax) && options.poolMax >= 1, "poolMax must be >= 1");
  const applicationName = options.applicationName ?? "loyalty-ledger";
  const sql = postgres(options.url, {
    // Explicit because postgres.js does not percent-decode the URL's path (libpq does).
    database: databaseNameOf(options.url),
    max: options.poolMax,
    idle_timeout: options.idleTimeoutSeconds ?? poolIdleTimeoutSeconds,
    // A request must not wait on Postgres longer than it may wait at all: see limits.ts.
    connect_timeout: poolConnectTimeoutSeconds,
    backoff: reconnectBackoffSeconds,
    max_lifetime: connectionLifetimeSeconds,
    prepare: true,
    onnotice: options.onNotice ?? ignoreNotice,
    ...(options.onQuery === undefined
      ? {}
      : { debug: (_connection: number, statement: string) => options.onQuery?.(statement) }),
    connection: {
      application_name: applicationName,
      statement_timeout: options.statementTimeoutMs,
      // Prepared statements are parsed once but planned on every call, with the table sizes
      // of the moment. A generic plan is made once and kept: one made while a table was small
      // scans all of it on every later call, however large it grows, until an autoanalyze
      // comes round. Seen on the posted mark: purchase throughput halved within seconds of a
      // fresh database. Planning these statements costs a fraction of a millisecond.
      plan_cache_mode: "force_custom_plan",
    },
  });
  const db = drizzle(sql, { schema });

  let closing: Promise<void> | undefined;
  return {
    db,
    sql,
    close() {
      closing ??= sql.end({ timeout: closeTimeoutSeconds });
      return closing;
    },
  };
}

/** Pause before the pool's next connection attempt after `failures` failed ones, in seconds. */
export function reconnectBackoffSeconds(failures: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 16);
  const pause = Math.min(
    poolReconnectBackoffSecondsMin * 2 ** exponent,
    poolReconnectBackoffSecondsMax,
  );
  // Jitter, so that the connections of one pool (and of other processes) do not retry in step.
  return pause * (0.5 + Math.random() / 2);
}

/** Quotes a Postgres identifier: `a"b` becomes `"a""b"`. Dots are kept literally. */
export function quoteIdentifier(name: string): string {
  assert.ok(name.length > 0, "identifier must not be empty");
  assert.ok(!name.includes("\0"), "identifier must not contain NUL");
  assert.ok(
    Buffer.byteLength(name, "utf8") <= identifierBytesMax,
    "identifier longer than 63 bytes",
  );
  return `"${name.replaceAll('"', '""')}"`;
}

/** The database named in a postgres:// URL. */
export function databaseNameOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  assert.ok(name.length > 0, "the database URL must name a database");
  return name;
}

/** The URL without its password, for logs and messages. */
export function redactedDatabaseUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== "") {
    parsed.password = "***";
  }
  return parsed.toString();
}

/** The same server and credentials, pointed at another database. */
export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

/** A single short-lived connection for administrative statements. */
export function openAdminClient(url: string, applicationName = "loyalty-ledger-admin"): Sql {
  return postgres(url, {
    database: databaseNameOf(url),
    max: 1,
    idle_timeout: poolIdleTimeoutSeconds,
    connect_timeout: connectTimeoutSeconds,
    max_lifetime: null,
    prepare: false,
    onnotice: ignoreNotice,
    connection: {
      application_name: applicationName,
      statement_timeout: migrationStatementTimeoutMs,
    },
  });
}

/**
 * `CREATE DATABASE` unless it exists. Two processes may both see it missing and both try; the
 * loser gets `duplicate_database` (42P04) or, when the catalogue insert collides,
 * `unique_violation` (23505), and both mean someone else already made it.
 */
async function ensureDatabaseExists(url: string, applicationName: string): Promise<void> {
  const name = databaseNameOf(url);
  if (name === maintenanceDatabase) {
    return;
  }
  const admin = openAdminClient(withDatabaseName(url, maintenanceDatabase), applicationName);
  try {
    const existing = await admin`select 1 as found from pg_database where datname = ${name}`;
    if (existing.length > 0) {
      return;
    }
    try {
      await admin.unsafe(`create database ${quoteIdentifier(name)}`);
    } catch (error) {
      if (!isPostgresError(error, "42P04") && !isPostgresError(error, "23505")) {
        throw error;
      }
    }
  } finally {
    await admin.end({ timeout: closeTimeoutSeconds });
  }
}

/**
 * Applies pending migrations on one dedicated connection. The session advisory lock is taken on
 * that same connection (max: 1), so a second process starting at the same moment waits and then
 * finds nothing left to apply, instead of racing to create the same tables.
 */
async function migrateDatabase(url: string, applicationName: string): Promise<void> {
  const client = openAdminClient(url, `${applicationName}-migrate`);
  try {
    await client`select pg_advisory_lock(${migrationLockKey}::int8)`;
    await migrate(drizzle(client), { migrationsFolder });
    await client`select pg_advisory_unlock(${migrationLockKey}::int8)`;
  } finally {
    // Ending the session also releases the lock if migrating failed.
    await client.end({ timeout: closeTimeoutSeconds });
  }
}

/** The driver's client behind a pool; null for a transaction (drizzle keeps that one inside). */
function poolClientOf(db: DbExecutor): Sql | null {
  // drizzle(postgres) sets `$client` on the pool instance only.
  const client = (db as { $client?: Sql }).$client;
  return client === undefined ? null : client;
}

/**
 * Runs one hot statement whose only parameter is `$1` (a JSON text, typically). On the pool it
 * goes to the driver as a named prepared statement (parsed once per connection, planned on each
 * call: see `plan_cache_mode` above), and drizzle builds nothing; on a transaction (recovery
 * holds its rows locked in one) it runs through drizzle on that transaction.
 */
export async function executeStatement<T extends Record<string, unknown>>(
  db: DbExecutor,
  text: string,
  param: string,
): Promise<T[]> {
  const client = poolClientOf(db);
  if (client !== null) {
    return await client.unsafe<T[]>(text, [param], { prepare: true });
  }
  const [before, after, ...rest] = text.split("$1");
  assert.ok(before !== undefined && after !== undefined, "the statement uses $1");
  assert.equal(rest.length, 0, "the statement uses $1 once");
  assert.ok(!after.includes("$2"), "the statement has one parameter");
  const rows = await db.execute(
    drizzleSql`${drizzleSql.raw(before)}${param}${drizzleSql.raw(after)}`,
  );
  return rows as unknown as T[];
}

/** Postgres errors reach us wrapped (drizzle wraps them in a query error); look a few levels in. */
const errorCauseDepthMax = 4;

/** True when `error`, or one of its first few causes, is a Postgres error with this SQLSTATE. */
export function isPostgresError(error: unknown, code: string): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < errorCauseDepthMax && current instanceof Error; depth += 1) {
    if (current instanceof postgres.PostgresError) {
      return current.code === code;
    }
    current = current.cause;
  }
  return false;
}
