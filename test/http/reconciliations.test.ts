/**
 * `POST /v1/ledger/reconciliations` and `GET /v1/ledger/reconciliations/{id}` over HTTP, with the
 * `reconcile` workers running in this process on the same database, ledger and Redis prefix:
 * a population made over HTTP reconciles clean with its counts; a posted purchase whose points
 * were changed in Postgres is reported; finance and admin keys may start and read runs, pos keys
 * may not; another org's run is 404; without a job queue, or with Redis refusing the job, the
 * start is 503 (and a run recorded before the refusal ends failed).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { platformActor } from "../../src/membership/audit/audit.ts";
import { adjustMemberPoints } from "../../src/membership/index.ts";
import { createJobProducer, type JobProducer } from "../../src/workers/index.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { externalId } from "../support/ledger.ts";
import { deleteKeys } from "../support/redis.ts";
import { testWorkerDeps, waitFor } from "../support/workers.ts";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp, redisUrl } from "./support.ts";

let harness: Harness;
let producer: JobProducer;
let runtime: WorkerRuntime;
let app: Harness["app"];
let org: TestOrg;
let other: TestOrg;
const keyPrefix = `test:http-reconcile:${process.pid}:${randomBytes(4).toString("hex")}:`;

beforeAll(async () => {
  harness = await createHarness();
  producer = createJobProducer({ redisUrl, keyPrefix });
  app = harness.variant({ jobs: producer });
  runtime = await startWorkers(testWorkerDeps(harness.deps, producer), {
    redisUrl,
    queues: ["reconcile"],
    schedulers: false,
  });
  await runtime.ready();

  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  const [first, second] = [await enrollOverHttp(harness, org), await enrollOverHttp(harness, org)];
  for (const [external, member, amount] of [
    ["till-1", first, 5_000],
    ["till-2", second, 2_000],
  ] as const) {
    const response = await call(app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: { external_id: external, member_id: member.id, amount, currency: "EUR" },
    });
    expect(response.status).toBe(201);
  }
  const refund = await call(app, "POST", "/v1/transactions/till-1/refunds", {
    key: org.keys.pos,
    body: { external_id: "till-1-refund", amount: 1_000 },
  });
  expect(refund.status).toBe(201);
  const hold = await call(app, "POST", `/v1/members/${second.id}/redemptions`, {
    key: org.keys.pos,
    body: { points: 40 },
  });
  expect(hold.status).toBe(201);
  const fulfil = await call(app, "POST", `/v1/redemptions/${hold.body.redemption?.id}/fulfill`, {
    key: org.keys.pos,
  });
  expect(fulfil.status).toBe(200);
  await adjustMemberPoints(harness.deps, {
    actor: platformActor,
    orgId: org.id,
    memberId: first.id,
    direction: "debit",
    points: 5n,
    reason: "correction",
    externalId: externalId("adj"),
  });
});

afterAll(async () => {
  await runtime?.close(5_000);
  await producer?.close();
  const cleaner = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await deleteKeys(cleaner, keyPrefix).catch(() => undefined);
  await cleaner.quit().catch(() => cleaner.disconnect());
  await harness?.close();
});

/** Starts a run with `key` and waits until it is no longer running; returns its last answer. */
async function reconcile(key: string) {
  const started = await call(app, "POST", "/v1/ledger/reconciliations", { key });
  expect(started.status).toBe(202);
  const id = String(started.body.id);
  const read = () => call(app, "GET", `/v1/ledger/reconciliations/${id}`, { key });
  await waitFor(async () => String((await read()).body.status) !== "running", { what: "the run" });
  return { id, response: await read() };
}

