/**
 * Coalescing single purchases: purchases that arrive together are recorded as one batch (counted
 * on the real engine through a proxy), yet each caller gets its own outcome: a refused purchase
 * is its caller's error alone, a retry inside a group is a replay, and nothing posts twice.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import {
  buildLedgerMember,
  buildLedgerOrg,
  countCreateTransfers,
  externalId,
} from "../../../test/support/ledger.ts";
import { transferId, walletBalance } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import type { PurchaseItem } from "../ledger-types.ts";
import { coalescedBatchesInFlightMax } from "../limits.ts";
import { updateMember } from "../members/update-member.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import type { Member } from "../types.ts";
import { createPurchaseBatcher, PurchaseQueueFullError } from "./batcher.ts";
import { recordPurchase } from "./record-purchase.ts";

const fixture = useLedgerFixture();

async function countPurchases(orgId: string): Promise<number> {
  const [row] = await fixture.database.sql<{ n: number }[]>`
    select count(*)::int as n from pos_transactions where org_id = ${orgId}`;
  return row?.n ?? -1;
}

async function countEarnedEvents(orgId: string): Promise<number> {
  const [row] = await fixture.database.sql<{ n: number }[]>`
    select count(*)::int as n from outbox where org_id = ${orgId} and topic = 'points.earned'`;
  return row?.n ?? -1;
}

async function buildMembers(deps: LedgerDeps, orgId: string, count: number): Promise<Member[]> {
  const members: Member[] = [];
  for (let index = 0; index < count; index += 1) {
    members.push(await buildLedgerMember(deps, orgId));
  }
  return members;
}

/** Deps with a batcher of their own, as the composition (createApp) builds them. */
function batched(base: LedgerDeps): LedgerDeps {
  const deps: LedgerDeps = { ...base };
  deps.purchaseBatcher = createPurchaseBatcher(deps);
  return deps;
}

