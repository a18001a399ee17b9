/**
 * An earning rule's body as the API speaks it, and its conversion to the domain's `EarningRule`.
 *
 * The wire form: `{name, kind, active?, priority?, stackable?, caps?, ...the kind's fields}`.
 * - multipliers are decimal strings with at most 4 decimal places ("3", "1.5", "1.2575"), kept as
 *   basis points (10,000 = ×1); a multiplier rule's multiplier is above 1 and at most 100;
 * - points (`points_per_unit`, `bonus_points`, caps) and `min_spend` (minor units) are JSON
 *   integers, at most 10^15 (points) and 10^12 (minor units): within 2^53, exact in JSON;
 * - date-times are RFC 3339 with an offset, or local without one ("2026-01-10T23:59:59"), read in
 *   the org's time zone (local-time.ts says how DST gaps and overlaps are read); they are stored
 *   and answered as UTC instants;
 * - `days_of_week` are ISO days, 1 = Monday … 7 = Sunday, in the org's time zone.
 *
 * The same schema parses the stored body (the canonical form `earningRuleBody` writes, instants
 * in UTC), so what is stored can always be read back through the checks it was written with.
 * The simulation route uses `earningRuleBodySchema` and `toEarningRule` to evaluate a rule that is
 * never stored.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  amountMinorMax,
  categoryLengthMax,
  documentPointsMax,
  earningMultiplierBpsMax,
  earningRuleNameLengthMax,
  earningRulePriorityMax,
  earningRuleTiersMax,
  earningRuleValuesMax,
  externalRefLengthMax,
  skuLengthMax,
} from "../limits.ts";
import { localTimeToInstant } from "./local-time.ts";
import {
  type CampaignRule,
  type CategoryMultiplierRule,
  capPeriods,
  type EarningRule,
  type EarningRuleKind,
  type PeriodCaps,
  type SkuBonusRule,
} from "./types.ts";

export const earningRuleKinds = ["category_multiplier", "sku_bonus", "campaign"] as const;
assert.ok(earningRuleKinds.length === 3, "three kinds of rule");

const bpsPerUnit = 10_000;
const multiplierPattern = /^(0|[1-9][0-9]{0,3})(\.[0-9]{1,4})?$/;
const pointsMax = Number(documentPointsMax);
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** "1.5" → 15000; the text must already match the pattern. */
export function multiplierToBps(text: string): number {
  assert.ok(multiplierPattern.test(text), "a multiplier is a decimal string");
  const [whole = "0", fraction = ""] = text.split(".");
  const bps = Number(whole) * bpsPerUnit + Number(fraction.padEnd(4, "0"));
  assert.ok(Number.isSafeInteger(bps), "a multiplier's bps are an integer");
  return bps;
}

/** 15000 → "1.5", 30000 → "3": the shortest decimal string. */
export function bpsToMultiplier(bps: number): string {
  assert.ok(Number.isSafeInteger(bps) && bps > 0, "a multiplier is a positive integer of bps");
  const whole = Math.floor(bps / bpsPerUnit);
  const fraction = (bps % bpsPerUnit).toString().padStart(4, "0").replace(/0+$/, "");
  return fraction === "" ? String(whole) : `${whole}.${fraction}`;
}

const multiplier = z
  .string()
  .regex(multiplierPattern, 'a decimal string with at most 4 decimal places, e.g. "3" or "1.5"')
  .refine(
    (text) => !multiplierPattern.test(text) || multiplierToBps(text) > bpsPerUnit,
    "must be greater than 1: a multiplier rule earns base × (multiplier − 1) on top of the base",
  )
  .refine(
    (text) => !multiplierPattern.test(text) || multiplierToBps(text) <= earningMultiplierBpsMax,
    `must be at most ${earningMultiplierBpsMax / bpsPerUnit}`,
  )
  .meta({
    description:
      'A decimal string with at most 4 decimal places ("3", "1.5"), above 1 and at most 100: ' +
      "matching lines earn base × multiplier in all.",
  });

const points = z
  .number()
  .int()
  .min(1)
  .max(pointsMax)
  .meta({ description: "Points, a JSON integer from 1 to 10^15." });

/**
 * RFC 3339 with an offset, or a local date-time read in the org's time zone: one pattern (a
 * union of two date-time formats would document the same schema twice). Whether the date is on
 * the calendar is judged by `toEarningRule`.
 */
