/**
 * Earning rules as the purchase path reads them. (Storage lands separately; until then an org
 * has no rules.)
 */
import type { Store } from "../deps.ts";
import type { Org } from "../types.ts";
import type { EarningRule, PeriodCaps, RoundingMode } from "./types.ts";

export async function activeEarningRules(_store: Store, _orgId: string): Promise<EarningRule[]> {
  return [];
}

/** What earning needs of an org's settings. */
export function earningSettingsOf(org: Org): {
  baseRatePointsPerUnit: number;
  rounding: RoundingMode;
  timezone: string;
  earningCaps: PeriodCaps | null;
} {
  const settings = org.settings as Org["settings"] & {
    rounding?: RoundingMode;
    earningCaps?: { day?: number | null; week?: number | null; month?: number | null } | null;
  };
  const caps = settings.earningCaps ?? null;
  const cap = (value: number | null | undefined): bigint | null =>
    value === undefined || value === null ? null : BigInt(value);
  return {
    baseRatePointsPerUnit: settings.baseRatePointsPerUnit,
    rounding: settings.rounding ?? "down",
    timezone: org.timezone,
    earningCaps:
      caps === null || (caps.day == null && caps.week == null && caps.month == null)
        ? null
        : { day: cap(caps.day), week: cap(caps.week), month: cap(caps.month) },
  };
}
