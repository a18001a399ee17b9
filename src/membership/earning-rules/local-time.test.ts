import { describe, expect, it } from "vitest";
import { localTimeToInstant } from "./local-time.ts";

function instant(text: string, zone: string): string {
  const result = localTimeToInstant(text, zone);
  if (!result.ok) {
    throw new Error(result.message);
  }
  return result.instant.toISOString();
}

describe("localTimeToInstant", () => {
  it("reads winter and summer time in Europe/Paris", () => {
    expect(instant("2026-01-10T23:59:59", "Europe/Paris")).toBe("2026-01-10T22:59:59.000Z");
    expect(instant("2026-07-14T12:00:00", "Europe/Paris")).toBe("2026-07-14T10:00:00.000Z");
    expect(instant("2026-07-14T12:00", "Europe/Paris")).toBe("2026-07-14T10:00:00.000Z");
    expect(instant("2026-07-14T12:00:00.25", "Europe/Paris")).toBe("2026-07-14T10:00:00.250Z");
  });

  it("reads other zones, including those west of UTC and UTC itself", () => {
    expect(instant("2026-01-10T08:00:00", "America/New_York")).toBe("2026-01-10T13:00:00.000Z");
    expect(instant("2026-06-10T08:00:00", "America/New_York")).toBe("2026-06-10T12:00:00.000Z");
    expect(instant("2026-06-10T08:00:00", "UTC")).toBe("2026-06-10T08:00:00.000Z");
    expect(instant("2026-06-10T08:00:00", "Asia/Kolkata")).toBe("2026-06-10T02:30:00.000Z");
  });

  it("takes the earlier instant of an ambiguous time (clocks going back)", () => {
    // 2026-10-25: Paris goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    expect(instant("2026-10-25T02:30:00", "Europe/Paris")).toBe("2026-10-25T00:30:00.000Z");
  });

  it("shifts a nonexistent time forward by the gap (clocks going forward)", () => {
    // 2026-03-29: Paris goes from 02:00 CET to 03:00 CEST; 02:30 does not exist: 03:30 CEST.
    expect(instant("2026-03-29T02:30:00", "Europe/Paris")).toBe("2026-03-29T01:30:00.000Z");
    expect(instant("2026-03-29T03:00:00", "Europe/Paris")).toBe("2026-03-29T01:00:00.000Z");
  });

  it("refuses dates off the calendar and other forms", () => {
    expect(localTimeToInstant("2026-02-30T10:00:00", "Europe/Paris").ok).toBe(false);
    expect(localTimeToInstant("2026-01-10T24:00:00", "Europe/Paris").ok).toBe(false);
    expect(localTimeToInstant("2026-01-10 10:00:00", "Europe/Paris").ok).toBe(false);
    expect(localTimeToInstant("2026-01-10T10:00:00Z", "Europe/Paris").ok).toBe(false);
  });
});
