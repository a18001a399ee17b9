/**
 * Tier progression through the workers, on real Redis and Postgres and the embedded ledger: the
 * relay hands purchase events to the `events` queue, whose tier handler upgrades the member on
 * the purchase that crosses the threshold, so the next purchase (made on another pool's warm
 * caches, as the API process would) earns the new multiplier; the daily `tiers` job applies
 * a due downgrade; and the job every minute ends an expired override.
 */

import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import {
  evaluateMemberTier,
  getMemberTier,
  type LedgerDeps,
  listTiers,
  setTierOverride,
} from "../../src/membership/index.ts";
import { recordPurchase } from "../../src/membership/purchases/record-purchase.ts";
import { createMembershipCaches } from "../../src/membership/store/caches.ts";
import { tiers } from "../../src/membership/store/schema.ts";
import { schedules, tierDowngradesJob, tierOverrideExpiriesJob } from "../../src/workers/queues.ts";
import { relayOutboxPass } from "../../src/workers/relay.ts";
import { applyDueDowngrades } from "../../src/workers/tiers/downgrades.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../support/ledger.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

const fixture = useWorkerFixture({ queues: ["events", "tiers"] });

/** Relays every committed outbox row and waits until the events queue has run them all. */
async function relayAndSettle(): Promise<void> {
  const { deps, producer } = fixture;
  while ((await relayOutboxPass(deps)) > 0) {}
  await waitFor(
    async () => {
      const counts = await producer.queue("events").getJobCounts("waiting", "active", "delayed");
      return (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) === 0;
    },
    { what: "the events queue to drain" },
  );
  const failed = await producer.queue("events").getJobCounts("failed");
  expect(failed.failed ?? 0).toBe(0);
}

async function tierName(orgId: string, memberId: string): Promise<string> {
  return (await getMemberTier(fixture.deps, { orgId, memberId })).tier.name;
}