const dateTimePattern =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$/;
const dateTime = z
  .string()
  .max(64)
  .regex(
    dateTimePattern,
    'an RFC 3339 date-time with an offset ("2026-01-10T23:59:59+01:00") or a local one ' +
      '("2026-01-10T23:59:59", read in the org\'s time zone)',
  )
  .meta({
    description:
      "RFC 3339 with an offset, or local without one, then read in the org's time zone " +
      "(`timezone` of the settings): a local time that happens twice is the earlier instant, " +
      "one skipped by a daylight-saving change is shifted forward by the gap. Answered in UTC.",
  });

function distinct<T>(values: readonly T[]): boolean {
  return new Set(values).size === values.length;
}

const textList = (lengthMax: number, what: string) =>
  z
    .array(z.string().min(1).max(lengthMax))
    .min(1)
    .max(earningRuleValuesMax)
    .refine(distinct, `${what} are listed once each`);

const capsSchema = z
  .strictObject({
    per_member: z
      .strictObject({
        day: points.nullable().optional(),
        week: points.nullable().optional(),
        month: points.nullable().optional(),
      })
      .refine(
        (caps) => capPeriods.some((period) => caps[period] != null),
        "names at least one of day, week, month",
      ),
  })
  .nullable()
  .optional();

const common = {
  name: z.string().min(1).max(earningRuleNameLengthMax),
  active: z.boolean().optional(),
  priority: z.number().int().min(0).max(earningRulePriorityMax).optional(),
  stackable: z.boolean().optional(),
  caps: capsSchema,
};

const categoryMultiplierBody = z.strictObject({
  kind: z.literal("category_multiplier"),
  ...common,
  categories: textList(categoryLengthMax, "categories"),
  multiplier,
});

const skuBonusBody = z.strictObject({
  kind: z.literal("sku_bonus"),
  ...common,
  skus: textList(skuLengthMax, "skus"),
  points_per_unit: points,
});

const campaignFields = {
  starts_at: dateTime,
  ends_at: dateTime,
  days_of_week: z
    .array(z.number().int().min(1).max(7))
    .min(1)
    .max(7)
    .refine(distinct, "days are listed once each")
    .meta({ description: "ISO days in the org's time zone: 1 = Monday … 7 = Sunday." })
    .nullable()
    .optional(),
  tier_ids: z
    .array(z.string().regex(uuidPattern, "a tier id (a lower-case UUID)"))
    .min(1)
    .max(earningRuleTiersMax)
    .refine(distinct, "tiers are listed once each")
    .nullable()
    .optional(),
  locations: textList(externalRefLengthMax, "locations").nullable().optional(),
  categories: textList(categoryLengthMax, "categories").nullable().optional(),
  min_spend: z.number().int().min(1).max(Number(amountMinorMax)).nullable().optional(),
  multiplier: multiplier.nullable().optional(),
  bonus_points: points.nullable().optional(),
  benefits: z
    .array(z.string().regex(uuidPattern, "a benefit id (a lower-case UUID)"))
    .max(earningRuleTiersMax)
    .refine(distinct, "benefits are listed once each")
    .meta({
      description:
        "Benefits members enjoy while the campaign runs for them (its window, days and tiers).",
    })
    .nullable()
    .optional(),
};

const campaignBody = z
  .strictObject({ kind: z.literal("campaign"), ...common, ...campaignFields })
  .superRefine((body, context) => {
    const given = [body.multiplier, body.bonus_points].filter((value) => value != null).length;
    if (given !== 1) {
      context.addIssue({
        code: "custom",
        path: [body.multiplier == null ? "multiplier" : "bonus_points"],
        message: "a campaign has exactly one of multiplier and bonus_points",
      });
    }
  });

/** `POST /v1/earning-rules` (and `rule` of `POST /v1/simulate/rules`). */
export const earningRuleBodySchema = z.discriminatedUnion("kind", [
  categoryMultiplierBody,
  skuBonusBody,
  campaignBody,
]);
export type EarningRuleBody = z.output<typeof earningRuleBodySchema>;

/** The fields each kind takes besides the common ones (a PATCH may only name these). */
export const earningRuleKindFields: Record<EarningRuleKind, readonly string[]> = {
  category_multiplier: ["categories", "multiplier"],
  sku_bonus: ["skus", "points_per_unit"],
  campaign: Object.keys(campaignFields),
};

const kindFixedMessage = "fixed once the rule is created: create a new rule instead";

