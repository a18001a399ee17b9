/**
 * The RFM routes over the real app, Postgres, Redis (a private key prefix) and the embedded
 * ledger, with an rfm worker running in this process: an admin rebuilds and follows the job to
 * its result; segments and their members (display names URL-encoded in the path) and a member's
 * own RFM read back what the rebuild stored; roles are enforced; another org's member and job
 * are 404 like unknown ones, and its segments are not ours.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordPurchase } from "../../src/membership/index.ts";
import { createJobProducer, type JobProducer } from "../../src/workers/index.ts";
import { dayMs } from "../../src/workers/rfm/scoring.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { externalId } from "../support/ledger.ts";
import { deleteKeys } from "../support/redis.ts";
import { testWorkerDeps, waitFor } from "../support/workers.ts";
import type { Harness, Json, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  list,
  redisUrl,
  testRedis,
} from "./support.ts";

let harness: Harness;
let producer: JobProducer;
let workers: WorkerRuntime;
let org: TestOrg;
let other: TestOrg;
const members: string[] = [];
let quiet: string;
const keyPrefix = `test:http-rfm:${process.pid}:${randomBytes(4).toString("hex")}:`;

beforeAll(async () => {
  producer = createJobProducer({ redisUrl, keyPrefix });
  harness = await createHarness({ jobs: producer });
  workers = await startWorkers(testWorkerDeps(harness.deps, producer), {
    redisUrl,
    queues: ["rfm"],
    schedulers: false,
  });
  await workers.ready();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  // Five members with one purchase each, from 1 to 41 days ago, 50.00 down to 10.00: one per
  // quintile. A sixth member never buys.
  for (let index = 0; index < 5; index++) {
    const member = await enrollOverHttp(harness, org);
    await recordPurchase(harness.deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: BigInt(1_000 * (5 - index)),
      currency: "EUR",
      occurredAt: new Date(harness.environment.now().getTime() - (1 + index * 10) * dayMs),
    });
    members.push(member.id);
  }
  quiet = (await enrollOverHttp(harness, org)).id;
});

afterAll(async () => {
  await workers?.close(5_000);
  await producer?.close();
  const cleaner = testRedis();
  await cleaner.connect();
  await deleteKeys(cleaner, keyPrefix).catch(() => undefined);
  await cleaner.quit().catch(() => cleaner.disconnect());
  await harness?.close();
});

/** The error's code and message (details name the id asked for, which differs). */
function messageOf(body: Json): unknown {
  const error = body.error as Json;
  return { code: error.code, message: error.message };
}

async function rebuild(key: string): Promise<Json> {
  const queued = await call(harness.app, "POST", "/v1/rfm/rebuild", { key });
  expect(queued.status).toBe(202);
  const jobId = String(queued.body.job_id);
  expect(jobId).toMatch(/^rfm-rebuild-[0-9a-f-]{36}$/);
  let job: Json = {};
  await waitFor(
    async () => {
      const answer = await call(harness.app, "GET", `/v1/jobs/${jobId}`, { key });
      expect(answer.status).toBe(200);
      job = answer.body;
      const status = String(job.status);
      return status === "completed" || status === "failed";
    },
    { what: "the rebuild job" },
  );
  return job;
}

