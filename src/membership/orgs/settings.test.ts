import { describe, expect, it } from "vitest";
import { defaultOrgSettings, orgSettingsSchema } from "./settings.ts";

describe("org settings", () => {
  it("reads a row written before the tier, RFM and expiry settings existed with their defaults", () => {
    const stored = { baseRatePointsPerUnit: 2, welcomeBonusPoints: 50, holdSecondsDefault: 60 };
    expect(orgSettingsSchema.parse(stored)).toEqual({
      ...defaultOrgSettings,
      baseRatePointsPerUnit: 2,
      welcomeBonusPoints: 50,
      holdSecondsDefault: 60,
    });
  });

  it("refuses RFM thresholds that are not four strictly ascending boundaries", () => {
    const rfm = (monetaryMinor: string[]) => ({
      ...defaultOrgSettings,
      rfm: {
        method: "thresholds",
        windowDays: 365,
        thresholds: { recencyDays: [7, 30, 90, 180], frequency: [2, 4, 8, 16], monetaryMinor },
      },
    });
    expect(orgSettingsSchema.safeParse(rfm(["1000", "5000", "20000", "100000"])).success).toBe(
      true,
    );
    const flat = orgSettingsSchema.safeParse(rfm(["1000", "1000", "20000", "100000"]));
    expect(flat.success).toBe(false);
    expect(flat.error?.issues[0]?.path).toEqual(["rfm", "thresholds", "monetaryMinor"]);
    expect(orgSettingsSchema.safeParse(rfm(["1000", "5000", "20000"])).success).toBe(false);
    const negative = orgSettingsSchema.safeParse(rfm(["-1", "5000", "20000", "100000"]));
    expect(negative.error?.issues.map((issue) => issue.path.join("."))).toEqual([
      "rfm.thresholds.monetaryMinor.0",
    ]);
    // Text no number can be read from is refused by its item, never thrown on.
    const text = orgSettingsSchema.safeParse(rfm(["a\u0000b", "5000", "20000", "100000"]));
    expect(text.success).toBe(false);
  });

  it("accepts each expiry policy and refuses months out of range", () => {
    for (const expiry of [
      { policy: "none" },
      { policy: "inactivity", months: 12 },
      { policy: "lots", months: 24 },
    ]) {
      expect(orgSettingsSchema.safeParse({ ...defaultOrgSettings, expiry }).success).toBe(true);
    }
    const zero = orgSettingsSchema.safeParse({
      ...defaultOrgSettings,
      expiry: { policy: "lots", months: 0 },
    });
    expect(zero.success).toBe(false);
    expect(zero.error?.issues[0]?.path).toEqual(["expiry", "months"]);
  });
});
