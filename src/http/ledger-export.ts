/**
 * The wire side of the finance export: nanosecond RFC 3339 instants (parsed and printed exactly,
 * since ledger timestamps are nanoseconds and a range handed back must chain without a gap),
 * rows as CSV (RFC 4180) or NDJSON, and the response body as a pull stream.
 *
 * The body is a `ReadableStream` whose `pull` reads one ledger page, encodes it and enqueues it:
 * the stream keeps one encoded page queued while the socket drains the one before, and the server
 * reads the next only once the socket has drained, so a slow client slows the ledger reads down
 * instead of filling memory. Memory holds two pages, whatever the range.
 *
 * A failure once the first byte is sent cannot become a status any more. The body then ends with
 * one trailer line saying so, with the rows written and the timestamp to resume from (the
 * timestamp after the last complete row): NDJSON `{"error":{...}}`, CSV a line starting with
 * `# error:` (one field, which a reader checking the column count refuses).
 */
import assert from "node:assert/strict";
import type { Logger } from "pino";
import type { LedgerExportRow } from "../ledger/index.ts";
import { isDependencyUnavailable } from "./errors.ts";

export type ExportFormat = "csv" | "ndjson";

export const exportContentTypes: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8; header=present",
  ndjson: "application/x-ndjson; charset=utf-8",
};

const nsPerMs = 1_000_000n;
const instantPattern =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * An RFC 3339 instant with up to nine fractional digits, as nanoseconds since the Unix epoch;
 * null when it is not one (or names no real date, such as February 30) or lies before 1970.
 */
export function parseInstantNs(text: string): bigint | null {
  const match = instantPattern.exec(text);
  if (match === null) {
    return null;
  }
  const [, seconds, fraction = "", offset] = match;
  const ms = Date.parse(`${seconds}${offset}`);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    return null;
  }
  // Date.parse rolls impossible dates over (2026-02-30 → March 2): compare the fields back.
  const offsetMs =
    offset === undefined || offset.toUpperCase() === "Z"
      ? 0
      : (offset.startsWith("-") ? -1 : 1) *
        (Number(offset.slice(1, 3)) * 3_600_000 + Number(offset.slice(4, 6)) * 60_000);
  const local = new Date(ms + offsetMs).toISOString().slice(0, 19);
  if (local !== (seconds as string).toUpperCase()) {
    return null;
  }
  return BigInt(ms) * nsPerMs + BigInt(fraction.padEnd(9, "0"));
}

const nsPerSecond = 1_000_000_000n;
/** The last second printed and its text: rows of one page mostly share their second. */
let secondCached = -1n;
let secondTextCached = "";

/** Nanoseconds since the epoch as RFC 3339 in UTC with nine fractional digits. */
export function formatInstantNs(ns: bigint): string {
  assert.ok(ns >= 0n, "an instant is not before the epoch");
  const second = ns / nsPerSecond;
  if (second !== secondCached) {
    assert.ok(second <= 8_640_000_000_000n, "an instant within Date's range");
    // "…HH:MM:SS.mmmZ" → "…HH:MM:SS"
    secondTextCached = new Date(Number(second) * 1000).toISOString().slice(0, 19);
    secondCached = second;
  }
  return `${secondTextCached}.${(ns % nsPerSecond).toString().padStart(9, "0")}Z`;
}

export const exportColumns = [
  "timestamp",
  "timestamp_ns",
  "occurred_at",
  "operation",
  "code",
  "member_id",
  "debit_account",
  "credit_account",
  "amount",
  "pending",
  "post",
  "void",
  "pending_id",
  "transfer_id",
  "document_id",
] as const;

/** One row on the wire; the NDJSON object, and the CSV fields in `exportColumns` order. */
export interface ExportRowDto {
  timestamp: string;
  timestamp_ns: string;
  occurred_at: string | null;
  operation: string;
  code: number;
  member_id: string | null;
  debit_account: string;
  credit_account: string;
  amount: string;
  pending: boolean;
  post: boolean;
  void: boolean;
  pending_id: string | null;
  transfer_id: string;
  document_id: string | null;
}

export function exportRowDto(row: LedgerExportRow): ExportRowDto {
  return {
    timestamp: formatInstantNs(row.timestamp),
    timestamp_ns: row.timestamp.toString(),
    occurred_at: row.documentTimeMs === null ? null : new Date(row.documentTimeMs).toISOString(),
    operation: row.operation,
    code: row.code,
    member_id: row.memberId,
    debit_account: row.debitAccount,
    credit_account: row.creditAccount,
    amount: row.amount.toString(),
    pending: row.phase === "pending",
    post: row.phase === "post",
    void: row.phase === "void",
    pending_id: row.pendingId === 0n ? null : row.pendingId.toString(),
    transfer_id: row.transferId.toString(),
    document_id: row.documentId,
  };
}

