/**
 * Earning as a table: each row is a purchase, a tier and an org's settings, and what they earn.
 * The function is pure, so these are its whole contract.
 */
import { describe, expect, it } from "vitest";
import type { StampProgram } from "../ledger-types.ts";
import { type EarningItem, earn } from "./earning.ts";

function program(id: string, matchCategory: string | null, active = true): StampProgram {
  return {
    id,
    orgId: "org",
    name: id,
    ledger: 10,
    stampsRequired: 10n,
    rewardPoints: 100n,
    matchCategory,
    active,
    createdAt: new Date(0),
  };
}

const coffee = (quantity: number, amountMinor: bigint | null = null): EarningItem => ({
  sku: "latte",
  category: "coffee",
  quantity,
  amountMinor,
});
const bagel: EarningItem = { sku: "bagel", category: "food", quantity: 3, amountMinor: 450n };

interface Row {
  name: string;
  amountMinor: bigint;
  items?: EarningItem[];
  multiplierBps?: number;
  rate?: number;
  exponent?: number;
  programs?: StampProgram[];
  points: bigint;
  breakdown: Array<{ kind: "base" | "tier"; points: bigint }>;
  stamps?: Array<{ programId: string; stamps: bigint }>;
}

const rows: Row[] = [
  {
    name: "base rate only: 19.99 EUR at 1 point per unit",
    amountMinor: 1_999n,
    points: 19n,
    breakdown: [{ kind: "base", points: 19n }],
  },
  {
    name: "a ×1.25 tier adds its bonus as its own line",
    amountMinor: 1_999n,
    multiplierBps: 12_500,
    points: 24n,
    breakdown: [
      { kind: "base", points: 19n },
      { kind: "tier", points: 5n },
    ],
  },
  {
    name: "a tier below ×1 shows its points as base",
    amountMinor: 10_000n,
    multiplierBps: 5_000,
    points: 50n,
    breakdown: [{ kind: "base", points: 50n }],
  },
  {
    name: "a rate of 0 earns nothing",
    amountMinor: 10_000n,
    rate: 0,
    points: 0n,
    breakdown: [{ kind: "base", points: 0n }],
  },
  {
    name: "a currency without minor units (JPY)",
    amountMinor: 1_500n,
    exponent: 0,
    rate: 2,
    points: 3_000n,
    breakdown: [{ kind: "base", points: 3_000n }],
  },
  {
    name: "line amounts do not change the points (earned on the purchase amount)",
    amountMinor: 1_000n,
    items: [coffee(1, 9_999n), bagel],
    points: 10n,
    breakdown: [{ kind: "base", points: 10n }],
  },
  {
    name: "stamps: one per purchase, one per unit of the category, none when inactive",
    amountMinor: 1_000n,
    items: [coffee(2), bagel, coffee(1)],
    programs: [program("any", null), program("coffee", "coffee"), program("off", null, false)],
    points: 10n,
    breakdown: [{ kind: "base", points: 10n }],
    stamps: [
      { programId: "any", stamps: 1n },
      { programId: "coffee", stamps: 3n },
    ],
  },
  {
    name: "no stamps for a category the basket lacks",
    amountMinor: 1_000n,
    items: [bagel],
    programs: [program("coffee", "coffee")],
    points: 10n,
    breakdown: [{ kind: "base", points: 10n }],
    stamps: [],
  },
];

describe("earn", () => {
  it.each(rows)("$name", (row) => {
    const earning = earn({
      purchase: { amountMinor: row.amountMinor, items: row.items ?? [] },
      tier: { multiplierBps: row.multiplierBps ?? 10_000 },
      org: {
        baseRatePointsPerUnit: row.rate ?? 1,
        currencyExponent: row.exponent ?? 2,
        stampPrograms: row.programs ?? [],
      },
    });
    expect(earning.kind).toBe("earned");
    if (earning.kind !== "earned") {
      return;
    }
    expect(earning.points).toBe(row.points);
    expect(earning.breakdown).toEqual(row.breakdown);
    expect(earning.stamps.map(({ programId, stamps }) => ({ programId, stamps }))).toEqual(
      row.stamps ?? [],
    );
  });

  it("refuses more points than one transfer may carry", () => {
    const earning = earn({
      purchase: { amountMinor: 10n ** 12n, items: [] },
      tier: { multiplierBps: 20_000 },
      org: { baseRatePointsPerUnit: 1_000_000, currencyExponent: 0, stampPrograms: [] },
    });
    expect(earning).toEqual({ kind: "too_large" });
  });
});
