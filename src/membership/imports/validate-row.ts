/**
 * The checks of one import row, the same the edge applies to `POST /v1/members` (lengths, e-mail
 * and phone formats), plus `opening_points`: a non-negative integer, a decimal string in CSV.
 * A row that fails one is reported with its line and a code; the file goes on.
 */
import { z } from "zod";
import {
  emailLengthMax,
  externalRefLengthMax,
  importOpeningPointsMax,
  personNameLengthMax,
  phoneLengthMax,
} from "../limits.ts";
import type { FileRecord } from "./parse-file.ts";

export interface ValidImportRow {
  line: number;
  externalRef: string;
  email: string | null;
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
  openingPoints: bigint;
}

export interface ImportRowProblem {
  line: number;
  code: string;
  message: string;
}

const emailSchema = z.email().max(emailLengthMax);
const phonePattern = /^\+?[0-9 ().-]+$/;
const pointsPattern = /^(0|[1-9][0-9]*)$/;
/** NUL and unpaired surrogates cannot be stored in Postgres text (the edge refuses them too). */
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isUnsafeText(value: string): boolean {
  return value.includes("\u0000") || loneSurrogate.test(value);
}

type Checked<T> = { ok: T } | { problem: ImportRowProblem };

function text(
  line: number,
  values: Record<string, unknown>,
  name: string,
  lengthMax: number,
): Checked<string | null> {
  const value = values[name];
  if (value === undefined || value === null) {
    return { ok: null };
  }
  if (typeof value !== "string" || value.length === 0) {
    return bad(line, `invalid_${name}`, `${name} must be a non-empty string`);
  }
  if (value.length > lengthMax) {
    return bad(line, `invalid_${name}`, `${name} is longer than ${lengthMax} characters`);
  }
  if (isUnsafeText(value)) {
    return bad(line, `invalid_${name}`, `${name} holds a NUL or an unpaired surrogate`);
  }
  return { ok: value };
}

function bad(line: number, code: string, message: string): { problem: ImportRowProblem } {
  return { problem: { line, code, message } };
}

function openingPoints(line: number, value: unknown): Checked<bigint> {
  if (value === undefined || value === null) {
    return { ok: 0n };
  }
  let points: bigint | null = null;
  if (typeof value === "string" && pointsPattern.test(value) && value.length <= 20) {
    points = BigInt(value);
  } else if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
    points = BigInt(value);
  }
  if (points === null || points > importOpeningPointsMax) {
    return bad(
      line,
      "invalid_opening_points",
      `opening_points must be an integer from 0 to ${importOpeningPointsMax}`,
    );
  }
  return { ok: points };
}

/** A record of the file as a row to stage, or the first reason it cannot be one. */
export function validateImportRow(record: FileRecord): Checked<ValidImportRow> {
  const { line } = record;
  if (record.values === null) {
    const problem = record.problem ?? { code: "invalid_row", message: "unreadable row" };
    return { problem: { line, ...problem } };
  }
  const { values } = record;
  if (values.external_ref === undefined || values.external_ref === null) {
    return bad(line, "missing_external_ref", "external_ref is required");
  }
  const externalRef = text(line, values, "external_ref", externalRefLengthMax);
  if ("problem" in externalRef) {
    return externalRef;
  }
  const email = text(line, values, "email", emailLengthMax);
  if ("problem" in email) {
    return email;
  }
  if (email.ok !== null && !emailSchema.safeParse(email.ok).success) {
    return bad(line, "invalid_email", "email is not an e-mail address");
  }
  const phone = text(line, values, "phone", phoneLengthMax);
  if ("problem" in phone) {
    return phone;
  }
  if (phone.ok !== null && !phonePattern.test(phone.ok)) {
    return bad(line, "invalid_phone", "phone: digits, spaces, ( ) . - and an optional leading +");
  }
  const firstName = text(line, values, "first_name", personNameLengthMax);
  if ("problem" in firstName) {
    return firstName;
  }
  const lastName = text(line, values, "last_name", personNameLengthMax);
  if ("problem" in lastName) {
    return lastName;
  }
  const points = openingPoints(line, values.opening_points);
  if ("problem" in points) {
    return points;
  }
  return {
    ok: {
      line,
      externalRef: externalRef.ok ?? "",
      email: email.ok,
      phone: phone.ok,
      firstName: firstName.ok,
      lastName: lastName.ok,
      openingPoints: points.ok,
    },
  };
}
