/**
 * The org's program settings: earning (rate, rounding, caps), holds, tier progression, RFM,
 * expiry, stamp program defaults and referral bonuses. Mounted at
 * /v1/settings; admin keys only. PATCH changes only the fields it names; every field is validated
 * with its path (e.g. `rfm.thresholds.recency_days`), and nothing changes when one is invalid.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  getOrg,
  isTimeZone,
  membershipLimits,
  type OrgSettings,
  roundingModes,
  settingsDaysMax,
  settingsMonthsMax,
  settingsPointsMax,
  updateOrgSettings,
} from "../../membership/index.ts";
import { actorOf, principalOf } from "../env.ts";
import { timezoneLengthMax } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { IdempotencyHeaders, OrgSettingsSchema, settingsDto } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";

const tags = ["settings"];
const minorUnitsPattern = /^(0|[1-9][0-9]{0,18})$/;
const minorUnits = z.string().regex(minorUnitsPattern, "minor units as a decimal string");

function ascending<T extends number | string>(values: readonly T[]): boolean {
  // A value the item schema refused is reported there; comparing it would throw.
  if (values.some((value) => typeof value === "string" && !minorUnitsPattern.test(value))) {
    return true;
  }
  return values.every((value, index) => {
    if (index === 0) {
      return true;
    }
    const previous = values[index - 1] as T;
    return typeof value === "string" ? BigInt(previous) < BigInt(value) : previous < value;
  });
}

const RfmPatch = z.discriminatedUnion("method", [
  z.strictObject({
    method: z.literal("quintiles"),
    window_days: z.number().int().min(1).max(settingsDaysMax),
  }),
  z.strictObject({
    method: z.literal("thresholds"),
    window_days: z.number().int().min(1).max(settingsDaysMax),
    thresholds: z.strictObject({
      recency_days: z
        .array(z.number().int().min(0).max(settingsDaysMax))
        .length(4)
        .refine(ascending, "four strictly ascending boundaries"),
      frequency: z
        .array(z.number().int().min(1).max(1_000_000_000))
        .length(4)
        .refine(ascending, "four strictly ascending boundaries"),
      monetary_minor: z
        .array(minorUnits)
        .length(4)
        .refine(ascending, "four strictly ascending boundaries"),
    }),
  }),
]);

const ExpiryPatch = z.union([
  z.literal("none"),
  z.strictObject({
    policy: z.enum(["inactivity", "lots"]),
    months: z.number().int().min(1).max(settingsMonthsMax),
  }),
]);

const capPoints = z.number().int().min(1).max(settingsPointsMax);
const bonusPoints = z.number().int().min(0).max(settingsPointsMax);

const EarningCapsPatch = z
  .strictObject({
    day: capPoints.nullable().optional(),
    week: capPoints.nullable().optional(),
    month: capPoints.nullable().optional(),
  })
  .nullable()
  .openapi({
    description:
      "Points one member may earn per day, week (Monday to Sunday) and month of the org's " +
      "timezone, over all earning. Replaced whole: a period left out (or null) has no cap; " +
      "`null` removes every cap.",
  });

const StampDefaultsPatch = z
  .strictObject({
    stamps_per_card: z
      .number()
      .int()
      .min(1)
      .max(membershipLimits.stampsRequiredMax)
      .nullable()
      .optional(),
    reward_points: bonusPoints.nullable().optional(),
  })
  .nullable()
  .openapi({
    description:
      "Defaults for `POST /v1/stamp-programs` bodies that leave `stamps_per_card` or `reward` " +
      "out. Replaced whole: a field left out (or null) has no default; `null` removes both.",
  });

const ReferralPatch = z.strictObject({
  referrer_points: z.number().int().min(0).max(1_000_000_000),
  referred_points: z.number().int().min(0).max(1_000_000_000),
  max_per_referrer_per_month: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .openapi({
      description:
        "Referrals a referrer is rewarded for per calendar month of the org's time zone (0: " +
        "none). Beyond it a referral is `limit_reached`: the referred member still gets theirs.",
    }),
  min_purchase_amount: minorUnits.nullable().optional().openapi({
    description: "Minor units a purchase must reach to qualify; null or absent: any purchase.",
  }),
});

const SettingsPatch = z
  .strictObject({
    base_rate_points_per_unit: z.number().int().min(0).max(1_000_000).optional(),
    welcome_bonus_points: z.number().int().min(0).max(1_000_000_000).optional(),
    hold_seconds_default: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60 * 60)
      .optional(),
    tier_metric: z.enum(["points", "spend"]).optional().openapi({
      description:
        "`points`: points earned by purchases net of refunds; `spend`: net purchase amount in minor units.",
    }),
    tier_window_months: z.number().int().min(1).max(settingsMonthsMax).optional(),
    tier_downgrade_grace_days: z.number().int().min(0).max(settingsDaysMax).optional(),
    rfm: RfmPatch.optional(),
    expiry: ExpiryPatch.optional(),
    rounding: z
      .enum(roundingModes)
      .optional()
      .openapi({
        description:
          "How each earning entry's fractional points are rounded (once per entry): `down` " +
          "(the default), `half_up` or `up`.",
      }),
    earning_caps: EarningCapsPatch.optional(),
    stamp_defaults: StampDefaultsPatch.optional(),
    referral: ReferralPatch.optional(),
    member_pin_login: z.boolean().optional(),
    timezone: z
      .string()
      .min(1)
      .max(timezoneLengthMax)
      .refine(isTimeZone, "an IANA time zone such as Europe/Paris")
      .optional(),
  })
  .openapi("UpdateSettings");

function toPatch(body: z.output<typeof SettingsPatch>): Partial<OrgSettings> {
  const patch: Partial<OrgSettings> = {};
  if (body.base_rate_points_per_unit !== undefined) {
    patch.baseRatePointsPerUnit = body.base_rate_points_per_unit;
  }
  if (body.welcome_bonus_points !== undefined) {
    patch.welcomeBonusPoints = body.welcome_bonus_points;
  }
  if (body.hold_seconds_default !== undefined) {
    patch.holdSecondsDefault = body.hold_seconds_default;
  }
  if (body.tier_metric !== undefined) {
    patch.tierMetric = body.tier_metric;
  }
  if (body.tier_window_months !== undefined) {
    patch.tierWindowMonths = body.tier_window_months;
  }
  if (body.tier_downgrade_grace_days !== undefined) {
    patch.tierDowngradeGraceDays = body.tier_downgrade_grace_days;
  }
  if (body.rfm !== undefined) {
    patch.rfm =
      body.rfm.method === "quintiles"
        ? { method: "quintiles", windowDays: body.rfm.window_days }
        : {
            method: "thresholds",
            windowDays: body.rfm.window_days,
            thresholds: {
              recencyDays: body.rfm.thresholds.recency_days,
              frequency: body.rfm.thresholds.frequency,
              monetaryMinor: body.rfm.thresholds.monetary_minor,
            },
          };
  }
  if (body.expiry !== undefined) {
    patch.expiry =
      body.expiry === "none"
        ? { policy: "none" }
        : { policy: body.expiry.policy, months: body.expiry.months };
  }
  if (body.rounding !== undefined) {
    patch.rounding = body.rounding;
  }
  if (body.earning_caps !== undefined) {
    patch.earningCaps = {
      day: body.earning_caps?.day ?? null,
      week: body.earning_caps?.week ?? null,
      month: body.earning_caps?.month ?? null,
    };
  }
  if (body.stamp_defaults !== undefined) {
    patch.stampDefaults = {
      stampsPerCard: body.stamp_defaults?.stamps_per_card ?? null,
      rewardPoints: body.stamp_defaults?.reward_points ?? null,
    };
  }
  if (body.member_pin_login !== undefined) {
    patch.memberPinLogin = body.member_pin_login;
  }
  if (body.referral !== undefined) {
    const minimum = body.referral.min_purchase_amount;
    patch.referral = {
      referrerPoints: body.referral.referrer_points,
      referredPoints: body.referral.referred_points,
      maxPerReferrerPerMonth: body.referral.max_per_referrer_per_month,
      ...(minimum === undefined || minimum === null ? {} : { minPurchaseAmountMinor: minimum }),
    };
  }
  return patch;
}

const settingsExample: z.output<typeof OrgSettingsSchema> = {
  base_rate_points_per_unit: 1,
  welcome_bonus_points: 100,
  hold_seconds_default: 900,
  tier_metric: "points",
  tier_window_months: 12,
  tier_downgrade_grace_days: 30,
  rfm: { method: "quintiles", window_days: 365 },
  expiry: { policy: "lots", months: 24 },
  rounding: "down",
  earning_caps: { day: null, week: 2000, month: 5000 },
  stamp_defaults: { stamps_per_card: 10, reward_points: null },
  referral: {
    referrer_points: 500,
    referred_points: 250,
    max_per_referrer_per_month: 5,
    min_purchase_amount: "2000",
  },
  member_pin_login: true,
  timezone: "Europe/Paris",
};

export function settingsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "getSettings",
      tags,
      summary: "Read the org's settings",
      description: "Earning, holds, tier progression, RFM and expiry settings. Admin keys only.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      responses: {
        200: jsonContent(OrgSettingsSchema, "The settings.", settingsExample),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const org = await getOrg(deps.domain, { orgId: principalOf(c).orgId });
      return c.json(settingsDto(org.settings, org.timezone), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/",
      operationId: "updateSettings",
      tags,
      summary: "Change some of the org's settings",
      description:
        "Only the fields given change. `rfm`, `expiry`, `earning_caps`, `stamp_defaults` and " +
        "`referral` are replaced whole. A tier setting " +
        "change applies at each member's next evaluation (the next purchase or refund, or the " +
        "daily sweep); RFM settings at the next rebuild; expiry at the next daily run. Other " +
        "API processes may use the previous settings for up to a minute. Admin keys only.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(SettingsPatch, {
          tier_metric: "spend",
          expiry: { policy: "lots", months: 24 },
          earning_caps: { week: 2000, month: 5000 },
          stamp_defaults: { stamps_per_card: 10 },
        }),
      },
      responses: {
        200: jsonContent(OrgSettingsSchema, "The settings as changed.", settingsExample),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const org = await updateOrgSettings(deps.domain, {
        orgId: principalOf(c).orgId,
        patch: toPatch(body),
        ...(body.timezone === undefined ? {} : { timezone: body.timezone }),
        actor: actorOf(c),
      });
      return c.json(settingsDto(org.settings, org.timezone), 200);
    },
  );

  return app;
}
