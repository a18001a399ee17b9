import assert from "node:assert/strict";
import { and, eq } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { orgLedgers } from "../store/schema.ts";
import { ledgerUnitPattern } from "../validation.ts";

export interface AllocateLedgerInput {
  orgId: string;
  /** "points", or "stamps:<program id>". */
  unit: string;
}

/** TigerBeetle's `ledger` is a u32 and 0 is reserved. */
const ledgerU32Max = 4_294_967_295;

/**
 * Returns the TigerBeetle ledger number of (org, unit), allocating the next one from the
 * sequence the first time. Idempotent; the number never changes once allocated, so callers may
 * cache it. It reads first so that repeated calls do not burn sequence numbers.
 */
export async function allocateLedger(deps: DbDeps, input: AllocateLedgerInput): Promise<number> {
  assert.match(input.unit, ledgerUnitPattern, "bad ledger unit");
  const existing = await findLedger(deps, input);
  if (existing !== null) {
    return existing;
  }
  // A concurrent allocation for the same (org, unit) wins the unique index; we then read its
  // number. The sequence value we drew is skipped, never reused.
  const [inserted] = await deps.db
    .insert(orgLedgers)
    .values({ orgId: input.orgId, unit: input.unit })
    .onConflictDoNothing({ target: [orgLedgers.orgId, orgLedgers.unit] })
    .returning({ ledger: orgLedgers.ledger });
  const ledger = inserted?.ledger ?? (await findLedger(deps, input));
  assert.ok(ledger !== null, "ledger allocation lost a race and found no row");
  assert.ok(Number.isInteger(ledger) && ledger >= 1 && ledger <= ledgerU32Max, "ledger out of u32");
  return ledger;
}

async function findLedger(deps: DbDeps, input: AllocateLedgerInput): Promise<number | null> {
  const [row] = await deps.db
    .select({ ledger: orgLedgers.ledger })
    .from(orgLedgers)
    .where(and(eq(orgLedgers.orgId, input.orgId), eq(orgLedgers.unit, input.unit)))
    .limit(1);
  return row?.ledger ?? null;
}
