import { describe, expect, it } from "vitest";
import { periodWindows } from "./member-insights.ts";

function windows(period: "month" | "quarter" | "year", now: string, zone: string) {
  const { current, previous } = periodWindows(period, new Date(now), zone);
  return {
    current: [current.label, current.start.toISOString(), current.end.toISOString()],
    previous: [previous.label, previous.start.toISOString(), previous.end.toISOString()],
  };
}

describe("periodWindows", () => {
  it("reads the month in the org's zone, across a change of offset", () => {
    // 23:30 UTC on 31 March is already 1 April in Paris (summer time, +02:00).
    expect(windows("month", "2026-03-31T23:30:00Z", "Europe/Paris")).toEqual({
      current: ["2026-04", "2026-03-31T22:00:00.000Z", "2026-04-30T22:00:00.000Z"],
      previous: ["2026-03", "2026-02-28T23:00:00.000Z", "2026-03-31T22:00:00.000Z"],
    });
    expect(windows("month", "2026-03-31T21:59:59Z", "Europe/Paris").current[0]).toBe("2026-03");
  });

  it("goes back over the year's end for January, the first quarter and the year", () => {
    expect(windows("month", "2026-01-15T12:00:00Z", "UTC").previous).toEqual([
      "2025-12",
      "2025-12-01T00:00:00.000Z",
      "2026-01-01T00:00:00.000Z",
    ]);
    expect(windows("quarter", "2026-02-15T12:00:00Z", "America/New_York")).toEqual({
      current: ["2026-Q1", "2026-01-01T05:00:00.000Z", "2026-04-01T04:00:00.000Z"],
      previous: ["2025-Q4", "2025-10-01T04:00:00.000Z", "2026-01-01T05:00:00.000Z"],
    });
    expect(windows("year", "2026-12-31T15:00:00Z", "Asia/Tokyo")).toEqual({
      current: ["2027", "2026-12-31T15:00:00.000Z", "2027-12-31T15:00:00.000Z"],
      previous: ["2026", "2025-12-31T15:00:00.000Z", "2026-12-31T15:00:00.000Z"],
    });
  });
});
