/**
 * What a purchase earns, as a pure function: the purchase, the member's tier, the org's settings,
 * earning rules and stamp programs in; points and stamps with a breakdown out. No I/O, no clock:
 * the same inputs always earn the same, which is what lets recovery and retries post exactly what
 * the first attempt computed.
 *
 * One evaluation order, exactly this (README repeats it), integer arithmetic, each entry rounded
 * once by the org's rounding mode (down unless set otherwise):
 *  1. `base`: the whole amount earns the base rate.
 *  2. A multiplier (a category rule, or an applied campaign with a multiplier) earns, on each
 *     line it matches, the extra `base × (multiplier − 1)` as its own entry; among multipliers
 *     matching one line only the highest earns.
 *  3. Campaigns by descending priority: a non-stackable one applies only if none applied before
 *     it and then stops the rest; stackable ones apply together. `bonus_points` is a fixed entry.
 *     SKU bonuses earn `quantity × points_per_unit`.
 *  4. `tier`: the extra `(base + multiplier extras) × (tier multiplier − 1)`; fixed bonuses are not
 *     multiplied.
 *  5. Caps (`applyCaps`): each rule's cap trims its entry, then the org's overall cap trims the
 *     entries in reverse order (tier, campaigns, rules, base last).
 * Caps need what is left of each cap, which only the ledger knows: `earn` says which caps apply
 * (`caps`, `overallCaps`), and `applyCaps` trims with the amounts the ledger reserved.
 */
import assert from "node:assert/strict";
import { pointsPerTransferMax } from "../../ledger/index.ts";
import { localDate, periodKey } from "../earning-rules/periods.ts";
import {
  type CampaignRule,
  type CapPeriod,
  capPeriods,
  type EarningRule,
  type PeriodCaps,
  type RoundingMode,
} from "../earning-rules/types.ts";
import type { StampProgram } from "../ledger-types.ts";

export interface EarningItem {
  sku: string;
  category: string | null;
  quantity: number;
  /** The line's amount in minor units; null when the till did not send one. */
  amountMinor: bigint | null;
}

export interface EarningInput {
  purchase: {
    /** In minor units of the org's currency, positive. */
    amountMinor: bigint;
    items: readonly EarningItem[];
    /** When it happened (its `occurred_at`, or when it was received): judged by program windows. */
    occurredAt: Date;
    /** The location's external ref, for campaigns restricted to locations; null: none sent. */
    locationRef?: string | null;
  };
  /** The member's tier in the earning set: its id (campaigns may name tiers) and multiplier. */
  tier: { id?: string | null; multiplierBps: number };
  org: {
    /** Points per whole currency unit, before the tier multiplier. */
    baseRatePointsPerUnit: number;
    /** Minor-unit digits of the org's currency (2 for EUR). */
    currencyExponent: number;
    /** The org's programs; only active ones grant stamps, within their window. */
    stampPrograms: readonly StampProgram[];
    /** The current version of each active earning rule. */
    rules?: readonly EarningRule[];
    rounding?: RoundingMode;
    /** IANA zone for days of the week and cap periods; UTC when absent. */
    timezone?: string;
    /** The org's overall cap per member per period; null: none. */
    earningCaps?: PeriodCaps | null;
  };
}

export type EarningEntryKind = "base" | "category_multiplier" | "sku_bonus" | "campaign" | "tier";

/** One cap that applies to an entry (a rule's) or to the whole purchase (the org's). */
export interface CapRef {
  scope: "rule" | "overall";
  period: CapPeriod;
  /** The rule whose cap it is; null for the org's overall cap. */
  ruleId: string | null;
  /** The cap in points for the period. */
  cap: bigint;
  /** The period the purchase falls in (periods.ts `periodKey`). */
  periodKey: string;
}

/** One line of what a purchase earns, before caps. */
export interface EarningEntry {
  kind: EarningEntryKind;
  ruleId: string | null;
  ruleVersion: number | null;
  points: bigint;
  /** The rule's own caps that apply to this entry (none for base and tier). */
  caps: CapRef[];
}

