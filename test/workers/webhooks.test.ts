/**
 * Webhooks through the whole pipeline on real Redis, Postgres and the embedded ledger: outbox →
 * relay → events queue (fan-out) → webhooks queue → a node:http receiver on 127.0.0.1 that
 * verifies each request with the `standardwebhooks` package. Retries (millisecond schedule), a
 * dead delivery as a failed job carrying its org, retried from there; order per member while the
 * receiver fails, then recovers.
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { platformActor } from "../../src/membership/audit/audit.ts";
import {
  adjustMemberPoints,
  createWebhook,
  listWebhookDeliveries,
  recordPurchase,
} from "../../src/membership/index.ts";
import { relayOutboxPass } from "../../src/workers/relay.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../support/ledger.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

const fixture = useWorkerFixture({
  queues: ["events", "webhooks"],
  // The events queue at its production concurrency: order per member must not depend on the
  // fan-out running one event at a time (the relay reserves deliveries in order).
});
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

async function relayAll(): Promise<void> {
  while ((await relayOutboxPass(fixture.deps)) > 0) {}
}

async function subscribe(orgId: string, events: string[]) {
  const hook = await createWebhook(fixture.deps, {
    actor: platformActor,
    orgId,
    url: receiver.url,
    events,
    rules: { requireHttps: false, allowPrivate: true },
  });
  receiver.secret = hook.secret;
  return hook;
}

describe("webhooks end to end", () => {
  it("delivers signed events a standardwebhooks receiver verifies, each once", async () => {
    const { deps } = fixture;
    const { org } = await buildLedgerOrg(deps);
    await subscribe(org.id, ["member.enrolled", "points.earned"]);
    receiver.respond = () => 200;
    const before = receiver.received.length;
    const member = await buildLedgerMember(deps, org.id);
    const purchase = await recordPurchase(deps, {
      orgId: org.id,
      externalId: "till-9:1",
      memberId: member.id,
      amountMinor: 12_345n,
      currency: org.currency,
    });
    await relayAll();
    await waitFor(() => receiver.received.length - before >= 2, { what: "two deliveries" });

    // The same outbox row relayed again (at least once): no second delivery.
    const [row] = (await deps.db.execute(
      sql`select id::text as id, payload, created_at from outbox
          where org_id = ${org.id}::uuid and topic = 'points.earned'`,
    )) as unknown as Array<{ id: string; payload: Record<string, unknown>; created_at: string }>;
    const again = await fixture.producer.add(
      "events",
      {
        orgId: org.id,
        outboxId: String(row?.id),
        topic: "points.earned",
        memberId: member.id,
        payload: row?.payload ?? {},
        createdAt: new Date(String(row?.created_at)).toISOString(),
      },
      { jobId: `again-${row?.id}` },
    );
    await waitFor(
      async () =>
        (await (await fixture.producer.getJob("events", again))?.getState()) === "completed",
      { what: "the re-relayed event handled" },
    );
    const [count] = (await deps.db.execute(
      sql`select count(*)::int as n from webhook_deliveries where org_id = ${org.id}::uuid`,
    )) as unknown as Array<{ n: number }>;
    expect(count?.n).toBe(2);
    const got = receiver.received.slice(before);
    expect(receiver.rejected).toBe(0);
    expect(got.map((delivery) => delivery.payload.type)).toEqual([
      "member.enrolled",
      "points.earned",
    ]);
    expect(got[1]?.payload.data).toMatchObject({
      member_id: member.id,
      points: purchase.pointsEarned.toString(),
      balance: purchase.balance.available.toString(),
      document: { kind: "purchase", id: purchase.transactionId, external_id: "till-9:1" },
    });
    expect(got.every((delivery) => delivery.payload.org_id === org.id)).toBe(true);
  });

  it("retries, goes dead as a failed job of its org, and delivers when that job is retried", async () => {
    const { deps, producer } = fixture;
    const { org } = await buildLedgerOrg(deps);
    const hook = await subscribe(org.id, ["member.enrolled"]);
    receiver.respond = () => 503;
    const before = receiver.received.length;
    await buildLedgerMember(deps, org.id);
    await relayAll();

    const queue = producer.queue("webhooks");
    let failedJobId: string | undefined;
    await waitFor(
      async () => {
        const failed = await queue.getFailed();
        const mine = failed.find((job) => job.data.orgId === org.id);
        failedJobId = mine?.id;
        return mine !== undefined;
      },
      { what: "the dead delivery in the failed set" },
    );
    // The fixture's schedule is 20, 40, 80 ms: four attempts, then dead.
    const attempts = receiver.received.slice(before);
    expect(attempts.map((delivery) => delivery.status)).toEqual([503, 503, 503, 503]);
    expect(new Set(attempts.map((delivery) => delivery.id)).size).toBe(1);
    let page = await listWebhookDeliveries(deps, { orgId: org.id, webhookId: hook.id, limit: 10 });
    expect(page.deliveries).toHaveLength(1);
    expect(page.deliveries[0]).toMatchObject({ status: "dead", attempts: 4 });
    expect(page.deliveries[0]?.attemptLog.map((attempt) => attempt.statusCode)).toEqual([
      503, 503, 503, 503,
    ]);

    receiver.respond = () => 200;
    const job = await producer.getJob("webhooks", String(failedJobId));
    await job?.retry("failed");
    await waitFor(() => receiver.received.at(-1)?.status === 200, { what: "the retried delivery" });
    expect(receiver.received.at(-1)?.id).toBe(attempts[0]?.id);
    await waitFor(
      async () => {
        page = await listWebhookDeliveries(deps, { orgId: org.id, webhookId: hook.id, limit: 10 });
        return page.deliveries[0]?.status === "delivered";
      },
      { what: "the delivery marked delivered" },
    );
    expect(page.deliveries[0]?.attempts).toBe(5);
  });

  it("keeps each member's events in order while the receiver fails, then recovers", async () => {
    const { deps } = fixture;
    const { org } = await buildLedgerOrg(deps);
    const members = [await buildLedgerMember(deps, org.id), await buildLedgerMember(deps, org.id)];
    await relayAll();
    await subscribe(org.id, ["points.adjusted"]);
    const before = receiver.received.length;
    // The first five requests fail, whatever they carry; then every one succeeds.
    receiver.respond = (_delivery, index) => (index - before < 5 ? 500 : 200);
    for (let round = 1; round <= 5; round += 1) {
      for (const member of members) {
        await adjustMemberPoints(deps, {
          actor: platformActor,
          orgId: org.id,
          memberId: member.id,
          direction: "credit",
          points: BigInt(round),
          reason: "order",
          externalId: externalId("adj"),
        });
      }
    }
    await relayAll();
    const delivered = () =>
      receiver.received.slice(before).filter((delivery) => delivery.status === 200);
    await waitFor(() => delivered().length >= 10, { what: "ten deliveries" });
    for (const member of members) {
      const order = delivered()
        .filter((delivery) => delivery.payload.data.member_id === member.id)
        .map((delivery) => delivery.payload.data.points);
      expect(order).toEqual(["1", "2", "3", "4", "5"]);
    }
    expect(delivered()).toHaveLength(10);
  });
});