describe("RFM routes", () => {
  it("rebuilds on demand and serves segments, their members and a member's RFM", async () => {
    const job = await rebuild(org.keys.admin);
    expect(job).toMatchObject({
      status: "completed",
      progress: 100,
      result: { population: 5, changed: 0, transfers_read: 5 },
    });

    const segments = await call(harness.app, "GET", "/v1/segments", { key: org.keys.finance });
    expect(segments.status).toBe(200);
    const counts = Object.fromEntries(
      list(segments.body.segments).map((entry) => [entry.name, entry.members]),
    );
    // By hand (n = 5, score = 1 + i): R 5..1 and M 5..1 together, F 1 for all (tied), so
    // FM = floor((1 + M + 1) / 2) = 3, 3, 2, 2, 1: R5 FM3 and R4 FM3 Potential Loyalist,
    // R3 FM2 About To Sleep, R2 FM2 Hibernating, R1 FM1 Lost; the sixth member is none.
    expect(counts).toMatchObject({
      "Potential Loyalist": 2,
      "About To Sleep": 1,
      Hibernating: 1,
      Lost: 1,
      none: 1,
      Champions: 0,
    });

    const page = await call(
      harness.app,
      "GET",
      "/v1/segments/Potential%20Loyalist/members?limit=1",
      {
        key: org.keys.admin,
      },
    );
    expect(page.status).toBe(200);
    expect(list(page.body.members)).toHaveLength(1);
    const next = await call(
      harness.app,
      "GET",
      `/v1/segments/Potential%20Loyalist/members?limit=1&cursor=${String(page.body.next_cursor)}`,
      { key: org.keys.admin },
    );
    const listed = [...list(page.body.members), ...list(next.body.members)];
    expect(listed.map((entry) => entry.member_id).sort()).toEqual([members[0], members[1]].sort());
    expect(next.body.next_cursor).toBeNull();

    const none = await call(harness.app, "GET", "/v1/segments/none/members", {
      key: org.keys.admin,
    });
    expect(list(none.body.members).map((entry) => entry.member_id)).toEqual([quiet]);

    const best = await call(harness.app, "GET", `/v1/members/${members[0]}/rfm`, {
      key: org.keys.pos,
    });
    expect(best.status).toBe(200);
    expect(best.body).toMatchObject({
      recency_days: 1,
      frequency: 1,
      monetary: 5_000,
      r: 5,
      f: 1,
      m: 5,
      segment: "Potential Loyalist",
    });
    const unscored = await call(harness.app, "GET", `/v1/members/${quiet}/rfm`, {
      key: org.keys.admin,
    });
    expect(unscored.body).toEqual({
      recency_days: null,
      frequency: 0,
      monetary: 0,
      r: null,
      f: null,
      m: null,
      segment: "none",
      computed_at: null,
    });
  });

  it("answers 404 for an unknown segment name and 400 for a bad page size", async () => {
    const unknown = await call(harness.app, "GET", "/v1/segments/Whales/members", {
      key: org.keys.admin,
    });
    expect(unknown.status).toBe(404);
    const tooMany = await call(harness.app, "GET", "/v1/segments/Lost/members?limit=100000", {
      key: org.keys.admin,
    });
    expect(tooMany.status).toBe(400);
  });

  it("enforces roles", async () => {
    const cases: Array<[string, string, string]> = [
      ["POST", "/v1/rfm/rebuild", org.keys.pos],
      ["POST", "/v1/rfm/rebuild", org.keys.finance],
      ["GET", "/v1/segments", org.keys.pos],
      ["GET", "/v1/segments/Lost/members", org.keys.pos],
      ["GET", "/v1/jobs/rfm-rebuild-00000000-0000-4000-8000-000000000000", org.keys.finance],
    ];
    for (const [method, path, key] of cases) {
      const answer = await call(harness.app, method, path, { key });
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 403 });
    }
    const anonymous = await call(harness.app, "GET", "/v1/segments");
    expect(anonymous.status).toBe(401);
  });

  it("keeps orgs apart: another org's member and job are 404, its segments are its own", async () => {
    const job = await rebuild(org.keys.admin);
    expect(job.status).toBe("completed");
    const queued = await call(harness.app, "POST", "/v1/rfm/rebuild", { key: org.keys.admin });
    const jobId = String(queued.body.job_id);

    const foreignJob = await call(harness.app, "GET", `/v1/jobs/${jobId}`, {
      key: other.keys.admin,
    });
    expect(foreignJob.status).toBe(404);
    const unknownJob = await call(
      harness.app,
      "GET",
      "/v1/jobs/rfm-rebuild-00000000-0000-4000-8000-000000000000",
      { key: org.keys.admin },
    );
    expect(unknownJob.status).toBe(404);
    expect(messageOf(foreignJob.body)).toEqual(messageOf(unknownJob.body));

    const foreignMember = await call(harness.app, "GET", `/v1/members/${members[0]}/rfm`, {
      key: other.keys.admin,
    });
    expect(foreignMember.status).toBe(404);
    const unknownMember = await call(
      harness.app,
      "GET",
      "/v1/members/00000000-0000-4000-8000-000000000000/rfm",
      { key: other.keys.admin },
    );
    expect(unknownMember.status).toBe(404);
    expect(messageOf(foreignMember.body)).toEqual(messageOf(unknownMember.body));

    const theirs = await call(harness.app, "GET", "/v1/segments/Potential%20Loyalist/members", {
      key: other.keys.admin,
    });
    expect(theirs.status).toBe(200);
    expect(list(theirs.body.members)).toEqual([]);
    const counts = await call(harness.app, "GET", "/v1/segments", { key: other.keys.admin });
    expect(counts.body.computed_at).toBeNull();
    expect(list(counts.body.segments).every((entry) => Number(entry.members) === 0)).toBe(true);
  });
});
