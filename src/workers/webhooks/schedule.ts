/**
 * When a failed delivery is tried again. Default: 5 s, 30 s, 2 min, 10 min, 30 min after the
 * failed attempt, then every hour, as long as the retry falls within 24 h of the first attempt;
 * past that the delivery is dead. With `WEBHOOK_RETRY_DELAYS_MS` set, its list is the whole
 * schedule: one retry per entry, and after the last one the delivery is dead (no horizon).
 */
import assert from "node:assert/strict";

export const defaultRetryDelaysMs: readonly number[] = [5_000, 30_000, 120_000, 600_000, 1_800_000];
export const hourlyRetryMs = 3_600_000;
export const retryHorizonMs = 24 * 3_600_000;

/**
 * The time of the next attempt after `failures` failed attempts (1 after the first), or null
 * when the delivery is dead. `overrideDelaysMs` empty: the default schedule.
 */
export function nextRetryAt(args: {
  failures: number;
  firstAttemptAt: Date;
  now: Date;
  overrideDelaysMs: readonly number[];
}): Date | null {
  const { failures, firstAttemptAt, now, overrideDelaysMs } = args;
  assert.ok(Number.isInteger(failures) && failures >= 1, "at least one failure");
  assert.ok(firstAttemptAt.getTime() <= now.getTime(), "the first attempt is not in the future");
  if (overrideDelaysMs.length > 0) {
    const delay = overrideDelaysMs[failures - 1];
    if (delay === undefined) {
      return null;
    }
    assert.ok(Number.isInteger(delay) && delay >= 0, "a delay is a whole number of ms");
    return new Date(now.getTime() + delay);
  }
  const delay = defaultRetryDelaysMs[failures - 1] ?? hourlyRetryMs;
  const next = now.getTime() + delay;
  return next - firstAttemptAt.getTime() > retryHorizonMs ? null : new Date(next);
}
