/**
 * The negative space of the ledger-backed use cases: another org's ids are `not_found` for
 * every verb (the same answer as an id that does not exist), and requests refused for bad input
 * or a broken business rule change nothing: no row, no event, no transfer.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { adjustMemberPoints } from "../adjustments/adjust-member-points.ts";
import { platformActor } from "../audit/audit.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { getMemberHistory } from "../members/get-member-history.ts";
import { getTrialBalance } from "../orgs/get-trial-balance.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { recordPurchases } from "../purchases/record-purchases.ts";
import { cancelRedemption } from "../redemptions/cancel-redemption.ts";
import { createRedemption } from "../redemptions/create-redemption.ts";
import { fulfilRedemption } from "../redemptions/fulfil-redemption.ts";
import { refundPurchase } from "../refunds/refund-purchase.ts";
import { createStampProgram } from "../stamp-programs/create-stamp-program.ts";

const fixture = useLedgerFixture();

/** Two orgs; the second's member has a purchase and a pending redemption. */
async function twoOrgs() {
  const { deps } = fixture.environment;
  const mine = await buildLedgerOrg(deps);
  const theirs = await buildLedgerOrg(deps);
  const myMember = await buildLedgerMember(deps, mine.org.id, { points: 1_000n });
  const theirMember = await buildLedgerMember(deps, theirs.org.id, { points: 1_000n });
  const theirPurchase = externalId();
  await recordPurchase(deps, {
    orgId: theirs.org.id,
    externalId: theirPurchase,
    memberId: theirMember.id,
    amountMinor: 1_000n,
    currency: "EUR",
  });
  const theirRedemption = await createRedemption(deps, {
    orgId: theirs.org.id,
    memberId: theirMember.id,
    points: 10n,
  });
  return { mine, theirs, myMember, theirMember, theirPurchase, theirRedemption };
}

const tables = [
  "members",
  "locations",
  "pos_transactions",
  "redemptions",
  "adjustments",
  "stamp_programs",
  "stamp_cards",
  "outbox",
  "org_ledgers",
] as const;

/** Row counts of every table the verbs write, and the org's trial balances. */
async function snapshot(orgId: string) {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const [row] = await fixture.database.sql<{ n: number }[]>`
      select count(*)::int as n from ${fixture.database.sql(table)}`;
    counts[table] = row?.n ?? -1;
  }
  const trial = await getTrialBalance(fixture.environment.deps, { orgId });
  return { counts, trial };
}

describe("another org's ids", () => {
  it("are not found by any verb, and nothing of theirs changes", async () => {
    const { deps } = fixture.environment;
    const { mine, theirs, myMember, theirMember, theirPurchase, theirRedemption } = await twoOrgs();
    const orgId = mine.org.id;
    const before = await snapshot(theirs.org.id);
    const notFound = { code: "not_found" };

    await expect(
      recordPurchase(deps, {
        orgId,
        externalId: externalId(),
        memberId: theirMember.id,
        amountMinor: 100n,
        currency: "EUR",
      }),
    ).rejects.toMatchObject(notFound);
    await expect(
      recordPurchase(deps, {
        orgId,
        externalId: externalId(),
        memberExternalRef: theirMember.externalRef,
        amountMinor: 100n,
        currency: "EUR",
      }),
    ).rejects.toMatchObject(notFound);
    const batch = await recordPurchases(deps, {
      orgId,
      items: [
        { externalId: externalId(), memberId: theirMember.id, amountMinor: 100n, currency: "EUR" },
      ],
    });
    expect(batch).toMatchObject([{ status: "error", code: "not_found" }]);
    await expect(
      refundPurchase(deps, {
        orgId,
        purchaseExternalId: theirPurchase,
        externalId: externalId("refund"),
        amountMinor: 100n,
      }),
    ).rejects.toMatchObject(notFound);
    await expect(
      createRedemption(deps, { orgId, memberId: theirMember.id, points: 10n }),
    ).rejects.toMatchObject(notFound);
    await expect(
      fulfilRedemption(deps, { orgId, redemptionId: theirRedemption.id }),
    ).rejects.toMatchObject(notFound);
    await expect(
      cancelRedemption(deps, { orgId, redemptionId: theirRedemption.id }),
    ).rejects.toMatchObject(notFound);
    await expect(
      adjustMemberPoints(deps, {
        actor: platformActor,
        orgId,
        memberId: theirMember.id,
        direction: "credit",
        points: 10n,
        reason: "nope",
        externalId: externalId("adj"),
      }),
    ).rejects.toMatchObject(notFound);
    await expect(
      getMemberBalances(deps, { orgId, memberId: theirMember.id }),
    ).rejects.toMatchObject(notFound);
    await expect(
      getMemberHistory(deps, { orgId, memberId: theirMember.id, limit: 10 }),
    ).rejects.toMatchObject(notFound);

    // The same answers for ids that exist nowhere, and for an unknown org.
    await expect(getMemberBalances(deps, { orgId, memberId: randomUUID() })).rejects.toMatchObject(
      notFound,
    );
    await expect(getMemberBalances(deps, { orgId, memberId: "x" })).rejects.toMatchObject(notFound);
    await expect(getTrialBalance(deps, { orgId: randomUUID() })).rejects.toMatchObject(notFound);
    await expect(
      recordPurchase(deps, {
        orgId: randomUUID(),
        externalId: externalId(),
        memberId: myMember.id,
        amountMinor: 100n,
        currency: "EUR",
      }),
    ).rejects.toMatchObject(notFound);

    expect(await snapshot(theirs.org.id)).toEqual(before);
    const [redemption] = await fixture.database.sql<{ status: string }[]>`
      select status from redemptions where id = ${theirRedemption.id}`;
    expect(redemption?.status).toBe("pending");
  });
});

