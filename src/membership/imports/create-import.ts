/**
 * Staging a member import: the file is read as it streams in, each row validated, and the valid
 * rows stored in `import_rows` in bounded batches, under one `imports` row, in one transaction
 * with the `import.created` audit entry. Nothing is enrolled here: the `imports` worker does
 * that (enroll-import.ts). When the file turns out unreadable (no header, an unknown column, an
 * unterminated quote) or the body stops (too large, cut), the transaction rolls back and nothing
 * of the import remains.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { uuidV7 } from "../../ledger/index.ts";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { nowOf } from "../intents/support.ts";
import { importErrorsStoredMax, importStageRowsMax } from "../limits.ts";
import { executeStatement } from "../store/db.ts";
import { emailLookupHash, encryptPii, memberCipher, phoneLookupHash } from "../store/records.ts";
import { type ImportRowError, imports } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { createCsvParser, createNdjsonParser, type RecordParser } from "./parse-file.ts";
import { type ValidImportRow, validateImportRow } from "./validate-row.ts";

export type ImportFormat = "csv" | "ndjson";

export interface CreateImportInput {
  orgId: string;
  actor: AuditActor;
  format: ImportFormat;
  /** The file's text, chunk by chunk (already decoded; the edge bounds its size). */
  chunks: AsyncIterable<string>;
}

export interface CreateImportResult {
  importId: string;
  rows: number;
  staged: number;
  errorCount: number;
}

/**
 * One statement per batch, its rows as one JSON parameter (`$1`): a multi-row insert of 13
 * parameters per row costs more to build and bind than the rows cost to store. Byte columns
 * travel as hex. The ids are checked UUIDs, written into the text.
 */
function stageInsert(importId: string, orgId: string): string {
  assert.ok(isUuid(importId) && isUuid(orgId), "ids written into a statement are UUIDs");
  return `
    insert into import_rows (import_id, org_id, line, external_ref, member_id, email_encrypted,
      phone_encrypted, first_name_encrypted, last_name_encrypted, email_hash, phone_hash,
      opening_points)
    select '${importId}'::uuid, '${orgId}'::uuid, r.line, r.external_ref, r.member_id,
      decode(r.email, 'hex'), decode(r.phone, 'hex'), decode(r.first_name, 'hex'),
      decode(r.last_name, 'hex'), decode(r.email_hash, 'hex'), decode(r.phone_hash, 'hex'),
      r.opening_points
    from jsonb_to_recordset($1::jsonb) as r(n int, line int, external_ref text, member_id uuid,
      email text, phone text, first_name text, last_name text, email_hash text, phone_hash text,
      opening_points bigint)
    order by r.n
    on conflict (import_id, external_ref) do nothing
    returning line`;
}

/** A row as the staging statement reads it (snake_case: the JSON parameter's keys). */
interface StagedRow {
  n: number;
  line: number;
  external_ref: string;
  member_id: string;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  email_hash: string | null;
  phone_hash: string | null;
  opening_points: string;
}

function hex(value: Buffer | null): string | null {
  return value === null ? null : value.toString("hex");
}

/** Keeps the first `importErrorsStoredMax` errors and counts them all. */
class ErrorLog {
  readonly kept: ImportRowError[] = [];
  count = 0;

  add(error: ImportRowError): void {
    this.count += 1;
    if (this.kept.length < importErrorsStoredMax) {
      this.kept.push(error);
    }
  }
}

/**
 * Reads and stages an import file; returns its id once every valid row is durable. Throws
 * `ImportFileError` (parse-file.ts) for a file that cannot be read, and whatever the chunks
 * throw (the edge's size limit); both leave nothing behind.
 */
export async function createImport(
  deps: LedgerDeps,
  input: CreateImportInput,
): Promise<CreateImportResult> {
  const { orgId } = input;
  const importId = uuidV7(nowOf(deps).getTime());
  const cipher = memberCipher(deps.secrets);
  const parser: RecordParser = input.format === "csv" ? createCsvParser() : createNdjsonParser();

  return deps.db.transaction(async (tx) => {
    await tx.insert(imports).values({
      id: importId,
      orgId,
      format: input.format,
      actorKeyId: input.actor.keyId,
    });
    const errors = new ErrorLog();
    let rows = 0;
    let staged = 0;
    let batch: StagedRow[] = [];

    /** Encrypted for a member id chosen now, as `members` keeps personal data. */
    const prepare = (row: ValidImportRow, index: number): StagedRow => {
      const memberId = randomUUID();
      return {
        n: index,
        line: row.line,
        external_ref: row.externalRef,
        member_id: memberId,
        email: hex(encryptPii(cipher, "email", orgId, memberId, row.email)),
        phone: hex(encryptPii(cipher, "phone", orgId, memberId, row.phone)),
        first_name: hex(encryptPii(cipher, "first_name", orgId, memberId, row.firstName)),
        last_name: hex(encryptPii(cipher, "last_name", orgId, memberId, row.lastName)),
        email_hash:
          row.email === null ? null : hex(emailLookupHash(deps.secrets, orgId, row.email)),
        phone_hash:
          row.phone === null ? null : hex(phoneLookupHash(deps.secrets, orgId, row.phone)),
        opening_points: row.openingPoints.toString(),
      };
    };

    const insertBatch = async (values: StagedRow[]): Promise<void> => {
      if (values.length === 0) {
        return;
      }
      // A ref twice in the file: the first row is staged, the later one is an error. Rows are
      // inserted in line order, so within one statement too the earlier line wins.
      const inserted = await executeStatement<{ line: number }>(
        tx,
        stageInsert(importId, orgId),
        JSON.stringify(values),
      );
      staged += inserted.length;
      if (inserted.length < values.length) {
        const stagedLines = new Set(inserted.map((row) => row.line));
        for (const row of values) {
          if (!stagedLines.has(row.line)) {
            errors.add({
              line: row.line,
              code: "duplicate_external_ref",
              message: "external_ref appears on an earlier line of the file",
            });
          }
        }
      }
    };
    // The insert of one batch overlaps the reading and encrypting of the next (one statement in
    // flight at most: the transaction runs them in order anyway).
    let inserting: Promise<void> = Promise.resolve();
    const stage = async (): Promise<void> => {
      await inserting;
      inserting = insertBatch(batch);
      inserting.catch(() => undefined);
      batch = [];
    };

    const take = async (records: ReturnType<RecordParser["feed"]>): Promise<void> => {
      for (const record of records) {
        rows += 1;
        const checked = validateImportRow(record);
        if ("problem" in checked) {
          errors.add(checked.problem);
          continue;
        }
        batch.push(prepare(checked.ok, batch.length));
        if (batch.length >= importStageRowsMax) {
          await stage();
        }
      }
    };

    for await (const chunk of input.chunks) {
      await take(parser.feed(chunk));
    }
    await take(parser.end());
    await stage();
    await inserting;

    assert.equal(staged + errors.count, rows, "every row is staged or an error");
    const kept = errors.kept.sort((a, b) => a.line - b.line);
    await tx
      .update(imports)
      .set({ rows, errorCount: errors.count, errors: kept, updatedAt: sql`clock_timestamp()` })
      .where(eq(imports.id, importId));
    await writeAudit(tx, {
      orgId,
      actor: input.actor,
      action: "import.created",
      targetType: "import",
      targetId: importId,
      before: null,
      after: { id: importId, format: input.format, rows, staged, error_count: errors.count },
    });
    return { importId, rows, staged, errorCount: errors.count };
  });
}