describe("recordPurchase under concurrency", () => {
  it("coalesces purchases of different members into a few ledger requests", async () => {
    const { deps, engine } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const members = await buildMembers(deps, org.id, 40);
    // A batcher of its own, counting every createTransfers it sends.
    const counting = countCreateTransfers(engine);
    const coalescing = batched({ ...deps, ledger: counting.client });

    const results = await Promise.all(
      members.map((member, index) =>
        recordPurchase(coalescing, {
          orgId: org.id,
          externalId: externalId(),
          memberId: member.id,
          amountMinor: BigInt(100 * (index + 1)),
          currency: "EUR",
        }),
      ),
    );

    // The first purchases go out at once (one per free slot); all others wait and go together.
    expect(counting.createTransfersCalls()).toBeLessThanOrEqual(coalescedBatchesInFlightMax + 1);
    results.forEach((result, index) => {
      const points = BigInt(index + 1);
      expect(result).toMatchObject({ pointsEarned: points, replayed: false });
      expect(result.balance).toEqual({
        available: points,
        pending: 0n,
        lifetimeEarned: points,
        lifetimeRedeemed: 0n,
      });
    });
    expect(new Set(results.map((result) => result.transactionId)).size).toBe(members.length);
    expect(await countPurchases(org.id)).toBe(members.length);
    expect(await countEarnedEvents(org.id)).toBe(members.length);
    for (const unit of await getTrialBalance(deps, { orgId: org.id })) {
      expect(unit.trialBalance.balanced).toBe(true);
    }
  });

  it("gives a refused purchase its own error while the rest of its group is recorded", async () => {
    const deps = batched(fixture.environment.deps);
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const [first, second, suspended] = await buildMembers(deps, org.id, 3);
    await updateMember(deps, {
      orgId: org.id,
      memberId: suspended?.id ?? "",
      patch: { status: "suspended" },
    });
    const other = await buildLedgerOrg(deps);
    const stranger = await buildLedgerMember(deps, other.org.id);
    const used = externalId();
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: used,
      memberId: first?.id ?? "",
      amountMinor: 500n,
      currency: "EUR",
    });
    const base = { orgId: org.id, amountMinor: 1_000n, currency: "EUR" };

    const settled = await Promise.allSettled([
      recordPurchase(deps, { ...base, externalId: externalId(), memberId: first?.id ?? "" }),
      recordPurchase(deps, { ...base, externalId: externalId(), memberId: randomUUID() }),
      recordPurchase(deps, { ...base, externalId: externalId(), memberId: second?.id ?? "" }),
      recordPurchase(deps, { ...base, externalId: externalId(), memberId: suspended?.id ?? "" }),
      recordPurchase(deps, { ...base, externalId: externalId(), memberId: stranger.id }),
      recordPurchase(deps, { ...base, externalId: externalId(), currency: "USD", memberId: "x" }),
      recordPurchase(deps, { ...base, externalId: used, memberId: first?.id ?? "" }),
      recordPurchase(deps, { ...base, orgId: randomUUID(), externalId: externalId() }),
      // Not a domain error: a malformed item object fails its caller only.
      recordPurchase(deps, {
        ...base,
        externalId: externalId(),
        memberId: second?.id ?? "",
        items: [{ quantity: 1 } as unknown as PurchaseItem],
      }),
      recordPurchase(deps, { ...base, externalId: externalId(), memberId: second?.id ?? "" }),
    ]);

    const outcome = (index: number) => settled[index];
    expect(outcome(0)).toMatchObject({ status: "fulfilled", value: { pointsEarned: 10n } });
    expect(outcome(1)).toMatchObject({ status: "rejected", reason: { code: "not_found" } });
    expect(outcome(2)).toMatchObject({ status: "fulfilled", value: { pointsEarned: 10n } });
    expect(outcome(3)).toMatchObject({ status: "rejected", reason: { code: "member_inactive" } });
    // Another org's member is unknown here, whichever batch it shares.
    expect(outcome(4)).toMatchObject({ status: "rejected", reason: { code: "not_found" } });
    expect(outcome(5)).toMatchObject({
      status: "rejected",
      reason: { code: "invalid_input", details: { field: "currency" } },
    });
    expect(outcome(6)).toMatchObject({ status: "rejected", reason: { code: "conflict" } });
    expect(outcome(7)).toMatchObject({ status: "rejected", reason: { code: "not_found" } });
    expect(outcome(8)).toMatchObject({ status: "rejected", reason: { name: "TypeError" } });
    expect(outcome(9)).toMatchObject({ status: "fulfilled", value: { pointsEarned: 10n } });

    expect(await countPurchases(org.id)).toBe(1 + 3);
    expect(await countEarnedEvents(org.id)).toBe(1 + 3);
    expect(await countPurchases(other.org.id)).toBe(0);
    const strangerWallet = await walletBalance(fixture.environment.engine, {
      ledger: other.pointsLedger,
      memberId: stranger.id,
    });
    expect(strangerWallet?.lifetimeEarned).toBe(100n);
  });

  it("answers a retry inside a group as a replay, posting it once", async () => {
    const { engine } = fixture.environment;
    const deps = batched(fixture.environment.deps);
    const { org, pointsLedger } = await buildLedgerOrg(deps, {
      settings: { welcomeBonusPoints: 0 },
    });
    const [member, other] = await buildMembers(deps, org.id, 2);
    const earlier = {
      orgId: org.id,
      externalId: externalId(),
      memberId: member?.id ?? "",
      amountMinor: 700n,
      currency: "EUR",
    };
    const recorded = await recordPurchase(deps, earlier);
    const twice = {
      orgId: org.id,
      externalId: externalId(),
      memberId: other?.id ?? "",
      amountMinor: 900n,
      currency: "EUR",
      items: [{ sku: "A", category: "coffee", quantity: 2 }],
    };

    const [a, b, replay, conflicting] = await Promise.allSettled([
      recordPurchase(deps, twice),
      recordPurchase(deps, { ...twice }),
      recordPurchase(deps, earlier),
      recordPurchase(deps, { ...twice, amountMinor: 901n }),
    ]);

    expect(a?.status).toBe("fulfilled");
    expect(b?.status).toBe("fulfilled");
    const values = [a, b].flatMap((entry) => (entry?.status === "fulfilled" ? [entry.value] : []));
    expect(values.map((value) => value.replayed).sort()).toEqual([false, true]);
    expect(values[0]?.transactionId).toBe(values[1]?.transactionId);
    expect(values[0]?.pointsEarned).toBe(9n);
    expect(replay).toMatchObject({ status: "fulfilled", value: { ...recorded, replayed: true } });
    expect(conflicting).toMatchObject({ status: "rejected", reason: { code: "conflict" } });

    expect(await countPurchases(org.id)).toBe(2);
    expect(await countEarnedEvents(org.id)).toBe(2);
    const [earn] = await engine.lookupTransfers([
      transferId({ orgId: org.id, source: "purchase", externalId: twice.externalId, leg: "earn" }),
    ]);
    expect(earn?.amount).toBe(9n);
    const wallet = await walletBalance(engine, { ledger: pointsLedger, memberId: other?.id ?? "" });
    expect(wallet?.lifetimeEarned).toBe(9n);
  });
});

