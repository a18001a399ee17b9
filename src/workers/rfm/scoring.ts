/**
 * RFM scoring as pure functions: per-member metrics from an org's purchase and refund transfers,
 * the boundaries of a scoring run (quintiles of the population, or an org's fixed thresholds),
 * scores 1–5 against those boundaries, and the segment of (R, FM).
 *
 * Everything here is integer arithmetic: days and counts are safe integers, money is bigint minor
 * units. Time is the purchase document's time (the UUIDv7 in `user_data_128`), never the ledger's
 * posting time, so late-arriving purchases count on the day they happened.
 */
import assert from "node:assert/strict";
import { documentTimeMs } from "../../ledger/index.ts";
import type { RfmBoundariesStored, RfmSegmentName } from "../../membership/index.ts";

export const dayMs = 86_400_000;

/** A score: 1 (worst) to 5 (best). */
export type Score = 1 | 2 | 3 | 4 | 5;

export type SegmentName = RfmSegmentName;

/**
 * Segment by R (rows, 5 first) and FM (columns 1..5), exactly the table of README "RFM segments".
 */
// biome-ignore format: one row of the table per line
export const segmentTable: Readonly<Record<Score, readonly SegmentName[]>> = {
  5: ["New Customers",  "Potential Loyalist", "Potential Loyalist", "Champions",       "Champions"],
  4: ["Promising",      "Potential Loyalist", "Potential Loyalist", "Loyal Customers", "Loyal Customers"],
  3: ["About To Sleep", "About To Sleep",     "Need Attention",     "Loyal Customers", "Loyal Customers"],
  2: ["Hibernating",    "Hibernating",        "At Risk",            "At Risk",         "Cannot Lose Them"],
  1: ["Lost",           "Hibernating",        "At Risk",            "At Risk",         "Cannot Lose Them"],
};

export function isScore(value: number): value is Score {
  return Number.isInteger(value) && value >= 1 && value <= 5;
}

/** FM = floor((F + M + 1) / 2): the mean of F and M, rounded half up. */
export function fmScore(f: Score, m: Score): Score {
  const fm = Math.floor((f + m + 1) / 2);
  assert.ok(isScore(fm), "FM is a score");
  return fm;
}

export function segmentOf(r: Score, fm: Score): SegmentName {
  const name = segmentTable[r][fm - 1];
  assert.ok(name !== undefined, "the table has a cell for every (R, FM)");
  return name;
}

/** What one member's counted purchases in the window add up to. */
export interface RfmMetrics {
  /** Whole days (floor of elapsed 24 h periods) since the last counted purchase; >= 0. */
  recencyDays: number;
  /** Purchases in the window, those refunded in full not counted; >= 1. */
  frequency: number;
  /** Net spend in the window, minor units: purchases minus their refunds. */
  monetaryMinor: bigint;
}

interface MemberAccumulator {
  lastCountedMs: number;
  frequency: number;
  monetaryMinor: bigint;
}

/**
 * Folds an org's transfers into per-member metrics. Refunds first (all of them), then purchases:
 * a refund names its purchase, and whether that purchase counts in F depends on the sum of its
 * refunds, so purchases are judged only once every refund is known (asserted).
 *
 * `member` is whatever key the caller groups by (the wallet account id in a ledger scan).
 *
 * @example
 * const metrics = new RfmMetricsBuilder({ nowMs, windowDays: 365 });
 * metrics.addRefund(purchaseDocumentId, 500n);
 * metrics.addPurchase(walletId, purchaseDocumentId, 1_999n);
 * metrics.result(); // Map walletId → { recencyDays, frequency, monetaryMinor }
 */
export class RfmMetricsBuilder<K> {
  readonly #nowMs: number;
  readonly #windowStartMs: number;
  /** Refunded minor units per purchase document id. */
  readonly #refundedMinor = new Map<bigint, bigint>();
  readonly #members = new Map<K, MemberAccumulator>();
  #purchasesSeen = false;

  constructor(args: { nowMs: number; windowDays: number }) {
    assert.ok(Number.isSafeInteger(args.nowMs) && args.nowMs > 0, "now is a time in ms");
    assert.ok(Number.isSafeInteger(args.windowDays) && args.windowDays >= 1, "window in days");
    this.#nowMs = args.nowMs;
    this.#windowStartMs = args.nowMs - args.windowDays * dayMs;
  }

  /** The earliest document time counted: purchases that happened before it are outside. */
  get windowStartMs(): number {
    return this.#windowStartMs;
  }

