/**
 * Asynchronous ingestion end to end on the real Postgres, Redis and BullMQ, with the embedded
 * ledger: `POST /v1/events` stores and answers 202, the `ingest` workers (started in this
 * process, on a private key prefix) process through the same use cases as the synchronous
 * routes, and `GET /v1/events/{id}` reports the outcome. Proves: a batch of 1,000 across
 * members; idempotency by event id (a resend is accepted, processed and posted once); order per
 * member (a purchase and its refund in one request); an unknown member ending `failed`; and
 * Redis unreachable at accept time (a fault proxy in front of it, refused), where the events are
 * still stored and answered 202 and the workers' sweep processes them later.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getMemberBalances } from "../../src/membership/index.ts";
import { createJobProducer, type JobProducer } from "../../src/workers/index.ts";
import { startWorkers, type WorkerRuntime } from "../../src/workers/runtime.ts";
import { deleteKeys, redisUrl } from "../support/redis.ts";
import { createFaultProxy, type FaultProxy } from "../support/tcp-fault.ts";
import { testWorkerDeps, waitFor } from "../support/workers.ts";
import type { Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
  list,
} from "./support.ts";

const keyPrefix = `test:ingest:${process.pid}:${randomBytes(4).toString("hex")}:`;
let harness: Harness;
let producer: JobProducer;
let runtime: WorkerRuntime;
let proxy: FaultProxy;
let proxiedProducer: JobProducer;

beforeAll(async () => {
  producer = createJobProducer({ redisUrl, keyPrefix });
  harness = await createHarness({ jobs: producer });
  const deps = testWorkerDeps(harness.deps, producer);
  // The sweep's scheduler too: it is what finds events no job announced.
  runtime = await startWorkers(deps, { redisUrl, queues: ["ingest"], schedulers: true });
  await runtime.ready();
  const { hostname, port } = new URL(redisUrl);
  proxy = await createFaultProxy({ host: hostname, port: Number(port || 6379) });
  proxiedProducer = createJobProducer({
    redisUrl: `redis://127.0.0.1:${proxy.port}`,
    keyPrefix,
  });
});
afterAll(async () => {
  await runtime?.close(5_000);
  await proxiedProducer?.close();
  await proxy?.close();
  await producer?.close();
  const cleaner = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await deleteKeys(cleaner, keyPrefix).catch(() => undefined);
  await cleaner.quit().catch(() => cleaner.disconnect());
  await harness?.close();
});

let sequence = 0;
function eventId(): string {
  sequence += 1;
  return `evt-${sequence}-${randomBytes(3).toString("hex")}`;
}

function transaction(member: string, purchaseId: string, amount: number) {
  return {
    event_id: eventId(),
    event_type: "pos.transaction",
    occurred_at: harness.environment.now().toISOString(),
    location: "store-1",
    member_id: member,
    payload: { external_id: purchaseId, amount, currency: "EUR" },
  };
}

function refund(member: string, purchaseId: string, amount: number) {
  return {
    event_id: eventId(),
    event_type: "pos.refund",
    occurred_at: harness.environment.now().toISOString(),
    member_id: member,
    payload: { purchase_external_id: purchaseId, external_id: `${purchaseId}:r`, amount },
  };
}

async function send(org: TestOrg, body: unknown, app = harness.app) {
  const response = await call(app, "POST", "/v1/events", { key: org.keys.pos, body });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body;
}

async function statusOf(org: TestOrg, id: string) {
  const response = await call(harness.app, "GET", `/v1/events/${encodeURIComponent(id)}`, {
    key: org.keys.pos,
  });
  expect(response.status).toBe(200);
  return response.body;
}

async function settled(org: TestOrg, ids: readonly string[]): Promise<void> {
  await waitFor(
    async () => {
      const [row] = await harness.database.sql<{ n: number }[]>`
        select count(*)::int as n from inbox_events
        where org_id = ${org.id} and event_id = any(${ids as string[]}) and status <> 'queued'`;
      return row?.n === ids.length;
    },
    { what: `${ids.length} events processed`, timeoutMs: 60_000 },
  );
}

async function available(org: TestOrg, memberId: string): Promise<bigint> {
  const balances = await getMemberBalances(harness.deps, { orgId: org.id, memberId });
  return balances.points.available;
}

describe("asynchronous ingestion", () => {
  it("processes a batch of 1,000 events across members", async () => {
    const org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const members: Array<{ id: string; externalRef: string }> = [];
    for (let index = 0; index < 10; index += 1) {
      members.push(await enrollOverHttp(harness, org));
    }
    const events = Array.from({ length: 1_000 }, (_, index) =>
      transaction(members[index % 10]?.id ?? "", `batch-${index}`, 1_000 + index),
    );
    const body = await send(org, { events });
    expect(list(body.accepted)).toHaveLength(1_000);
    expect(body.conflicting).toEqual([]);
    const ids = events.map((event) => event.event_id);
    await settled(org, ids);

    const [row] = await harness.database.sql<{ processed: number }[]>`
      select count(*) filter (where status = 'processed')::int as processed from inbox_events
      where org_id = ${org.id}`;
    expect(row?.processed).toBe(1_000);
    // Points per member: floor(amount / 100) at 1 point per unit, summed over its events.
    for (const [position, member] of members.entries()) {
      const expected = events
        .filter((_, index) => index % 10 === position)
        .reduce((sum, event) => sum + BigInt(Math.floor(event.payload.amount / 100)), 0n);
      expect(await available(org, member.id)).toBe(expected);
    }
    const last = await statusOf(org, ids[999] ?? "");
    expect(last).toMatchObject({ status: "processed", result: { points_earned: "19" } });
  });

  it("accepts a resend once, processes it once and posts it once; another body conflicts", async () => {
    const org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const member = await enrollOverHttp(harness, org);
    const event = transaction(member.id, "resent-1", 5_000);
    await send(org, { events: [event] });
    await settled(org, [event.event_id]);
    const transfers = await ledgerTransferCount(harness);

    expect(await send(org, event)).toEqual({ accepted: [event.event_id], conflicting: [] });
    const changed = { ...event, payload: { ...event.payload, amount: 9_000 } };
    expect(await send(org, { events: [changed] })).toEqual({
      accepted: [],
      conflicting: [event.event_id],
    });
    // A later event of the same org is processed after the resend would have been.
    const later = transaction(member.id, "resent-2", 1_000);
    await send(org, later);
    await settled(org, [later.event_id]);

    expect(await available(org, member.id)).toBe(60n);
    expect(await statusOf(org, event.event_id)).toMatchObject({
      status: "processed",
      result: { points_earned: "50", replayed: false },
    });
    // The later purchase's one earn transfer; nothing for the resend.
    expect(await ledgerTransferCount(harness)).toBe(transfers + 1);
  });

  it("processes each member's purchase and then its refund, sent in one request", async () => {
    const org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const members = [await enrollOverHttp(harness, org), await enrollOverHttp(harness, org)];
    const events = members.flatMap((member, index) => [
      transaction(member.id, `order-${index}`, 10_000),
      refund(member.id, `order-${index}`, 4_000),
      transaction(member.id, `order-${index}-b`, 2_000),
    ]);
    await send(org, { events });
    await settled(
      org,
      events.map((event) => event.event_id),
    );
    for (const [index, member] of members.entries()) {
      const [, refunded] = events.slice(index * 3, index * 3 + 3);
      expect(await statusOf(org, refunded?.event_id ?? "")).toMatchObject({
        status: "processed",
        result: { points_reversed: "40", shortfall: "0" },
      });
      expect(await available(org, member.id)).toBe(100n - 40n + 20n);
    }
  });

  it("accepts an unknown member's event, which then fails with not_found", async () => {
    const org = await buildTestOrg(harness);
    const event = transaction("0190d7a4-0000-7000-8000-000000000000", "ghost-1", 1_000);
    const byRef = {
      ...transaction("", "ghost-2", 1_000),
      member_id: undefined,
      member_external_ref: "no-such-card",
    };
    await send(org, { events: [event, byRef] });
    await settled(org, [event.event_id, byRef.event_id]);
    for (const id of [event.event_id, byRef.event_id]) {
      const status = await statusOf(org, id);
      expect(status).toMatchObject({ status: "failed", error: { code: "not_found" } });
      expect(status.result).toBeUndefined();
    }
  });

  it("stores and answers 202 while Redis is unreachable; the sweep processes the events later", async () => {
    const org = await buildTestOrg(harness, { welcomeBonusPoints: 0 });
    const member = await enrollOverHttp(harness, org);
    await proxy.refuse();
    const cut = harness.variant({ jobs: proxiedProducer });
    const event = transaction(member.id, "offline-1", 3_000);
    expect(await send(org, event, cut)).toEqual({ accepted: [event.event_id], conflicting: [] });
    expect(await statusOf(org, event.event_id)).toMatchObject({ status: "queued" });
    // No job announced it: the workers' sweep finds it.
    await settled(org, [event.event_id]);
    expect(await statusOf(org, event.event_id)).toMatchObject({ status: "processed" });
    expect(await available(org, member.id)).toBe(30n);
    await proxy.heal();
  });
});
