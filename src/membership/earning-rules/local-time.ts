/**
 * Local date-times ("2026-01-10T23:59:59", no offset) read in an IANA time zone, with the zone
 * rules of the runtime (Intl), so daylight saving time is honoured.
 *
 * Two local times need a rule, and this is it (the "compatible" reading of RFC 5545 and
 * Temporal):
 * - **ambiguous** (a wall time that happens twice when clocks go back, e.g. 02:30 on the last
 *   Sunday of October in Europe/Paris): the **earlier** instant, the one before the change;
 * - **nonexistent** (a wall time skipped when clocks go forward, e.g. 02:30 on the last Sunday of
 *   March in Europe/Paris): shifted **forward** by the length of the gap (03:30 CEST), i.e. read
 *   with the offset in force before the change.
 */
import assert from "node:assert/strict";

const localPattern = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
const dayMs = 24 * 60 * 60 * 1000;

/** Formatters are costly to build; one per zone, bounded by the zones the runtime knows. */
const formatters = new Map<string, Intl.DateTimeFormat>();
const formattersMax = 1_000;

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    if (formatters.size >= formattersMax) {
      formatters.clear();
    }
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The zone's offset from UTC at `instantMs`, in milliseconds (east positive). */
export function zoneOffsetMs(instantMs: number, timeZone: string): number {
  assert.ok(Number.isFinite(instantMs), "an instant is a finite number of ms");
  const fields: Record<string, number> = {};
  for (const part of formatterOf(timeZone).formatToParts(new Date(instantMs))) {
    if (part.type !== "literal") {
      fields[part.type] = Number(part.value);
    }
  }
  const wallMs = Date.UTC(
    fields.year ?? Number.NaN,
    (fields.month ?? Number.NaN) - 1,
    fields.day ?? Number.NaN,
    fields.hour ?? Number.NaN,
    fields.minute ?? Number.NaN,
    fields.second ?? Number.NaN,
  );
  assert.ok(Number.isFinite(wallMs), "Intl formats every field of an instant");
  // The formatter drops milliseconds: compare with the instant truncated to its second.
  const offset = wallMs - Math.floor(instantMs / 1000) * 1000;
  assert.ok(Math.abs(offset) <= dayMs, "a zone's offset is under a day");
  return offset;
}

export type LocalTimeResult = { ok: true; instant: Date } | { ok: false; message: string };

/**
 * The instant of a local date-time (`YYYY-MM-DDTHH:MM[:SS[.fff]]`) in `timeZone`, by the rule above.
 * Refuses text of another form and dates that are not on the calendar (2026-02-30).
 */
export function localTimeToInstant(text: string, timeZone: string): LocalTimeResult {
  const match = localPattern.exec(text);
  if (match === null) {
    return { ok: false, message: "not a local date-time (YYYY-MM-DDTHH:MM:SS)" };
  }
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((v) => Number(v ?? 0));
  const fraction = (match[7] ?? "").padEnd(3, "0").slice(0, 3);
  const wallMs = Date.UTC(
    year as number,
    (month as number) - 1,
    day as number,
    hour as number,
    minute as number,
    second as number,
    Number(fraction),
  );
  const wall = new Date(wallMs);
  if (
    !Number.isFinite(wallMs) ||
    wall.getUTCFullYear() !== year ||
    wall.getUTCMonth() !== (month as number) - 1 ||
    wall.getUTCDate() !== day ||
    wall.getUTCHours() !== hour ||
    wall.getUTCMinutes() !== minute ||
    wall.getUTCSeconds() !== second
  ) {
    return { ok: false, message: "not a date and time on the calendar" };
  }
  // Any change of offset near this wall time lies within a day of it: the offsets a day
  // before and a day after are the only two candidates.
  const before = zoneOffsetMs(wallMs - dayMs, timeZone);
  const after = zoneOffsetMs(wallMs + dayMs, timeZone);
  const candidates = [wallMs - before, wallMs - after].filter(
    (instantMs) => zoneOffsetMs(instantMs, timeZone) === wallMs - instantMs,
  );
  // Ambiguous: two candidates, take the earlier. Nonexistent: none, read with the offset in
  // force before the change, which lands as far after the gap as the wall time was into it.
  const instantMs = candidates.length === 0 ? wallMs - before : Math.min(...candidates);
  return { ok: true, instant: new Date(instantMs) };
}
