/**
 * Points expiry as pure arithmetic over a member's wallet movements: no ledger, no Postgres, no
 * clock. `member-expiry.ts` decodes the ledger's transfers into these movements.
 *
 * Every credit to the wallet is a *lot* (points earned at one time). Every posted debit
 * (a fulfilled redemption, a refund reversal, a debit adjustment, an earlier expiry) consumes the
 * oldest lots first (FIFO by earning time). Points held by pending redemptions are then taken
 * from the oldest remaining lots too, provisionally: they are not the member's to lose while
 * held, and a hold that is voided gives them back (the next run sees them again).
 *
 * The remaining lots always add up to the available balance (credits posted − debits posted −
 * debits pending): the caller asserts it against the account it read.
 *
 * Policies:
 * - `lots`: each lot expires `months` calendar months after it was earned.
 * - `inactivity`: every lot expires `months` after the member's last earning (the latest
 *   positive credit), so any new earning pushes the whole balance's expiry out.
 */
import assert from "node:assert/strict";

export type ExpiryPolicy =
  | { policy: "none" }
  | { policy: "inactivity"; months: number }
  | { policy: "lots"; months: number };

/** A wallet movement in ledger order: a credit (a lot) or a posted debit. Zero amounts are skipped. */
export type WalletMovement =
  | { kind: "credit"; points: bigint; earnedAtMs: number }
  | { kind: "debit"; points: bigint };

export interface Lot {
  /** Points of this lot not consumed yet. */
  points: bigint;
  earnedAtMs: number;
  /** When these points expire under the policy. */
  expiresAtMs: number;
}

export interface ExpirySchedule {
  /** Remaining lots, oldest earning first; their sum is `available`. */
  lots: Lot[];
  available: bigint;
  /** The latest positive credit's earning time; null when the wallet was never credited. */
  lastEarnedAtMs: number | null;
}

/** Months a policy may name: 1 month to 100 years. */
export const expiryMonthsMax = 1_200;

const msPerDay = 86_400_000;

/**
 * `ms` plus `months` calendar months in UTC, the day clamped to the target month's last day
 * (31 January + 1 month = 28 or 29 February), the time of day kept.
 *
 * @example addMonthsUtc(Date.UTC(2024, 0, 31, 10), 1) === Date.UTC(2024, 1, 29, 10)
 */
export function addMonthsUtc(ms: number, months: number): number {
  assert.ok(Number.isSafeInteger(ms), "a time is an integer of milliseconds");
  assert.ok(Number.isInteger(months) && months >= 0 && months <= expiryMonthsMax, "months");
  const date = new Date(ms);
  const monthIndex = date.getUTCFullYear() * 12 + date.getUTCMonth() + months;
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex % 12;
  const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(date.getUTCDate(), daysInMonth);
  const timeOfDayMs = ms - Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const result = Date.UTC(year, month, day) + timeOfDayMs;
  assert.ok(result >= ms, "adding months never goes back in time");
  return result;
}

