/**
 * The workers' foundation on the real Redis and Postgres: the outbox relay (order, at least once,
 * nothing lost while Redis is unreachable), idempotent job schedulers, and a graceful close that
 * lets a running job finish.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Job } from "bullmq";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeOutbox } from "../../src/membership/store/outbox.ts";
import { createJobProducer, type RelayedEvent, type WorkerDeps } from "../../src/workers/index.ts";
import { relayOutboxPass } from "../../src/workers/relay.ts";
import { startWorkers } from "../../src/workers/runtime.ts";
import { buildLedgerOrg } from "../support/ledger.ts";
import { redisUrl } from "../support/redis.ts";
import { createFaultProxy, type FaultProxy } from "../support/tcp-fault.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

const received: RelayedEvent[] = [];
const fixture = useWorkerFixture({
  queues: ["events"],
  // One at a time, so the order handled is the order the relay added them in.
  concurrency: { events: 1 },
  processors: {
    events: {
      process: async (job: Job) => {
        received.push(job.data as RelayedEvent);
        return null;
      },
    },
  },
});

async function undelivered(deps: WorkerDeps): Promise<number> {
  const [row] = (await deps.db.execute(
    sql`select count(*)::int as n from outbox where delivered_at is null`,
  )) as unknown as Array<{ n: number }>;
  return row?.n ?? -1;
}

describe("outbox relay", () => {
  it("hands committed rows to the events queue in id order, each once, and marks them delivered", async () => {
    const { deps } = fixture;
    const { org } = await buildLedgerOrg(deps);
    const members = [randomUUID(), randomUUID()];
    const events = Array.from({ length: 30 }, (_, index) => ({
      orgId: org.id,
      topic: "points.earned" as const,
      payload: { member_id: members[index % 2] ?? "", seq: index },
    }));
    await writeOutbox(deps.db, events);
    received.length = 0;

    while ((await relayOutboxPass(deps, 7)) > 0) {}
    // A pass over a drained outbox adds nothing again.
    expect(await relayOutboxPass(deps)).toBe(0);
    await waitFor(() => received.length >= 30, { what: "30 relayed events" });

    expect(await undelivered(deps)).toBe(0);
    for (const member of members) {
      const mine = received.filter((event) => event.memberId === member);
      expect(mine).toHaveLength(15);
      const ids = mine.map((event) => BigInt(event.outboxId));
      expect(ids.every((id, index) => index === 0 || (ids[index - 1] ?? 0n) < id)).toBe(true);
      expect(mine.map((event) => event.payload.seq)).toEqual(
        events
          .filter((event) => event.payload.member_id === member)
          .map((event) => event.payload.seq),
      );
    }
    expect(
      received.every((event) => event.orgId === org.id && event.topic === "points.earned"),
    ).toBe(true);
  });

  describe("with Redis unreachable", () => {
    let proxy: FaultProxy;
    let producer: ReturnType<typeof createJobProducer>;
    beforeAll(async () => {
      const url = new URL(redisUrl);
      proxy = await createFaultProxy({ host: url.hostname, port: Number(url.port || 6379) });
      producer = createJobProducer({
        redisUrl: `redis://127.0.0.1:${proxy.port}`,
        keyPrefix: fixture.keyPrefix,
      });
    });
    afterAll(async () => {
      await producer.close();
      await proxy.close();
    });

    it("keeps every row in the outbox and relays them all once Redis is back", async () => {
      const deps: WorkerDeps = { ...fixture.deps, producer };
      const { org } = await buildLedgerOrg(deps);
      received.length = 0;
      await writeOutbox(deps.db, [
        { orgId: org.id, topic: "member.enrolled", payload: { member_id: randomUUID(), n: 1 } },
      ]);
      await relayOutboxPass(deps);
      await waitFor(() => received.length === 1, { what: "the first event" });

      await proxy.refuse();
      await writeOutbox(
        deps.db,
        Array.from({ length: 5 }, (_, n) => ({
          orgId: org.id,
          topic: "points.earned" as const,
          payload: { member_id: randomUUID(), n: n + 2 },
        })),
      );
      await expect(relayOutboxPass(deps)).rejects.toThrow();
      // An add answers (with an error) while Redis is away, rather than waiting for it. (It may
      // still land once Redis is back: hence a queue no other test here works.)
      await expect(producer.add("ingest", { orgId: null })).rejects.toThrow();
      expect(await undelivered(deps)).toBe(5);

      await proxy.heal();
      await waitFor(
        async () => {
          try {
            await relayOutboxPass(deps);
          } catch {
            return false; // still reconnecting
          }
          return (await undelivered(deps)) === 0;
        },
        { what: "the outbox to drain after Redis returned" },
      );
      await waitFor(() => received.length === 6, { what: "all six events" });
      expect(received.map((event) => event.payload.n)).toEqual([1, 2, 3, 4, 5, 6]);
    });
  });
});

describe("worker runtime", () => {
  it("registers each job scheduler once, however many processes start", async () => {
    const { deps } = fixture;
    const first = await startWorkers(deps, { redisUrl, queues: ["relay"], schedulers: true });
    const second = await startWorkers(deps, { redisUrl, queues: ["relay"], schedulers: true });
    await Promise.all([first.ready(), second.ready()]);
    const schedulers = await deps.producer.queue("relay").getJobSchedulers();
    expect(schedulers.map((entry) => entry.key)).toEqual(["relay-outbox"]);

    // The scheduled relay runs by itself: a new row reaches the events queue untouched.
    const { org } = await buildLedgerOrg(deps);
    received.length = 0;
    await writeOutbox(deps.db, [
      { orgId: org.id, topic: "tier.changed", payload: { member_id: randomUUID() } },
    ]);
    await waitFor(() => received.some((event) => event.orgId === org.id), {
      what: "a scheduled relay",
    });

    await first.close(5_000);
    await second.close(5_000);
    await deps.producer.queue("relay").removeJobScheduler("relay-outbox");
  });

  it("lets a running job finish when closed within the grace", async () => {
    const { deps } = fixture;
    let finished = false;
    let started = false;
    const runtime = await startWorkers(deps, {
      redisUrl,
      queues: ["reconcile"],
      schedulers: false,
      processors: {
        reconcile: {
          process: async () => {
            started = true;
            await new Promise((resolve) => setTimeout(resolve, 300));
            finished = true;
            return "done";
          },
        },
      },
    });
    await runtime.ready();
    const id = await deps.producer.add("reconcile", { orgId: null });
    await waitFor(() => started, { what: "the job to start" });
    await runtime.close(10_000);
    expect(finished).toBe(true);
    const job = await deps.producer.getJob("reconcile", id);
    expect(await job?.getState()).toBe("completed");
    expect(job?.returnvalue).toBe("done");
  });

  it("fails a job that breaks an invariant at once, without spending its retries", async () => {
    const { deps } = fixture;
    let runs = 0;
    const runtime = await startWorkers(deps, {
      redisUrl,
      queues: ["expiry"],
      schedulers: false,
      processors: {
        expiry: {
          process: async () => {
            runs += 1;
            assert.ok(runs < 0, "an invariant that does not hold");
          },
        },
      },
    });
    await runtime.ready();
    const id = await deps.producer.add("expiry", { orgId: null }, { options: { attempts: 5 } });
    await waitFor(
      async () => (await (await deps.producer.getJob("expiry", id))?.getState()) === "failed",
      {
        what: "the job to fail",
      },
    );
    await runtime.close(5_000);
    const job = await deps.producer.getJob("expiry", id);
    expect(runs).toBe(1);
    expect(job?.failedReason).toContain("invariant broken");
  });

  it("refuses a job whose data does not match its queue's schema, at the producer", async () => {
    await expect(
      fixture.deps.producer.add("events", { orgId: "not-a-uuid" } as never),
    ).rejects.toThrow();
  });
});
