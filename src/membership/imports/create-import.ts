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
import { eq } from "drizzle-orm";
import { uuidV7 } from "../../ledger/index.ts";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { nowOf } from "../intents/support.ts";
import { importErrorsStoredMax, importStageRowsMax } from "../limits.ts";
import { emailLookupHash, encryptPii, memberCipher, phoneLookupHash } from "../store/records.ts";
import { type ImportRowError, importRows, imports } from "../store/schema.ts";
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
    let batch: ValidImportRow[] = [];

    const stage = async (): Promise<void> => {
      if (batch.length === 0) {
        return;
      }
      const values = batch.map((row) => {
        // Chosen now: the personal data is encrypted for this member id, as `members` keeps it.
        const memberId = randomUUID();
        return {
          importId,
          orgId,
          line: row.line,
          externalRef: row.externalRef,
          memberId,
          emailEncrypted: encryptPii(cipher, "email", orgId, memberId, row.email),
          phoneEncrypted: encryptPii(cipher, "phone", orgId, memberId, row.phone),
          firstNameEncrypted: encryptPii(cipher, "first_name", orgId, memberId, row.firstName),
          lastNameEncrypted: encryptPii(cipher, "last_name", orgId, memberId, row.lastName),
          emailHash: row.email === null ? null : emailLookupHash(deps.secrets, orgId, row.email),
          phoneHash: row.phone === null ? null : phoneLookupHash(deps.secrets, orgId, row.phone),
          openingPoints: row.openingPoints,
        };
      });
      // A ref twice in the file: the first row is staged, the later one is an error. Rows are
      // inserted in line order, so within one statement too the earlier line wins.
      const inserted = await tx
        .insert(importRows)
        .values(values)
        .onConflictDoNothing({ target: [importRows.importId, importRows.externalRef] })
        .returning({ line: importRows.line });
      staged += inserted.length;
      if (inserted.length < batch.length) {
        const stagedLines = new Set(inserted.map((row) => row.line));
        for (const row of batch) {
          if (!stagedLines.has(row.line)) {
            errors.add({
              line: row.line,
              code: "duplicate_external_ref",
              message: "external_ref appears on an earlier line of the file",
            });
          }
        }
      }
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
        batch.push(checked.ok);
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

    assert.equal(staged + errors.count, rows, "every row is staged or an error");
    const kept = errors.kept.sort((a, b) => a.line - b.line);
    await tx
      .update(imports)
      .set({ rows, errorCount: errors.count, errors: kept })
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
