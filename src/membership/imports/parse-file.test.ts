import { describe, expect, it } from "vitest";
import { importFieldLengthMax } from "../limits.ts";
import {
  createCsvParser,
  createNdjsonParser,
  type FileRecord,
  ImportFileError,
  type RecordParser,
} from "./parse-file.ts";

/** Feeds the text in pieces of `size` characters, as a stream would deliver it. */
function parse(parser: RecordParser, text: string, size = text.length): FileRecord[] {
  const records: FileRecord[] = [];
  for (let start = 0; start < text.length; start += size) {
    records.push(...parser.feed(text.slice(start, start + size)));
  }
  records.push(...parser.end());
  return records;
}

describe("CSV (RFC 4180)", () => {
  const file =
    "external_ref,email,first_name,opening_points\r\n" +
    'c-1,ada@example.org,"Lovelace, Ada",10\r\n' +
    '"c-2",,"She said ""hi""",\r\n' +
    '"c-3",,"two\r\nlines",5\r\n' +
    "\r\n" +
    "c-4,,Bob,\n";

  it.each([1, 2, 3, 7, 1000])(
    "reads quoting, blank lines and line numbers in chunks of %i",
    (size) => {
      const records = parse(createCsvParser(), file, size);
      expect(records).toEqual([
        {
          line: 2,
          values: {
            external_ref: "c-1",
            email: "ada@example.org",
            first_name: "Lovelace, Ada",
            opening_points: "10",
          },
          problem: null,
        },
        { line: 3, values: { external_ref: "c-2", first_name: 'She said "hi"' }, problem: null },
        {
          line: 4,
          values: { external_ref: "c-3", first_name: "two\r\nlines", opening_points: "5" },
          problem: null,
        },
        // Line 6 is blank; the quoted field of line 4 spans line 5.
        { line: 7, values: { external_ref: "c-4", first_name: "Bob" }, problem: null },
      ]);
    },
  );

  it("reports a row with the wrong number of fields on its line, and goes on", () => {
    const records = parse(createCsvParser(), "external_ref,email\nc-1\nc-2,a@b.org\n");
    expect(records[0]?.problem?.code).toBe("column_count");
    expect(records[0]?.line).toBe(2);
    expect(records[1]?.values).toEqual({ external_ref: "c-2", email: "a@b.org" });
  });

  it("cuts an over-long field and reports it", () => {
    const records = parse(
      createCsvParser(),
      `external_ref\n${"x".repeat(importFieldLengthMax + 1)}\nok\n`,
    );
    expect(records[0]?.problem?.code).toBe("field_too_long");
    expect(records[1]?.values).toEqual({ external_ref: "ok" });
  });

  it("accepts a byte-order mark before the header", () => {
    expect(parse(createCsvParser(), "\uFEFFexternal_ref\nc-1\n")[0]?.values).toEqual({
      external_ref: "c-1",
    });
  });

  it.each([
    ["", "no header row"],
    ["email\nx@y.org\n", "no external_ref column"],
    ["external_ref,nickname\n", 'unknown column "nickname"'],
    ["external_ref,external_ref\n", "appears twice"],
    ['external_ref\n"c-1\n', "not closed"],
    ['external_ref\nc"1\n', "quote inside an unquoted field"],
    ['external_ref\n"c-1"x\n', "may follow a closing quote"],
  ])("refuses an unreadable file: %j", (text, message) => {
    expect(() => parse(createCsvParser(), text)).toThrowError(ImportFileError);
    expect(() => parse(createCsvParser(), text)).toThrowError(message);
  });
});

describe("NDJSON", () => {
  it("reads one object per line, numbering lines, with bad lines as row problems", () => {
    const text =
      '{"external_ref":"n-1","opening_points":3}\r\n' +
      "\n" +
      "not json\n" +
      "[1]\n" +
      '{"external_ref":"n-2","nickname":"x"}\n' +
      '{"external_ref":"n-3"}';
    for (const size of [1, 5, text.length]) {
      const records = parse(createNdjsonParser(), text, size);
      expect(records.map((record) => [record.line, record.problem?.code ?? null])).toEqual([
        [1, null],
        [3, "invalid_json"],
        [4, "invalid_row"],
        [5, "unknown_field"],
        [6, null],
      ]);
      expect(records[0]?.values).toEqual({ external_ref: "n-1", opening_points: 3 });
    }
  });
});
