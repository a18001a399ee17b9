import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  dayMs,
  fmScore,
  quintileBoundaries,
  type RfmMetrics,
  RfmMetricsBuilder,
  type Score,
  scoreMetrics,
  segmentOf,
  thresholdBoundaries,
} from "./scoring.ts";

/** A UUIDv7-shaped u128 whose top 48 bits are `ms` (the rest any distinct bits). */
function documentId(ms: number, serial: number): bigint {
  return (BigInt(ms) << 80n) | (7n << 76n) | BigInt(serial);
}

const nowMs = Date.UTC(2026, 11, 7, 12, 0, 0);

describe("segmentOf", () => {
  // Every cell of the table, row by row (R = 5 first), columns FM = 1..5.
  const table: Array<[Score, string[]]> = [
    [5, ["New Customers", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"]],
    [
      4,
      [
        "Promising",
        "Potential Loyalist",
        "Potential Loyalist",
        "Loyal Customers",
        "Loyal Customers",
      ],
    ],
    [
      3,
      ["About To Sleep", "About To Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"],
    ],
    [2, ["Hibernating", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"]],
    [1, ["Lost", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"]],
  ];
  it.each(table)("R = %i", (r, names) => {
    expect([1, 2, 3, 4, 5].map((fm) => segmentOf(r, fm as Score))).toEqual(names);
  });
});

describe("fmScore", () => {
  it.each([
    [1, 1, 1],
    [1, 2, 2],
    [2, 1, 2],
    [2, 3, 3],
    [3, 4, 4],
    [4, 5, 5],
    [5, 5, 5],
    [1, 5, 3],
  ])("F %i, M %i → %i", (f, m, fm) => {
    expect(fmScore(f as Score, m as Score)).toBe(fm);
  });
});

describe("RfmMetricsBuilder", () => {
  it("counts purchases in the window, nets refunds and skips purchases refunded in full", () => {
    const builder = new RfmMetricsBuilder<string>({ nowMs, windowDays: 365 });
    const partly = documentId(nowMs - 3 * dayMs - 1, 1);
    const fully = documentId(nowMs - 1 * dayMs, 2);
    const overRefunded = documentId(nowMs - 1 * dayMs, 3);
    const refundOfOld = documentId(nowMs - 400 * dayMs, 4);
    builder.addRefund(partly, 300n);
    builder.addRefund(fully, 400n);
    builder.addRefund(fully, 600n);
    builder.addRefund(overRefunded, 2_000n);
    builder.addRefund(refundOfOld, 100n);
    builder.addPurchase("a", partly, 1_000n);
    builder.addPurchase("a", fully, 1_000n);
    builder.addPurchase("a", documentId(nowMs - 10 * dayMs, 5), 50n);
    builder.addPurchase("a", refundOfOld, 100n);
    builder.addPurchase("b", overRefunded, 1_000n);
    builder.addPurchase("c", documentId(nowMs - 366 * dayMs, 6), 5_000n);
    const result = builder.result();
    // a: `partly` is the last counted purchase (3 days and 1 ms ago → 3 whole days).
    expect(result.get("a")).toEqual({ recencyDays: 3, frequency: 2, monetaryMinor: 750n });
    // b: refunded in full (and more): not counted, so no counted purchase at all.
    expect(result.has("b")).toBe(false);
    // c: outside the window.
    expect(result.has("c")).toBe(false);
    expect(result.size).toBe(1);
  });

  it("takes a purchase dated ahead of now (till clock skew) as 0 days old", () => {
    const builder = new RfmMetricsBuilder<string>({ nowMs, windowDays: 30 });
    builder.addPurchase("a", documentId(nowMs + 60_000, 1), 10n);
    expect(builder.result().get("a")).toEqual({ recencyDays: 0, frequency: 1, monetaryMinor: 10n });
  });

  it("counts a purchase exactly at the window start, and 24 h as one whole day", () => {
    const builder = new RfmMetricsBuilder<string>({ nowMs, windowDays: 2 });
    builder.addPurchase("a", documentId(nowMs - 2 * dayMs, 1), 10n);
    builder.addPurchase("b", documentId(nowMs - dayMs, 2), 10n);
    builder.addPurchase("c", documentId(nowMs - dayMs + 1, 3), 10n);
    const result = builder.result();
    expect(result.get("a")?.recencyDays).toBe(2);
    expect(result.get("b")?.recencyDays).toBe(1);
    expect(result.get("c")?.recencyDays).toBe(0);
  });

  it("refuses a refund after purchases (purchases are judged once refunds are known)", () => {
    const builder = new RfmMetricsBuilder<string>({ nowMs, windowDays: 30 });
    builder.addPurchase("a", documentId(nowMs, 1), 10n);
    expect(() => builder.addRefund(documentId(nowMs, 1), 10n)).toThrow(/before the first purchase/);
  });
});

/** The ten members of the hand-computed example (README "RFM segments" uses the same rules). */
const population: Record<string, RfmMetrics> = {
  a: { recencyDays: 1, frequency: 9, monetaryMinor: 90_000n },
  b: { recencyDays: 3, frequency: 7, monetaryMinor: 50_000n },
  c: { recencyDays: 10, frequency: 5, monetaryMinor: 70_000n },
  d: { recencyDays: 30, frequency: 4, monetaryMinor: 30_000n },
  e: { recencyDays: 60, frequency: 3, monetaryMinor: 20_000n },
  f: { recencyDays: 90, frequency: 2, monetaryMinor: 10_000n },
  g: { recencyDays: 120, frequency: 1, monetaryMinor: 5_000n },
  h: { recencyDays: 200, frequency: 1, monetaryMinor: 1_000n },
  i: { recencyDays: 300, frequency: 1, monetaryMinor: 3_000n },
  j: { recencyDays: 2, frequency: 6, monetaryMinor: 60_000n },
};

/**
 * By hand, n = 10, score = 1 + floor(5 i / 10) = 1 + floor(i / 2) at the first position i of the
 * value, sorted worst first:
 * R: i 300, h 200 → 1; g 120, f 90 → 2; e 60, d 30 → 3; c 10, b 3 → 4; j 2, a 1 → 5.
 * F: g h i (1, tie at positions 0–2) → 1; f 2 → 2; e 3, d 4 → 3; c 5, j 6 → 4; b 7, a 9 → 5.
 * M: h, i → 1; g, f → 2; e, d → 3; b, j → 4; c, a → 5.
 */
const expected: Record<string, [Score, Score, Score, string]> = {
  a: [5, 5, 5, "Champions"],
  b: [4, 5, 4, "Loyal Customers"],
  c: [4, 4, 5, "Loyal Customers"],
  d: [3, 3, 3, "Need Attention"],
  e: [3, 3, 3, "Need Attention"],
  f: [2, 2, 2, "Hibernating"],
  g: [2, 1, 2, "Hibernating"],
  h: [1, 1, 1, "Lost"],
  i: [1, 1, 1, "Lost"],
  j: [5, 4, 4, "Champions"],
};

describe("quintiles", () => {
  const boundaries = quintileBoundaries(Object.values(population));

  it.each(Object.keys(expected))("member %s scores as computed by hand", (name) => {
    const metrics = population[name] as RfmMetrics;
    const [r, f, m, segment] = expected[name] as [Score, Score, Score, string];
    expect(scoreMetrics(metrics, boundaries)).toEqual({ r, f, m, segment });
  });

  it("has the bounds the hand computation implies", () => {
    expect(boundaries).toEqual({
      // R >= 2 below 200 days (h's value), >= 3 below 90, >= 4 below 30, >= 5 below 3.
      recencyDaysMax: [199, 89, 29, 2],
      // F >= 2 above 1 (the tie), >= 3 above 2, >= 4 above 4, >= 5 above 6.
      frequencyMin: [2, 3, 5, 7],
      monetaryMinorMin: [3_001n, 10_001n, 30_001n, 60_001n],
    });
  });

  it("re-scores a new value against the same bounds without moving anyone", () => {
    expect(scoreMetrics({ recencyDays: 0, frequency: 1, monetaryMinor: 100n }, boundaries)).toEqual(
      { r: 5, f: 1, m: 1, segment: "New Customers" },
    );
  });

  it("scores a single member 1 everywhere, as the formula says (i = 0)", () => {
    const single = { recencyDays: 0, frequency: 50, monetaryMinor: 10n ** 9n };
    expect(scoreMetrics(single, quintileBoundaries([single]))).toEqual({
      r: 1,
      f: 1,
      m: 1,
      segment: "Lost",
    });
  });

  it("matches the formula on any population (ties share the lower score)", () => {
    const metricsArbitrary = fc.record({
      recencyDays: fc.integer({ min: 0, max: 40 }),
      frequency: fc.integer({ min: 1, max: 12 }),
      monetaryMinor: fc.bigInt({ min: -50n, max: 500n }),
    });
    fc.assert(
      fc.property(fc.array(metricsArbitrary, { minLength: 1, maxLength: 60 }), (members) => {
        const bounds = quintileBoundaries(members);
        const n = members.length;
        const formula = <T>(values: T[], worse: (a: T, b: T) => boolean, value: T): number => {
          const sorted = [...values].sort((a, b) => (worse(a, b) ? -1 : worse(b, a) ? 1 : 0));
          const first = sorted.findIndex((other) => !worse(other, value));
          return 1 + Math.floor((5 * first) / n);
        };
        for (const member of members) {
          const scores = scoreMetrics(member, bounds);
          const days = members.map((other) => other.recencyDays);
          const counts = members.map((other) => other.frequency);
          const money = members.map((other) => other.monetaryMinor);
          expect(scores.r).toBe(formula(days, (a, b) => a > b, member.recencyDays));
          expect(scores.f).toBe(formula(counts, (a, b) => a < b, member.frequency));
          expect(scores.m).toBe(formula(money, (a, b) => a < b, member.monetaryMinor));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("thresholds", () => {
  const boundaries = thresholdBoundaries({
    recencyDays: [7, 30, 90, 180],
    frequency: [2, 4, 8, 16],
    monetaryMinor: ["1000", "5000", "20000", "100000"],
  });

  it.each([
    // [days, purchases, spend] → [R, F, M, segment]
    [
      [0, 1, 999n],
      [5, 1, 1, "New Customers"],
    ],
    [
      [7, 2, 1_000n],
      [5, 2, 2, "Potential Loyalist"],
    ],
    [
      [8, 16, 100_000n],
      [4, 5, 5, "Loyal Customers"],
    ],
    [
      [30, 8, 20_000n],
      [4, 4, 4, "Loyal Customers"],
    ],
    [
      [31, 4, 5_000n],
      [3, 3, 3, "Need Attention"],
    ],
    [
      [90, 3, 4_999n],
      [3, 2, 2, "About To Sleep"],
    ],
    [
      [91, 16, 250_000n],
      [2, 5, 5, "Cannot Lose Them"],
    ],
    [
      [180, 8, 1_000n],
      [2, 4, 2, "At Risk"],
    ],
    [
      [181, 1, 0n],
      [1, 1, 1, "Lost"],
    ],
    [
      [365, 20, 999_999n],
      [1, 5, 5, "Cannot Lose Them"],
    ],
  ] as const)("case %#", ([recencyDays, frequency, monetaryMinor], [r, f, m, segment]) => {
    expect(scoreMetrics({ recencyDays, frequency, monetaryMinor }, boundaries)).toEqual({
      r,
      f,
      m,
      segment,
    });
  });
});
