/**
 * The evaluation order of earning rules, campaigns, the tier and caps, as a program manager reads
 * it in README: each row is a purchase and a program, and what it earns, entry by entry.
 */
import { describe, expect, it } from "vitest";
import type { CampaignRule, EarningRule, PeriodCaps } from "../earning-rules/types.ts";
import { applyCaps, type CapRef, type EarningInput, type EarningItem, earn } from "./earning.ts";

const noCaps = null;
const at = new Date("2026-06-15T12:00:00.000Z"); // a Monday

function rule<K extends EarningRule["kind"]>(
  kind: K,
  fields: Omit<
    Extract<EarningRule, { kind: K }>,
    "kind" | "id" | "version" | "name" | "active" | "priority" | "stackable" | "caps"
  > &
    Partial<Pick<EarningRule, "id" | "version" | "priority" | "stackable" | "caps" | "active">>,
): EarningRule {
  return {
    id: fields.id ?? `${kind}-rule`,
    version: fields.version ?? 1,
    name: kind,
    active: fields.active ?? true,
    priority: fields.priority ?? 0,
    stackable: fields.stackable ?? false,
    caps: fields.caps ?? noCaps,
    kind,
    ...fields,
  } as unknown as EarningRule;
}

function campaign(fields: Partial<CampaignRule> & { id: string }): CampaignRule {
  return {
    version: 1,
    name: fields.id,
    active: true,
    priority: 0,
    stackable: false,
    caps: null,
    kind: "campaign",
    startsAt: new Date("2026-01-01T00:00:00Z"),
    endsAt: new Date("2027-01-01T00:00:00Z"),
    daysOfWeek: null,
    tierIds: null,
    locations: null,
    categories: null,
    minSpendMinor: null,
    multiplierBps: null,
    bonusPoints: null,
    benefitIds: [],
    ...fields,
  };
}

const coffee: EarningItem = { sku: "latte", category: "coffee", quantity: 2, amountMinor: 600n };
const food: EarningItem = { sku: "bagel", category: "food", quantity: 1, amountMinor: 400n };

function input(
  rules: EarningRule[],
  options: {
    amountMinor?: bigint;
    items?: EarningItem[];
    tierBps?: number;
    tierId?: string;
    occurredAt?: Date;
    timezone?: string;
    earningCaps?: PeriodCaps | null;
    locationRef?: string | null;
  } = {},
): EarningInput {
  return {
    purchase: {
      amountMinor: options.amountMinor ?? 1_000n,
      items: options.items ?? [coffee, food],
      occurredAt: options.occurredAt ?? at,
      locationRef: options.locationRef ?? null,
    },
    tier: { id: options.tierId ?? "bronze", multiplierBps: options.tierBps ?? 10_000 },
    org: {
      baseRatePointsPerUnit: 1,
      currencyExponent: 2,
      stampPrograms: [],
      rules,
      timezone: options.timezone ?? "UTC",
      earningCaps: options.earningCaps ?? null,
    },
  };
}

function earned(value: ReturnType<typeof earn>) {
  if (value.kind !== "earned") {
    throw new Error("expected earned");
  }
  return value;
}

const lines = (value: ReturnType<typeof earn>) =>
  earned(value).breakdown.map((line) => [line.kind, line.ruleId ?? null, line.points]);

