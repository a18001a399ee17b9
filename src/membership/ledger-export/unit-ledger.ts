/**
 * The org's ledger of one unit: "points", or "stamps:<program id>" (as the trial balance names
 * units). Unknown units and other orgs' units are the same `not_found`.
 */
import assert from "node:assert/strict";
import { and, eq } from "drizzle-orm";
import type { Store } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { orgLedgers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

export async function requireUnitLedger(
  store: Pick<Store, "db">,
  input: { orgId: string; unit: string },
): Promise<number> {
  const notFound = new DomainError("not_found", "unit not found", { unit: input.unit });
  if (!isUuid(input.orgId)) {
    throw notFound;
  }
  const [row] = await store.db
    .select({ ledger: orgLedgers.ledger })
    .from(orgLedgers)
    .where(and(eq(orgLedgers.orgId, input.orgId), eq(orgLedgers.unit, input.unit)))
    .limit(1);
  if (row === undefined) {
    throw notFound;
  }
  assert.ok(Number.isInteger(row.ledger) && row.ledger > 0, "a ledger number is a u32 > 0");
  return row.ledger;
}