/** A line of the breakdown as answered and stored: after caps. */
export interface EarningLine {
  kind: EarningEntryKind;
  ruleId?: string;
  ruleVersion?: number;
  points: bigint;
  cappedBy?: { scope: "rule" | "overall"; period: CapPeriod };
}

export interface StampGrant {
  programId: string;
  /** The program's ledger, where the stamps are posted. */
  ledger: number;
  stamps: bigint;
}

export type Earning =
  | {
      kind: "earned";
      /** Before caps: what the entries ask for. */
      points: bigint;
      entries: EarningEntry[];
      /** The org's overall caps for this purchase's periods (all entries count). */
      overallCaps: CapRef[];
      /** Before caps, entries of 0 left out. */
      breakdown: EarningLine[];
      stamps: StampGrant[];
    }
  /** More points than one transfer may carry: the caller's to fix (smaller purchases). */
  | { kind: "too_large" };

/** A share of the purchase that earns: a line with an amount, or the rest of the amount. */
interface Unit {
  category: string | null;
  amountMinor: bigint;
}

const unitBps = 10_000n;

/** n / d rounded by the mode; n ≥ 0, d > 0. */
export function roundPoints(n: bigint, d: bigint, mode: RoundingMode): bigint {
  assert.ok(n >= 0n && d > 0n, "rounding a non-negative amount");
  switch (mode) {
    case "down":
      return n / d;
    case "up":
      return (n + d - 1n) / d;
    case "half_up":
      return (2n * n + d) / (2n * d);
  }
}

function capRefs(
  caps: PeriodCaps | null,
  scope: "rule" | "overall",
  ruleId: string | null,
  at: Date,
  timeZone: string,
): CapRef[] {
  if (caps === null) {
    return [];
  }
  const refs: CapRef[] = [];
  for (const period of capPeriods) {
    const cap = caps[period];
    if (cap !== null) {
      assert.ok(cap >= 0n, "a cap is not negative");
      refs.push({ scope, period, ruleId, cap, periodKey: periodKey(period, at, timeZone) });
    }
  }
  return refs;
}

/** Whether a campaign's conditions hold for this purchase (before priority and stacking). */
export function campaignEligible(
  campaign: CampaignRule,
  input: EarningInput,
  units: readonly Unit[],
): boolean {
  const { purchase } = input;
  const time = purchase.occurredAt.getTime();
  if (!campaign.active || time < campaign.startsAt.getTime() || time >= campaign.endsAt.getTime()) {
    return false;
  }
  if (campaign.daysOfWeek !== null) {
    const weekday = localDate(purchase.occurredAt, input.org.timezone ?? "UTC").weekday;
    if (!campaign.daysOfWeek.includes(weekday)) {
      return false;
    }
  }
  if (campaign.tierIds !== null && !campaign.tierIds.includes(input.tier.id ?? "")) {
    return false;
  }
  if (
    campaign.locations !== null &&
    (purchase.locationRef == null || !campaign.locations.includes(purchase.locationRef))
  ) {
    return false;
  }
  if (campaign.minSpendMinor !== null && purchase.amountMinor < campaign.minSpendMinor) {
    return false;
  }
  const categories = campaign.categories;
  if (categories !== null) {
    const matches = purchase.items.some(
      (item) => item.category !== null && categories.includes(item.category),
    );
    if (!matches) {
      return false;
    }
  }
  assert.ok(units.length > 0, "a purchase has something that earns");
  return true;
}

/**
 * The campaigns that apply, in the order they were taken: by descending priority (then id), a
 * non-stackable one only when none applied before it, after which none applies.
 */
export function appliedCampaigns(input: EarningInput, units: readonly Unit[]): CampaignRule[] {
  const campaigns = (input.org.rules ?? [])
    .filter((rule): rule is CampaignRule => rule.kind === "campaign")
    .sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const applied: CampaignRule[] = [];
  for (const campaign of campaigns) {
    if (!campaignEligible(campaign, input, units)) {
      continue;
    }
    if (campaign.stackable) {
      applied.push(campaign);
      continue;
    }
    if (applied.length === 0) {
      applied.push(campaign);
      break;
    }
  }
  return applied;
}

