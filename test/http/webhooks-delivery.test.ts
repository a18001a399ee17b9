/**
 * A webhook's life over HTTP, with the workers running in this process on the real Redis: the
 * admin subscribes, a member is enrolled, the receiver (verifying with `standardwebhooks`)
 * refuses every attempt until the delivery is dead; the org's admin finds it among its failed
 * jobs (another org's does not), retries it there, and reads the delivery log.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJobProducer, type JobProducer, type WorkerDeps } from "../../src/workers/index.ts";
import { relayOutboxPass } from "../../src/workers/relay.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { deleteKeys, redisUrl } from "../support/redis.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";
import { testWorkerDeps, waitFor } from "../support/workers.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  type Harness,
  list,
  type TestOrg,
} from "./support.ts";

const keyPrefix = `test:webhooks:${process.pid}:${randomBytes(4).toString("hex")}:`;
let harness: Harness;
let jobs: JobProducer;
let workers: WorkerRuntime;
let workerDeps: WorkerDeps;
let receiver: WebhookReceiver;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  jobs = createJobProducer({ redisUrl, keyPrefix });
  harness = await createHarness({ jobs });
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  workerDeps = testWorkerDeps(harness.deps, jobs);
  workers = await startWorkers(workerDeps, {
    redisUrl,
    queues: ["events", "webhooks"],
    schedulers: false,
  });
  await workers.ready();
});

afterAll(async () => {
  await workers?.close(5_000);
  await jobs?.close();
  const cleaner = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await deleteKeys(cleaner, keyPrefix).catch(() => undefined);
  await cleaner.quit().catch(() => cleaner.disconnect());
  await harness?.close();
  await receiver?.close();
});

describe("a webhook delivery over HTTP", () => {
  it("goes dead, is listed and retried by its org's admin only, and its log shows every attempt", async () => {
    const created = await call(harness.app, "POST", "/v1/webhooks", {
      key: org.keys.admin,
      body: { url: receiver.url, events: ["member.enrolled"] },
    });
    expect(created.status).toBe(201);
    const webhookId = String(created.body.webhook?.id);
    receiver.secret = String(created.body.webhook?.secret);
    receiver.respond = () => 500;

    const member = await enrollOverHttp(harness, org);
    while ((await relayOutboxPass(workerDeps)) > 0) {}

    let failed: ReturnType<typeof list> = [];
    await waitFor(
      async () => {
        const answer = await call(harness.app, "GET", "/v1/admin/jobs/failed?queue=webhooks", {
          key: org.keys.admin,
        });
        failed = list(answer.body.jobs);
        return failed.length === 1;
      },
      { what: "the dead delivery among the org's failed jobs" },
    );
    expect(failed[0]?.data?.orgId).toBe(org.id);
    expect(String(failed[0]?.failed_reason)).toMatch(/dead/);
    const others = await call(harness.app, "GET", "/v1/admin/jobs/failed?queue=webhooks", {
      key: other.keys.admin,
    });
    expect(list(others.body.jobs)).toEqual([]);
    const jobId = String(failed[0]?.id);
    const foreign = await call(harness.app, "POST", `/v1/admin/jobs/webhooks/${jobId}/retry`, {
      key: other.keys.admin,
    });
    expect(foreign.status).toBe(404);

    receiver.respond = () => 200;
    const retried = await call(harness.app, "POST", `/v1/admin/jobs/webhooks/${jobId}/retry`, {
      key: org.keys.admin,
    });
    expect(retried.status).toBeLessThan(300);
    await waitFor(() => receiver.received.at(-1)?.status === 200, { what: "the retried delivery" });

    let deliveries: ReturnType<typeof list> = [];
    await waitFor(
      async () => {
        const log = await call(harness.app, "GET", `/v1/webhooks/${webhookId}/deliveries`, {
          key: org.keys.admin,
        });
        deliveries = list(log.body.deliveries);
        return String(deliveries[0]?.status) === "delivered";
      },
      { what: "the delivery marked delivered" },
    );
    expect(deliveries).toHaveLength(1);
    const delivery = deliveries[0];
    expect(delivery?.member_id).toBe(member.id);
    expect(delivery?.event_type).toBe("member.enrolled");
    const attempts = list(delivery?.attempt_log);
    // Newest first: the retried one, then four refused (the test schedule: 20, 40, 80 ms).
    expect(attempts.map((attempt) => attempt.status_code)).toEqual([200, 500, 500, 500, 500]);
    expect(attempts.map((attempt) => attempt.next_retry_at === null)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
    for (const attempt of attempts) {
      expect(attempt.event_id).toBe(delivery?.event_id);
      expect(typeof attempt.duration_ms).toBe("number");
    }
    expect(attempts[1]?.error).toBe("HTTP 500");
    expect(receiver.received.every((got) => got.id === String(delivery?.event_id))).toBe(true);
  });
});
