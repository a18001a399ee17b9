/**
 * Redis unreachable in the middle of a stream of webhook events, then back: no event is lost
 * and each member's events still arrive in order. Redis is reached through a TCP proxy
 * (test/support/tcp-fault.ts) that the test breaks and heals; the shared Redis server itself is
 * never stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { platformActor } from "../../src/membership/audit/audit.ts";
import { adjustMemberPoints, createWebhook } from "../../src/membership/index.ts";
import { createJobProducer, type JobProducer, type WorkerDeps } from "../../src/workers/index.ts";
import { relayOutboxPass } from "../../src/workers/relay.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../support/ledger.ts";
import { redisUrl } from "../support/redis.ts";
import { createFaultProxy, type FaultProxy } from "../support/tcp-fault.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

const fixture = useWorkerFixture({ start: false });
let receiver: WebhookReceiver;
let proxy: FaultProxy;
let producer: JobProducer;
let runtime: WorkerRuntime;
let deps: WorkerDeps;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  const url = new URL(redisUrl);
  proxy = await createFaultProxy({ host: url.hostname, port: Number(url.port || 6379) });
  const proxied = `redis://127.0.0.1:${proxy.port}`;
  producer = createJobProducer({ redisUrl: proxied, keyPrefix: fixture.keyPrefix });
  deps = { ...fixture.deps, producer };
  runtime = await startWorkers(deps, {
    redisUrl: proxied,
    queues: ["events", "webhooks"],
    schedulers: false,
    concurrency: { events: 1 },
  });
  await runtime.ready();
});
afterAll(async () => {
  await runtime?.close(5_000);
  await producer?.close();
  await proxy?.close();
  await receiver?.close();
});

/** Relays until the outbox is drained; false while Redis cannot be reached. */
async function relayAll(): Promise<boolean> {
  try {
    while ((await relayOutboxPass(deps)) > 0) {}
    return true;
  } catch {
    return false;
  }
}

describe("webhooks with Redis unreachable mid-stream", () => {
  it("loses no event and keeps each member's order", async () => {
    const { org } = await buildLedgerOrg(deps);
    const members = [await buildLedgerMember(deps, org.id), await buildLedgerMember(deps, org.id)];
    expect(await relayAll()).toBe(true);
    const hook = await createWebhook(deps, {
      actor: platformActor,
      orgId: org.id,
      url: receiver.url,
      events: ["points.adjusted"],
      rules: { requireHttps: false, allowPrivate: true },
    });
    receiver.secret = hook.secret;
    receiver.respond = () => 200;
    const adjust = async (round: number) => {
      for (const member of members) {
        await adjustMemberPoints(deps, {
          actor: platformActor,
          orgId: org.id,
          memberId: member.id,
          direction: "credit",
          points: BigInt(round),
          reason: "stream",
          externalId: externalId("adj"),
        });
      }
    };

    for (let round = 1; round <= 5; round += 1) {
      await adjust(round);
    }
    expect(await relayAll()).toBe(true);
    await waitFor(() => receiver.received.length >= 2, { what: "the stream to start" });

    await proxy.refuse();
    for (let round = 6; round <= 10; round += 1) {
      await adjust(round);
    }
    expect(await relayAll()).toBe(false);
    // Let the workers run into the outage (their job bookkeeping fails meanwhile).
    await new Promise((resolve) => setTimeout(resolve, 500));
    await proxy.heal();

    await waitFor(relayAll, { what: "the outbox to drain once Redis is back", timeoutMs: 60_000 });
    const delivered = () => receiver.received.filter((delivery) => delivery.status === 200);
    await waitFor(() => new Set(delivered().map((delivery) => delivery.id)).size >= 20, {
      what: "all twenty events delivered",
      // Jobs that were running when Redis went away come back after BullMQ's stalled check.
      timeoutMs: 120_000,
    });
    for (const member of members) {
      const seen = new Set<string>();
      const order = delivered()
        .filter((delivery) => delivery.payload.data.member_id === member.id)
        .filter((delivery) => {
          const first = !seen.has(delivery.id);
          seen.add(delivery.id);
          return first;
        })
        .map((delivery) => delivery.payload.data.points);
      expect(order).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    }
    expect(receiver.rejected).toBe(0);
  }, 240_000);
});
