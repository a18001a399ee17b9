import { and, eq } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { redemptions } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import type { RedemptionRow } from "./redemption-ledger.ts";

/** The org's redemption; unknown and another org's are the same `not_found`. */
export async function findRedemption(
  deps: LedgerDeps,
  input: { orgId: string; redemptionId: string },
): Promise<RedemptionRow> {
  const notFound = new DomainError("not_found", "redemption not found", {
    redemptionId: input.redemptionId,
  });
  if (!isUuid(input.redemptionId) || !isUuid(input.orgId)) {
    throw notFound;
  }
  const [row] = await deps.db
    .select()
    .from(redemptions)
    .where(and(eq(redemptions.orgId, input.orgId), eq(redemptions.id, input.redemptionId)))
    .limit(1);
  if (row === undefined) {
    throw notFound;
  }
  return row;
}
