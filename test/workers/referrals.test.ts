/**
 * Referral bonuses through the workers, on real Redis and Postgres and the embedded ledger: the
 * relay hands each purchase's `points.earned` event to the `events` queue, whose referral handler
 * credits the referrer and the referred member once, on the referred member's first qualifying
 * purchase, in one linked chain. A second purchase and a redelivered event credit nothing more;
 * the referrer is rewarded at most N times per calendar month of the org's time zone, also when
 * N+1 first purchases post at once; a bonus left unposted by a crash is finished by recovery.
 */
import { describe, expect, it } from "vitest";
import {
  enrollMemberWithLedger,
  getMemberBalances,
  type LedgerDeps,
  type OrgSettings,
  rewardReferral,
} from "../../src/membership/index.ts";
import { recordPurchase } from "../../src/membership/purchases/record-purchase.ts";
import { recoverPendingIntents } from "../../src/membership/recovery/recover-pending-intents.ts";
import { relayOutboxPass } from "../../src/workers/relay.ts";
import { buildLedgerMember, buildLedgerOrg, cardNumber, externalId } from "../support/ledger.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

const fixture = useWorkerFixture({ queues: ["events"] });

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

const referral = (overrides: Partial<OrgSettings["referral"]> = {}) => ({
  referral: {
    referrerPoints: 500,
    referredPoints: 250,
    maxPerReferrerPerMonth: 2,
    minPurchaseAmountMinor: "1000",
    ...overrides,
  },
  welcomeBonusPoints: 0,
  // No points from purchases: every point on a wallet is a referral bonus.
  baseRatePointsPerUnit: 0,
});

async function available(deps: LedgerDeps, orgId: string, memberId: string): Promise<bigint> {
  return (await getMemberBalances(deps, { orgId, memberId })).points.available;
}

async function enrollReferred(deps: LedgerDeps, orgId: string, referralCode: string) {
  const { member } = await enrollMemberWithLedger(deps, {
    orgId,
    externalRef: cardNumber(),
    referralCode,
  });
  return member;
}

function buy(deps: LedgerDeps, orgId: string, memberId: string, amountMinor: bigint) {
  return recordPurchase(deps, {
    orgId,
    externalId: externalId(),
    memberId,
    amountMinor,
    currency: "EUR",
  });
}

async function referralRows(orgId: string) {
  return fixture.database.sql<
    {
      referred_member_id: string;
      status: string;
      referrer_points: string;
      referred_points: string;
      posting_status: string | null;
    }[]
  >`select referred_member_id, status::text, referrer_points::text, referred_points::text,
      posting_status::text
    from referrals where org_id = ${orgId} order by created_at`;
}

