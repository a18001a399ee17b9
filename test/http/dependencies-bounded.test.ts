/**
 * The failure contract: while Postgres or the ledger cannot answer, every kind of org route
 * answers 503 `unavailable` with `Retry-After`, never hangs and never answers 500; and a
 * purchase retried with the same external_id once the dependency is back is recorded exactly
 * once, whatever the first attempt managed to do.
 *
 * The faults are real: a TCP proxy in front of the real Postgres that black-holes or refuses, a
 * tigerbeetle-node client aimed at a server that accepts and never answers, or at a port where
 * nothing listens. The elapsed-time bound below only detects a hang; speed is not measured here.
 */
import { performance } from "node:perf_hooks";
import { createClient } from "tigerbeetle-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestDeadlineMs } from "../../src/http/limits.ts";
import { withDeadline } from "../../src/ledger/index.ts";
import type { Database } from "../../src/membership/index.ts";
import { openPool } from "../../src/membership/index.ts";
import type { FaultProxy } from "../support/tcp-fault.ts";
import { createBlackHole, createFaultProxy, refusedPort } from "../support/tcp-fault.ts";
import type { CallResult, Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  countRows,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
} from "./support.ts";

/** Far above every deadline (2.5 s at most): only a request that hangs gets near it. */
const hangMs = 10_000;
/**
 * The apps under fault: the production request deadline (the harness's default is generous), and
 * authenticated keys cached for the whole file, since the faults start after authentication.
 */
const faulty = { requestDeadlineMs, apiKeyCacheTtlMs: 10 * 60_000 };

let harness: Harness;
let org: TestOrg;
let member: { id: string; externalRef: string };

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  member = await enrollOverHttp(harness, org);
  // Points to redeem, so that a redemption would succeed if its dependencies answered.
  const earned = await call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    body: purchase(),
  });
  expect(earned.status).toBe(201);
});
afterAll(async () => {
  await harness?.close();
});

function purchase(externalId = `bounded-${Math.random().toString(36).slice(2)}`) {
  return { external_id: externalId, member_id: member.id, amount: 1_000, currency: "EUR" };
}

/** One request of each route class: purchase, batch, balance read, member create, redemption. */
function routeClasses(readMemberId: string): Array<[string, string, unknown?]> {
  return [
    ["POST", "/v1/transactions", purchase()],
    ["POST", "/v1/transactions/batch", { transactions: [purchase(), purchase()] }],
    ["GET", `/v1/members/${readMemberId}/balances`],
    ["POST", "/v1/members", { external_ref: `CARD-${Math.random().toString(36).slice(2)}` }],
    ["POST", `/v1/members/${member.id}/redemptions`, { points: 5 }],
  ];
}

async function timedCall(
  app: Harness["app"],
  method: string,
  path: string,
  body?: unknown,
): Promise<CallResult & { elapsedMs: number }> {
  const startedAt = performance.now();
  const result = await call(app, method, path, { key: org.keys.pos, body });
  return { ...result, elapsedMs: performance.now() - startedAt };
}

/**
 * Every route class answers 503 with Retry-After, and none hangs. The balance read is of
 * `readMemberId`: a member the app has not read before, so that its caches cannot answer.
 */
async function expectEveryRouteUnavailable(
  app: Harness["app"],
  readMemberId = member.id,
): Promise<void> {
  const answers = await Promise.all(
    routeClasses(readMemberId).map(async ([method, path, body]) => ({
      route: `${method} ${path}`,
      ...(await timedCall(app, method, path, body)),
    })),
  );
  for (const answer of answers) {
    expect(answer.status, `${answer.route}: ${JSON.stringify(answer.body)}`).toBe(503);
    expect(answer.body.error?.code, answer.route).toBe("unavailable");
    expect(answer.headers.get("retry-after"), answer.route).toMatch(/^[1-9][0-9]*$/);
    expect(answer.elapsedMs, `${answer.route} hung`).toBeLessThan(hangMs);
  }
}

/** A pool on the test database through `proxy`, built exactly as the service builds its own. */
function poolThrough(proxy: FaultProxy): Database {
  const url = new URL(harness.database.url);
  url.hostname = "127.0.0.1";
  url.port = String(proxy.port);
  return openPool({
    url: url.toString(),
    poolMax: 4,
    statementTimeoutMs: 5_000,
    applicationName: "loyalty-test-faulty",
  });
}

async function balanceOf(memberId: string): Promise<number> {
  const response = await call(harness.app, "GET", `/v1/members/${memberId}/balances`, {
    key: org.keys.pos,
  });
  expect(response.status).toBe(200);
  return Number(response.body.points?.available ?? response.body.balance?.available);
}

