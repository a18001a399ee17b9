/**
 * The expiry worker on the real Redis and Postgres and the embedded ledger: the daily tick fans
 * out to the orgs with a policy (and only to them), each org job expires what is due and sends
 * the notices owed, and a second tick the same day changes nothing. The arithmetic and the
 * document protocol are covered in src/membership/expiry/*.test.ts; this proves the wiring.
 */
import { describe, expect, it } from "vitest";
import { getMemberBalances } from "../../src/membership/members/get-member-balances.ts";
import { recordPurchase } from "../../src/membership/purchases/record-purchase.ts";
import { createRedemption } from "../../src/membership/redemptions/create-redemption.ts";
import { fulfilRedemption } from "../../src/membership/redemptions/fulfil-redemption.ts";
import type { JobProducer } from "../../src/workers/index.ts";
import { schedules } from "../../src/workers/index.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../support/ledger.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

const fixture = useWorkerFixture({ queues: ["expiry"] });
const dayMs = 86_400_000;

async function tickAndWait(producer: JobProducer, name = "expiry-tick"): Promise<unknown> {
  const id = await producer.add("expiry", { orgId: null }, { name });
  await waitFor(
    async () => {
      const job = await producer.getJob("expiry", id);
      const state = await job?.getState();
      if (state === "failed") {
        throw new Error(`the tick failed: ${job?.failedReason}`);
      }
      return state === "completed";
    },
    { what: "the expiry tick" },
  );
  // Read again once completed: a job fetched while it was still active holds no return value
  // (its state, asked a moment later, can already say completed).
  return (await producer.getJob("expiry", id))?.returnvalue;
}

async function count(table: "expiries" | "expiry_notices", orgId: string): Promise<number> {
  const rows = await fixture.database.sql<{ n: number }[]>`
    select count(*)::int as n from ${fixture.database.sql(table)} where org_id = ${orgId}`;
  return rows[0]?.n ?? -1;
}

async function events(orgId: string, topic: string): Promise<number> {
  const rows = await fixture.database.sql<{ n: number }[]>`
    select count(*)::int as n from outbox where org_id = ${orgId} and topic = ${topic}`;
  return rows[0]?.n ?? -1;
}

describe("the expiry worker", () => {
  it("runs daily at 03:00 UTC", () => {
    expect(schedules).toContainEqual(
      expect.objectContaining({ id: "expiry-daily", queue: "expiry", pattern: "0 3 * * *" }),
    );
  });

  it("expires due points and sends notices per org with a policy, once per day", async () => {
    const { deps, environment, producer } = fixture;
    const now = environment.now().getTime();
    const { org } = await buildLedgerOrg(deps, {
      settings: { welcomeBonusPoints: 0, expiry: { policy: "lots", months: 12 } },
    });
    const { org: plain } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const earn = async (orgId: string, memberId: string, euros: bigint, daysAgo: number) =>
      recordPurchase(deps, {
        orgId,
        externalId: externalId(),
        memberId,
        amountMinor: euros * 100n,
        currency: "EUR",
        occurredAt: new Date(now - daysAgo * dayMs),
      });
    const due = await buildLedgerMember(deps, org.id);
    await earn(org.id, due.id, 100n, 400);
    const soon = await buildLedgerMember(deps, org.id);
    await earn(org.id, soon.id, 50n, 350);
    const untouched = await buildLedgerMember(deps, plain.id);
    await earn(plain.id, untouched.id, 70n, 800);

    // The tick fans out; the org jobs run after it, so wait for their effects.
    expect(await tickAndWait(producer)).toMatchObject({ orgs: expect.any(Number) });
    await waitFor(async () => (await count("expiry_notices", org.id)) === 1, {
      what: "the notice of the member whose points expire soon",
    });
    await waitFor(async () => (await events(org.id, "points.expired")) === 1, {
      what: "the expiry of the member whose points are due",
    });
    const balance = async (orgId: string, memberId: string) =>
      (await getMemberBalances(deps, { orgId, memberId })).points.available;
    expect(await balance(org.id, due.id)).toBe(0n);
    expect(await balance(org.id, soon.id)).toBe(50n);
    expect(await balance(plain.id, untouched.id)).toBe(70n);
    expect(await count("expiries", plain.id)).toBe(0);

    // The same day again: nothing more is expired, no notice is sent twice.
    await tickAndWait(producer);
    const orgJob = await producer.getJob(
      "expiry",
      `expiry-${new Date(now).toISOString().slice(0, 10)}-${org.id}-start`,
    );
    expect(await orgJob?.getState()).toBe("completed");
    expect(await count("expiries", org.id)).toBe(1);
    expect(await count("expiry_notices", org.id)).toBe(1);
    expect(await events(org.id, "points.expired")).toBe(1);
    expect(await events(org.id, "points.expiring")).toBe(1);
  });

  it("marks redemptions whose hold lapsed unresolved expired, every minute, and no others", async () => {
    expect(schedules).toContainEqual(
      expect.objectContaining({ id: "redemption-holds", queue: "expiry", everyMs: 60_000 }),
    );
    const { deps, environment, producer } = fixture;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id, { points: 1_000n });
    const hold = (points: bigint, holdSeconds: number) =>
      createRedemption(deps, { orgId: org.id, memberId: member.id, points, holdSeconds });
    const lapsing = await hold(100n, 60);
    const fulfilled = await hold(200n, 60);
    const lasting = await hold(300n, 3_600);
    await fulfilRedemption(deps, { orgId: org.id, redemptionId: fulfilled.id });
    const statuses = async () =>
      Object.fromEntries(
        (
          await fixture.database.sql<{ id: string; status: string }[]>`
            select id, status from redemptions where org_id = ${org.id}`
        ).map((row) => [row.id, row.status]),
      );

    // Lapsed on the ledger, but not yet past the sweep's grace: left alone.
    environment.advanceSeconds(61);
    expect(await tickAndWait(producer, "redemption-holds")).toEqual({ expired: 0, other: 0 });
    expect((await statuses())[lapsing.id]).toBe("pending");

    environment.advanceSeconds(60);
    expect(await tickAndWait(producer, "redemption-holds")).toEqual({ expired: 1, other: 0 });
    expect(await statuses()).toEqual({
      [lapsing.id]: "expired",
      [fulfilled.id]: "fulfilled",
      [lasting.id]: "pending",
    });
    expect(await events(org.id, "redemption.expired")).toBe(1);
    const points = (await getMemberBalances(deps, { orgId: org.id, memberId: member.id })).points;
    // 1,000 - 200 fulfilled; 300 still held; the lapsed 100 back.
    expect(points).toMatchObject({ available: 500n, pending: 300n });

    // The next run finds nothing more to do.
    expect(await tickAndWait(producer, "redemption-holds")).toEqual({ expired: 0, other: 0 });
    expect(await events(org.id, "redemption.expired")).toBe(1);
  });
});