describe("earning rules", () => {
  it("3× on coffee: 6.00 of coffee and 4.00 of food at 1 point per unit earn 10 base + 12 extra", () => {
    const triple = rule("category_multiplier", { categories: ["coffee"], multiplierBps: 30_000 });
    const result = earned(earn(input([triple])));
    expect(result.points).toBe(22n);
    expect(lines(result)).toEqual([
      ["base", null, 10n],
      ["category_multiplier", "category_multiplier-rule", 12n],
    ]);
  });

  it("among multipliers matching one line only the highest earns", () => {
    const double = rule("category_multiplier", {
      id: "a",
      categories: ["coffee"],
      multiplierBps: 20_000,
    });
    const triple = rule("category_multiplier", {
      id: "b",
      categories: ["coffee", "food"],
      multiplierBps: 30_000,
    });
    const result = earned(earn(input([double, triple])));
    // coffee and food both go to ×3: (6 + 4) × 2 = 20; the ×2 rule earns nothing and is left out.
    expect(lines(result)).toEqual([
      ["base", null, 10n],
      ["category_multiplier", "b", 20n],
    ]);
  });

  it("sku bonus: quantity × points per unit", () => {
    const bonus = rule("sku_bonus", { skus: ["latte"], pointsPerUnit: 5n });
    expect(lines(earn(input([bonus])))).toEqual([
      ["base", null, 10n],
      ["sku_bonus", "sku_bonus-rule", 10n],
    ]);
  });

  it("the tier multiplies base and multiplier extras, not fixed bonuses", () => {
    const triple = rule("category_multiplier", { categories: ["coffee"], multiplierBps: 30_000 });
    const bonus = campaign({ id: "bonus", bonusPoints: 50n });
    const result = earned(earn(input([triple, bonus], { tierBps: 15_000 })));
    // tier: (10 + 12) × 0.5 = 11
    expect(lines(result)).toEqual([
      ["base", null, 10n],
      ["category_multiplier", "category_multiplier-rule", 12n],
      ["campaign", "bonus", 50n],
      ["tier", null, 11n],
    ]);
    expect(result.points).toBe(83n);
  });

  it("two stackable campaigns apply together; a non-stackable one alone, and stops the rest", () => {
    const a = campaign({ id: "a", priority: 5, stackable: true, bonusPoints: 10n });
    const b = campaign({ id: "b", priority: 3, stackable: true, bonusPoints: 20n });
    expect(lines(earn(input([a, b])))).toEqual([
      ["base", null, 10n],
      ["campaign", "a", 10n],
      ["campaign", "b", 20n],
    ]);
    // A higher-priority non-stackable campaign wins alone.
    const top = campaign({ id: "top", priority: 9, stackable: false, bonusPoints: 100n });
    expect(lines(earn(input([a, b, top])))).toEqual([
      ["base", null, 10n],
      ["campaign", "top", 100n],
    ]);
    // A non-stackable one after a stackable one already applied does not apply.
    const low = campaign({ id: "low", priority: 1, stackable: false, bonusPoints: 100n });
    expect(lines(earn(input([a, low])))).toEqual([
      ["base", null, 10n],
      ["campaign", "a", 10n],
    ]);
  });

  it("a campaign ending at midnight in the org's timezone: 23:59:59 earns, 00:00:00 does not", () => {
    // Midnight of 2026-06-16 in Paris (UTC+2 in summer) is 22:00 UTC on the 15th.
    const weekend = campaign({
      id: "until-midnight",
      startsAt: new Date("2026-06-01T00:00:00+02:00"),
      endsAt: new Date("2026-06-16T00:00:00+02:00"),
      multiplierBps: 20_000,
    });
    const before = earn(
      input([weekend], {
        occurredAt: new Date("2026-06-15T23:59:59+02:00"),
        timezone: "Europe/Paris",
      }),
    );
    const after = earn(
      input([weekend], {
        occurredAt: new Date("2026-06-16T00:00:00+02:00"),
        timezone: "Europe/Paris",
      }),
    );
    expect(earned(before).points).toBe(20n);
    expect(earned(after).points).toBe(10n);
  });

  it("days of the week are the org's local days", () => {
    // Saturday 00:30 in Paris is still Friday 22:30 UTC.
    const saturday = campaign({ id: "sat", daysOfWeek: [6], bonusPoints: 7n });
    const fridayUtc = new Date("2026-06-19T22:30:00Z");
    expect(
      earned(earn(input([saturday], { occurredAt: fridayUtc, timezone: "Europe/Paris" }))).points,
    ).toBe(17n);
    expect(earned(earn(input([saturday], { occurredAt: fridayUtc, timezone: "UTC" }))).points).toBe(
      10n,
    );
  });

  it("campaign conditions: tier, location, minimum spend, categories", () => {
    const gold = campaign({ id: "gold", tierIds: ["gold"], bonusPoints: 5n, stackable: true });
    const shop = campaign({ id: "shop", locations: ["paris-1"], bonusPoints: 6n, stackable: true });
    const big = campaign({ id: "big", minSpendMinor: 5_000n, bonusPoints: 7n, stackable: true });
    const tea = campaign({ id: "tea", categories: ["tea"], bonusPoints: 8n, stackable: true });
    const rules = [gold, shop, big, tea];
    expect(earned(earn(input(rules))).points).toBe(10n);
    expect(earned(earn(input(rules, { tierId: "gold", locationRef: "paris-1" }))).points).toBe(21n);
  });

  it("rules carry their version; inactive rules earn nothing", () => {
    const v3 = rule("sku_bonus", { skus: ["latte"], pointsPerUnit: 1n, version: 3 });
    const off = rule("sku_bonus", { id: "off", skus: ["latte"], pointsPerUnit: 9n, active: false });
    const result = earned(earn(input([v3, off])));
    expect(result.breakdown[1]).toMatchObject({ kind: "sku_bonus", ruleVersion: 3, points: 2n });
    expect(result.points).toBe(12n);
  });
});

