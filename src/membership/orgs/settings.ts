/**
 * Per-org settings stored in `orgs.settings` (jsonb). Integers only: points, days, months and
 * seconds are counted, never measured, so no float ever reaches the ledger from here. Amounts of
 * money that may exceed 2^53 (RFM monetary boundaries) are decimal strings of minor units.
 *
 * Fields added after an org was created are absent from its stored row: each has a default, so a
 * row written by an older version reads as that version's behaviour.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { type PeriodCaps, roundingModes } from "../earning-rules/types.ts";
import { documentPointsMax, stampsRequiredMax } from "../limits.ts";

/** u32 ceiling: TigerBeetle holds pending transfers for at most this many seconds. */
const secondsU32Max = 4_294_967_295;
/** Longest tier window, RFM window and expiry horizon: 10 years. */
export const settingsMonthsMax = 120;
export const settingsDaysMax = 3_660;
/** Minor units in an RFM boundary: below 2^63, what a purchase amount may reach. */
const minorUnitsPattern = /^(0|[1-9][0-9]{0,18})$/;

/** Four ascending boundaries split values into five scores (1..5). */
function boundaries<T extends z.ZodType<number | string>>(
  item: T,
  compare: (a: z.output<T>, b: z.output<T>) => number,
) {
  return z
    .array(item)
    .length(4)
    .refine(
      (values) =>
        values.every(
          (value, index) =>
            index === 0 || compare(values[index - 1] as z.output<T>, value as z.output<T>) < 0,
        ),
      "four strictly ascending boundaries",
    );
}