/**
 * `PATCH /v1/earning-rules/{id}`: any field of any kind, each checked alone; `null` clears an
 * optional one. The merged body is then checked whole against the rule's kind (`mergeRulePatch`).
 */
export const earningRulePatchSchema = z.strictObject({
  name: common.name.optional(),
  active: common.active,
  priority: common.priority,
  stackable: common.stackable,
  caps: common.caps,
  skus: textList(skuLengthMax, "skus").optional(),
  points_per_unit: points.optional(),
  ...campaignFields,
  starts_at: dateTime.optional(),
  ends_at: dateTime.optional(),
  kind: z
    .unknown()
    .refine(() => false, kindFixedMessage)
    .optional(),
});
export type EarningRulePatchBody = z.output<typeof earningRulePatchSchema>;

export interface BodyIssue {
  path: string;
  message: string;
}

/** A rule's fields, without the id and version the store gives it. */
export type EarningRuleFields = EarningRule extends infer R
  ? R extends EarningRule
    ? Omit<R, "id" | "version">
    : never
  : never;

export type ToRuleResult =
  | { ok: true; rule: EarningRuleFields }
  | { ok: false; issues: BodyIssue[] };

function capsOf(body: EarningRuleBody): PeriodCaps | null {
  const perMember = body.caps?.per_member;
  if (perMember === undefined) {
    return null;
  }
  const big = (value: number | null | undefined) => (value == null ? null : BigInt(value));
  return { day: big(perMember.day), week: big(perMember.week), month: big(perMember.month) };
}

function instantOf(text: string, timeZone: string, path: string, issues: BodyIssue[]): Date {
  const match = dateTimePattern.exec(text);
  assert.ok(match !== null, "a date-time matched its pattern at the edge");
  const [, wall = "", offset] = match;
  // The wall time is checked against the calendar either way; an offset then places it exactly.
  const local = localTimeToInstant(wall, offset === undefined ? timeZone : "UTC");
  if (!local.ok) {
    issues.push({ path, message: local.message });
    return new Date(Number.NaN);
  }
  if (offset === undefined || offset === "Z") {
    return local.instant;
  }
  const sign = offset.startsWith("-") ? -1 : 1;
  const offsetMs = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000;
  return new Date(local.instant.getTime() - offsetMs);
}

/**
 * A parsed body as the domain's rule, local date-times read in `timeZone`. Fails with field paths
 * for what only the time zone shows (a date off the calendar, a window ending before it starts).
 */
export function toEarningRule(body: EarningRuleBody, timeZone: string): ToRuleResult {
  const shared = {
    name: body.name,
    active: body.active ?? true,
    priority: body.priority ?? 0,
    stackable: body.stackable ?? false,
    caps: capsOf(body),
  };
  switch (body.kind) {
    case "category_multiplier":
      return {
        ok: true,
        rule: {
          kind: body.kind,
          ...shared,
          categories: [...body.categories],
          multiplierBps: multiplierToBps(body.multiplier),
        } satisfies Omit<CategoryMultiplierRule, "id" | "version">,
      };
    case "sku_bonus":
      return {
        ok: true,
        rule: {
          kind: body.kind,
          ...shared,
          skus: [...body.skus],
          pointsPerUnit: BigInt(body.points_per_unit),
        } satisfies Omit<SkuBonusRule, "id" | "version">,
      };
    case "campaign": {
      const issues: BodyIssue[] = [];
      const startsAt = instantOf(body.starts_at, timeZone, "starts_at", issues);
      const endsAt = instantOf(body.ends_at, timeZone, "ends_at", issues);
      if (issues.length === 0 && startsAt.getTime() >= endsAt.getTime()) {
        issues.push({
          path: "ends_at",
          message: "must be after starts_at (the window is [starts_at, ends_at))",
        });
      }
      if (issues.length > 0) {
        return { ok: false, issues };
      }
      return {
        ok: true,
        rule: {
          kind: body.kind,
          ...shared,
          startsAt,
          endsAt,
          daysOfWeek:
            body.days_of_week == null ? null : [...body.days_of_week].sort((a, b) => a - b),
          tierIds: body.tier_ids == null ? null : [...body.tier_ids],
          locations: body.locations == null ? null : [...body.locations],
          categories: body.categories == null ? null : [...body.categories],
          minSpendMinor: body.min_spend == null ? null : BigInt(body.min_spend),
          multiplierBps: body.multiplier == null ? null : multiplierToBps(body.multiplier),
          bonusPoints: body.bonus_points == null ? null : BigInt(body.bonus_points),
          benefitIds: body.benefits == null ? [] : [...body.benefits],
        } satisfies Omit<CampaignRule, "id" | "version">,
      };
    }
  }
}