function unitsOf(purchase: EarningInput["purchase"]): Unit[] {
  const units: Unit[] = [];
  let lines = 0n;
  for (const item of purchase.items) {
    if (item.amountMinor !== null && item.amountMinor > 0n) {
      units.push({ category: item.category, amountMinor: item.amountMinor });
      lines += item.amountMinor;
    }
  }
  assert.ok(lines <= purchase.amountMinor, "lines add up to at most the purchase amount");
  if (lines < purchase.amountMinor) {
    // The rest of the amount (no items, or what the lines leave): base rate and uncategorised
    // multipliers only.
    units.push({ category: null, amountMinor: purchase.amountMinor - lines });
  }
  return units;
}

/**
 * Points with a breakdown before caps, and stamps. Stamps never depend on rules.
 *
 * @example
 * earn({ purchase: { amountMinor: 1999n, items: [], occurredAt }, tier: { multiplierBps: 12_500 },
 *   org: { baseRatePointsPerUnit: 1, currencyExponent: 2, stampPrograms: [] } })
 * // points 23n: base 19 (19.99 rounded down), tier 4 (19.99 × 0.25 = 4.99 rounded down)
 */
export function earn(input: EarningInput): Earning {
  const { purchase, tier, org } = input;
  assert.ok(purchase.amountMinor > 0n, "a purchase amount is positive");
  assert.ok(Number.isSafeInteger(tier.multiplierBps) && tier.multiplierBps > 0, "multiplier");
  assert.ok(Number.isSafeInteger(org.baseRatePointsPerUnit) && org.baseRatePointsPerUnit >= 0);
  const rounding = org.rounding ?? "down";
  const timeZone = org.timezone ?? "UTC";
  const rules = (org.rules ?? []).filter((rule) => rule.active);
  const rate = BigInt(org.baseRatePointsPerUnit);
  const minorPerUnit = 10n ** BigInt(org.currencyExponent);
  const tierBps = BigInt(tier.multiplierBps);
  const at = purchase.occurredAt;

  // A purchase this large earns more than any transfer may carry at any multiplier below 10,000×.
  if (purchase.amountMinor * rate >= (pointsPerTransferMax + 1n) * minorPerUnit) {
    return { kind: "too_large" };
  }
  const units = unitsOf(purchase);
  const entries: EarningEntry[] = [];

  // 1. base (a tier below ×1 scales it: such a tier has no bonus entry).
  const baseNumerator = purchase.amountMinor * rate;
  entries.push({
    kind: "base",
    ruleId: null,
    ruleVersion: null,
    points:
      tierBps < unitBps
        ? roundPoints(baseNumerator * tierBps, minorPerUnit * unitBps, rounding)
        : roundPoints(baseNumerator, minorPerUnit, rounding),
    caps: [],
  });

  // 2–3. multipliers: each unit's extra goes to the highest multiplier matching it.
  const campaigns = appliedCampaigns(input, units);
  const multipliers: Array<{
    rule: EarningRule;
    bps: number;
    categories: readonly string[] | null;
  }> = [];
  for (const campaign of campaigns) {
    if (campaign.multiplierBps !== null) {
      multipliers.push({
        rule: campaign,
        bps: campaign.multiplierBps,
        categories: campaign.categories,
      });
    }
  }
  const categoryRules = rules
    .filter((rule) => rule.kind === "category_multiplier")
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const rule of categoryRules) {
    multipliers.push({ rule, bps: rule.multiplierBps, categories: rule.categories });
  }
  const extraNumerators = new Map<string, bigint>();
  for (const unit of units) {
    let best: (typeof multipliers)[number] | undefined;
    for (const candidate of multipliers) {
      const matches =
        candidate.categories === null ||
        (unit.category !== null && candidate.categories.includes(unit.category));
      if (matches && candidate.bps > 10_000 && (best === undefined || candidate.bps > best.bps)) {
        best = candidate;
      }
    }
    if (best !== undefined) {
      const extra = unit.amountMinor * rate * (BigInt(best.bps) - unitBps);
      extraNumerators.set(best.rule.id, (extraNumerators.get(best.rule.id) ?? 0n) + extra);
    }
  }
  const ruleEntry = (rule: EarningRule, points: bigint): EarningEntry => ({
    kind: rule.kind,
    ruleId: rule.id,
    ruleVersion: rule.version,
    points,
    caps: capRefs(rule.caps, "rule", rule.id, at, timeZone),
  });
  for (const rule of categoryRules) {
    const numerator = extraNumerators.get(rule.id) ?? 0n;
    entries.push(ruleEntry(rule, roundPoints(numerator, minorPerUnit * unitBps, rounding)));
  }
  const skuRules = rules
    .filter((rule) => rule.kind === "sku_bonus")
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const rule of skuRules) {
    let quantity = 0n;
    for (const item of purchase.items) {
      if (rule.skus.includes(item.sku)) {
        assert.ok(Number.isSafeInteger(item.quantity) && item.quantity > 0, "a quantity");
        quantity += BigInt(item.quantity);
      }
    }
    entries.push(ruleEntry(rule, quantity * rule.pointsPerUnit));
  }
  for (const campaign of campaigns) {
    const points =
      campaign.bonusPoints !== null
        ? campaign.bonusPoints
        : roundPoints(extraNumerators.get(campaign.id) ?? 0n, minorPerUnit * unitBps, rounding);
    entries.push(ruleEntry(campaign, points));
  }

  // 4. tier: on base and multiplier extras, not on fixed bonuses.
  if (tierBps > unitBps) {
    let multiplied = baseNumerator * unitBps;
    for (const numerator of extraNumerators.values()) {
      multiplied += numerator;
    }
    entries.push({
      kind: "tier",
      ruleId: null,
      ruleVersion: null,
      points: roundPoints(
        multiplied * (tierBps - unitBps),
        minorPerUnit * unitBps * unitBps,
        rounding,
      ),
      caps: [],
    });
  }

  let points = 0n;
  for (const entry of entries) {
    assert.ok(entry.points >= 0n, "an entry is not negative");
    if (entry.points > pointsPerTransferMax) {
      return { kind: "too_large" };
    }
    points += entry.points;
  }
  if (points > pointsPerTransferMax) {
    return { kind: "too_large" };
  }
  return {
    kind: "earned",
    points,
    entries,
    overallCaps: capRefs(org.earningCaps ?? null, "overall", null, at, timeZone),
    breakdown: entries
      .filter((entry) => entry.points > 0n)
      .map((entry) => lineOf(entry, entry.points, undefined)),
    stamps: stampGrants(org.stampPrograms, purchase),
  };
}

