import { and, eq } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { reconciliations } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { type Reconciliation, toReconciliation } from "./reconciliation-records.ts";

export interface GetReconciliationInput {
  orgId: string;
  reconciliationId: string;
}

/** A reconciliation run of the org. Unknown and other orgs' ids are the same `not_found`. */
export async function getReconciliation(
  deps: DbDeps,
  input: GetReconciliationInput,
): Promise<Reconciliation> {
  const notFound = new DomainError("not_found", "reconciliation not found", {
    reconciliationId: input.reconciliationId,
  });
  if (!isUuid(input.reconciliationId)) {
    throw notFound;
  }
  const [row] = await deps.db
    .select()
    .from(reconciliations)
    .where(
      and(eq(reconciliations.orgId, input.orgId), eq(reconciliations.id, input.reconciliationId)),
    )
    .limit(1);
  if (row === undefined) {
    throw notFound;
  }
  return toReconciliation(row);
}
