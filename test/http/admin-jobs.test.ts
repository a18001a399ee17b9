/**
 * The org admin's failed jobs (list, retry: own org only) and the operators' queue dashboard
 * (platform token only), on the real Redis with BullMQ workers in this process.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJobProducer, type JobProducer } from "../../src/workers/index.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { deleteKeys, redisUrl } from "../support/redis.ts";
import { testWorkerDeps, waitFor } from "../support/workers.ts";
import { buildTestOrg, call, createHarness, type Harness, list, type TestOrg } from "./support.ts";

const platformToken = "platform-token-for-the-queue-dashboard-0123456789";
const keyPrefix = `test:jobs:${process.pid}:${randomBytes(4).toString("hex")}:`;
let harness: Harness;
let jobs: JobProducer;
let workers: WorkerRuntime;
let org: TestOrg;
let other: TestOrg;
let failedId: string;

beforeAll(async () => {
  jobs = createJobProducer({ redisUrl, keyPrefix });
  harness = await createHarness({ jobs, platformToken });
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  workers = await startWorkers(testWorkerDeps(harness.deps, jobs), {
    redisUrl,
    queues: ["reconcile"],
    schedulers: false,
    processors: {
      reconcile: {
        process: async () => {
          throw new Error("the ledger did not answer");
        },
      },
    },
  });
  await workers.ready();
  // Reconciliation runs (their rows need not exist: the processor above fails first).
  failedId = await jobs.add(
    "reconcile",
    { orgId: org.id, reconciliationId: randomUUID() },
    { options: { attempts: 1 } },
  );
  await jobs.add(
    "reconcile",
    { orgId: other.id, reconciliationId: randomUUID() },
    { options: { attempts: 1 } },
  );
  await waitFor(async () => (await jobs.queue("reconcile").getFailedCount()) === 2, {
    what: "two failed jobs",
  });
  // Nothing runs the retried job from here on: the test sees it waiting.
  await workers.close(5_000);
});

afterAll(async () => {
  await harness.close();
  await jobs.close();
  const cleaner = new Redis(redisUrl);
  await deleteKeys(cleaner, keyPrefix);
  await cleaner.quit();
});

describe("GET /v1/admin/jobs/failed", () => {
  it("lists the caller's org's failed jobs only, with why they failed", async () => {
    const mine = await call(harness.app, "GET", "/v1/admin/jobs/failed?queue=reconcile", {
      key: org.keys.admin,
    });
    expect(mine.status).toBe(200);
    const listed = list(mine.body.jobs);
    expect(listed.map((job) => String(job.id))).toEqual([failedId]);
    expect(listed[0]).toMatchObject({
      queue: "reconcile",
      state: "failed",
      attempts_made: 1,
      failed_reason: "the ledger did not answer",
      data: { orgId: org.id },
    });
    const everyQueue = await call(harness.app, "GET", "/v1/admin/jobs/failed", {
      key: org.keys.admin,
    });
    expect(list(everyQueue.body.jobs).map((job) => String(job.id))).toEqual([failedId]);
  });

  it("is for admin keys, and refuses an unknown queue", async () => {
    expect(
      (await call(harness.app, "GET", "/v1/admin/jobs/failed", { key: org.keys.pos })).status,
    ).toBe(403);
    expect(
      (await call(harness.app, "GET", "/v1/admin/jobs/failed", { key: org.keys.finance })).status,
    ).toBe(403);
    const unknown = await call(harness.app, "GET", "/v1/admin/jobs/failed?queue=nope", {
      key: org.keys.admin,
    });
    expect(unknown.status).toBe(400);
  });
});

describe("POST /v1/admin/jobs/{queue}/{id}/retry", () => {
  it("answers 404 for another org's job and for an unknown one, and changes nothing", async () => {
    for (const path of [
      `/v1/admin/jobs/reconcile/${failedId}/retry`,
      "/v1/admin/jobs/reconcile/999999/retry",
    ]) {
      const response = await call(harness.app, "POST", path, { key: other.keys.admin });
      expect(response.status).toBe(404);
    }
    expect(await (await jobs.getJob("reconcile", failedId))?.getState()).toBe("failed");
  });

  it("moves the org's failed job back to waiting, once", async () => {
    const response = await call(harness.app, "POST", `/v1/admin/jobs/reconcile/${failedId}/retry`, {
      key: org.keys.admin,
    });
    expect(response.status).toBe(200);
    expect(response.body.job).toMatchObject({ id: failedId, state: "waiting" });
    const job = await jobs.getJob("reconcile", failedId);
    expect(await job?.getState()).toBe("waiting");
    expect(job?.attemptsMade).toBe(0);
    const again = await call(harness.app, "POST", `/v1/admin/jobs/reconcile/${failedId}/retry`, {
      key: org.keys.admin,
    });
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe("invalid_state");
  });
});

describe("/admin/queues (Bull Board)", () => {
  const basic = (password: string) => `Basic ${Buffer.from(`ops:${password}`).toString("base64")}`;

  it("asks for the platform token and never accepts an org key", async () => {
    const none = await call(harness.app, "GET", "/admin/queues");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Basic");
    for (const key of [org.keys.admin, org.keys.pos, org.keys.finance]) {
      expect((await call(harness.app, "GET", "/admin/queues", { key })).status).toBe(401);
      expect((await call(harness.app, "GET", "/admin/queues/api/queues", { key })).status).toBe(
        401,
      );
    }
    const wrong = await call(harness.app, "GET", "/admin/queues", {
      headers: { Authorization: basic("guess") },
    });
    expect(wrong.status).toBe(401);
  });

  it("serves the dashboard and its API to the platform token, as Bearer or as the Basic password", async () => {
    const bearer = await call(harness.app, "GET", "/admin/queues", { key: platformToken });
    expect(bearer.status).toBe(200);
    expect(String(bearer.body)).toContain("Loyalty Ledger queues");
    const browser = await call(harness.app, "GET", "/admin/queues", {
      headers: { Authorization: basic(platformToken) },
    });
    expect(browser.status).toBe(200);
    const queues = await call(harness.app, "GET", "/admin/queues/api/queues", {
      key: platformToken,
    });
    expect(queues.status).toBe(200);
    const names = list(queues.body.queues).map((queue) => String(queue.name));
    expect(names).toEqual(expect.arrayContaining(["events", "webhooks", "reconcile"]));
  });

  it("is disabled without a platform token", async () => {
    const app = harness.variant({ jobs, platformToken: undefined });
    const response = await call(app, "GET", "/admin/queues", { key: platformToken });
    expect(response.status).toBe(403);
  });
});