describe("caps", () => {
  const caps = (day: bigint | null, week: bigint | null = null, month: bigint | null = null) => ({
    day,
    week,
    month,
  });

  it("a rule's cap trims its entry, reached in the middle of a purchase", () => {
    const triple = rule("category_multiplier", {
      categories: ["coffee"],
      multiplierBps: 30_000,
      caps: caps(5n),
    });
    const result = earned(earn(input([triple])));
    // 3 points of the day's 5 are already used: 2 are left.
    const capped = applyCaps(result, (ref: CapRef) => (ref.scope === "rule" ? 2n : 0n));
    expect(capped.total).toBe(12n);
    expect(capped.breakdown).toEqual([
      { kind: "base", points: 10n },
      {
        kind: "category_multiplier",
        ruleId: "category_multiplier-rule",
        ruleVersion: 1,
        points: 2n,
        cappedBy: { scope: "rule", period: "day" },
      },
    ]);
  });

  it("an entry trimmed to 0 by a cap stays in the breakdown", () => {
    const bonus = rule("sku_bonus", { skus: ["latte"], pointsPerUnit: 5n, caps: caps(null, 10n) });
    const capped = applyCaps(earned(earn(input([bonus]))), () => 0n);
    expect(capped.breakdown).toEqual([
      { kind: "base", points: 10n },
      {
        kind: "sku_bonus",
        ruleId: "sku_bonus-rule",
        ruleVersion: 1,
        points: 0n,
        cappedBy: { scope: "rule", period: "week" },
      },
    ]);
  });

  it("the overall cap trims in reverse order: tier, campaigns, rules, base last", () => {
    const triple = rule("category_multiplier", { categories: ["coffee"], multiplierBps: 30_000 });
    const bonus = campaign({ id: "bonus", bonusPoints: 50n });
    const result = earned(
      earn(input([triple, bonus], { tierBps: 15_000, earningCaps: caps(null, null, 30n) })),
    );
    expect(result.overallCaps.map((ref) => ref.period)).toEqual(["month"]);
    // 10 base + 12 rule + 50 campaign + 11 tier = 83 asked; 30 left this month.
    const capped = applyCaps(result, () => 30n);
    expect(capped.breakdown.map((line) => [line.kind, line.points, line.cappedBy?.scope])).toEqual([
      ["base", 10n, undefined],
      ["category_multiplier", 12n, undefined],
      ["campaign", 8n, "overall"],
      ["tier", 0n, "overall"],
    ]);
    expect(capped.total).toBe(30n);
  });

  it("caps are per period of the org's timezone, weeks from Monday", () => {
    const bonus = rule("sku_bonus", { skus: ["latte"], pointsPerUnit: 5n, caps: caps(1n, 2n, 3n) });
    // Sunday 23:30 in Paris: still the week of Monday 2026-06-08 there.
    const sunday = new Date("2026-06-14T21:30:00Z");
    const result = earned(earn(input([bonus], { occurredAt: sunday, timezone: "Europe/Paris" })));
    expect(result.entries[1]?.caps.map((ref) => ref.periodKey)).toEqual([
      "day:2026-06-14",
      "week:2026-06-08",
      "month:2026-06",
    ]);
  });
});
