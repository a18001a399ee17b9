/**
 * Automatic redemption end to end: purchases recorded through the verbs, their `points.earned`
 * events relayed from the outbox to the events queue on real Redis, and the worker redeeming the
 * member's reward once for the one crossing of the threshold, announced by `redemption.created`.
 * A redelivered event (relaying the same events again) redeems nothing more.
 */
import { describe, expect, it } from "vitest";
import {
  createReward,
  type LedgerDeps,
  platformActor,
  recordPurchase,
  setAutoRedemption,
} from "../../src/membership/index.ts";
import { autoRedemptionHandler } from "../../src/workers/auto-redemption/handler.ts";
import { runEventHandlers } from "../../src/workers/events/handlers.ts";
import { relayOutboxPass } from "../../src/workers/relay.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../support/ledger.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

const fixture = useWorkerFixture({ queues: ["events"] });

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

async function purchase(deps: LedgerDeps, orgId: string, memberId: string, amountMinor: bigint) {
  await recordPurchase(deps, {
    orgId,
    externalId: externalId(),
    memberId,
    amountMinor,
    currency: "EUR",
  });
}

describe("automatic redemption worker", () => {
  it("redeems once for two purchases that cross the threshold once", async () => {
    const { deps } = fixture;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const reward = await createReward(deps, {
      orgId: org.id,
      name: "Auto-cashback",
      kind: "cashback",
      costPoints: 100n,
      valueMinor: 500n,
    });
    await setAutoRedemption(deps, {
      orgId: org.id,
      memberId: member.id,
      rewardId: reward.id,
      thresholdPoints: 150n,
      actor: platformActor,
    });
    // 1 point per EUR by default: 100, then 200 available.
    await purchase(deps, org.id, member.id, 10_000n);
    await purchase(deps, org.id, member.id, 10_000n);
    await relayAll();
    const rows = await fixture.database.sql<{ external_id: string; points: string }[]>`
      select external_id, points::text from redemptions where org_id = ${org.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]?.external_id).toMatch(new RegExp(`^auto:${reward.id}:\\d+$`));
    expect(rows[0]?.points).toBe("100");
    const created = await fixture.database.sql`
      select 1 from outbox where org_id = ${org.id} and topic = 'redemption.created'`;
    expect(created).toHaveLength(1);
    // A redelivery of the purchase events redeems nothing more.
    const events = await fixture.database.sql<
      { id: string; topic: string; payload: Record<string, unknown>; created_at: string }[]
    >`
      select id::text as id, topic::text as topic, payload, created_at from outbox
      where org_id = ${org.id} and topic = 'points.earned'`;
    expect(events).toHaveLength(2);
    for (const event of events) {
      const ran = await runEventHandlers(
        deps,
        {
          orgId: org.id,
          outboxId: event.id,
          topic: event.topic,
          memberId: member.id,
          payload: event.payload,
          createdAt: new Date(String(event.created_at)).toISOString(),
        },
        [autoRedemptionHandler],
      );
      expect(ran).toEqual(["auto-redemption"]);
    }
    expect(
      await fixture.database.sql`select 1 from redemptions where org_id = ${org.id}`,
    ).toHaveLength(1);
  });
});
