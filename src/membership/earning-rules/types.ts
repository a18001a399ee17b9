/**
 * Earning rules as the domain sees them: what the store hands to `earn` (purchases/earning.ts).
 * The wire form (decimal-string multipliers, RFC 3339 or local date-times) is converted to this
 * at the edge; here multipliers are basis points (10,000 = ×1) and points are bigints.
 */

/** A per-member cap in points for each calendar period of the org's timezone (weeks start Monday). */
export interface PeriodCaps {
  day: bigint | null;
  week: bigint | null;
  month: bigint | null;
}

export const capPeriods = ["day", "week", "month"] as const;
export type CapPeriod = (typeof capPeriods)[number];

interface RuleCommon {
  id: string;
  /** 1 for a new rule, +1 per edit; a purchase records the versions it used. */
  version: number;
  name: string;
  active: boolean;
  /** Campaigns are taken by descending priority (a larger number wins). */
  priority: number;
  stackable: boolean;
  /** The rule's own per-member caps; null: uncapped. */
  caps: PeriodCaps | null;
}

export interface CategoryMultiplierRule extends RuleCommon {
  kind: "category_multiplier";
  categories: readonly string[];
  multiplierBps: number;
}

export interface SkuBonusRule extends RuleCommon {
  kind: "sku_bonus";
  skus: readonly string[];
  /** Per unit sold: quantity × points. */
  pointsPerUnit: bigint;
}

export interface CampaignRule extends RuleCommon {
  kind: "campaign";
  /** Half-open window [startsAt, endsAt), judged on the purchase's occurred_at. */
  startsAt: Date;
  endsAt: Date;
  /** ISO days (1 = Monday … 7 = Sunday) in the org's timezone; null: every day. */
  daysOfWeek: readonly number[] | null;
  /** Tier ids the member must hold (in the earning tier set); null: any tier. */
  tierIds: readonly string[] | null;
  /** Location external refs; null: anywhere. */
  locations: readonly string[] | null;
  /** Categories whose lines it applies to; null: every line (or the whole amount). */
  categories: readonly string[] | null;
  /** Minimum purchase amount in minor units; null: none. */
  minSpendMinor: bigint | null;
  /** Exactly one of the two is set. */
  multiplierBps: number | null;
  bonusPoints: bigint | null;
  /** Benefits members enjoy while the campaign runs for them (`GET /v1/members/{id}/benefits`). */
  benefitIds: readonly string[];
}

export type EarningRule = CategoryMultiplierRule | SkuBonusRule | CampaignRule;
export type EarningRuleKind = EarningRule["kind"];

/** How each entry's fractional points are rounded (org setting `rounding`; default "down"). */
export const roundingModes = ["down", "half_up", "up"] as const;
export type RoundingMode = (typeof roundingModes)[number];
