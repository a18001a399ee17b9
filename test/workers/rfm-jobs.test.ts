/**
 * The rfm queue on the real Redis and Postgres with the embedded ledger, end to end from the
 * purchase verbs: an on-demand rebuild job (progress and result), the nightly tick fanning out one
 * rebuild per org, and a purchase then a full refund re-scoring the member through the outbox
 * relay and the events queue, each segment change announced once as `rfm.segment_changed`.
 */
import { describe, expect, it } from "vitest";
import {
  getMemberRfm,
  type LedgerDeps,
  recordPurchase,
  refundPurchase,
} from "../../src/membership/index.ts";
import { rfmJobNames } from "../../src/workers/index.ts";
import { relayOutboxPass } from "../../src/workers/relay.ts";
import { dayMs } from "../../src/workers/rfm/scoring.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../support/ledger.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

const fixture = useWorkerFixture({ queues: ["events", "rfm"] });

async function purchase(
  deps: LedgerDeps,
  orgId: string,
  memberId: string,
  daysAgo: number,
  amountMinor: bigint,
): Promise<string> {
  const id = externalId();
  await recordPurchase(deps, {
    orgId,
    externalId: id,
    memberId,
    amountMinor,
    currency: "EUR",
    occurredAt: new Date(fixture.environment.now().getTime() - daysAgo * dayMs - 1_000),
  });
  return id;
}

async function segmentEvents(orgId: string): Promise<unknown[]> {
  const rows = await fixture.database.sql<{ payload: unknown }[]>`
    select payload from outbox where org_id = ${orgId} and topic = 'rfm.segment_changed'
    order by id`;
  return rows.map((row) => row.payload);
}

/** Relays the outbox until it is empty, then waits for the events queue to drain. */
async function relayAll(): Promise<void> {
  const { deps } = fixture;
  while ((await relayOutboxPass(deps)) > 0) {}
  await waitFor(
    async () => {
      const counts = await deps.producer
        .queue("events")
        .getJobCounts("waiting", "active", "delayed", "prioritized");
      return Object.values(counts).every((count) => count === 0);
    },
    { what: "the events queue to drain" },
  );
}

/** Five members, a purchase each, from 1 to 50 days ago and 10.00 to 50.00. */
async function buildOrgWithPurchases() {
  const { deps } = fixture;
  const { org } = await buildLedgerOrg(deps);
  const members = [];
  for (let index = 0; index < 5; index++) {
    const member = await buildLedgerMember(deps, org.id);
    await purchase(deps, org.id, member.id, 1 + index * 10, BigInt(1_000 * (5 - index)));
    members.push(member);
  }
  return { org, members };
}

describe("rfm queue", () => {
  it("rebuilds an org on demand, reporting progress and its result", async () => {
    const { deps, producer } = fixture;
    const { org, members } = await buildOrgWithPurchases();
    const jobId = await producer.add(
      "rfm",
      { orgId: org.id, reason: "on_demand" },
      { name: rfmJobNames.rebuild, jobId: `rfm-test-${org.id}` },
    );
    await waitFor(async () => (await producer.getJob("rfm", jobId))?.finishedOn !== undefined, {
      what: "the rebuild job to finish",
    });
    const job = await producer.getJob("rfm", jobId);
    expect(await job?.getState()).toBe("completed");
    expect(job?.progress).toBe(100);
    expect(job?.returnvalue).toMatchObject({ population: 5, changed: 0, transfers_read: 5 });
    // n = 5: one member per quintile. The most recent and biggest spender is the champion.
    const best = await getMemberRfm(deps, { orgId: org.id, memberId: members[0]?.id ?? "" });
    expect(best).toMatchObject({ r: 5, f: 1, m: 5, segment: "Potential Loyalist" });
    const worst = await getMemberRfm(deps, { orgId: org.id, memberId: members[4]?.id ?? "" });
    expect(worst).toMatchObject({ r: 1, f: 1, m: 1, segment: "Lost" });
  });

  it("fans the nightly tick out to one rebuild per org, once per org and day", async () => {
    const { producer } = fixture;
    const first = await buildOrgWithPurchases();
    const second = await buildOrgWithPurchases();
    for (let tick = 0; tick < 2; tick++) {
      const id = await producer.add("rfm", { orgId: null }, { name: rfmJobNames.nightly });
      await waitFor(async () => (await producer.getJob("rfm", id))?.finishedOn !== undefined, {
        what: "the nightly tick",
      });
    }
    const day = fixture.environment.now().toISOString().slice(0, 10).replaceAll("-", "");
    for (const { org } of [first, second]) {
      const jobId = `rfm-nightly-${day}-${org.id}`;
      await waitFor(async () => (await producer.getJob("rfm", jobId))?.finishedOn !== undefined, {
        what: `the nightly rebuild of ${org.id}`,
      });
      const job = await producer.getJob("rfm", jobId);
      expect(job?.data).toEqual({ orgId: org.id, reason: "nightly" });
      expect(job?.returnvalue).toMatchObject({ population: 5 });
    }
  });

  it("re-scores a member after a purchase and a refund, announcing each change", async () => {
    const { deps, producer } = fixture;
    const { org } = await buildOrgWithPurchases();
    const newcomer = await buildLedgerMember(deps, org.id);
    const jobId = await producer.add(
      "rfm",
      { orgId: org.id, reason: "on_demand" },
      { name: rfmJobNames.rebuild, jobId: `rfm-test-${org.id}` },
    );
    await waitFor(async () => (await producer.getJob("rfm", jobId))?.finishedOn !== undefined, {
      what: "the rebuild",
    });
    await relayAll();
    expect(await getMemberRfm(deps, { orgId: org.id, memberId: newcomer.id })).toMatchObject({
      segment: "none",
      computedAt: null,
    });

    // Today, 5.00: R 5 (0 days), F 1, M 1 (below every other member) → New Customers.
    const bought = await purchase(deps, org.id, newcomer.id, 0, 500n);
    await relayAll();
    expect(await getMemberRfm(deps, { orgId: org.id, memberId: newcomer.id })).toMatchObject({
      recencyDays: 0,
      frequency: 1,
      monetaryMinor: 500n,
      segment: "New Customers",
    });

    await refundPurchase(deps, {
      orgId: org.id,
      purchaseExternalId: bought,
      externalId: externalId("refund"),
      amountMinor: 500n,
    });
    await relayAll();
    expect(await getMemberRfm(deps, { orgId: org.id, memberId: newcomer.id })).toMatchObject({
      segment: "none",
      frequency: 0,
    });
    expect(await segmentEvents(org.id)).toEqual([
      { member_id: newcomer.id, from: "none", to: "New Customers" },
      { member_id: newcomer.id, from: "New Customers", to: "none" },
    ]);
  });
});