describe("tier progression through the workers", () => {
  it("upgrades on the purchase that crosses the threshold; the next purchase earns the new multiplier", async () => {
    const { deps } = fixture;
    // The API process's pool: its own caches, warmed by its own purchases.
    const api: LedgerDeps = { ...deps, caches: createMembershipCaches() };
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const buy = (amountMinor: bigint) =>
      recordPurchase(api, {
        orgId: org.id,
        externalId: externalId(),
        memberId: member.id,
        amountMinor,
        currency: "EUR",
      });

    expect((await buy(99_900n)).pointsEarned).toBe(999n);
    await relayAndSettle();
    expect(await tierName(org.id, member.id)).toBe("Bronze");

    // One more point crosses Silver's 1,000.
    expect((await buy(100n)).pointsEarned).toBe(1n);
    await relayAndSettle();
    expect(await tierName(org.id, member.id)).toBe("Silver");
    const history = await fixture.database.sql<{ reason: string; qualifying_value: string }[]>`
      select reason, qualifying_value::text from member_tiers
      where member_id = ${member.id} and reason = 'upgrade'`;
    expect(history).toEqual([{ reason: "upgrade", qualifying_value: "1000" }]);

    // The next purchase, through the API pool that cached the Bronze multiplier: 1.25x.
    expect((await buy(10_000n)).pointsEarned).toBe(125n);
    await relayAndSettle();
    const changed = await fixture.database.sql<{ payload: { reason: string } }[]>`
      select payload from outbox where org_id = ${org.id} and topic = 'tier.changed'`;
    expect(changed.map((row) => row.payload.reason)).toEqual(["upgrade"]);
  });

  it("applies a due downgrade in the daily job, not before", async () => {
    const { deps, environment, producer } = fixture;
    const { org } = await buildLedgerOrg(deps, {
      settings: { tierWindowMonths: 1, tierDowngradeGraceDays: 1 },
    });
    const member = await buildLedgerMember(deps, org.id);
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 200_000n,
      currency: "EUR",
    });
    await relayAndSettle();
    expect(await tierName(org.id, member.id)).toBe("Silver");

    // Past the window: the next event schedules the downgrade (a 0-point purchase still counts
    // as an event, and its 0.50 EUR qualify for nothing).
    environment.advanceSeconds(40 * 24 * 60 * 60);
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 50n,
      currency: "EUR",
    });
    await relayAndSettle();
    const scheduled = await getMemberTier(deps, { orgId: org.id, memberId: member.id });
    expect(scheduled).toMatchObject({
      tier: { name: "Silver" },
      downgrade: { to: { name: "Bronze" } },
    });

    const sweep = async () => {
      const id = await producer.add("tiers", { orgId: null }, { name: tierDowngradesJob });
      await waitFor(async () => (await producer.getJob("tiers", id))?.finishedOn !== undefined, {
        what: "the downgrade sweep",
      });
      return (await producer.getJob("tiers", id))?.returnvalue as { downgraded: number };
    };
    // Not due yet: the sweep leaves the member alone.
    expect((await sweep()).downgraded).toBe(0);
    expect(await tierName(org.id, member.id)).toBe("Silver");

    environment.advanceSeconds(2 * 24 * 60 * 60);
    expect((await sweep()).downgraded).toBe(1);
    expect(await getMemberTier(deps, { orgId: org.id, memberId: member.id })).toMatchObject({
      tier: { name: "Bronze" },
      downgrade: null,
    });
  });

  it("sweeps in bounded batches, visiting a member it cannot downgrade once per run", async () => {
    const { deps, environment } = fixture;
    const { org } = await buildLedgerOrg(deps, {
      settings: { tierWindowMonths: 1, tierDowngradeGraceDays: 1 },
    });
    const ids: string[] = [];
    for (let index = 0; index < 3; index++) {
      const member = await buildLedgerMember(deps, org.id);
      ids.push(member.id);
      await recordPurchase(deps, {
        orgId: org.id,
        externalId: externalId(),
        memberId: member.id,
        amountMinor: 150_000n,
        currency: "EUR",
      });
      expect((await evaluateMemberTier(deps, { orgId: org.id, memberId: member.id })).action).toBe(
        "upgraded",
      );
    }
    // A few days past the window: each is scheduled for a date that is then reached.
    environment.advanceSeconds(35 * 24 * 60 * 60);
    for (const memberId of ids) {
      expect((await evaluateMemberTier(deps, { orgId: org.id, memberId })).action).toBe(
        "downgrade_scheduled",
      );
    }
    environment.advanceSeconds(24 * 60 * 60 + 60);
    // Silver becomes immutable: the member still there stays due, and is visited once.
    const { tier: silver } = await getMemberTier(deps, { orgId: org.id, memberId: ids[0] ?? "" });
    await deps.db.update(tiers).set({ immutable: true }).where(eq(tiers.id, silver.id));
    const batches: number[] = [];
    const sweep = await applyDueDowngrades(fixture.deps, {
      batch: 1,
      onBatch: async (progress) => {
        batches.push(progress.visited);
      },
    });
    // Only these three are due in this file's database: each visited once, one per batch.
    expect(sweep).toEqual({ visited: 3, downgraded: 0 });
    expect(batches).toEqual([1, 2, 3, 3]);
    for (const memberId of ids) {
      expect((await getMemberTier(deps, { orgId: org.id, memberId })).tier.name).toBe("Silver");
    }
    await deps.db.update(tiers).set({ immutable: false }).where(eq(tiers.id, silver.id));
    expect(await applyDueDowngrades(fixture.deps)).toEqual({ visited: 3, downgraded: 3 });
    for (const memberId of ids) {
      expect((await getMemberTier(deps, { orgId: org.id, memberId })).tier.name).toBe("Bronze");
    }
  });

  it("ends an expired override in the job every minute, returning the member to the earned tier", async () => {
    const { deps, environment, producer } = fixture;
    expect(schedules).toContainEqual(
      expect.objectContaining({ queue: "tiers", name: tierOverrideExpiriesJob, everyMs: 60_000 }),
    );
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const ref = { orgId: org.id, memberId: member.id };
    await recordPurchase(deps, {
      ...ref,
      externalId: externalId(),
      amountMinor: 150_000n,
      currency: "EUR",
    });
    await relayAndSettle();
    expect(await tierName(org.id, member.id)).toBe("Silver");
    const platinum = (await listTiers(deps, { orgId: org.id })).find(
      (tier) => tier.name === "Platinum",
    );
    await setTierOverride(deps, {
      ...ref,
      tierId: platinum?.id ?? "",
      reason: "trial week",
      expiresAt: new Date(environment.now().getTime() + 60 * 60 * 1000),
      actor: { keyId: "key_test", requestId: null },
    });

    const run = async () => {
      const id = await producer.add("tiers", { orgId: null }, { name: tierOverrideExpiriesJob });
      await waitFor(async () => (await producer.getJob("tiers", id))?.finishedOn !== undefined, {
        what: "the override expiry run",
      });
      const job = await producer.getJob("tiers", id);
      expect(job?.failedReason).toBeUndefined();
      return job?.returnvalue as { visited: number; ended: number };
    };
    // Not expired: left alone.
    expect(await run()).toEqual({ visited: 0, ended: 0 });
    expect(await tierName(org.id, member.id)).toBe("Platinum");

    environment.advanceSeconds(60 * 60 + 1);
    expect(await run()).toEqual({ visited: 1, ended: 1 });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Silver" },
      source: "earned",
      override: null,
    });
    // Idempotent: the next run finds nothing.
    expect(await run()).toEqual({ visited: 0, ended: 0 });
    const audit = await fixture.database.sql<{ action: string; actor_key_id: string | null }[]>`
      select action, actor_key_id from audit_log
      where org_id = ${org.id} and target_type = 'member' order by seq`;
    expect(audit).toEqual([
      { action: "member.tier_overridden", actor_key_id: "key_test" },
      { action: "member.tier_override_cleared", actor_key_id: null },
    ]);
    const changed = await fixture.database.sql<{ payload: { reason: string } }[]>`
      select payload from outbox where org_id = ${org.id} and topic = 'tier.changed' order by id`;
    expect(changed.map((row) => row.payload.reason)).toEqual([
      "upgrade",
      "override",
      "override_expired",
    ]);
  });
});