  addRefund(purchaseDocumentId: bigint, refundedMinor: bigint): void {
    assert.ok(!this.#purchasesSeen, "every refund is added before the first purchase");
    assert.ok(refundedMinor >= 0n, "a refund is not negative");
    const before = this.#refundedMinor.get(purchaseDocumentId) ?? 0n;
    this.#refundedMinor.set(purchaseDocumentId, before + refundedMinor);
  }

  /** Runs once per purchase of the window (a million in a rebuild): kept to the essentials. */
  addPurchase(member: K, documentId: bigint, spendMinor: bigint): void {
    this.#purchasesSeen = true;
    const documentMs = documentTimeMs(documentId);
    if (documentMs < this.#windowStartMs) {
      return;
    }
    // Few purchases are refunded: most skip the lookup and the subtraction.
    const refunded =
      this.#refundedMinor.size === 0 ? 0n : (this.#refundedMinor.get(documentId) ?? 0n);
    const counted = refunded < spendMinor;
    let state = this.#members.get(member);
    if (state === undefined) {
      state = { lastCountedMs: -1, frequency: 0, monetaryMinor: 0n };
      this.#members.set(member, state);
    }
    // user_data_64 is unsigned: spend is never negative, so only the refund can lower it.
    state.monetaryMinor += refunded === 0n ? spendMinor : spendMinor - refunded;
    if (counted) {
      state.frequency += 1;
      if (documentMs > state.lastCountedMs) {
        state.lastCountedMs = documentMs;
      }
    }
  }

  /** Metrics of every member with at least one counted purchase; others are segment `none`. */
  result(): Map<K, RfmMetrics> {
    const metrics = new Map<K, RfmMetrics>();
    for (const [member, state] of this.#members) {
      if (state.frequency === 0) {
        continue;
      }
      assert.ok(state.lastCountedMs >= this.#windowStartMs, "a counted purchase is in the window");
      // A till's clock may run ahead (bounded skew): a purchase "in the future" is 0 days old.
      const elapsedMs = Math.max(0, this.#nowMs - state.lastCountedMs);
      metrics.set(member, {
        recencyDays: Math.floor(elapsedMs / dayMs),
        frequency: state.frequency,
        monetaryMinor: state.monetaryMinor,
      });
    }
    return metrics;
  }
}

/**
 * The boundaries one run scores against, per dimension, as inclusive bounds for scores 2..5
 * (index 0 is score 2). A member scores the highest k whose bound it meets, else 1; `null`: no
 * member can reach that score. Stored with each rebuild, so a single member can be re-scored
 * between rebuilds against the same population.
 */
export interface RfmBoundaries {
  /** R >= k when recency_days <= recencyDaysMax[k - 2]. */
  recencyDaysMax: ReadonlyArray<number | null>;
  /** F >= k when frequency >= frequencyMin[k - 2]. */
  frequencyMin: ReadonlyArray<number | null>;
  /** M >= k when monetary >= monetaryMinorMin[k - 2]. */
  monetaryMinorMin: ReadonlyArray<bigint | null>;
}

const boundsPerDimension = 4;

/**
 * Position (0-based) of the first member that scores >= k, for k = 2..5, in a population of n
 * sorted worst first: score = 1 + floor(5 i / n) >= k  ⇔  i >= ceil((k - 1) n / 5).
 */
function quintileStarts(n: number): number[] {
  assert.ok(Number.isSafeInteger(n) && n >= 1, "a population has members");
  const starts: number[] = [];
  for (let k = 2; k <= 5; k++) {
    starts.push(Math.ceil(((k - 1) * n) / 5));
  }
  return starts;
}

/**
 * Quintile boundaries of a population (the members with at least one counted purchase).
 *
 * A member's score is 1 + floor(5 i / n), where i is the position of the first member holding
 * its value, sorted worst first: ties share the lower score. Score >= k therefore holds exactly
 * when the member at position ceil((k - 1) n / 5) - 1 is strictly worse, which on integers is an
 * inclusive bound one step better than that member's value. An empty population has no bounds.
 */
export function quintileBoundaries(population: readonly RfmMetrics[]): RfmBoundaries {
  const n = population.length;
  if (n === 0) {
    const none = new Array<null>(boundsPerDimension).fill(null);
    return { recencyDaysMax: none, frequencyMin: none, monetaryMinorMin: none };
  }
  // Worst first: most days since the last purchase, fewest purchases, least spend.
  const recency = Float64Array.from(population, (metrics) => metrics.recencyDays).sort();
  recency.reverse();
  const frequency = Float64Array.from(population, (metrics) => metrics.frequency).sort();
  const monetary = population.map((metrics) => metrics.monetaryMinor);
  monetary.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const starts = quintileStarts(n);
  const boundaries: RfmBoundaries = {
    recencyDaysMax: starts.map((start) => (recency[start - 1] as number) - 1),
    frequencyMin: starts.map((start) => (frequency[start - 1] as number) + 1),
    monetaryMinorMin: starts.map((start) => (monetary[start - 1] as bigint) + 1n),
  };
  assertBoundaries(boundaries);
  return boundaries;
}

/** An org's fixed thresholds (settings `rfm.thresholds`), each four values ascending. */
export interface RfmThresholds {
  /** Days: R = 5 up to the first, 4 up to the second, 3 up to the third, 2 up to the fourth. */
  recencyDays: readonly number[];
  /** Purchases: F = 2 from the first, 3 from the second, 4 from the third, 5 from the fourth. */
  frequency: readonly number[];
  /** Minor units as decimal strings: M = 2 from the first ... 5 from the fourth. */
  monetaryMinor: readonly string[];
}

export function thresholdBoundaries(thresholds: RfmThresholds): RfmBoundaries {
  assert.equal(thresholds.recencyDays.length, boundsPerDimension, "four recency thresholds");
  assert.equal(thresholds.frequency.length, boundsPerDimension, "four frequency thresholds");
  assert.equal(thresholds.monetaryMinor.length, boundsPerDimension, "four monetary thresholds");
  const boundaries: RfmBoundaries = {
    // Score 2 needs the loosest (largest) day count, score 5 the tightest.
    recencyDaysMax: [...thresholds.recencyDays].reverse(),
    frequencyMin: [...thresholds.frequency],
    monetaryMinorMin: thresholds.monetaryMinor.map((text) => {
      assert.ok(/^-?[0-9]+$/.test(text), "monetary thresholds are integers");
      return BigInt(text);
    }),
  };
  assertBoundaries(boundaries);
  return boundaries;
}

/** Bounds tighten as the score rises, and once a score is unreachable so are those above it. */
export function assertBoundaries(boundaries: RfmBoundaries): void {
  const dimensions = [
    { bounds: boundaries.recencyDaysMax, better: (a: number, b: number) => a <= b },
    { bounds: boundaries.frequencyMin, better: (a: number, b: number) => a >= b },
  ];
  for (const { bounds, better } of dimensions) {
    assert.equal(bounds.length, boundsPerDimension, "four bounds per dimension");
    for (let index = 1; index < bounds.length; index++) {
      const previous = bounds[index - 1];
      const current = bounds[index];
      if (previous === null) {
        assert.equal(current, null, "unreachable scores stay unreachable");
      } else if (current !== null && current !== undefined) {
        assert.ok(previous !== undefined && better(current, previous), "bounds tighten");
      }
    }
  }
  const money = boundaries.monetaryMinorMin;
  assert.equal(money.length, boundsPerDimension, "four monetary bounds");
  for (let index = 1; index < money.length; index++) {
    const previous = money[index - 1];
    const current = money[index];
    if (previous === null) {
      assert.equal(current, null, "unreachable scores stay unreachable");
    } else if (current !== null && current !== undefined) {
      assert.ok(previous !== undefined && current >= previous, "monetary bounds tighten");
    }
  }
}

function scoreBy<T>(bounds: ReadonlyArray<T | null>, meets: (bound: T) => boolean): Score {
  let score: Score = 1;
  for (let index = 0; index < bounds.length; index++) {
    const bound = bounds[index];
    if (bound === null || bound === undefined || !meets(bound)) {
      break;
    }
    score = (index + 2) as Score;
  }
  return score;
}

export interface RfmScores {
  r: Score;
  f: Score;
  m: Score;
  segment: SegmentName;
}

export function scoreMetrics(metrics: RfmMetrics, boundaries: RfmBoundaries): RfmScores {
  assert.ok(metrics.frequency >= 1, "only members with a counted purchase are scored");
  assert.ok(metrics.recencyDays >= 0, "recency is not negative");
  const r = scoreBy(boundaries.recencyDaysMax, (bound) => metrics.recencyDays <= bound);
  const f = scoreBy(boundaries.frequencyMin, (bound) => metrics.frequency >= bound);
  const m = scoreBy(boundaries.monetaryMinorMin, (bound) => metrics.monetaryMinor >= bound);
  return { r, f, m, segment: segmentOf(r, fmScore(f, m)) };
}

export function storedBoundaries(boundaries: RfmBoundaries): RfmBoundariesStored {
  return {
    recency_days_max: [...boundaries.recencyDaysMax],
    frequency_min: [...boundaries.frequencyMin],
    monetary_minor_min: boundaries.monetaryMinorMin.map((bound) =>
      bound === null ? null : bound.toString(),
    ),
  };
}

export function boundariesFromStored(stored: RfmBoundariesStored): RfmBoundaries {
  const boundaries: RfmBoundaries = {
    recencyDaysMax: [...stored.recency_days_max],
    frequencyMin: [...stored.frequency_min],
    monetaryMinorMin: stored.monetary_minor_min.map((bound) => {
      assert.ok(bound === null || /^-?[0-9]+$/.test(bound), "stored amounts are integers");
      return bound === null ? null : BigInt(bound);
    }),
  };
  assertBoundaries(boundaries);
  return boundaries;
}
