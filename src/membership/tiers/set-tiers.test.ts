/**
 * Tier sets beyond the earning one, on real Postgres and the embedded ledger: the ladder rules
 * (pure), a member's tier in another set evaluated from ledger history with that set's own metric
 * (spend here), moving up at once with `benefit.applied` and down only after the window plus the
 * set's grace with `benefit.revoked`, while the earning tier (what purchases read) is untouched;
 * a member's benefits list where each comes from; the simulation of another set.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { platformActor } from "../audit/audit.ts";
import { createBenefit } from "../benefits/manage-benefits.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { ladderIssues, multiplierBpsOf } from "./ladder.ts";
import { createTierSet } from "./manage-tier-sets.ts";
import { createTier, listConfiguredTiers } from "./manage-tiers.ts";
import { evaluateMemberTier } from "./progression.ts";
import { evaluateMemberSetTier, listMemberBenefits, simulateTiers } from "./set-tiers.ts";

const fixture = useLedgerFixture();
const day = 24 * 60 * 60;

describe("ladder rules", () => {
  const path = (index: number, field: string) => `tiers.${index}.${field}`;
  it("needs a rank-0 base tier at 0, distinct ranks and increasing thresholds", () => {
    expect(
      ladderIssues(
        [
          { rank: 0, threshold: 0n },
          { rank: 1, threshold: 1n },
        ],
        path,
      ),
    ).toEqual([]);
    expect(ladderIssues([{ rank: 1, threshold: 0n }], path)).toEqual([
      { path: "tiers.0.rank", message: "a tier set needs a rank-0 base tier" },
    ]);
    expect(ladderIssues([{ rank: 0, threshold: 5n }], path).map((issue) => issue.path)).toEqual([
      "tiers.0.threshold",
    ]);
    expect(
      ladderIssues(
        [
          { rank: 0, threshold: 0n },
          { rank: 2, threshold: 100n },
          { rank: 1, threshold: 100n },
        ],
        path,
      ).map((issue) => issue.path),
    ).toEqual(["tiers.1.threshold"]);
    expect(
      ladderIssues(
        [
          { rank: 0, threshold: 0n },
          { rank: 0, threshold: 10n },
        ],
        path,
      ).map((issue) => issue.path),
    ).toEqual(["tiers.1.rank"]);
  });

  it("reads multipliers with up to four places into basis points", () => {
    expect(multiplierBpsOf("1")).toBe(10_000);
    expect(multiplierBpsOf("1.25")).toBe(12_500);
    expect(multiplierBpsOf("0.0001")).toBe(1);
    expect(multiplierBpsOf("100")).toBe(1_000_000);
    for (const refused of ["0", "0.0000", "1.23456", "100.0001", "1e2", "-1", "1.", ".5", ""]) {
      expect(multiplierBpsOf(refused), refused).toBeNull();
    }
  });
});

describe("another tier set", () => {
  it("evaluates from spend with its own ladder, up at once, down after window and grace", async () => {
    const { environment } = fixture;
    const { deps } = environment;
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const quiet = await buildLedgerMember(deps, org.id);
    const set = await createTierSet(deps, {
      orgId: org.id,
      name: "Dining",
      metric: "spend",
      windowMonths: 1,
      graceDays: 10,
      actor: platformActor,
    });
    const lounge = await createBenefit(deps, {
      orgId: org.id,
      kind: "perk",
      name: "Lounge",
      description: null,
      valueBps: null,
      activeFrom: null,
      activeUntil: null,
      actor: platformActor,
    });
    const { tier: gourmet } = await createTier(deps, {
      orgId: org.id,
      tierSetId: set.id,
      name: "Gourmet",
      rank: 1,
      threshold: 50_000n,
      multiplierBps: 10_000,
      climbable: true,
      immutable: false,
      activeFrom: null,
      activeUntil: null,
      benefitIds: [lounge.id],
      actor: platformActor,
    });
    const [base] = await listConfiguredTiers(deps, { orgId: org.id, tierSetId: set.id });

    // 600.00 spent: 600 points (below Silver's 1,000) but 60,000 minor units (above Gourmet's).
    await recordPurchase(deps, {
      orgId: org.id,
      externalId: externalId(),
      memberId: member.id,
      amountMinor: 60_000n,
      currency: "EUR",
    });
    expect(
      await evaluateMemberSetTier(deps, { orgId: org.id, memberId: member.id, tierSet: set }),
    ).toBe("upgraded");
    expect(
      await evaluateMemberSetTier(deps, { orgId: org.id, memberId: member.id, tierSet: set }),
    ).toBe("unchanged");
    // The earning tier, which purchases read, is not moved by another set.
    expect(await evaluateMemberTier(deps, { orgId: org.id, memberId: member.id })).toMatchObject({
      action: "unchanged",
    });
    expect(await listMemberBenefits(deps, { orgId: org.id, memberId: member.id })).toEqual([
      expect.objectContaining({
        benefitId: lounge.id,
        source: { type: "tier", tierId: gourmet.id, tierSetId: set.id },
      }),
    ]);
    expect(await listMemberBenefits(deps, { orgId: org.id, memberId: quiet.id })).toEqual([]);

    const simulated = await simulateTiers(deps, {
      orgId: org.id,
      tierSetId: set.id,
      tiers: [
        { name: "Base", rank: 0, threshold: 0n, multiplierBps: 10_000 },
        { name: "Top", rank: 1, threshold: 70_000n, multiplierBps: 10_000 },
      ],
    });
    // The member holds Gourmet (rank 1) and would be in the base: down; the quiet one stays.
    expect(simulated).toEqual({
      membersTotal: 2,
      tiers: [
        { name: "Base", members: 2 },
        { name: "Top", members: 0 },
      ],
      moves: { up: 0, down: 1, same: 1 },
    });

    // Past the one-month window the spend no longer counts, but grace holds the tier...
    environment.advanceSeconds(35 * day);
    expect(
      await evaluateMemberSetTier(deps, { orgId: org.id, memberId: member.id, tierSet: set }),
    ).toBe("unchanged");
    // ...until the review date (a month after reaching it) plus 10 days.
    environment.advanceSeconds(10 * day);
    expect(
      await evaluateMemberSetTier(deps, { orgId: org.id, memberId: member.id, tierSet: set }),
    ).toBe("downgraded");
    expect(await listMemberBenefits(deps, { orgId: org.id, memberId: member.id })).toEqual([]);
    const events = await fixture.database.sql<
      { topic: string; payload: Record<string, unknown> }[]
    >`
      select topic, payload from outbox
      where org_id = ${org.id} and topic in ('benefit.applied', 'benefit.revoked') order by id`;
    expect(
      events.map((event) => [event.topic, event.payload.member_id, event.payload.source]),
    ).toEqual([
      ["benefit.applied", member.id, { type: "tier", tier_id: gourmet.id, tier_set_id: set.id }],
      ["benefit.revoked", member.id, { type: "tier", tier_id: gourmet.id, tier_set_id: set.id }],
    ]);
    expect(base?.rank).toBe(0);
  });
});