const compareNumbers = (a: number, b: number) => a - b;
// zod runs the array's refinement even when an item failed its regex: such a value is not
// compared (BigInt would throw); the item's own issue reports it.
const compareMinor = (a: string, b: string) => {
  if (!minorUnitsPattern.test(a) || !minorUnitsPattern.test(b)) {
    return -1;
  }
  const difference = BigInt(a) - BigInt(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
};

export const rfmSettingsSchema = z.discriminatedUnion("method", [
  z
    .object({
      method: z.literal("quintiles"),
      /** Purchases older than this many days count for nothing. */
      windowDays: z.number().int().min(1).max(settingsDaysMax),
    })
    .strict(),
  z
    .object({
      method: z.literal("thresholds"),
      windowDays: z.number().int().min(1).max(settingsDaysMax),
      /**
       * Boundaries between scores. A value v scores 1 + (how many boundaries it reaches), read so
       * that higher is better: recency counts boundaries the days are *at or below*; frequency
       * and monetary count boundaries they are *at or above*.
       */
      thresholds: z
        .object({
          recencyDays: boundaries(z.number().int().min(0).max(settingsDaysMax), compareNumbers),
          frequency: boundaries(z.number().int().min(1).max(1_000_000_000), compareNumbers),
          monetaryMinor: boundaries(
            z.string().regex(minorUnitsPattern, "minor units as a decimal string"),
            compareMinor,
          ),
        })
        .strict(),
    })
    .strict(),
]);
export type RfmSettings = z.infer<typeof rfmSettingsSchema>;

export const expirySettingsSchema = z.discriminatedUnion("policy", [
  z.object({ policy: z.literal("none") }).strict(),
  z
    .object({
      /** All available points expire `months` after the member's last earning. */
      policy: z.literal("inactivity"),
      months: z.number().int().min(1).max(settingsMonthsMax),
    })
    .strict(),
  z
    .object({
      /** Each earning expires `months` after it was earned; debits consume the oldest first. */
      policy: z.literal("lots"),
      months: z.number().int().min(1).max(settingsMonthsMax),
    })
    .strict(),
]);
export type ExpirySettings = z.infer<typeof expirySettingsSchema>;

/** Points in a cap, a stamp card's reward or a referral bonus: the ledger's per-transfer bound. */
export const settingsPointsMax = Number(documentPointsMax);
/** Referrals one member may be rewarded for in a calendar month. */
export const referralsPerMonthMax = 1_000;

/** Points one member may earn per calendar period of the org's timezone; null: no cap. */
export const earningCapsSettingsSchema = z
  .object({
    day: z.number().int().min(1).max(settingsPointsMax).nullable().default(null),
    week: z.number().int().min(1).max(settingsPointsMax).nullable().default(null),
    month: z.number().int().min(1).max(settingsPointsMax).nullable().default(null),
  })
  .strict();
export type EarningCapsSettings = z.infer<typeof earningCapsSettingsSchema>;

/** What `POST /v1/stamp-programs` uses when the body leaves them out; null: no default. */
export const stampDefaultsSettingsSchema = z
  .object({
    stampsPerCard: z.number().int().min(1).max(stampsRequiredMax).nullable().default(null),
    rewardPoints: z.number().int().min(0).max(settingsPointsMax).nullable().default(null),
  })
  .strict();
export type StampDefaultsSettings = z.infer<typeof stampDefaultsSettingsSchema>;

const noEarningCaps: EarningCapsSettings = { day: null, week: null, month: null };
const noStampDefaults: StampDefaultsSettings = { stampsPerCard: null, rewardPoints: null };

export const tierMetrics = ["points", "spend"] as const;
export type TierMetric = (typeof tierMetrics)[number];

/**
 * Referral bonuses: what the referrer and the referred member get when the referred member's
 * first qualifying purchase posts (a purchase of at least `minPurchaseAmountMinor`, in the org's
 * minor units; absent: any purchase), and how many referrals a referrer is rewarded for per
 * calendar month of the org's time zone. Beyond that maximum (0: never) a referral is
 * `limit_reached` and only the referred member is credited.
 */
export const referralSettingsSchema = z
  .object({
    referrerPoints: z.number().int().min(0).max(1_000_000_000),
    referredPoints: z.number().int().min(0).max(1_000_000_000),
    maxPerReferrerPerMonth: z.number().int().min(0).max(1_000_000),
    minPurchaseAmountMinor: z
      .string()
      .regex(minorUnitsPattern, "minor units as a decimal string")
      .optional(),
  })
  .strict();
export type ReferralSettings = z.infer<typeof referralSettingsSchema>;

export const defaultReferralSettings: Readonly<ReferralSettings> = Object.freeze({
  referrerPoints: 0,
  referredPoints: 0,
  maxPerReferrerPerMonth: 0,
});

export const orgSettingsSchema = z
  .object({
    /** Points earned per whole currency unit spent, before the tier multiplier. */
    baseRatePointsPerUnit: z.number().int().min(0).max(1_000_000),
    /** Points credited once when a member enrols. */
    welcomeBonusPoints: z.number().int().min(0).max(1_000_000_000),
    /** How long a hold (pending redemption) lives before it expires, in seconds. */
    holdSecondsDefault: z.number().int().min(1).max(secondsU32Max),
    /**
     * What qualifies a member for a tier: `points` earned by purchases net of refunds, or `spend`
     * (net purchase amount in minor units), over a rolling window of `tierWindowMonths`.
     */
    tierMetric: z.enum(tierMetrics).default("points"),
    tierWindowMonths: z.number().int().min(1).max(settingsMonthsMax).default(12),
    /** Days a member keeps a tier it no longer qualifies for, after its review date. */
    tierDowngradeGraceDays: z.number().int().min(0).max(settingsDaysMax).default(30),
    rfm: rfmSettingsSchema.default({ method: "quintiles", windowDays: 365 }),
    expiry: expirySettingsSchema.default({ policy: "none" }),
    /** How each earning entry's fractional points are rounded (once per entry). */
    rounding: z.enum(roundingModes).default("down"),
    /** The org's overall cap on what one member earns per period (earningCapsOf). */
    earningCaps: earningCapsSettingsSchema.default(noEarningCaps),
    stampDefaults: stampDefaultsSettingsSchema.default(noStampDefaults),
    referral: referralSettingsSchema.default({ ...defaultReferralSettings }),
    /** Members may sign in to the member app with their external ref and a PIN. */
    memberPinLogin: z.boolean().default(false),
  })
  .strict();

export type OrgSettings = z.infer<typeof orgSettingsSchema>;

export const defaultOrgSettings: Readonly<OrgSettings> = Object.freeze<OrgSettings>({
  baseRatePointsPerUnit: 1,
  welcomeBonusPoints: 100,
  holdSecondsDefault: 900,
  tierMetric: "points",
  tierWindowMonths: 12,
  tierDowngradeGraceDays: 30,
  rfm: { method: "quintiles", windowDays: 365 },
  expiry: { policy: "none" },
  rounding: "down",
  earningCaps: noEarningCaps,
  stampDefaults: noStampDefaults,
  referral: { ...defaultReferralSettings },
  memberPinLogin: false,
});

/** The org's overall per-member caps as the earning function takes them. */
export function earningCapsOf(settings: OrgSettings): PeriodCaps {
  const caps = settings.earningCaps;
  const points = (value: number | null): bigint | null => {
    if (value === null) {
      return null;
    }
    assert.ok(Number.isSafeInteger(value) && value >= 1, "a stored cap is a positive integer");
    return BigInt(value);
  };
  return { day: points(caps.day), week: points(caps.week), month: points(caps.month) };
}

/** The stamp program defaults, points as bigint; null where the org set none. */
export function stampDefaultsOf(settings: OrgSettings): {
  stampsPerCard: bigint | null;
  rewardPoints: bigint | null;
} {
  const { stampsPerCard, rewardPoints } = settings.stampDefaults;
  return {
    stampsPerCard: stampsPerCard === null ? null : BigInt(stampsPerCard),
    rewardPoints: rewardPoints === null ? null : BigInt(rewardPoints),
  };
}

/** The referral bonuses, points as bigint. */
export function referralOf(settings: OrgSettings): {
  referrerPoints: bigint;
  referredPoints: bigint;
  maxPerReferrerPerMonth: number;
} {
  const { referrerPoints, referredPoints, maxPerReferrerPerMonth } = settings.referral;
  return {
    referrerPoints: BigInt(referrerPoints),
    referredPoints: BigInt(referredPoints),
    maxPerReferrerPerMonth,
  };
}

/**
 * An org's referral settings, the one place they are read from (an org stored before they
 * existed reads as the defaults: no bonus, no referrer reward).
 */
export function referralSettingsOf(org: { settings: OrgSettings }): ReferralSettings {
  return org.settings.referral ?? defaultReferralSettings;
}
