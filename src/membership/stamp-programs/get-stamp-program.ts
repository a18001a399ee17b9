import { and, eq } from "drizzle-orm";
import type { Store } from "../deps.ts";
import { DomainError } from "../errors.ts";
import type { StampProgram } from "../ledger-types.ts";
import type { DbExecutor } from "../store/db.ts";
import { stampPrograms } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { toStampProgram } from "./stamp-cards.ts";

/** One of the org's stamp programs, active or not, read from Postgres (not the cache). */
export async function getStampProgram(
  store: Pick<Store, "db">,
  input: { orgId: string; programId: string },
): Promise<StampProgram> {
  return toStampProgram(await readStampProgramRow(store.db, input));
}

/**
 * The program's row within the org; `forUpdate` locks it for the rest of the transaction.
 * Unknown and another org's ids are the same `not_found`.
 */
export async function readStampProgramRow(
  db: DbExecutor,
  input: { orgId: string; programId: string; forUpdate?: boolean },
): Promise<typeof stampPrograms.$inferSelect> {
  const notFound = new DomainError("not_found", "stamp program not found", {
    programId: input.programId,
  });
  if (!isUuid(input.programId)) {
    throw notFound;
  }
  const query = db
    .select()
    .from(stampPrograms)
    .where(and(eq(stampPrograms.orgId, input.orgId), eq(stampPrograms.id, input.programId)));
  const [row] = input.forUpdate === true ? await query.for("update") : await query;
  if (row === undefined) {
    throw notFound;
  }
  return row;
}