function lineOf(
  entry: EarningEntry,
  points: bigint,
  cappedBy: EarningLine["cappedBy"],
): EarningLine {
  const line: EarningLine = { kind: entry.kind, points };
  if (entry.ruleId !== null) {
    line.ruleId = entry.ruleId;
  }
  if (entry.ruleVersion !== null) {
    line.ruleVersion = entry.ruleVersion;
  }
  if (cappedBy !== undefined) {
    line.cappedBy = cappedBy;
  }
  return line;
}

/** The key of a cap: one ledger account per (scope, rule, period). */
export function capKey(ref: CapRef): string {
  return `${ref.scope}:${ref.ruleId ?? "-"}:${ref.periodKey}`;
}

export interface CappedEarning {
  /** One per entry, in the entries' order: what it earns after caps. */
  points: bigint[];
  /** Total after caps. */
  total: bigint;
  /** Entries of 0 left out, except one a cap trimmed to 0. */
  breakdown: EarningLine[];
  /** What the purchase uses of each cap (by `capKey`). */
  used: Map<string, bigint>;
}

/**
 * Trims the entries by their caps: each rule's cap first (its tightest period), then the
 * overall cap, consumed in entry order so that it trims in reverse (tier, campaigns, rules, base
 * last). `left(ref)` is what remains of a cap for this purchase (what the ledger reserved).
 */
