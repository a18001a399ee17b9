import { describe, expect, it } from "vitest";
import {
  bpsToMultiplier,
  earningRuleBody,
  earningRuleBodySchema,
  multiplierToBps,
  parseEarningRuleBody,
  toEarningRule,
} from "./rule-body.ts";

function convert(body: unknown, timeZone = "Europe/Paris") {
  const parsed = earningRuleBodySchema.parse(body);
  return toEarningRule(parsed, timeZone);
}

const campaign = {
  name: "Campaign",
  kind: "campaign",
  starts_at: "2026-01-10T08:00:00-05:30",
  ends_at: "2026-01-10T23:59:59",
  bonus_points: 25,
};

describe("multipliers", () => {
  it("are decimal strings kept as basis points, both ways", () => {
    for (const [text, bps] of [
      ["3", 30_000],
      ["1.5", 15_000],
      ["1.0001", 10_001],
      ["100", 1_000_000],
      ["2.25", 22_500],
    ] as const) {
      expect(multiplierToBps(text)).toBe(bps);
      expect(bpsToMultiplier(bps)).toBe(text);
    }
    expect(bpsToMultiplier(15_000)).toBe("1.5");
  });
});

describe("toEarningRule", () => {
  it("places offsets exactly and reads local times in the zone", () => {
    const result = convert(campaign);
    expect(result.ok).toBe(true);
    if (result.ok && result.rule.kind === "campaign") {
      expect(result.rule.startsAt.toISOString()).toBe("2026-01-10T13:30:00.000Z");
      expect(result.rule.endsAt.toISOString()).toBe("2026-01-10T22:59:59.000Z");
      expect(result.rule.bonusPoints).toBe(25n);
      expect(result.rule.multiplierBps).toBeNull();
    }
  });

  it("refuses a date off the calendar, with or without an offset", () => {
    for (const starts of [
      "2026-02-30T00:00:00+01:00",
      "2026-02-29T00:00:00Z",
      "2026-13-01T00:00",
    ]) {
      const result = convert({ ...campaign, starts_at: starts });
      expect(result.ok, starts).toBe(false);
      expect(!result.ok && result.issues[0]?.path).toBe("starts_at");
    }
  });

  it("round-trips through the canonical body, which reads the same in any zone", () => {
    for (const body of [
      campaign,
      { ...campaign, bonus_points: null, multiplier: "1.25", days_of_week: [5, 1] },
      {
        name: "Coffee",
        kind: "category_multiplier",
        categories: ["coffee"],
        multiplier: "3",
        caps: { per_member: { week: 500 } },
      },
      { name: "Sku", kind: "sku_bonus", skus: ["s-1"], points_per_unit: 10, priority: 3 },
    ]) {
      const first = convert(body);
      expect(first.ok).toBe(true);
      if (!first.ok) {
        continue;
      }
      const canonical = earningRuleBody(first.rule);
      const again = convert(canonical, "Pacific/Auckland");
      expect(again).toEqual(first);
      expect(earningRuleBody(again.ok ? again.rule : first.rule)).toEqual(canonical);
    }
  });
});

describe("parseEarningRuleBody", () => {
  it("converts a wire rule without storing it, or names the fields it refuses", () => {
    const rule = parseEarningRuleBody(
      { name: "Coffee", kind: "category_multiplier", categories: ["coffee"], multiplier: "3" },
      "UTC",
    );
    expect(rule).toMatchObject({
      ok: true,
      rule: { kind: "category_multiplier", multiplierBps: 30_000 },
    });
    // A multiplier of 1 is refused, and with bonus_points also given it is one too many.
    const refused = parseEarningRuleBody({ ...campaign, multiplier: "1", ends_at: "x" }, "UTC");
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.issues.map((issue) => issue.path).sort()).toEqual([
      "bonus_points",
      "ends_at",
      "multiplier",
    ]);
  });
});