describe("createPurchaseBatcher", () => {
  it("never mixes orgs in a batch: one org's failing batch fails none of another's", async () => {
    const { deps } = fixture.environment;
    const failing = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const healthy = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const failingMembers = await buildMembers(deps, failing.org.id, 3);
    const healthyMembers = await buildMembers(deps, healthy.org.id, 3);
    const orgOfIntent = async (id: string): Promise<string | undefined> => {
      const [row] = await fixture.database.sql<{ org_id: string }[]>`
        select org_id from pos_transactions where id = ${id}`;
      return row?.org_id;
    };
    // The failing org's intents hit a dependency failure after they are committed.
    const seam: LedgerDeps = {
      ...deps,
      interrupt: async (step, intent) => {
        if (step === "after_intent" && (await orgOfIntent(intent.id)) === failing.org.id) {
          throw new Error("the failing org's batch broke");
        }
      },
    };
    const batcher = createPurchaseBatcher(seam, {
      batchItemsMax: 10,
      batchesInFlightMax: 1,
      queueMax: 100,
    });
    const purchase = (orgId: string, memberId: string) =>
      batcher.submit(orgId, {
        externalId: externalId(),
        memberId,
        amountMinor: 1_000n,
        currency: "EUR",
      });
    // Interleaved, while the first is in flight: a mixing batcher would put them together.
    const submitted = failingMembers.flatMap((member, index) => [
      purchase(failing.org.id, member.id),
      purchase(healthy.org.id, healthyMembers[index]?.id ?? ""),
    ]);
    const settled = await Promise.allSettled(submitted);
    const outcomes = settled.map((result) =>
      result.status === "fulfilled" ? result.value.status : "rejected",
    );
    expect(outcomes).toEqual(["rejected", "created", "rejected", "created", "rejected", "created"]);
    expect(batcher.stats().batches).toBeGreaterThanOrEqual(2);
  });

  it("refuses at once when its queue is full, and records the rest", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const [member] = await buildMembers(deps, org.id, 1);
    const batcher = createPurchaseBatcher(deps, {
      batchItemsMax: 1,
      batchesInFlightMax: 1,
      queueMax: 1,
    });
    const purchase = () => ({
      externalId: externalId(),
      memberId: member?.id ?? "",
      amountMinor: 100n,
      currency: "EUR",
    });
    // The first goes out at once, the second waits in the queue, the third finds it full.
    const first = batcher.submit(org.id, purchase());
    const second = batcher.submit(org.id, purchase());
    await expect(batcher.submit(org.id, purchase())).rejects.toBeInstanceOf(PurchaseQueueFullError);
    expect(await first).toMatchObject({ status: "created" });
    expect(await second).toMatchObject({ status: "created" });
    expect(batcher.stats()).toMatchObject({ queued: 0, inFlight: 0, batches: 2, purchases: 2 });
    expect(await countPurchases(org.id)).toBe(2);
  });

  it("sends what waited as one batch once the batch in flight is done", async () => {
    const { deps, engine } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const members = await buildMembers(deps, org.id, 12);
    const counting = countCreateTransfers(engine);
    const batcher = createPurchaseBatcher(
      { ...deps, ledger: counting.client },
      { batchItemsMax: 5, batchesInFlightMax: 1, queueMax: 100 },
    );
    const results = await Promise.all(
      members.map((member) =>
        batcher.submit(org.id, {
          externalId: externalId(),
          memberId: member.id,
          amountMinor: 200n,
          currency: "EUR",
        }),
      ),
    );
    // 1 at once, then the 11 that waited in batches of at most 5: 5, 5, 1.
    expect(batcher.stats()).toMatchObject({ batches: 4, purchases: 12 });
    expect(counting.createTransfersCalls()).toBe(4);
    for (const result of results) {
      expect(result).toMatchObject({ status: "created", balance: { available: 2n } });
    }
  });
});

describe("staged batches", () => {
  it("inserts the next batch's intents while one posts, and keeps a third waiting whole", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const members = await buildMembers(deps, org.id, 5);
    // Hold every batch at the start of its posting half (its intents are committed by then).
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = new Set<string>();
    let onHeld: () => void = () => undefined;
    const batcher = createPurchaseBatcher(
      {
        ...deps,
        interrupt: async (step, intent) => {
          if (step === "after_intent") {
            held.add(intent.id);
            onHeld();
            await gate;
          }
        },
      },
      { batchItemsMax: 10, batchesInFlightMax: 2, queueMax: 100 },
    );
    const heldAtLeast = (count: number) =>
      new Promise<void>((resolve) => {
        onHeld = () => {
          if (held.size >= count) {
            resolve();
          }
        };
        onHeld();
      });
    const submit = (member: Member | undefined) =>
      batcher.submit(org.id, {
        externalId: externalId(),
        memberId: member?.id ?? "",
        amountMinor: 100n,
        currency: "EUR",
      });

    // The first goes out at once; the two that arrive while it is inserting wait for the next
    // batch, which forms and commits its intents while the first one is posting.
    const first = submit(members[0]);
    const second = [submit(members[1]), submit(members[2])];
    // Both held at their posting half (the seam is called once per intent, in turn).
    await heldAtLeast(2);
    expect(await countPurchases(org.id)).toBe(3);
    // Two in flight: these wait, and go out together as one batch afterwards.
    const third = [submit(members[3]), submit(members[4])];
    expect(batcher.stats()).toMatchObject({ inFlight: 2, queued: 2, batches: 2 });

    release();
    const results = await Promise.all([first, ...second, ...third]);
    expect(results.every((result) => result.status === "created")).toBe(true);
    expect(batcher.stats()).toMatchObject({ inFlight: 0, queued: 0, batches: 3, purchases: 5 });
    expect(await countEarnedEvents(org.id)).toBe(5);
  });
});
