/** What earning needs of an org's settings, in the earning function's terms. */
import { earningCapsOf } from "../orgs/settings.ts";
import type { Org } from "../types.ts";
import type { PeriodCaps, RoundingMode } from "./types.ts";

export function earningSettingsOf(org: Org): {
  baseRatePointsPerUnit: number;
  rounding: RoundingMode;
  timezone: string;
  earningCaps: PeriodCaps | null;
} {
  const caps = earningCapsOf(org.settings);
  return {
    baseRatePointsPerUnit: org.settings.baseRatePointsPerUnit,
    rounding: org.settings.rounding,
    timezone: org.timezone,
    earningCaps: caps.day === null && caps.week === null && caps.month === null ? null : caps,
  };
}
