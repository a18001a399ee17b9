/**
 * Calendar periods in an org's timezone: the day, ISO week (Monday first) and month a purchase
 * falls in, judged on its `occurred_at`. Caps count per period; campaigns' days of the week are
 * read the same way. Pure, with one cached `Intl.DateTimeFormat` per zone.
 */
import assert from "node:assert/strict";
import type { CapPeriod } from "./types.ts";

const formats = new Map<string, Intl.DateTimeFormat>();
const dayMs = 86_400_000;

function formatOf(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hourCycle: "h23",
    });
    formats.set(timeZone, format);
  }
  return format;
}

export interface LocalDate {
  year: number;
  month: number;
  day: number;
  /** ISO day of the week: 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Days since 1970-01-01 of this local date. */
  epochDay: number;
}

/** The calendar date an instant has in `timeZone`. */
export function localDate(at: Date, timeZone: string): LocalDate {
  assert.ok(Number.isFinite(at.getTime()), "a valid instant");
  let year = 0;
  let month = 0;
  let day = 0;
  for (const part of formatOf(timeZone).formatToParts(at)) {
    if (part.type === "year") {
      year = Number(part.value);
    } else if (part.type === "month") {
      month = Number(part.value);
    } else if (part.type === "day") {
      day = Number(part.value);
    }
  }
  assert.ok(year > 0 && month >= 1 && month <= 12 && day >= 1 && day <= 31, "a calendar date");
  const epochDay = Math.floor(Date.UTC(year, month - 1, day) / dayMs);
  // 1970-01-01 was a Thursday (ISO 4).
  const weekday = ((((epochDay + 3) % 7) + 7) % 7) + 1;
  return { year, month, day, weekday, epochDay };
}

const pad = (value: number, width = 2): string => String(value).padStart(width, "0");

function isoDate(epochDay: number): string {
  const date = new Date(epochDay * dayMs);
  return `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/**
 * The period's name, stable forever: "day:2026-12-07", "week:2026-12-07" (its Monday),
 * "month:2026-12". Cap accounts are derived from it.
 */
export function periodKey(period: CapPeriod, at: Date, timeZone: string): string {
  const date = localDate(at, timeZone);
  switch (period) {
    case "day":
      return `day:${isoDate(date.epochDay)}`;
    case "week":
      return `week:${isoDate(date.epochDay - (date.weekday - 1))}`;
    case "month":
      return `month:${pad(date.year, 4)}-${pad(date.month)}`;
  }
}
