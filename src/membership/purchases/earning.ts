/**
 * What a purchase earns, as a pure function: the purchase, the member's tier and the org's
 * settings and stamp programs in; points and stamps with a breakdown out. No I/O, no clock: the
 * same inputs always earn the same, which is what lets recovery and retries post exactly what the
 * first attempt computed. Earning rules, campaigns and caps add their lines to the breakdown here.
 */
import assert from "node:assert/strict";
import { pointsForPurchase, pointsPerTransferMax } from "../../ledger/index.ts";
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
  };
  /** The member's tier: its multiplier in basis points (10,000 = ×1). */
  tier: { multiplierBps: number };
  org: {
    /** Points per whole currency unit, before the tier multiplier. */
    baseRatePointsPerUnit: number;
    /** Minor-unit digits of the org's currency (2 for EUR). */
    currencyExponent: number;
    /** The org's programs; only active ones grant stamps, within their window. */
    stampPrograms: readonly StampProgram[];
  };
}

/** One line of what was earned: the base rate, the tier's bonus, and later rules and campaigns. */
export interface EarningLine {
  kind: "base" | "tier";
  points: bigint;
}

export interface StampGrant {
  programId: string;
  /** The program's ledger, where the stamps are posted. */
  ledger: number;
  stamps: bigint;
}

export type Earning =
  | { kind: "earned"; points: bigint; breakdown: EarningLine[]; stamps: StampGrant[] }
  /** More points than one transfer may carry: the caller's to fix (smaller purchases). */
  | { kind: "too_large" };

/**
 * Points: floor(amount × rate × multiplier), on the purchase amount (discounts and tenders make
 * line sums an unreliable basis), split into the base rate's share and the tier's bonus. Stamps:
 * per program, as its earn rule says (`stampsFor`).
 *
 * @example
 * earn({ purchase: { amountMinor: 1999n, items: [], occurredAt }, tier: { multiplierBps: 12_500 },
 *   org: { baseRatePointsPerUnit: 1, currencyExponent: 2, stampPrograms: [] } })
 * // { kind: "earned", points: 24n, breakdown: [{ kind: "base", points: 19n },
 * //   { kind: "tier", points: 5n }], stamps: [] }
 */
export function earn(input: EarningInput): Earning {
  const { purchase, tier, org } = input;
  assert.ok(purchase.amountMinor > 0n, "a purchase amount is positive");
  assert.ok(Number.isSafeInteger(tier.multiplierBps) && tier.multiplierBps > 0, "multiplier");
  assert.ok(Number.isSafeInteger(org.baseRatePointsPerUnit) && org.baseRatePointsPerUnit >= 0);
  const multiplierBps = BigInt(tier.multiplierBps);
  const rate = BigInt(org.baseRatePointsPerUnit);
  const denominator = 10n ** BigInt(org.currencyExponent) * 10_000n;
  if (purchase.amountMinor * rate * multiplierBps >= (pointsPerTransferMax + 1n) * denominator) {
    return { kind: "too_large" };
  }
  const of = (bps: bigint): bigint =>
    pointsForPurchase({
      amountMinor: purchase.amountMinor,
      currencyExponent: org.currencyExponent,
      basePointsPerUnit: rate,
      multiplierBps: bps,
    });
  const points = of(multiplierBps);
  // The base share at ×1; a tier multiplying by less than 1 shows all its points as base.
  const base = multiplierBps > 10_000n ? of(10_000n) : points;
  const breakdown: EarningLine[] = [{ kind: "base", points: base }];
  if (points !== base) {
    breakdown.push({ kind: "tier", points: points - base });
  }
  assert.equal(
    breakdown.reduce((sum, line) => sum + line.points, 0n),
    points,
    "the breakdown adds up to the points earned",
  );
  return { kind: "earned", points, breakdown, stamps: stampGrants(org.stampPrograms, purchase) };
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
