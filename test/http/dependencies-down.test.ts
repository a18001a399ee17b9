/**
 * When a dependency is down. Postgres unreachable (its pool closed, or nothing listening on its
 * port): every org route answers 503 in the error envelope and nothing reaches the ledger.
 * `/ready` reports Postgres, Redis and the ledger each on its own, and is 503 when Postgres or the
 * ledger is down; Redis down is reported but leaves the instance ready (the rate limit it carries
 * fails open). `/health` stays 200, because restarting the process would not bring a database
 * back. Deadlines and faults that hang rather than fail are in dependencies-bounded.test.ts.
 */
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedClient } from "../../src/ledger/index.ts";
import type { Db } from "../../src/membership/index.ts";
import { openDatabase } from "../../src/membership/index.ts";
import * as schema from "../../src/membership/store/schema.ts";
import type { Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  countRows,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
  testRedis,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let member: { id: string; externalRef: string };

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  member = await enrollOverHttp(harness, org);
});
afterAll(async () => {
  await harness?.close();
});

/** A pool on the test database that has been shut down: every query fails to connect. */
async function closedPool(): Promise<Db> {
  const database = await openDatabase({
    url: harness.database.url,
    poolMax: 1,
    statementTimeoutMs: 5_000,
    applicationName: "loyalty-test-closed",
  });
  await database.close();
  return database.db;
}

/** A pool aimed at a port where nothing listens. */
function refusedPool(): { db: Db; end(): Promise<void> } {
  const sql = postgres("postgres://postgres@127.0.0.1:1/loyalty", {
    max: 1,
    connect_timeout: 2,
    onnotice: () => undefined,
  });
  return { db: drizzle(sql, { schema }), end: () => sql.end({ timeout: 1 }) };
}

const purchase = () => ({
  external_id: `down-${Math.random().toString(36).slice(2)}`,
  member_id: member.id,
  amount: 1_000,
  currency: "EUR",
});

describe("Postgres down", () => {
  it("answers 503 on every kind of org route and posts nothing", async () => {
    const refused = refusedPool();
    try {
      for (const db of [await closedPool(), refused.db]) {
        const app = harness.variant({ db });
        const transfers = await ledgerTransferCount(harness);
        const rows = await countRows(harness, "pos_transactions", org.id);
        const requests: Array<[string, string, unknown?]> = [
          ["POST", "/v1/transactions", purchase()],
          ["POST", "/v1/transactions/batch", { transactions: [purchase()] }],
          ["POST", `/v1/members/${member.id}/redemptions`, { points: 10 }],
          ["GET", `/v1/members/${member.id}/balances`],
          ["GET", "/v1/ledger/trial-balance"],
        ];
        for (const [method, path, body] of requests) {
          const response = await call(app, method, path, {
            key: org.keys.pos,
            body,
            headers: { "Idempotency-Key": `down-${Math.random()}` },
          });
          expect(response.status, `${method} ${path}`).toBe(503);
          expect(response.body.error).toEqual({
            code: "unavailable",
            message: "a dependency is unavailable; retry later",
          });
          expect(response.headers.get("retry-after"), `${method} ${path}`).toBe("1");
        }
        expect(await ledgerTransferCount(harness)).toBe(transfers);
        expect(await countRows(harness, "pos_transactions", org.id)).toBe(rows);

        const ready = await call(app, "GET", "/ready");
        expect(ready.status).toBe(503);
        expect(ready.body).toEqual({
          status: "not_ready",
          checks: { postgres: "down", redis: "up", ledger: "up" },
        });
        expect((await call(app, "GET", "/health")).status).toBe(200);
      }
    } finally {
      await refused.end();
    }
  });
});

describe("GET /ready", () => {
  it("is 200 with every dependency up", async () => {
    const ready = await call(harness.app, "GET", "/ready");
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({
      status: "ready",
      checks: { postgres: "up", redis: "up", ledger: "up" },
    });
  });

  it("reports Redis down on its own, and stays ready: the rate limit fails open", async () => {
    const deadRedis = testRedis("redis://127.0.0.1:1");
    deadRedis.on("error", () => undefined);
    try {
      const app = harness.variant({ redis: deadRedis });
      const ready = await call(app, "GET", "/ready");
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({
        status: "ready",
        checks: { postgres: "up", redis: "down", ledger: "up" },
      });
      // Ready means it serves: a purchase goes through without Redis.
      const recorded = await call(app, "POST", "/v1/transactions", {
        key: org.keys.pos,
        body: purchase(),
      });
      expect(recorded.status).toBe(201);
    } finally {
      deadRedis.disconnect();
    }
  });

  it("reports the ledger down on its own, and org routes answer 503", async () => {
    const closedLedger = createEmbeddedClient();
    await closedLedger.close();
    const app = harness.variant({ ledger: closedLedger });
    const ready = await call(app, "GET", "/ready");
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ postgres: "up", redis: "up", ledger: "down" });
    const balances = await call(app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.status).toBe(503);
  });
});
