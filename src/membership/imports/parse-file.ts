/**
 * Reading an import file as it streams in: CSV (RFC 4180, header row required) or NDJSON (one
 * JSON object per line). Both parsers are incremental: text is fed chunk by chunk and complete
 * records come out with the 1-based line of the file they start on, so the memory they hold is
 * one record, whatever the size of the file. Every buffer is bounded: an over-long field or line
 * is cut and reported on its record rather than kept.
 */
import assert from "node:assert/strict";
import { importFieldLengthMax, importFieldsPerRecordMax, importLineLengthMax } from "../limits.ts";

/** A record of the file: its cells (CSV) or its object (NDJSON), or why it is unreadable. */
export interface FileRecord {
  /** 1-based line of the file where the record starts (the CSV header is line 1). */
  line: number;
  values: Record<string, unknown> | null;
  /** Set when the record cannot be read as a row (`values` is then null). */
  problem: { code: string; message: string } | null;
}

/** The file cannot be read at all (no header, unknown column, unterminated quote): nothing is kept. */
export class ImportFileError extends Error {
  override readonly name = "ImportFileError";
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** The columns an import file may have; `external_ref` is required. */
export const importColumns = [
  "external_ref",
  "email",
  "phone",
  "first_name",
  "last_name",
  "opening_points",
] as const;
export type ImportColumn = (typeof importColumns)[number];

export interface RecordParser {
  /** Parses the next chunk of text; returns the records it completed. */
  feed(text: string): FileRecord[];
  /** The end of the file: returns the last record, or throws `ImportFileError`. */
  end(): FileRecord[];
}

/**
 * CSV after RFC 4180: fields separated by commas, records by CRLF (a lone LF or CR is accepted),
 * a field in double quotes may hold commas, line breaks and `""` for a quote. A quote inside an
 * unquoted field, or anything but a separator after a closing quote, is a syntax error of the
 * file. Blank lines are skipped. The first record is the header: every column named once, each
 * one of `importColumns`, `external_ref` among them. Empty cells are absent values.
 */
export function createCsvParser(): RecordParser {
  let header: ImportColumn[] | null = null;
  let fields: string[] = [];
  let field = "";
  let fieldTooLong = false;
  let tooManyFields = false;
  /** Inside a quoted field. */
  let quoted = false;
  /** A quote closed the field (or is the first of an escaped pair). */
  let afterQuote = false;
  /** The field began with a quote: an empty quoted field is not a blank line. */
  let fieldQuoted = false;
  let line = 1;
  let recordLine = 1;
  let previousWasCr = false;

  const append = (text: string): void => {
    if (field.length + text.length > importFieldLengthMax) {
      fieldTooLong = true;
      field = field.concat(text).slice(0, importFieldLengthMax);
      return;
    }
    field += text;
  };
  const endField = (): void => {
    if (fields.length < importFieldsPerRecordMax) {
      fields.push(field);
    } else {
      tooManyFields = true;
    }
    field = "";
    fieldQuoted = false;
  };
  const endRecord = (out: FileRecord[]): void => {
    const blank = fields.length === 0 && field === "" && !fieldQuoted;
    endField();
    if (!blank) {
      const record = toRecord(fields, recordLine);
      if (record !== null) {
        out.push(record);
      }
    }
    fields = [];
    fieldTooLong = false;
    tooManyFields = false;
  };
  const toRecord = (cells: string[], at: number): FileRecord | null => {
    if (header === null) {
      header = readHeader(cells, at, fieldTooLong || tooManyFields);
      return null;
    }
    if (fieldTooLong || tooManyFields) {
      return problem(
        at,
        "field_too_long",
        `a field is longer than ${importFieldLengthMax} characters or the row has too many fields`,
      );
    }
    if (cells.length !== header.length) {
      return problem(
        at,
        "column_count",
        `the row has ${cells.length} fields, the header ${header.length}`,
      );
    }
    const values: Record<string, unknown> = {};
    header.forEach((column, index) => {
      const cell = cells[index];
      if (cell !== undefined && cell !== "") {
        values[column] = cell;
      }
    });
    return { line: at, values, problem: null };
  };

  const feed = (text: string): FileRecord[] => {
    const out: FileRecord[] = [];
    let runStart = -1;
    const flushRun = (end: number): void => {
      if (runStart >= 0) {
        append(text.slice(runStart, end));
        runStart = -1;
      }
    };
    for (let index = 0; index < text.length; index++) {
      const char = text.charCodeAt(index);
      const wasCr = previousWasCr;
      previousWasCr = char === 13;
      if (quoted) {
        if (char === 34) {
          flushRun(index);
          quoted = false;
          afterQuote = true;
        } else {
          if (char === 13 || (char === 10 && !wasCr)) {
            line += 1;
          }
          if (runStart < 0) {
            runStart = index;
          }
        }
        continue;
      }
      if (afterQuote) {
        afterQuote = false;
        if (char === 34) {
          // An escaped quote: `""` inside a quoted field.
          append('"');
          quoted = true;
          continue;
        }
        if (char !== 44 && char !== 10 && char !== 13) {
          throw new ImportFileError(
            line,
            `line ${line}: only a comma or a line break may follow a closing quote`,
          );
        }
      }
      if (char === 44) {
        flushRun(index);
        endField();
      } else if (char === 10 || char === 13) {
        flushRun(index);
        if (char === 10 && wasCr) {
          // The LF of a CRLF: the record ended at the CR.
          recordLine = line;
          continue;
        }
        endRecord(out);
        line += 1;
        recordLine = line;
      } else if (char === 34) {
        if (field !== "" || runStart >= 0 || fieldQuoted) {
          throw new ImportFileError(line, `line ${line}: a quote inside an unquoted field`);
        }
        quoted = true;
        fieldQuoted = true;
      } else if (runStart < 0) {
        runStart = index;
      }
    }
    flushRun(text.length);
    return out;
  };

  return {
    feed,
    end() {
      if (quoted) {
        throw new ImportFileError(line, `a quoted field is not closed at the end of the file`);
      }
      afterQuote = false;
      const out: FileRecord[] = [];
      endRecord(out);
      if (header === null) {
        throw new ImportFileError(1, "the file has no header row");
      }
      return out;
    },
  };
}

function readHeader(cells: string[], line: number, overlong: boolean): ImportColumn[] {
  assert.equal(line >= 1, true, "lines are 1-based");
  if (overlong) {
    throw new ImportFileError(line, "the header row has an over-long or extra field");
  }
  const columns: ImportColumn[] = [];
  for (const cell of cells) {
    // A byte-order mark (spreadsheets write one) is not part of the first column's name.
    const name = cell.replace(/^\uFEFF/, "").trim();
    if (!(importColumns as readonly string[]).includes(name)) {
      throw new ImportFileError(
        line,
        `unknown column "${name.slice(0, 64)}"; columns: ${importColumns.join(", ")}`,
      );
    }
    if (columns.includes(name as ImportColumn)) {
      throw new ImportFileError(line, `column "${name}" appears twice`);
    }
    columns.push(name as ImportColumn);
  }
  if (!columns.includes("external_ref")) {
    throw new ImportFileError(line, "the header has no external_ref column");
  }
  return columns;
}

function problem(line: number, code: string, message: string): FileRecord {
  return { line, values: null, problem: { code, message } };
}

/**
 * NDJSON: one JSON object per line (LF or CRLF), blank lines skipped. A line that is not a JSON
 * object is that row's error, not the file's. A line longer than `importLineLengthMax` is
 * reported and skipped without being kept.
 */
export function createNdjsonParser(): RecordParser {
  let buffer = "";
  let tooLong = false;
  let line = 1;

  const take = (text: string, out: FileRecord[]): void => {
    if (tooLong) {
      out.push(
        problem(line, "line_too_long", `the line is longer than ${importLineLengthMax} characters`),
      );
    } else if (text.trim() !== "") {
      out.push(parseLine(text, line));
    }
    buffer = "";
    tooLong = false;
    line += 1;
  };

  return {
    feed(text) {
      const out: FileRecord[] = [];
      let start = 0;
      for (;;) {
        const newline = text.indexOf("\n", start);
        const piece = text.slice(start, newline < 0 ? text.length : newline);
        if (!tooLong) {
          if (buffer.length + piece.length > importLineLengthMax) {
            tooLong = true;
            buffer = "";
          } else {
            buffer += piece;
          }
        }
        if (newline < 0) {
          break;
        }
        take(buffer, out);
        start = newline + 1;
      }
      return out;
    },
    end() {
      const out: FileRecord[] = [];
      if (tooLong || buffer.trim() !== "") {
        take(buffer, out);
      }
      return out;
    },
  };
}

function parseLine(text: string, line: number): FileRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return problem(line, "invalid_json", "the line is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return problem(line, "invalid_row", "the line is not a JSON object");
  }
  const unknown = Object.keys(parsed).find(
    (key) => !(importColumns as readonly string[]).includes(key),
  );
  if (unknown !== undefined) {
    return problem(
      line,
      "unknown_field",
      `unknown field "${unknown.slice(0, 64)}"; fields: ${importColumns.join(", ")}`,
    );
  }
  return { line, values: parsed as Record<string, unknown>, problem: null };
}