/**
 * A wire rule (unparsed JSON) straight to the domain's rule, without storing it: for the
 * simulation route. Field paths as `POST /v1/earning-rules` reports them.
 */
export function parseEarningRuleBody(input: unknown, timeZone: string): ToRuleResult {
  const parsed = earningRuleBodySchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({
        path: issue.path.map(String).join("."),
        message: issue.message,
      })),
    };
  }
  return toEarningRule(parsed.data, timeZone);
}

function wireNumber(value: bigint): number {
  assert.ok(value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER), "within JSON's exact range");
  return Number(value);
}

/** The rule's caps on the wire: only the periods it caps. */
function capsBody(caps: PeriodCaps | null): EarningRuleBody["caps"] {
  if (caps === null) {
    return null;
  }
  const perMember: Partial<Record<(typeof capPeriods)[number], number>> = {};
  for (const period of capPeriods) {
    const cap = caps[period];
    if (cap !== null) {
      perMember[period] = wireNumber(cap);
    }
  }
  return { per_member: perMember };
}

/**
 * The canonical wire body of a rule: what is stored (jsonb), answered and audited. Instants are
 * UTC; every field is present (null when unset).
 */
export function earningRuleBody(rule: EarningRuleFields): EarningRuleBody {
  const shared = {
    name: rule.name,
    active: rule.active,
    priority: rule.priority,
    stackable: rule.stackable,
    caps: capsBody(rule.caps),
  };
  switch (rule.kind) {
    case "category_multiplier":
      return {
        kind: rule.kind,
        ...shared,
        categories: [...rule.categories],
        multiplier: bpsToMultiplier(rule.multiplierBps),
      };
    case "sku_bonus":
      return {
        kind: rule.kind,
        ...shared,
        skus: [...rule.skus],
        points_per_unit: wireNumber(rule.pointsPerUnit),
      };
    case "campaign":
      return {
        kind: rule.kind,
        ...shared,
        starts_at: rule.startsAt.toISOString(),
        ends_at: rule.endsAt.toISOString(),
        days_of_week: rule.daysOfWeek === null ? null : [...rule.daysOfWeek],
        tier_ids: rule.tierIds === null ? null : [...rule.tierIds],
        locations: rule.locations === null ? null : [...rule.locations],
        categories: rule.categories === null ? null : [...rule.categories],
        min_spend: rule.minSpendMinor === null ? null : wireNumber(rule.minSpendMinor),
        multiplier: rule.multiplierBps === null ? null : bpsToMultiplier(rule.multiplierBps),
        bonus_points: rule.bonusPoints === null ? null : wireNumber(rule.bonusPoints),
        benefits: [...rule.benefitIds],
      };
  }
}

/** A stored body read back: it passed these very checks when written, so failing is a bug. */
export function storedEarningRule(body: unknown): EarningRuleFields {
  const parsed = earningRuleBodySchema.parse(body);
  const converted = toEarningRule(parsed, "UTC");
  assert.ok(converted.ok, "a stored earning rule converts");
  return converted.rule;
}

export type MergeResult = { ok: true; body: EarningRuleBody } | { ok: false; issues: BodyIssue[] };

/**
 * The rule's current body with the patch's fields over it (null clears an optional field), checked
 * whole against the rule's kind: a field of another kind is refused at its path.
 */
export function mergeRulePatch(current: EarningRuleBody, patch: EarningRulePatchBody): MergeResult {
  const allowed = new Set([
    "name",
    "active",
    "priority",
    "stackable",
    "caps",
    ...earningRuleKindFields[current.kind],
  ]);
  const issues: BodyIssue[] = [];
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) {
      continue;
    }
    if (!allowed.has(key)) {
      issues.push({ path: key, message: `is not a field of a ${current.kind} rule` });
      continue;
    }
    merged[key] = value;
  }
  if (issues.length > 0) {
    return { ok: false, issues };
  }
  const parsed = earningRuleBodySchema.safeParse(merged);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({
        path: issue.path.map(String).join("."),
        message: issue.message,
      })),
    };
  }
  return { ok: true, body: parsed.data };
}