describe("Postgres unreachable after start", () => {
  let proxy: FaultProxy;
  let database: Database;
  let app: Harness["app"];
  /** Enrolled through the healthy app: the faulty pool's caches have never seen it. */
  let unread: { id: string };

  beforeAll(async () => {
    unread = await enrollOverHttp(harness, org);
    const target = new URL(harness.database.url);
    proxy = await createFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
    database = poolThrough(proxy);
    app = harness.variant({ db: database.db, ...faulty });
    // Authenticate while Postgres answers, and warm the pool's connections.
    expect((await timedCall(app, "GET", `/v1/members/${member.id}/balances`)).status).toBe(200);
  });
  afterAll(async () => {
    await proxy?.heal();
    await database?.close();
    await proxy?.close();
  });

  it("black-holed (accepts, never answers): every route answers 503 with Retry-After", async () => {
    proxy.blackhole();
    try {
      await expectEveryRouteUnavailable(app, unread.id);
    } finally {
      await proxy.heal();
    }
  });

  it("refusing connections: every route answers 503 with Retry-After", async () => {
    await proxy.refuse();
    try {
      await expectEveryRouteUnavailable(app, unread.id);
    } finally {
      await proxy.heal();
    }
  });

  it("records a purchase once when it is retried with the same external_id after Postgres returns", async () => {
    const body = purchase();
    const before = await balanceOf(member.id);
    const transfers = await ledgerTransferCount(harness);

    proxy.blackhole();
    const first = await timedCall(app, "POST", "/v1/transactions", body);
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).not.toBeNull();
    // The first attempt's work was cut off mid-way; its bytes arrive late when the link heals,
    // exactly the case where the outcome is unknown to the client.
    await proxy.heal();

    const retry = await timedCall(app, "POST", "/v1/transactions", body);
    expect([200, 201]).toContain(retry.status);
    const again = await timedCall(app, "POST", "/v1/transactions", body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(retry.body);

    const earned = Number(retry.body.points_earned);
    expect(earned).toBeGreaterThan(0);
    expect(await balanceOf(member.id)).toBe(before + earned);
    const [row] = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from pos_transactions
      where org_id = ${org.id} and external_id = ${body.external_id}`;
    expect(row?.n).toBe(1);
    // One purchase posts one earn transfer here (no stamps, no bonus).
    expect(await ledgerTransferCount(harness)).toBe(transfers + 1);
  });
});

describe("ledger unreachable", () => {
  it("a cluster that accepts and never answers (no quorum): every route answers 503", async () => {
    const blackHole = await createBlackHole();
    const client = createClient({ cluster_id: 0n, replica_addresses: [String(blackHole.port)] });
    try {
      const app = harness.variant({ ledger: withDeadline(client), ...faulty });
      await expectEveryRouteUnavailable(app);
    } finally {
      client.destroy();
      await blackHole.close();
    }
  });

  it("no replica listening: every route answers 503", async () => {
    const client = createClient({
      cluster_id: 0n,
      replica_addresses: [String(await refusedPort())],
    });
    try {
      const app = harness.variant({ ledger: withDeadline(client), ...faulty });
      await expectEveryRouteUnavailable(app);
    } finally {
      client.destroy();
    }
  });

  it("records a purchase once when it is retried with the same external_id after the ledger returns", async () => {
    const body = purchase();
    const before = await balanceOf(member.id);
    const transfers = await ledgerTransferCount(harness);
    const rows = await countRows(harness, "pos_transactions", org.id);

    const blackHole = await createBlackHole();
    const client = createClient({ cluster_id: 0n, replica_addresses: [String(blackHole.port)] });
    try {
      const down = harness.variant({ ledger: withDeadline(client), ...faulty });
      const first = await timedCall(down, "POST", "/v1/transactions", body);
      expect(first.status).toBe(503);
      expect(first.headers.get("retry-after")).not.toBeNull();
    } finally {
      client.destroy();
      await blackHole.close();
    }

    // The same database, now with a ledger that answers.
    const retry = await timedCall(harness.app, "POST", "/v1/transactions", body);
    expect([200, 201]).toContain(retry.status);
    const again = await timedCall(harness.app, "POST", "/v1/transactions", body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(retry.body);

    const earned = Number(retry.body.points_earned);
    expect(earned).toBeGreaterThan(0);
    expect(await balanceOf(member.id)).toBe(before + earned);
    expect(await countRows(harness, "pos_transactions", org.id)).toBe(rows + 1);
    expect(await ledgerTransferCount(harness)).toBe(transfers + 1);
  });
});
