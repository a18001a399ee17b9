/**
 * The export's wire format on its own: nanosecond instants parse and print exactly (a range
 * handed back must chain without a gap), CSV fields follow RFC 4180, and the failure trailer
 * names where to resume.
 */
import { describe, expect, it } from "vitest";
import {
  csvField,
  csvHeaderLine,
  csvLine,
  type ExportRowDto,
  formatInstantNs,
  ndjsonLine,
  parseInstantNs,
  trailerLine,
} from "./ledger-export.ts";

const row: ExportRowDto = {
  timestamp: "2025-11-14T09:30:12.345678901Z",
  timestamp_ns: "1763112612345678901",
  occurred_at: null,
  operation: "purchase_earn",
  code: 2,
  member_id: "0193a9e6-1111-7000-8000-000000000007",
  debit_account: "issuance",
  credit_account: "wallet:0193a9e6-1111-7000-8000-000000000007",
  amount: "50",
  pending: false,
  post: false,
  void: false,
  pending_id: null,
  transfer_id: "17",
  document_id: null,
};

describe("instants", () => {
  it("parse to nanoseconds and print back the same instant", () => {
    expect(parseInstantNs("1970-01-01T00:00:00Z")).toBe(0n);
    expect(parseInstantNs("2025-11-14T09:30:12.345678901Z")).toBe(1763112612345678901n);
    expect(parseInstantNs("2025-11-14T10:30:12.345678901+01:00")).toBe(1763112612345678901n);
    expect(parseInstantNs("2025-11-14T09:30:12.3Z")).toBe(1763112612300000000n);
    expect(formatInstantNs(1763112612345678901n)).toBe("2025-11-14T09:30:12.345678901Z");
    expect(formatInstantNs(0n)).toBe("1970-01-01T00:00:00.000000000Z");
    for (const ns of [1n, 999_999n, 1_000_000n, 1763112612000000000n, 1763112612999999999n]) {
      expect(parseInstantNs(formatInstantNs(ns))).toBe(ns);
    }
  });

  it("refuse what is not an RFC 3339 instant from 1970 on", () => {
    for (const text of [
      "2026-02-30T00:00:00Z",
      "2025-11-14T09:30:12.3456789012Z",
      "2025-11-14T09:30:12",
      "2025-11-14 09:30:12Z",
      "1969-12-31T23:59:59Z",
      "2026-13-01T00:00:00Z",
      "2025-11-14T24:00:00Z",
      "",
    ]) {
      expect(parseInstantNs(text), text).toBeNull();
    }
  });
});

describe("CSV", () => {
  it("quotes fields with commas, quotes, line breaks or edge spaces (RFC 4180)", () => {
    expect(csvField("issuance")).toBe("issuance");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\r\nlines")).toBe('"two\r\nlines"');
    expect(csvField(" padded")).toBe('" padded"');
    expect(csvField("")).toBe("");
  });

  it("writes one CRLF record per row, nulls empty, in the header's column order", () => {
    expect(csvHeaderLine.endsWith("\r\n")).toBe(true);
    const header = csvHeaderLine.trimEnd().split(",");
    const fields = csvLine(row).trimEnd().split(",");
    expect(fields.length).toBe(header.length);
    expect(fields[header.indexOf("amount")]).toBe("50");
    expect(fields[header.indexOf("occurred_at")]).toBe("");
    expect(fields[header.indexOf("pending")]).toBe("false");
  });
});

describe("NDJSON and the trailer", () => {
  it("writes one object per line", () => {
    const line = ndjsonLine(row);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.indexOf("\n")).toBe(line.length - 1);
    expect(JSON.parse(line)).toEqual(row);
  });

  it("says what failed and where to resume, in either format", () => {
    const trailer = {
      code: "unavailable" as const,
      message: "the ledger became unavailable",
      rows: 8189,
      resumeFromNs: 1763112612345678902n,
    };
    expect(JSON.parse(trailerLine("ndjson", trailer))).toEqual({
      error: {
        code: "unavailable",
        message: "the ledger became unavailable",
        rows: 8189,
        resume_from: "2025-11-14T09:30:12.345678902Z",
        resume_from_ns: "1763112612345678902",
      },
    });
    expect(trailerLine("csv", trailer)).toBe(
      "# error: unavailable: the ledger became unavailable; rows: 8189; resume from " +
        "2025-11-14T09:30:12.345678902Z (1763112612345678902 ns)\r\n",
    );
  });
});
