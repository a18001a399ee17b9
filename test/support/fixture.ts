/**
 * The one setup of the membership tests: a private migrated Postgres database and the embedded
 * ledger in memory (never mocks), created before the file's tests and closed after them.
 *
 * @example
 * const fixture = useLedgerFixture();
 * it("...", async () => {
 *   const { deps } = fixture.environment;
 *   await fixture.database.sql`select 1`;
 * });
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll } from "vitest";
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { createLedgerTestEnvironment, type LedgerTestEnvironment } from "./ledger.ts";

export interface LedgerFixture {
  /** The file's database (its pool, and the raw client for reading rows as stored). */
  readonly database: TestDatabase;
  /** Deps on that database and a fresh embedded ledger, with a clock the test moves. */
  readonly environment: LedgerTestEnvironment;
}

/** Registers the file's `beforeAll`/`afterAll`; read the fields inside tests and hooks only. */
export function useLedgerFixture(): LedgerFixture {
  let database: TestDatabase | undefined;
  let environment: LedgerTestEnvironment | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
    environment = createLedgerTestEnvironment(database.db);
  });
  afterAll(async () => {
    await environment?.engine.close();
    await database?.close();
  });
  return {
    get database() {
      assert.ok(database !== undefined, "the fixture is ready inside tests and hooks");
      return database;
    },
    get environment() {
      assert.ok(environment !== undefined, "the fixture is ready inside tests and hooks");
      return environment;
    },
  };
}