const csvQuoteNeeded = /[",\r\n]|^\s|\s$/;

/** One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, quote or break. */
export function csvField(value: string): string {
  return csvQuoteNeeded.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** RFC 4180 ends every record with CRLF. */
export const csvHeaderLine = `${exportColumns.join(",")}\r\n`;

export function csvLine(dto: ExportRowDto): string {
  const fields = exportColumns.map((column) => {
    const value = dto[column];
    return value === null ? "" : csvField(String(value));
  });
  return `${fields.join(",")}\r\n`;
}

export function ndjsonLine(dto: ExportRowDto): string {
  return `${JSON.stringify(dto)}\n`;
}

export interface ExportTrailer {
  code: "unavailable" | "internal_error";
  message: string;
  /** Rows written before the failure: complete, and all of the range before `resumeFrom`. */
  rows: number;
  /** The timestamp an export covering the rest starts from. */
  resumeFromNs: bigint;
}

export function trailerLine(format: ExportFormat, trailer: ExportTrailer): string {
  const resumeFrom = formatInstantNs(trailer.resumeFromNs);
  if (format === "ndjson") {
    return `${JSON.stringify({
      error: {
        code: trailer.code,
        message: trailer.message,
        rows: trailer.rows,
        resume_from: resumeFrom,
        resume_from_ns: trailer.resumeFromNs.toString(),
      },
    })}\n`;
  }
  return (
    `# error: ${trailer.code}: ${trailer.message}; rows: ${trailer.rows}; ` +
    `resume from ${resumeFrom} (${trailer.resumeFromNs} ns)\r\n`
  );
}

export interface ExportBodyArgs {
  format: ExportFormat;
  /** Start of the range: where a failure before any row resumes. */
  timestampFrom: bigint;
  /** The first page, already read (a failure there is still a status); null: the range is empty. */
  first: LedgerExportRow[] | null;
  /** The pages after the first. */
  rest: AsyncGenerator<LedgerExportRow[]>;
  logger: Logger | undefined;
}

/**
 * The export's body: the CSV header (CSV only), then each page as one chunk, pulled one page at
 * a time, then, on a failure, the trailer line.
 */
export function exportBody(args: ExportBodyArgs): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const line = args.format === "csv" ? csvLine : ndjsonLine;
  let rows = 0;
  let resumeFromNs = args.timestampFrom;
  let pending: LedgerExportRow[] | null = args.first;
  let headerSent = args.format !== "csv";

  function encodePage(page: readonly LedgerExportRow[]): Uint8Array {
    let text = headerSent ? "" : csvHeaderLine;
    headerSent = true;
    for (const row of page) {
      assert.ok(row.timestamp >= resumeFromNs, "rows come in range order");
      text += line(exportRowDto(row));
      resumeFromNs = row.timestamp + 1n;
    }
    rows += page.length;
    return encoder.encode(text);
  }

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (pending !== null) {
          const page = pending;
          pending = null;
          controller.enqueue(encodePage(page));
          return;
        }
        let next: IteratorResult<LedgerExportRow[]>;
        try {
          next = await args.rest.next();
        } catch (error) {
          const unavailable = isDependencyUnavailable(error);
          args.logger?.error({ err: error, rows }, "export failed after its first byte");
          const prefix = headerSent ? "" : csvHeaderLine;
          headerSent = true;
          controller.enqueue(
            encoder.encode(
              prefix +
                trailerLine(args.format, {
                  code: unavailable ? "unavailable" : "internal_error",
                  message: unavailable
                    ? "the ledger became unavailable; the export is incomplete"
                    : "internal error; the export is incomplete",
                  rows,
                  resumeFromNs,
                }),
            ),
          );
          controller.close();
          return;
        }
        if (next.done === true) {
          if (!headerSent) {
            controller.enqueue(encoder.encode(csvHeaderLine));
            headerSent = true;
          }
          controller.close();
          return;
        }
        controller.enqueue(encodePage(next.value));
      },
      async cancel() {
        // The client went away: stop reading the ledger.
        await args.rest.return(undefined);
      },
    },
    // One page read ahead while the socket drains the previous one: two pages in memory at most.
    { highWaterMark: 1 },
  );
}
