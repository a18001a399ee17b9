/**
 * Reading an import's progress, and finding the imports a worker should be running (for the
 * sweep that announces the ones no job announced).
 */
import { and, asc, eq, inArray, lt, sql } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { type ImportRowError, imports } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

export interface MemberImport {
  id: string;
  orgId: string;
  status: "pending" | "running" | "completed" | "failed";
  format: string;
  rows: number;
  enrolled: number;
  skipped: number;
  errors: ImportRowError[];
  errorCount: number;
  failureReason: string | null;
  createdAt: Date;
  completedAt: Date | null;
}

/** The org's import; another org's or an unknown id is `not_found`. */
export async function getImport(
  deps: DbDeps,
  input: { orgId: string; importId: string },
): Promise<MemberImport> {
  if (!isUuid(input.importId)) {
    throw new DomainError("not_found", "import not found", { importId: input.importId });
  }
  const [row] = await deps.db
    .select()
    .from(imports)
    .where(and(eq(imports.orgId, input.orgId), eq(imports.id, input.importId)));
  if (row === undefined) {
    throw new DomainError("not_found", "import not found", { importId: input.importId });
  }
  return {
    id: row.id,
    orgId: row.orgId,
    status: row.status,
    format: row.format,
    rows: row.rows,
    enrolled: row.enrolled,
    skipped: row.skipped,
    errors: row.errors,
    errorCount: row.errorCount,
    failureReason: row.failureReason,
    createdAt: row.createdAt,
    completedAt: row.completedAt,
  };
}

/** Unfinished imports untouched for `idleMs` (their job was lost or never added), oldest first. */
export async function listStalledImports(
  deps: DbDeps,
  options: { idleMs: number; limit: number },
): Promise<Array<{ orgId: string; importId: string }>> {
  const rows = await deps.db
    .select({ orgId: imports.orgId, importId: imports.id })
    .from(imports)
    .where(
      and(
        inArray(imports.status, ["pending", "running"]),
        lt(imports.updatedAt, sql`now() - (${options.idleMs}::bigint * interval '1 millisecond')`),
      ),
    )
    .orderBy(asc(imports.updatedAt))
    .limit(options.limit);
  return rows;
}

/** Records that an import cannot finish (a bug or a refusal no retry fixes). */
export async function failImport(
  deps: DbDeps,
  input: { orgId: string; importId: string; reason: string },
): Promise<void> {
  await deps.db
    .update(imports)
    .set({ status: "failed", failureReason: input.reason.slice(0, 500), updatedAt: sql`now()` })
    .where(
      and(
        eq(imports.orgId, input.orgId),
        eq(imports.id, input.importId),
        inArray(imports.status, ["pending", "running"]),
      ),
    );
}