describe("reconciliations over HTTP", () => {
  it("finds the org's documents clean and says what it compared", async () => {
    const { id, response } = await reconcile(org.keys.finance);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      id,
      status: "clean",
      trigger: "manual",
      // 2 purchases, 1 refund, 1 redemption, 1 adjustment; 2 welcome bonuses, 2 earns,
      // 1 reversal, the hold and its post, the adjustment; 2 wallets.
      checked: { documents: 5, transfers: 8, wallets: 2 },
      mismatches: [],
      mismatch_count: 0,
      error: null,
    });
    expect(response.body.finished_at).toEqual(expect.any(String));
  });

  it("reports a posted purchase whose points were changed in Postgres", async () => {
    await harness.database.sql`
      update pos_transactions set points = points + 7
      where org_id = ${org.id} and kind = 'purchase' and external_id = 'till-2'`;
    try {
      const { response } = await reconcile(org.keys.admin);
      expect(response.body).toMatchObject({ status: "mismatches", mismatch_count: 1 });
      expect(response.body.mismatches).toEqual([
        {
          kind: "amount_mismatch",
          document: {
            kind: "purchase",
            id: expect.any(String),
            external_id: "till-2",
            member_id: expect.any(String),
          },
          transfer_id: expect.stringMatching(/^[1-9][0-9]*$/),
          expected: "27",
          actual: "20",
        },
      ]);
    } finally {
      await harness.database.sql`
        update pos_transactions set points = points - 7
        where org_id = ${org.id} and kind = 'purchase' and external_id = 'till-2'`;
    }
  });

  it("shows a run to its own org only: another org's id and unknown ids are 404", async () => {
    const started = await call(app, "POST", "/v1/ledger/reconciliations", {
      key: org.keys.finance,
    });
    const path = `/v1/ledger/reconciliations/${started.body.id}`;
    for (const key of [other.keys.finance, other.keys.admin]) {
      const response = await call(app, "GET", path, { key });
      expect(response.status).toBe(404);
      expect(response.body.error?.code).toBe("not_found");
    }
    for (const id of [randomUUID(), "not-a-uuid"]) {
      const unknown = await call(app, "GET", `/v1/ledger/reconciliations/${id}`, {
        key: org.keys.finance,
      });
      expect(unknown.status).toBe(404);
    }
    // The other org's own run sees only its own documents.
    const { response } = await reconcile(other.keys.finance);
    expect(response.body).toMatchObject({
      status: "clean",
      checked: { documents: 0, transfers: 0, wallets: 0 },
    });
  });

  it("refuses pos keys (403) and requests without a key (401)", async () => {
    const post = await call(app, "POST", "/v1/ledger/reconciliations", { key: org.keys.pos });
    expect(post.status).toBe(403);
    const get = await call(app, "GET", `/v1/ledger/reconciliations/${randomUUID()}`, {
      key: org.keys.pos,
    });
    expect(get.status).toBe(403);
    expect((await call(app, "POST", "/v1/ledger/reconciliations")).status).toBe(401);
  });

  it("answers 503 when Redis refuses the job, and records that run failed", async () => {
    // A producer on a port nothing listens on: it fails at once (no offline queue).
    const unreachable = createJobProducer({ redisUrl: "redis://127.0.0.1:1", keyPrefix });
    try {
      const response = await call(
        harness.variant({ jobs: unreachable }),
        "POST",
        "/v1/ledger/reconciliations",
        { key: other.keys.admin },
      );
      expect(response.status).toBe(503);
      expect(response.body.error?.code).toBe("unavailable");
      const rows = await harness.database.sql<{ status: string; error: string }[]>`
        select status, error from reconciliations where org_id = ${other.id} and status <> 'clean'`;
      expect(rows).toEqual([{ status: "failed", error: "the job could not be enqueued" }]);
    } finally {
      await unreachable.close();
    }
  });

  it("answers 503 when the app has no job queue, and records no run", async () => {
    const response = await call(harness.app, "POST", "/v1/ledger/reconciliations", {
      key: org.keys.finance,
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    const [row] = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from reconciliations where org_id = ${org.id} and status = 'running'`;
    expect(row?.n).toBe(0);
  });
});