/** The UTC calendar day of `ms`, as "YYYY-MM-DD". */
export function utcDay(ms: number): string {
  assert.ok(Number.isSafeInteger(ms), "a time is an integer of milliseconds");
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Applies the movements (in ledger order) and the pending holds to the lots, and dates each
 * remaining lot under `policy`. A debit beyond the lots is a broken invariant (a wallet never
 * goes below zero), so it throws.
 */
export function expirySchedule(args: {
  movements: readonly WalletMovement[];
  /** The wallet's `debits_pending`: points held by open redemption holds. */
  pendingPoints: bigint;
  policy: Exclude<ExpiryPolicy, { policy: "none" }>;
}): ExpirySchedule {
  const { policy } = args;
  assert.ok(args.pendingPoints >= 0n, "pending points are not negative");
  assert.ok(Number.isInteger(policy.months) && policy.months >= 1, "a policy has months");
  // Sorted by earning time; equal times keep ledger order. `head` skips consumed lots cheaply.
  const lots: Array<{ points: bigint; earnedAtMs: number }> = [];
  let head = 0;
  let lastEarnedAtMs: number | null = null;
  const consume = (points: bigint, what: string): void => {
    let left = points;
    while (left > 0n) {
      const lot = lots[head];
      assert.ok(lot !== undefined, `${what} exceeds the points earned: the wallet went negative`);
      const taken = lot.points < left ? lot.points : left;
      lot.points -= taken;
      left -= taken;
      if (lot.points === 0n) {
        head += 1;
      }
    }
  };
  for (const movement of args.movements) {
    assert.ok(movement.points >= 0n, "movement amounts are not negative");
    if (movement.points === 0n) {
      continue;
    }
    if (movement.kind === "debit") {
      consume(movement.points, "a debit");
      continue;
    }
    assert.ok(Number.isSafeInteger(movement.earnedAtMs), "an earning time is an integer");
    lastEarnedAtMs =
      lastEarnedAtMs === null ? movement.earnedAtMs : Math.max(lastEarnedAtMs, movement.earnedAtMs);
    // Most credits are the newest: scan back from the end to the insertion point.
    let at = lots.length;
    while (at > head && (lots[at - 1] as { earnedAtMs: number }).earnedAtMs > movement.earnedAtMs) {
      at -= 1;
    }
    lots.splice(at, 0, { points: movement.points, earnedAtMs: movement.earnedAtMs });
  }
  consume(args.pendingPoints, "the pending holds");
  const remaining: Lot[] = [];
  let available = 0n;
  for (const lot of lots.slice(head)) {
    if (lot.points === 0n) {
      continue;
    }
    assert.ok(lastEarnedAtMs !== null, "a lot means an earning");
    const base = policy.policy === "lots" ? lot.earnedAtMs : lastEarnedAtMs;
    remaining.push({
      points: lot.points,
      earnedAtMs: lot.earnedAtMs,
      expiresAtMs: addMonthsUtc(base, policy.months),
    });
    available += lot.points;
  }
  return { lots: remaining, available, lastEarnedAtMs };
}

/** Points whose expiry time is at or before `asOfMs`: what a run at that time takes. */
export function pointsDue(schedule: ExpirySchedule, asOfMs: number): bigint {
  let due = 0n;
  for (const lot of schedule.lots) {
    if (lot.expiresAtMs <= asOfMs) {
      due += lot.points;
    }
  }
  assert.ok(due <= schedule.available, "never more than available");
  return due;
}

export interface ExpiringPoints {
  points: bigint;
  atMs: number;
}

/**
 * Points still to expire, one entry per expiry time (lots expiring together are summed), soonest
 * first, at most `entriesMax` entries (the soonest ones).
 */
export function expiringPoints(schedule: ExpirySchedule, entriesMax: number): ExpiringPoints[] {
  assert.ok(Number.isInteger(entriesMax) && entriesMax >= 1, "entries bound is positive");
  const byTime = new Map<number, bigint>();
  for (const lot of schedule.lots) {
    byTime.set(lot.expiresAtMs, (byTime.get(lot.expiresAtMs) ?? 0n) + lot.points);
  }
  return [...byTime.entries()]
    .sort(([a], [b]) => a - b)
    .slice(0, entriesMax)
    .map(([atMs, points]) => ({ points, atMs }));
}

/**
 * The notices a run at `asOfMs` owes: points expiring after `asOfMs` and within `windowDays`,
 * summed per UTC expiry day (one `points.expiring` per member and expiry day).
 */
export function expiringWithin(
  schedule: ExpirySchedule,
  asOfMs: number,
  windowDays: number,
): Array<{ day: string; points: bigint; atMs: number }> {
  assert.ok(Number.isInteger(windowDays) && windowDays >= 1, "a notice window has days");
  const untilMs = asOfMs + windowDays * msPerDay;
  const byDay = new Map<string, { day: string; points: bigint; atMs: number }>();
  for (const lot of schedule.lots) {
    if (lot.expiresAtMs <= asOfMs || lot.expiresAtMs > untilMs) {
      continue;
    }
    const day = utcDay(lot.expiresAtMs);
    const entry = byDay.get(day);
    if (entry === undefined) {
      byDay.set(day, { day, points: lot.points, atMs: lot.expiresAtMs });
    } else {
      entry.points += lot.points;
      entry.atMs = Math.min(entry.atMs, lot.expiresAtMs);
    }
  }
  return [...byDay.values()].sort((a, b) => a.atMs - b.atMs);
}
