/**
 * A member's benefits with where each comes from: the tiers the member holds (tiers/set-tiers.ts)
 * and the campaigns running for them now. A campaign runs for a member while now lies in its
 * window, on one of its days (the org's local days), and the member's earning tier is one of its
 * `tier_ids` (or it names none); its benefits count while their own window holds.
 */
import { and, asc, eq, inArray } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { loadOrgLedger, nowOf } from "../intents/support.ts";
import { benefits, members } from "../store/schema.ts";
import { benefitActiveAt } from "../tiers/benefit-events.ts";
import { listMemberBenefits, type MemberBenefit } from "../tiers/set-tiers.ts";
import { activeEarningRules } from "./manage-earning-rules.ts";
import { localDate } from "./periods.ts";
import type { CampaignRule } from "./types.ts";

export type MemberBenefitSource =
  | { type: "tier"; tierId: string; tierSetId: string }
  | { type: "campaign"; ruleId: string };

export type SourcedBenefit = Omit<MemberBenefit, "source"> & { source: MemberBenefitSource };

/** Whether a campaign runs for a member in `tierId` at `now` (its window, days and tiers). */
export function campaignRunsFor(
  campaign: CampaignRule,
  input: { tierId: string; now: Date; timeZone: string },
): boolean {
  const time = input.now.getTime();
  if (!campaign.active || time < campaign.startsAt.getTime() || time >= campaign.endsAt.getTime()) {
    return false;
  }
  if (
    campaign.daysOfWeek !== null &&
    !campaign.daysOfWeek.includes(localDate(input.now, input.timeZone).weekday)
  ) {
    return false;
  }
  return campaign.tierIds === null || campaign.tierIds.includes(input.tierId);
}

/** The member's active benefits, tiers' first, then campaigns'. Unknown member: `not_found`. */
export async function listSourcedMemberBenefits(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<SourcedBenefit[]> {
  const fromTiers: SourcedBenefit[] = await listMemberBenefits(deps, input);
  const now = nowOf(deps);
  const { org } = await loadOrgLedger(deps, input.orgId);
  const campaigns = (await activeEarningRules(deps, input.orgId)).filter(
    (rule): rule is CampaignRule => rule.kind === "campaign" && rule.benefitIds.length > 0,
  );
  if (campaigns.length === 0) {
    return fromTiers;
  }
  const [member] = await deps.db
    .select({ tierId: members.tierId })
    .from(members)
    .where(and(eq(members.orgId, input.orgId), eq(members.id, input.memberId)));
  if (member === undefined) {
    return fromTiers;
  }
  const running = campaigns.filter((campaign) =>
    campaignRunsFor(campaign, { tierId: member.tierId, now, timeZone: org.timezone }),
  );
  const wanted = [...new Set(running.flatMap((campaign) => campaign.benefitIds))];
  if (wanted.length === 0) {
    return fromTiers;
  }
  const found = await deps.db
    .select()
    .from(benefits)
    .where(and(eq(benefits.orgId, input.orgId), inArray(benefits.id, wanted), benefitActiveAt(now)))
    .orderBy(asc(benefits.name), asc(benefits.id));
  const byId = new Map(found.map((benefit) => [benefit.id, benefit]));
  const fromCampaigns: SourcedBenefit[] = [];
  for (const campaign of running) {
    for (const benefitId of campaign.benefitIds) {
      const benefit = byId.get(benefitId);
      if (benefit === undefined) {
        continue;
      }
      fromCampaigns.push({
        benefitId: benefit.id,
        name: benefit.name,
        description: benefit.description,
        kind: benefit.kind,
        valueBps: benefit.valueBps,
        activeFrom: benefit.activeFrom,
        activeUntil: benefit.activeUntil,
        source: { type: "campaign", ruleId: campaign.id },
      });
    }
  }
  return [...fromTiers, ...fromCampaigns];
}
