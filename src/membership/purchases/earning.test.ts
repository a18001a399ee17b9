/**
 * Earning as a table: each row is a purchase, a tier and an org's settings, and what they earn.
 * The function is pure, so these are its whole contract.
 */
import { describe, expect, it } from "vitest";
import type { StampEarnRule, StampProgram } from "../ledger-types.ts";
import { type EarningItem, earn, stampsFor } from "./earning.ts";

function program(
  id: string,
  earn: Partial<StampEarnRule> = {},
  options: { active?: boolean; activeFrom?: Date; activeUntil?: Date } = {},
): StampProgram {
  return {
    id,
    orgId: "org",
    name: id,
    ledger: 10,
    stampsRequired: 10n,
    rewardPoints: 100n,
    earn: { per: "purchase", amountMinMinor: null, categories: [], skus: [], ...earn },
    activeFrom: options.activeFrom ?? null,
    activeUntil: options.activeUntil ?? null,
    active: options.active ?? true,
    createdAt: new Date(0),
    updatedAt: new Date(0),
  };
}

/** A per-item program counting the coffee category, as programs made before earn rules do. */
const coffeeCard = (id = "coffee"): StampProgram =>
  program(id, { per: "item", categories: ["coffee"] });
const purchaseTime = new Date("2026-06-15T12:00:00.000Z");

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
    name: "a ×1.25 tier adds its bonus as its own line, each entry rounded down once",
    amountMinor: 1_999n,
    multiplierBps: 12_500,
    // base 19.99 → 19, tier 19.99 × 0.25 = 4.9975 → 4
    points: 23n,
    breakdown: [
      { kind: "base", points: 19n },
      { kind: "tier", points: 4n },
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
    // Entries of 0 are left out of the breakdown (the base transfer is still posted).
    breakdown: [],
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
    name: "line amounts do not change the base (earned on the purchase amount)",
    amountMinor: 1_000n,
    items: [coffee(1, 499n), bagel],
    points: 10n,
    breakdown: [{ kind: "base", points: 10n }],
  },
  {
    name: "stamps: one per purchase, one per unit of the category, none when inactive",
    amountMinor: 1_000n,
    items: [coffee(2), bagel, coffee(1)],
    programs: [program("any"), coffeeCard(), program("off", {}, { active: false })],
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
    programs: [coffeeCard()],
    points: 10n,
    breakdown: [{ kind: "base", points: 10n }],
    stamps: [],
  },
];

interface StampRow {
  name: string;
  program: StampProgram;
  amountMinor?: bigint;
  items?: EarningItem[];
  occurredAt?: Date;
  stamps: bigint;
}

const latte = (quantity: number): EarningItem => ({
  sku: "latte",
  category: "coffee",
  quantity,
  amountMinor: null,
});
const muffin: EarningItem = { sku: "muffin", category: "pastry", quantity: 2, amountMinor: null };
const juice: EarningItem = { sku: "juice", category: null, quantity: 4, amountMinor: null };

const stampRows: StampRow[] = [
  { name: "per purchase, no restriction: one", program: program("p"), stamps: 1n },
  {
    name: "per purchase, no restriction, no items: one",
    program: program("p"),
    items: [],
    stamps: 1n,
  },
  {
    name: "per purchase with a matching category: still one",
    program: program("p", { categories: ["coffee"] }),
    items: [latte(5), muffin],
    stamps: 1n,
  },
  {
    name: "per purchase without a matching item: none",
    program: program("p", { categories: ["tea"], skus: ["scone"] }),
    items: [latte(5), muffin],
    stamps: 0n,
  },
  {
    name: "per item, no restriction: every unit",
    program: program("p", { per: "item" }),
    items: [latte(2), muffin, juice],
    stamps: 8n,
  },
  {
    name: "per item, no items: none",
    program: program("p", { per: "item" }),
    items: [],
    stamps: 0n,
  },
  {
    name: "per item: units of the categories",
    program: program("p", { per: "item", categories: ["coffee", "pastry"] }),
    items: [latte(2), muffin, juice],
    stamps: 4n,
  },
  {
    name: "per item: a sku matches an item without a category",
    program: program("p", { per: "item", skus: ["juice"] }),
    items: [latte(2), muffin, juice],
    stamps: 4n,
  },
  {
    name: "per item: categories and skus add up, an item counted once",
    program: program("p", { per: "item", categories: ["coffee"], skus: ["latte", "muffin"] }),
    items: [latte(2), muffin, juice],
    stamps: 4n,
  },
  {
    name: "minimum amount reached: earns",
    program: program("p", { amountMinMinor: 1_000n }),
    amountMinor: 1_000n,
    stamps: 1n,
  },
  {
    name: "minimum amount missed by one: none",
    program: program("p", { per: "item", amountMinMinor: 1_000n }),
    amountMinor: 999n,
    items: [latte(3)],
    stamps: 0n,
  },
  {
    name: "window: the first instant earns",
    program: program("p", {}, { activeFrom: purchaseTime }),
    stamps: 1n,
  },
  {
    name: "window: before it opens, none",
    program: program("p", {}, { activeFrom: new Date(purchaseTime.getTime() + 1) }),
    stamps: 0n,
  },
  {
    name: "window: the end is excluded",
    program: program("p", {}, { activeUntil: purchaseTime }),
    stamps: 0n,
  },
  {
    name: "window: a back-dated purchase inside a window that has since closed earns",
    program: program(
      "p",
      {},
      {
        activeFrom: new Date("2026-06-01T00:00:00Z"),
        activeUntil: new Date("2026-07-01T00:00:00Z"),
      },
    ),
    occurredAt: new Date("2026-06-30T23:59:59Z"),
    stamps: 1n,
  },
  {
    name: "inactive: none, whatever the rule",
    program: program("p", { per: "item" }, { active: false }),
    items: [latte(3)],
    stamps: 0n,
  },
];

describe("earn", () => {
  it.each(rows)("$name", (row) => {
    const earning = earn({
      purchase: { amountMinor: row.amountMinor, items: row.items ?? [], occurredAt: purchaseTime },
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
      purchase: { amountMinor: 10n ** 12n, items: [], occurredAt: purchaseTime },
      tier: { multiplierBps: 20_000 },
      org: { baseRatePointsPerUnit: 1_000_000, currencyExponent: 0, stampPrograms: [] },
    });
    expect(earning).toEqual({ kind: "too_large" });
  });
});

describe("stampsFor", () => {
  it.each(stampRows)("$name", (row) => {
    const purchase = {
      amountMinor: row.amountMinor ?? 1_000n,
      items: row.items ?? [latte(1)],
      occurredAt: row.occurredAt ?? purchaseTime,
    };
    expect(stampsFor(row.program, purchase)).toBe(row.stamps);
  });
});
