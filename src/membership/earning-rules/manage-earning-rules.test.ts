/**
 * Earning rules' use cases on real Postgres: the domain's own checks for callers other than the
 * HTTP edge, concurrent edits from one version (one wins, the other is a conflict, no version is
 * lost or doubled), the per-pool cache of active rules and its invalidation, and old versions
 * read back exactly as they were.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerOrg } from "../../../test/support/ledger.ts";
import { listAudit, platformActor } from "../audit/audit.ts";
import {
  activeEarningRules,
  createEarningRule,
  earningRuleVersion,
  getEarningRule,
  listEarningRules,
  updateEarningRule,
} from "./manage-earning-rules.ts";
import type { EarningRuleFields } from "./rule-body.ts";

const fixture = useLedgerFixture();

const coffee: EarningRuleFields = {
  kind: "category_multiplier",
  name: "Coffee ×3",
  active: true,
  priority: 0,
  stackable: false,
  caps: null,
  categories: ["coffee"],
  multiplierBps: 30_000,
};

describe("earning rules", () => {
  it("refuses what the edge would, naming the field, and writes nothing", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const { tiers: foreignTiers } = await buildLedgerOrg(deps);
    const campaign: EarningRuleFields = {
      kind: "campaign",
      name: "Weekend",
      active: true,
      priority: 1,
      stackable: false,
      caps: null,
      startsAt: new Date("2026-01-01T00:00:00Z"),
      endsAt: new Date("2026-02-01T00:00:00Z"),
      daysOfWeek: null,
      tierIds: null,
      locations: null,
      categories: null,
      minSpendMinor: null,
      multiplierBps: null,
      bonusPoints: 10n,
      benefitIds: [],
    };
    const refusals: Array<[EarningRuleFields, string]> = [
      [{ ...coffee, multiplierBps: 10_000 }, "multiplier"],
      [{ ...coffee, name: "" }, "name"],
      [{ ...coffee, caps: { day: null, week: null, month: null } }, "caps.per_member"],
      [{ ...campaign, endsAt: campaign.startsAt }, "ends_at"],
      [{ ...campaign, multiplierBps: 20_000 }, "bonus_points"],
      [{ ...campaign, bonusPoints: null }, "multiplier"],
      [{ ...campaign, tierIds: [foreignTiers[0]?.id ?? ""] }, "tier_ids"],
    ];
    for (const [rule, field] of refusals) {
      await expect(createEarningRule(deps, { orgId: org.id, rule })).rejects.toMatchObject({
        code: "invalid_input",
        details: { field },
      });
    }
    expect((await listEarningRules(deps, { orgId: org.id, limit: 10 })).rules).toEqual([]);
  });

  it("lets one of two edits from the same version win, the other a conflict", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const created = await createEarningRule(deps, { orgId: org.id, rule: coffee });
    const edit = (multiplierBps: number) =>
      updateEarningRule(deps, {
        orgId: org.id,
        ruleId: created.rule.id,
        baseVersion: 1,
        rule: { ...coffee, multiplierBps },
        actor: platformActor,
      });
    const outcomes = await Promise.allSettled([edit(20_000), edit(40_000)]);
    const won = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const lost = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.status === "rejected" && lost[0].reason).toMatchObject({ code: "conflict" });
    const current = await getEarningRule(deps, { orgId: org.id, ruleId: created.rule.id });
    expect(current.rule.version).toBe(2);
    expect(await earningRuleVersion(deps, org.id, created.rule.id, 1)).toEqual(created.rule);
    expect(await earningRuleVersion(deps, org.id, created.rule.id, 3)).toBeNull();
    const audit = await listAudit(deps, { orgId: org.id, targetType: "earning_rule", limit: 10 });
    expect(audit.entries.map((entry) => entry.action)).toEqual([
      "earning_rule.updated",
      "earning_rule.created",
    ]);
  });

  it("caches the active rules per pool and forgets them on a change made here", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    expect(await activeEarningRules(deps, org.id)).toEqual([]);
    const created = await createEarningRule(deps, { orgId: org.id, rule: coffee });
    const first = await activeEarningRules(deps, org.id);
    expect(first).toEqual([created.rule]);
    // A second read within the TTL is the same cached value, not a new query.
    expect(await activeEarningRules(deps, org.id)).toBe(first);
    await updateEarningRule(deps, {
      orgId: org.id,
      ruleId: created.rule.id,
      baseVersion: 1,
      rule: { ...coffee, active: false },
      actor: platformActor,
    });
    expect(await activeEarningRules(deps, org.id)).toEqual([]);
  });
});