export function applyCaps(
  earning: Extract<Earning, { kind: "earned" }>,
  left: (ref: CapRef) => bigint,
): CappedEarning {
  const used = new Map<string, bigint>();
  const points: bigint[] = [];
  const cappedBy: Array<EarningLine["cappedBy"]> = [];
  const overall = earning.overallCaps.map((ref) => ({ ref, left: left(ref) }));
  for (const entry of earning.entries) {
    let amount = entry.points;
    let by: EarningLine["cappedBy"];
    for (const ref of entry.caps) {
      const remaining = left(ref);
      assert.ok(remaining >= 0n, "what is left of a cap is not negative");
      if (remaining < amount) {
        amount = remaining;
        by = { scope: "rule", period: ref.period };
      }
    }
    for (const cap of overall) {
      if (cap.left < amount) {
        amount = cap.left;
        by = { scope: "overall", period: cap.ref.period };
      }
    }
    for (const cap of overall) {
      cap.left -= amount;
    }
    for (const ref of entry.caps) {
      used.set(capKey(ref), (used.get(capKey(ref)) ?? 0n) + amount);
    }
    points.push(amount);
    cappedBy.push(by);
  }
  let total = 0n;
  for (const amount of points) {
    total += amount;
  }
  for (const cap of overall) {
    used.set(capKey(cap.ref), total);
  }
  const breakdown: EarningLine[] = [];
  earning.entries.forEach((entry, index) => {
    const amount = points[index] ?? 0n;
    const by = cappedBy[index];
    if (amount > 0n || by !== undefined) {
      breakdown.push(lineOf(entry, amount, by));
    }
  });
  assert.ok(total <= earning.points, "caps never add points");
  return { points, total, breakdown, used };
}

/** Every cap a purchase touches: its entries' rule caps and the org's overall caps. */
export function capsOf(earning: Extract<Earning, { kind: "earned" }>): CapRef[] {
  const refs = new Map<string, CapRef>();
  for (const entry of earning.entries) {
    for (const ref of entry.caps) {
      refs.set(capKey(ref), ref);
    }
  }
  for (const ref of earning.overallCaps) {
    refs.set(capKey(ref), ref);
  }
  return [...refs.values()];
}

function stampGrants(
  programs: readonly StampProgram[],
  purchase: EarningInput["purchase"],
): StampGrant[] {
  const grants: StampGrant[] = [];
  for (const program of programs) {
    const stamps = stampsFor(program, purchase);
    if (stamps > 0n) {
      grants.push({ programId: program.id, ledger: program.ledger, stamps });
    }
  }
  return grants;
}

/**
 * The stamps one purchase earns in one program. Nothing when the program is inactive, when the
 * purchase's time is outside [activeFrom, activeUntil), when its amount is below the minimum, or
 * when the rule restricts items and none matches. Otherwise `per: "purchase"` earns one stamp and
 * `per: "item"` one per unit of matching items (of every item without a restriction).
 */
export function stampsFor(program: StampProgram, purchase: EarningInput["purchase"]): bigint {
  const { earn: rule } = program;
  const time = purchase.occurredAt.getTime();
  assert.ok(Number.isFinite(time), "a purchase has a time");
  if (!program.active) {
    return 0n;
  }
  if (program.activeFrom !== null && time < program.activeFrom.getTime()) {
    return 0n;
  }
  if (program.activeUntil !== null && time >= program.activeUntil.getTime()) {
    return 0n;
  }
  if (rule.amountMinMinor !== null && purchase.amountMinor < rule.amountMinMinor) {
    return 0n;
  }
  const restricted = rule.categories.length > 0 || rule.skus.length > 0;
  const matches = (item: EarningItem): boolean =>
    !restricted ||
    (item.category !== null && rule.categories.includes(item.category)) ||
    rule.skus.includes(item.sku);
  if (rule.per === "purchase") {
    return !restricted || purchase.items.some(matches) ? 1n : 0n;
  }
  let units = 0n;
  for (const item of purchase.items) {
    assert.ok(Number.isSafeInteger(item.quantity) && item.quantity > 0, "a quantity is positive");
    if (matches(item)) {
      units += BigInt(item.quantity);
    }
  }
  return units;
}
