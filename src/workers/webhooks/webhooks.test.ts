/**
 * Webhook fan-out and delivery on real Postgres and the embedded ledger, driven here by a plain
 * scheduler (the seam the queue fills in production): bodies and `data` shapes, the balance a
 * posting left, signatures verified by the `standardwebhooks` package, the retry schedule, dead
 * and revived deliveries, and the order rule per member.
 */
import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import type { WebhookReceiver } from "../../../test/support/webhook-receiver.ts";
import { startWebhookReceiver } from "../../../test/support/webhook-receiver.ts";
import { platformActor } from "../../membership/audit/audit.ts";
import {
  adjustMemberPoints,
  createWebhook,
  isPrivateAddress,
  recordPurchase,
  updateMember,
} from "../../membership/index.ts";
import type { DeliverDeps, WebhookDelivery } from "./deliver.ts";
import { createWebhookDelivery, DeadDeliveryError, deliverWebhook } from "./deliver.ts";
import type { WebhookSourceEvent } from "./event-data.ts";
import { fanOutWebhooks } from "./fan-out.ts";
import { nextRetryAt, retryHorizonMs } from "./schedule.ts";
import { wakeOverdueDeliveries } from "./sweep.ts";

const fixture = useLedgerFixture();
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});
/** Every driver's delivery (HTTP client and statements), closed at the end. */
const deliveries: WebhookDelivery[] = [];
afterAll(async () => {
  await receiver?.close();
  await Promise.all(deliveries.map((delivery) => delivery.close()));
});

/** Runs scheduled wake-ups in due order until none is left (delays are ignored: time is not). */
function createDriver(retryDelaysMs: number[], allowPrivate = true) {
  const queue: Array<{ deliveryId: string; wakeup: number }> = [];
  const seen = new Set<string>();
  const dead: string[] = [];
  let delivery: WebhookDelivery | undefined;
  const deliveryOnce = (): WebhookDelivery => {
    if (delivery === undefined) {
      delivery = createWebhookDelivery(fixture.environment.deps, { allowPrivate });
      deliveries.push(delivery);
    }
    return delivery;
  };
  const deps = (): DeliverDeps => ({
    ...fixture.environment.deps,
    delivery: deliveryOnce(),
    options: {
      nodeEnv: "test",
      webhookAllowPrivate: allowPrivate,
      webhookRetryDelaysMs: retryDelaysMs,
    },
    scheduleWakeup: async (wake) => {
      const key = `${wake.deliveryId}-${wake.wakeup}`;
      if (!seen.has(key)) {
        seen.add(key);
        queue.push({ deliveryId: wake.deliveryId, wakeup: wake.wakeup });
      }
    },
  });
  return {
    deps,
    dead,
    async drain(stepsMax = 500): Promise<void> {
      for (let step = 0; step < stepsMax && queue.length > 0; step += 1) {
        const next = queue.shift();
        if (next === undefined) {
          break;
        }
        // Retries here are a few ms apart; wait them out so the row is due.
        await new Promise((resolve) => setTimeout(resolve, 5));
        try {
          await deliverWebhook(deps(), next.deliveryId);
        } catch (error) {
          if (!(error instanceof DeadDeliveryError)) {
            throw error;
          }
          dead.push(next.deliveryId);
        }
      }
      expect(queue).toEqual([]);
    },
    retry(deliveryId: string): void {
      queue.push({ deliveryId, wakeup: -1 });
    },
  };
}

async function outboxEvents(orgId: string, afterId = 0n): Promise<WebhookSourceEvent[]> {
  const rows = await fixture.database.sql<
    Array<{
      id: string;
      org_id: string;
      topic: string;
      payload: Record<string, unknown>;
      created_at: string | Date;
    }>
  >`select id::text as id, org_id, topic, payload, created_at from outbox
    where org_id = ${orgId} and id > ${afterId.toString()} order by id`;
  return rows.map((row) => ({
    orgId: row.org_id,
    outboxId: row.id,
    topic: row.topic,
    memberId: typeof row.payload.member_id === "string" ? row.payload.member_id : null,
    payload: row.payload,
    createdAt: new Date(row.created_at).toISOString(),
  }));
}

