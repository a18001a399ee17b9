import { describe, expect, it } from "vitest";
import {
  addMonthsUtc,
  type ExpiryPolicy,
  expiringPoints,
  expiringWithin,
  expirySchedule,
  pointsDue,
  utcDay,
  type WalletMovement,
} from "./lots.ts";

const day = 86_400_000;
const t0 = Date.UTC(2025, 0, 10, 12);
const credit = (points: bigint, earnedAtMs: number): WalletMovement => ({
  kind: "credit",
  points,
  earnedAtMs,
});
const debit = (points: bigint): WalletMovement => ({ kind: "debit", points });
const lots12: Exclude<ExpiryPolicy, { policy: "none" }> = { policy: "lots", months: 12 };
const inactivity6: Exclude<ExpiryPolicy, { policy: "none" }> = { policy: "inactivity", months: 6 };

describe("addMonthsUtc", () => {
  it.each([
    [Date.UTC(2025, 0, 10, 12), 1, Date.UTC(2025, 1, 10, 12)],
    [Date.UTC(2025, 0, 31, 9), 1, Date.UTC(2025, 1, 28, 9)],
    [Date.UTC(2024, 0, 31, 9), 1, Date.UTC(2024, 1, 29, 9)],
    [Date.UTC(2024, 1, 29), 12, Date.UTC(2025, 1, 28)],
    [Date.UTC(2025, 10, 30, 23, 59), 3, Date.UTC(2026, 1, 28, 23, 59)],
    [Date.UTC(2025, 11, 15), 1, Date.UTC(2026, 0, 15)],
    [Date.UTC(2025, 4, 1), 0, Date.UTC(2025, 4, 1)],
  ])("%i + %i months", (from, months, expected) => {
    expect(addMonthsUtc(from, months)).toBe(expected);
  });

  it("refuses months out of range", () => {
    expect(() => addMonthsUtc(t0, -1)).toThrow();
    expect(() => addMonthsUtc(t0, 1_201)).toThrow();
  });
});

describe("expirySchedule", () => {
  it.each<{
    name: string;
    movements: WalletMovement[];
    pending: bigint;
    policy: Exclude<ExpiryPolicy, { policy: "none" }>;
    lots: Array<[bigint, number]>;
  }>([
    {
      name: "FIFO across a redemption: the first lot keeps only what is left of it",
      movements: [credit(100n, t0), credit(50n, t0 + 30 * day), debit(120n)],
      pending: 0n,
      policy: lots12,
      lots: [[30n, addMonthsUtc(t0 + 30 * day, 12)]],
    },
    {
      name: "a partial debit leaves the oldest lot partly",
      movements: [credit(100n, t0), credit(50n, t0 + 30 * day), debit(40n)],
      pending: 0n,
      policy: lots12,
      lots: [
        [60n, addMonthsUtc(t0, 12)],
        [50n, addMonthsUtc(t0 + 30 * day, 12)],
      ],
    },
    {
      name: "a back-dated credit is an older lot, consumed first",
      movements: [credit(100n, t0 + 60 * day), credit(40n, t0), debit(50n)],
      pending: 0n,
      policy: lots12,
      lots: [[90n, addMonthsUtc(t0 + 60 * day, 12)]],
    },
    {
      name: "pending holds take the oldest lots provisionally",
      movements: [credit(100n, t0), credit(50n, t0 + day)],
      pending: 100n,
      policy: lots12,
      lots: [[50n, addMonthsUtc(t0 + day, 12)]],
    },
    {
      name: "inactivity: every lot expires after the last earning",
      movements: [credit(100n, t0), debit(30n), credit(20n, t0 + 90 * day)],
      pending: 0n,
      policy: inactivity6,
      lots: [
        [70n, addMonthsUtc(t0 + 90 * day, 6)],
        [20n, addMonthsUtc(t0 + 90 * day, 6)],
      ],
    },
    {
      name: "inactivity: a later earning dates every lot, even when the debit took older points",
      movements: [credit(100n, t0), credit(20n, t0 + 90 * day), debit(20n)],
      pending: 0n,
      policy: inactivity6,
      lots: [
        [80n, addMonthsUtc(t0 + 90 * day, 6)],
        [20n, addMonthsUtc(t0 + 90 * day, 6)],
      ],
    },
    {
      name: "zero movements change nothing",
      movements: [credit(0n, t0 + 400 * day), credit(10n, t0), debit(0n)],
      pending: 0n,
      policy: inactivity6,
      lots: [[10n, addMonthsUtc(t0, 6)]],
    },
    {
      name: "an empty wallet has no lots",
      movements: [credit(10n, t0), debit(10n)],
      pending: 0n,
      policy: lots12,
      lots: [],
    },
  ])("$name", ({ movements, pending, policy, lots }) => {
    const schedule = expirySchedule({ movements, pendingPoints: pending, policy });
    expect(schedule.lots.map((lot) => [lot.points, lot.expiresAtMs])).toEqual(lots);
    expect(schedule.available).toBe(lots.reduce((sum, [points]) => sum + points, 0n));
  });

  it("refuses debits beyond the lots (a wallet never goes negative)", () => {
    expect(() =>
      expirySchedule({
        movements: [credit(10n, t0), debit(11n)],
        pendingPoints: 0n,
        policy: lots12,
      }),
    ).toThrow(/negative/);
    expect(() =>
      expirySchedule({ movements: [credit(10n, t0)], pendingPoints: 11n, policy: lots12 }),
    ).toThrow(/negative/);
  });
});

describe("what is due and what is coming", () => {
  const schedule = expirySchedule({
    movements: [credit(100n, t0), credit(50n, t0 + 10 * day), credit(5n, t0 + 10 * day + 1)],
    pendingPoints: 0n,
    policy: { policy: "lots", months: 1 },
  });
  const first = addMonthsUtc(t0, 1);
  const second = addMonthsUtc(t0 + 10 * day, 1);

  it.each([
    [first - 1, 0n],
    [first, 100n],
    [second, 150n],
    [second + 1, 155n],
  ])("due at %i: %i", (asOf, due) => {
    expect(pointsDue(schedule, asOf)).toBe(due);
  });

  it("lists expiring points soonest first, summed per time and bounded", () => {
    expect(expiringPoints(schedule, 10)).toEqual([
      { points: 100n, atMs: first },
      { points: 50n, atMs: second },
      { points: 5n, atMs: second + 1 },
    ]);
    expect(expiringPoints(schedule, 1)).toEqual([{ points: 100n, atMs: first }]);
  });

  it("owes one notice per expiry day within the window", () => {
    expect(expiringWithin(schedule, first - 5 * day, 30)).toEqual([
      { day: utcDay(first), points: 100n, atMs: first },
      { day: utcDay(second), points: 55n, atMs: second },
    ]);
    expect(expiringWithin(schedule, first, 30)).toEqual([
      { day: utcDay(second), points: 55n, atMs: second },
    ]);
    expect(expiringWithin(schedule, first - 31 * day, 30)).toEqual([]);
  });
});