describe("referral bonuses", () => {
  it("credits both members once, on the first qualifying purchase only", async () => {
    const { deps } = fixture;
    const { org } = await buildLedgerOrg(deps, { settings: referral() });
    const referrer = await buildLedgerMember(deps, org.id);
    // Any case, with a dash: the code as a member might type it.
    const typed = `${referrer.referralCode.slice(0, 5).toLowerCase()}-${referrer.referralCode.slice(5)}`;
    const referred = await enrollReferred(deps, org.id, typed);
    expect(await referralRows(org.id)).toEqual([
      {
        referred_member_id: referred.id,
        status: "pending",
        referrer_points: "0",
        referred_points: "0",
        posting_status: null,
      },
    ]);

    // Below the org's minimum: it does not qualify, the referral waits.
    await buy(deps, org.id, referred.id, 999n);
    await relayAndSettle();
    expect((await referralRows(org.id))[0]?.status).toBe("pending");
    expect(await available(deps, org.id, referrer.id)).toBe(0n);

    await buy(deps, org.id, referred.id, 1000n);
    await relayAndSettle();
    expect(await referralRows(org.id)).toEqual([
      {
        referred_member_id: referred.id,
        status: "rewarded",
        referrer_points: "500",
        referred_points: "250",
        posting_status: "posted",
      },
    ]);
    expect(await available(deps, org.id, referrer.id)).toBe(500n);
    expect(await available(deps, org.id, referred.id)).toBe(250n);

    // A second purchase, and every event delivered again: nothing more.
    await buy(deps, org.id, referred.id, 5000n);
    await relayAndSettle();
    const earned = await fixture.database.sql<{ payload: Record<string, string> }[]>`
      select payload from outbox where org_id = ${org.id} and topic = 'points.earned'`;
    expect(earned).toHaveLength(3);
    for (const event of earned) {
      const outcome = await rewardReferral(deps, {
        orgId: org.id,
        memberId: referred.id,
        purchaseId: String(event.payload.transaction_id),
        amountMinor: BigInt(String(event.payload.amount_minor)),
      });
      expect(outcome.kind).toBe("already_decided");
    }
    expect(await available(deps, org.id, referrer.id)).toBe(500n);
    expect(await available(deps, org.id, referred.id)).toBe(250n);

    const rewarded = await fixture.database.sql<{ payload: Record<string, unknown> }[]>`
      select payload from outbox where org_id = ${org.id} and topic = 'referral.rewarded'`;
    expect(rewarded).toHaveLength(1);
    expect(rewarded[0]?.payload).toMatchObject({
      member_id: referred.id,
      referrer_member_id: referrer.id,
      referred_member_id: referred.id,
      status: "rewarded",
      referrer_points: "500",
      referred_points: "250",
    });
  });

  it("rewards a referrer at most N times a month; the N+1-th referred member still gets theirs", async () => {
    const { deps, environment } = fixture;
    const { org } = await buildLedgerOrg(deps, {
      settings: referral({ maxPerReferrerPerMonth: 2 }),
    });
    const referrer = await buildLedgerMember(deps, org.id);
    const referred = [];
    for (let index = 0; index < 4; index += 1) {
      referred.push(await enrollReferred(deps, org.id, referrer.referralCode));
    }
    // Three first purchases posted at the same time, each decided by its own handler call.
    const [first, second, third, fourth] = referred;
    if (first === undefined || second === undefined || third === undefined || !fourth) {
      throw new Error("four referred members");
    }
    await Promise.all([first, second, third].map((member) => buy(deps, org.id, member.id, 2000n)));
    const events = await fixture.database.sql<{ payload: Record<string, string> }[]>`
      select payload from outbox where org_id = ${org.id} and topic = 'points.earned'`;
    expect(events).toHaveLength(3);
    const outcomes = await Promise.all(
      events.map((event) =>
        rewardReferral(deps, {
          orgId: org.id,
          memberId: String(event.payload.member_id),
          purchaseId: String(event.payload.transaction_id),
          amountMinor: BigInt(String(event.payload.amount_minor)),
        }),
      ),
    );
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(["decided", "decided", "decided"]);
    const statuses = (await referralRows(org.id)).map((row) => row.status).sort();
    expect(statuses).toEqual(["limit_reached", "pending", "rewarded", "rewarded"]);
    expect(await available(deps, org.id, referrer.id)).toBe(1000n);
    for (const member of [first, second, third]) {
      expect(await available(deps, org.id, member.id)).toBe(250n);
    }
    // The event handlers (the same events, relayed) change nothing now.
    await relayAndSettle();
    expect(await available(deps, org.id, referrer.id)).toBe(1000n);

    // Next calendar month (in the org's time zone): the referrer is rewarded again.
    environment.advanceSeconds(32 * 24 * 60 * 60);
    await buy(deps, org.id, fourth.id, 2000n);
    await relayAndSettle();
    expect(await available(deps, org.id, referrer.id)).toBe(1500n);
    expect(await available(deps, org.id, fourth.id)).toBe(250n);
  });

  it("holds the monthly limit when N+1 first purchases post in parallel", async () => {
    const { deps } = fixture;
    const limit = 3;
    const { org } = await buildLedgerOrg(deps, {
      settings: referral({ maxPerReferrerPerMonth: limit }),
    });
    const referrer = await buildLedgerMember(deps, org.id);
    const referred = [];
    for (let index = 0; index < limit + 1; index += 1) {
      referred.push(await enrollReferred(deps, org.id, referrer.referralCode));
    }
    // The N+1 first purchases post in parallel, then their events are handled in parallel, as
    // several `events` workers would: every decision races for the referrer's month.
    const purchases = await Promise.all(
      referred.map((member) => buy(deps, org.id, member.id, 2000n)),
    );
    const outcomes = await Promise.all(
      referred.map((member, index) =>
        rewardReferral(deps, {
          orgId: org.id,
          memberId: member.id,
          purchaseId: purchases[index]?.transactionId ?? "",
          amountMinor: 2000n,
        }),
      ),
    );
    expect(outcomes.every((outcome) => outcome.kind === "decided")).toBe(true);
    const rows = await referralRows(org.id);
    expect(rows.filter((row) => row.status === "rewarded")).toHaveLength(limit);
    expect(rows.filter((row) => row.status === "limit_reached")).toHaveLength(1);
    expect(await available(deps, org.id, referrer.id)).toBe(500n * BigInt(limit));
    for (const member of referred) {
      expect(await available(deps, org.id, member.id)).toBe(250n);
    }
  });

  it("a bonus decided but not posted (a crash) is finished by recovery, once", async () => {
    const { deps } = fixture;
    const { org } = await buildLedgerOrg(deps, { settings: referral() });
    const referrer = await buildLedgerMember(deps, org.id);
    const referred = await enrollReferred(deps, org.id, referrer.referralCode);
    const purchase = await buy(deps, org.id, referred.id, 2000n);
    const crashing: LedgerDeps = {
      ...deps,
      interrupt: (step, intent) => {
        if (step === "after_intent" && intent.table === "referrals") {
          throw new Error("crash after the referral's intent");
        }
      },
    };
    await expect(
      rewardReferral(crashing, {
        orgId: org.id,
        memberId: referred.id,
        purchaseId: purchase.transactionId,
        amountMinor: 2000n,
      }),
    ).rejects.toThrow("crash after the referral's intent");
    expect((await referralRows(org.id))[0]).toMatchObject({
      status: "rewarded",
      posting_status: "pending",
    });
    expect(await available(deps, org.id, referrer.id)).toBe(0n);

    const report = await recoverPendingIntents(deps, { olderThanMs: 0, limit: 100 });
    expect(report.referrals).toBeGreaterThanOrEqual(1);
    expect((await referralRows(org.id))[0]?.posting_status).toBe("posted");
    expect(await available(deps, org.id, referrer.id)).toBe(500n);
    expect(await available(deps, org.id, referred.id)).toBe(250n);
    // The purchase's event, relayed now, finds the referral decided: nothing more.
    await relayAndSettle();
    expect(await available(deps, org.id, referrer.id)).toBe(500n);
  });
});