describe("the retry schedule", () => {
  it("is 5 s, 30 s, 2 min, 10 min, 30 min, then hourly until 24 h after the first attempt", () => {
    const first = new Date("2026-01-01T00:00:00Z");
    const delays: number[] = [];
    let now = first;
    for (let failures = 1; failures < 100; failures += 1) {
      const next = nextRetryAt({ failures, firstAttemptAt: first, now, overrideDelaysMs: [] });
      if (next === null) {
        break;
      }
      delays.push(next.getTime() - now.getTime());
      now = next;
    }
    expect(delays.slice(0, 6)).toEqual([5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000]);
    expect(now.getTime() - first.getTime()).toBeLessThanOrEqual(retryHorizonMs);
    expect(now.getTime() - first.getTime()).toBeGreaterThan(retryHorizonMs - 3_600_000);
  });

  it("with an override, is exactly that list, then dead", () => {
    const first = new Date();
    const at = (failures: number) =>
      nextRetryAt({ failures, firstAttemptAt: first, now: first, overrideDelaysMs: [1, 2] });
    expect(at(1)?.getTime()).toBe(first.getTime() + 1);
    expect(at(2)?.getTime()).toBe(first.getTime() + 2);
    expect(at(3)).toBeNull();
  });
});

describe("fan-out and delivery", () => {
  it("posts a delivery once when several jobs of it run at the same moment", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const driver = createDriver([1]);
    const hook = await createWebhook(deps, {
      actor: platformActor,
      orgId: org.id,
      url: receiver.url,
      events: ["member.enrolled"],
      rules: { requireHttps: false, allowPrivate: true },
    });
    receiver.secret = hook.secret;
    receiver.respond = () => 204;
    await buildLedgerMember(deps, org.id);
    const [event] = await outboxEvents(org.id);
    // Fanned out without its job: the jobs below stand in for a wake-up and its duplicates.
    await fanOutWebhooks(
      { ...driver.deps(), scheduleWakeup: async () => {} },
      event as WebhookSourceEvent,
    );
    const [delivery] = await fixture.database.sql<Array<{ id: string }>>`
      select id::text as id from webhook_deliveries where webhook_id = ${hook.id}`;
    const before = receiver.received.length;
    // A claim of another delivery goes first, so the four below wait and go as one batch.
    const [other, ...outcomes] = await Promise.all([
      deliverWebhook(driver.deps(), "999999999"),
      ...Array.from({ length: 4 }, () => deliverWebhook(driver.deps(), delivery?.id ?? "")),
    ]);
    expect(other).toBe("finished");
    expect(outcomes.filter((outcome) => outcome === "delivered")).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome !== "delivered")).toEqual(
      expect.arrayContaining([expect.stringMatching(/^(busy|finished)$/)]),
    );
    expect(receiver.received.slice(before).map((received) => received.id)).toEqual([
      `evt_${event?.outboxId}`,
    ]);
  });

  it("signs every event verifiably and sends ids, amounts and the balance after the posting", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const driver = createDriver([1, 1]);
    const hook = await createWebhook(deps, {
      actor: platformActor,
      orgId: org.id,
      url: receiver.url,
      events: ["member.enrolled", "member.updated", "points.earned", "points.adjusted"],
      rules: { requireHttps: false, allowPrivate: true },
    });
    receiver.secret = hook.secret;
    receiver.respond = () => 200;
    const before = receiver.received.length;
    const member = await buildLedgerMember(deps, org.id);
    const first = await recordPurchase(deps, {
      orgId: org.id,
      externalId: "till-1:1",
      memberId: member.id,
      amountMinor: 10_000n,
      currency: org.currency,
    });
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: "till-1:2",
      memberId: member.id,
      amountMinor: 5_000n,
      currency: org.currency,
    });
    await adjustMemberPoints(deps, {
      actor: platformActor,
      orgId: org.id,
      memberId: member.id,
      direction: "debit",
      points: 7n,
      reason: "goodwill reversal",
      externalId: externalId("adj"),
    });
    await updateMember(deps, {
      orgId: org.id,
      memberId: member.id,
      patch: { email: "a@example.org" },
    });

    for (const event of await outboxEvents(org.id)) {
      await fanOutWebhooks(driver.deps(), event);
      // Again: the events queue delivers at least once; nothing doubles.
      await fanOutWebhooks(driver.deps(), event);
    }
    await driver.drain();
    const got = receiver.received.slice(before);
    expect(receiver.rejected).toBe(0);
    expect(got.map((delivery) => delivery.payload.type)).toEqual([
      "member.enrolled",
      "points.earned",
      "points.earned",
      "points.adjusted",
      "member.updated",
    ]);
    expect(new Set(got.map((delivery) => delivery.id)).size).toBe(5);
    for (const delivery of got) {
      expect(delivery.id).toBe(delivery.payload.id);
      expect(delivery.payload.org_id).toBe(org.id);
    }
    const welcome = BigInt(org.settings.welcomeBonusPoints);
    const earned = first.pointsEarned;
    expect(got[0]?.payload.data).toEqual({
      member_id: member.id,
      external_ref: member.externalRef,
      welcome_bonus: welcome.toString(),
    });
    expect(got[1]?.payload.data).toEqual({
      member_id: member.id,
      points: earned.toString(),
      balance: (welcome + earned).toString(),
      document: { kind: "purchase", id: first.transactionId, external_id: "till-1:1" },
    });
    const second = got[2]?.payload.data as { points: string; balance: string };
    expect(BigInt(second.balance)).toBe(welcome + earned + BigInt(second.points));
    expect(got[3]?.payload.data).toMatchObject({
      points: "-7",
      balance: (BigInt(second.balance) - 7n).toString(),
      document: { kind: "adjustment" },
    });
    expect(got[4]?.payload.data).toEqual({
      member_id: member.id,
      external_ref: member.externalRef,
      changed: ["email"],
      status: "active",
    });
    expect(JSON.stringify(got)).not.toContain("a@example.org");
  });

  it("retries, goes dead after the schedule, and delivers when retried from dead", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const driver = createDriver([1, 1, 1]);
    const hook = await createWebhook(deps, {
      actor: platformActor,
      orgId: org.id,
      url: receiver.url,
      events: ["member.enrolled"],
      rules: { requireHttps: false, allowPrivate: true },
    });
    receiver.secret = hook.secret;
    receiver.respond = () => 503;
    const before = receiver.received.length;
    await buildLedgerMember(deps, org.id);
    const [event] = await outboxEvents(org.id);
    expect(event).toBeDefined();
    await fanOutWebhooks(driver.deps(), event as WebhookSourceEvent);
    await driver.drain();
    const failures = receiver.received.slice(before);
    expect(failures).toHaveLength(4);
    expect(new Set(failures.map((delivery) => delivery.id))).toEqual(
      new Set([`evt_${event?.outboxId}`]),
    );
    expect(driver.dead).toHaveLength(1);
    const [row] = await fixture.database.sql<Array<{ status: string; attempts: number }>>`
      select status, attempts from webhook_deliveries where webhook_id = ${hook.id}`;
    expect(row).toEqual({ status: "dead", attempts: 4 });

    receiver.respond = () => 204;
    driver.retry(driver.dead[0] as string);
    await driver.drain();
    const last = receiver.received[receiver.received.length - 1];
    expect([last?.id, last?.status]).toEqual([`evt_${event?.outboxId}`, 204]);
    const attempts = await fixture.database.sql<
      Array<{ status_code: number; next_retry_at: Date | null }>
    >`
      select a.status_code, a.next_retry_at from webhook_attempts a
      join webhook_deliveries d on d.id = a.delivery_id where d.webhook_id = ${hook.id}
      order by a.id`;
    expect(attempts.map((attempt) => attempt.status_code)).toEqual([503, 503, 503, 503, 204]);
    expect(attempts.map((attempt) => attempt.next_retry_at === null)).toEqual([
      false,
      false,
      false,
      true,
      true,
    ]);
  });

  it("keeps each member's events in order while an earlier one is retried", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const driver = createDriver([1, 1, 1, 1, 1, 1]);
    const hook = await createWebhook(deps, {
      actor: platformActor,
      orgId: org.id,
      url: receiver.url,
      events: ["points.adjusted"],
      rules: { requireHttps: false, allowPrivate: true },
    });
    receiver.secret = hook.secret;
    const members = [await buildLedgerMember(deps, org.id), await buildLedgerMember(deps, org.id)];
    const outboxStart = (await outboxEvents(org.id)).at(-1)?.outboxId ?? "0";
    for (let round = 0; round < 4; round += 1) {
      for (const member of members) {
        await adjustMemberPoints(deps, {
          actor: platformActor,
          orgId: org.id,
          memberId: member.id,
          direction: "credit",
          points: BigInt(round + 1),
          reason: "order test",
          externalId: externalId("adj"),
        });
      }
    }
    // The first three attempts fail, whichever event they carry; then all succeed.
    const before = receiver.received.length;
    receiver.respond = (_delivery, index) => (index - before < 3 ? 500 : 200);
    for (const event of await outboxEvents(org.id, BigInt(outboxStart))) {
      await fanOutWebhooks(driver.deps(), event);
    }
    await driver.drain();
    const delivered = receiver.received.slice(before).filter((delivery) => delivery.status === 200);
    expect(delivered).toHaveLength(8);
    for (const member of members) {
      const points = delivered
        .filter((delivery) => delivery.payload.data.member_id === member.id)
        .map((delivery) => delivery.payload.data.points);
      expect(points).toEqual(["1", "2", "3", "4"]);
    }
  });

  it("wakes a pending delivery whose job was lost, and only that one", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const driver = createDriver([1]);
    const hook = await createWebhook(deps, {
      actor: platformActor,
      orgId: org.id,
      url: receiver.url,
      events: ["member.enrolled"],
      rules: { requireHttps: false, allowPrivate: true },
    });
    receiver.secret = hook.secret;
    receiver.respond = () => 200;
    await buildLedgerMember(deps, org.id);
    const [event] = await outboxEvents(org.id);
    // Fanned out with its job lost: a scheduler that drops it.
    await fanOutWebhooks(
      { ...driver.deps(), scheduleWakeup: async () => {} },
      event as WebhookSourceEvent,
    );
    expect(await wakeOverdueDeliveries(driver.deps())).toBe(0);
    await fixture.database.sql`
      update webhook_deliveries set next_attempt_at = now() - interval '2 minutes'
      where webhook_id = ${hook.id}`;
    const before = receiver.received.length;
    expect(await wakeOverdueDeliveries(driver.deps())).toBeGreaterThanOrEqual(1);
    await driver.drain();
    expect(receiver.received.slice(before).map((delivery) => delivery.id)).toEqual([
      `evt_${event?.outboxId}`,
    ]);
  });

  it.each([
    ["a literal loopback address", (url: string) => url],
    // A name the delivery client resolves when it connects, and refuses the answer of: the
    // machine's own name, which resolves to loopback or to its private address (checked below).
    [
      "a name that resolves to a private address",
      (url: string) => url.replace("127.0.0.1", hostname()),
    ],
  ])("checks the URL again at each attempt and sends nothing to %s", async (_, urlOf) => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    // Accepted when created (private targets allowed then), refused when delivered.
    const driver = createDriver([1], false);
    const url = urlOf(receiver.url);
    const { address } = await lookup(new URL(url).hostname);
    expect(isPrivateAddress(address)).toBe(true);
    const hook = await createWebhook(deps, {
      actor: platformActor,
      orgId: org.id,
      url,
      events: ["member.enrolled"],
      rules: { requireHttps: false, allowPrivate: true },
    });
    receiver.secret = hook.secret;
    const before = receiver.received.length;
    await buildLedgerMember(deps, org.id);
    const [event] = await outboxEvents(org.id);
    await fanOutWebhooks(driver.deps(), event as WebhookSourceEvent);
    await driver.drain();
    expect(receiver.received.length).toBe(before);
    expect(driver.dead).toHaveLength(1);
    const attempts = await fixture.database.sql<
      Array<{ status_code: number | null; error: string }>
    >`
      select a.status_code, a.error from webhook_attempts a
      join webhook_deliveries d on d.id = a.delivery_id where d.webhook_id = ${hook.id}`;
    expect(attempts).toHaveLength(2);
    for (const attempt of attempts) {
      expect(attempt.status_code).toBeNull();
      expect(attempt.error).toMatch(/private or loopback/);
    }
  });
});
