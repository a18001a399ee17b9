/**
 * `npm run migrate`: creates the database named by DATABASE_URL if it is missing, applies the
 * migrations in `drizzle/` it lacks, prints what it applied, and exits. Safe to run while the
 * service runs and from several processes at once: migrations run under an advisory lock, and a
 * second runner finds nothing left to apply.
 *
 * In production (NODE_ENV=production) the service does not migrate at start unless
 * MIGRATE_ON_START=true; run this as a deployment step before starting the new version.
 * Exit status: 0 done (or nothing to do), 1 failed.
 */
import { ConfigError, loadConfig } from "./config.ts";
import type { Migration } from "./membership/index.ts";
import { openDatabase, pendingMigrations } from "./membership/index.ts";

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function migrate(): Promise<void> {
  const config = loadConfig();
  const options = {
    url: config.postgres.url,
    poolMax: 1,
    statementTimeoutMs: config.postgres.statementTimeoutMs,
    applicationName: "loyalty-ledger-migrate",
  };
  // Read before, so the report names what this run found missing; the lock inside
  // openDatabase makes a concurrent runner's work count once.
  const before = await openDatabase({ ...options, migrate: false });
  let pending: Migration[];
  try {
    pending = await pendingMigrations(before.sql);
  } finally {
    await before.close();
  }
  const database = await openDatabase({ ...options, migrate: true });
  try {
    const left = await pendingMigrations(database.sql);
    if (left.length > 0) {
      fail(`migrations still pending after migrating: ${left.map((m) => m.tag).join(", ")}`);
    }
  } finally {
    await database.close();
  }
  const name = decodeURIComponent(new URL(config.postgres.url).pathname.slice(1));
  process.stdout.write(
    pending.length === 0
      ? `database ${name}: schema is up to date, nothing to apply\n`
      : `database ${name}: applied ${pending.length} migration(s): ${pending.map((m) => m.tag).join(", ")}\n`,
  );
}

try {
  await migrate();
} catch (error) {
  if (error instanceof ConfigError) {
    fail(error.message);
  }
  fail(
    `migration failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
}
