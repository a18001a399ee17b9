import assert from "node:assert/strict";
import { asc, eq } from "drizzle-orm";
import { trialBalance } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { loadOrgLedger } from "../intents/support.ts";
import type { UnitTrialBalance } from "../ledger-types.ts";
import { ledgersPerOrgMax } from "../limits.ts";
import { orgLedgers, stampPrograms } from "../store/schema.ts";

export interface GetTrialBalanceInput {
  orgId: string;
}

/**
 * The trial balance of every ledger of the org: points first, then each stamp program's. Each
 * one asserts debits equal credits as it is read (see the ledger's `trialBalance`).
 */
export async function getTrialBalance(
  deps: LedgerDeps,
  input: GetTrialBalanceInput,
): Promise<UnitTrialBalance[]> {
  const { org } = await loadOrgLedger(deps, input.orgId);
  const ledgers = await deps.db
    .select({ ledger: orgLedgers.ledger, unit: orgLedgers.unit, name: stampPrograms.name })
    .from(orgLedgers)
    .leftJoin(stampPrograms, eq(stampPrograms.ledger, orgLedgers.ledger))
    .where(eq(orgLedgers.orgId, org.id))
    .orderBy(asc(orgLedgers.ledger))
    .limit(ledgersPerOrgMax + 1);
  assert.ok(ledgers.length <= ledgersPerOrgMax, "an org's ledgers are bounded");
  const points = ledgers.filter((row) => row.unit === "points");
  assert.equal(points.length, 1, "an org has one points ledger");
  const ordered = [...points, ...ledgers.filter((row) => row.unit !== "points")];
  const balances: UnitTrialBalance[] = [];
  // One ledger at a time: each read pages through all of a ledger's accounts.
  for (const row of ordered) {
    const balance = await trialBalance(deps.ledger, row.ledger);
    assert.ok(balance.balanced, "every ledger balances");
    balances.push({ unit: row.unit, name: row.name, trialBalance: balance });
  }
  return balances;
}