describe("refused requests", () => {
  it("change no row, no event and no balance", async () => {
    const { deps } = fixture.environment;
    const { mine, myMember } = await twoOrgs();
    const orgId = mine.org.id;
    const purchaseId = externalId();
    await recordPurchase(deps, {
      orgId,
      externalId: purchaseId,
      memberId: myMember.id,
      amountMinor: 1_000n,
      currency: "EUR",
    });
    const redemption = await createRedemption(deps, { orgId, memberId: myMember.id, points: 5n });
    await fulfilRedemption(deps, { orgId, redemptionId: redemption.id });
    const before = await snapshot(orgId);

    const purchase = {
      orgId,
      externalId: externalId(),
      memberId: myMember.id,
      amountMinor: 100n,
      currency: "EUR",
    };
    const refusals: Array<[string, () => Promise<unknown>]> = [
      ["invalid_input", () => recordPurchase(deps, { ...purchase, currency: "GBP" })],
      ["invalid_input", () => recordPurchase(deps, { ...purchase, amountMinor: -5n })],
      ["invalid_input", () => recordPurchase(deps, { ...purchase, externalId: "" })],
      ["invalid_input", () => recordPurchase(deps, { ...purchase, locationRef: "" })],
      [
        "invalid_input",
        () =>
          recordPurchase(deps, {
            ...purchase,
            occurredAt: new Date(fixture.environment.now().getTime() + 2 * 24 * 3600 * 1000),
          }),
      ],
      [
        "conflict",
        () => recordPurchase(deps, { ...purchase, externalId: purchaseId, amountMinor: 999n }),
      ],
      [
        "refund_exceeds_purchase",
        () =>
          refundPurchase(deps, {
            orgId,
            purchaseExternalId: purchaseId,
            externalId: externalId("refund"),
            amountMinor: 1_001n,
          }),
      ],
      [
        "invalid_input",
        () =>
          refundPurchase(deps, {
            orgId,
            purchaseExternalId: purchaseId,
            externalId: externalId("refund"),
            amountMinor: 0n,
          }),
      ],
      [
        "not_found",
        () =>
          refundPurchase(deps, {
            orgId,
            purchaseExternalId: externalId(),
            externalId: externalId("refund"),
            amountMinor: 1n,
          }),
      ],
      [
        "invalid_input",
        () => createRedemption(deps, { orgId, memberId: myMember.id, points: -1n }),
      ],
      ["invalid_state", () => cancelRedemption(deps, { orgId, redemptionId: redemption.id })],
      [
        "invalid_input",
        () =>
          adjustMemberPoints(deps, {
            actor: platformActor,
            orgId,
            memberId: myMember.id,
            direction: "credit",
            points: 10n,
            reason: "",
            externalId: externalId("adj"),
          }),
      ],
      ["invalid_input", () => getMemberHistory(deps, { orgId, memberId: myMember.id, limit: 201 })],
      [
        "invalid_input",
        () => getMemberHistory(deps, { orgId, memberId: myMember.id, limit: 5, cursor: "!!" }),
      ],
      [
        "invalid_input",
        () =>
          createStampProgram(deps, { orgId, name: "Bad", stampsRequired: 0n, rewardPoints: 1n }),
      ],
    ];
    for (const [code, refused] of refusals) {
      await expect(refused(), code).rejects.toMatchObject({ code });
    }
    expect(await snapshot(orgId)).toEqual(before);
  });

  it("pages history with an opaque cursor", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    for (let index = 1; index <= 5; index += 1) {
      await recordPurchase(deps, {
        orgId: org.id,
        externalId: externalId(),
        memberId: member.id,
        amountMinor: BigInt(index * 100),
        currency: "EUR",
      });
    }
    const amounts: bigint[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const result = await getMemberHistory(deps, {
        orgId: org.id,
        memberId: member.id,
        limit: 2,
        ...(cursor === undefined ? {} : { cursor }),
      });
      amounts.push(...result.entries.map((entry) => entry.amount));
      if (result.nextCursor === null) {
        break;
      }
      cursor = result.nextCursor;
    }
    expect(amounts).toEqual([5n, 4n, 3n, 2n, 1n]);
  });
});
