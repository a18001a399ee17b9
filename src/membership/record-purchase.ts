import assert from "node:assert/strict";
import { walletBalance } from "../ledger/index.ts";
import type { LedgerDeps } from "./deps.ts";
import { loadOrgLedger } from "./ledger-support.ts";
import type { RecordPurchaseResult } from "./ledger-types.ts";
import { intakePurchases, type PurchaseInput } from "./purchase-intake.ts";

export type { PurchaseInput };

export interface RecordPurchaseInput extends PurchaseInput {
  orgId: string;
}

/**
 * Records one purchase: points by the org's rate and the member's tier, stamps for every active
 * program it qualifies for, all posted in one ledger request, then any stamp card it filled
 * completed. Idempotent by external id: the same request again returns the stored outcome with
 * `replayed: true`; a different request under the same external id is a `conflict`.
 *
 * Errors: `not_found` (org, or member unknown or in another org), `member_inactive`,
 * `invalid_input` (currency other than the org's, amount out of range, ...), `conflict`.
 *
 * @example
 * const result = await recordPurchase(deps, {
 *   orgId, externalId: "till-3:000123", memberExternalRef: "card-42",
 *   amountMinor: 1999n, currency: "EUR", locationRef: "store-7",
 * });
 */
export async function recordPurchase(
  deps: LedgerDeps,
  input: RecordPurchaseInput,
): Promise<RecordPurchaseResult> {
  const { orgId, ...purchase } = input;
  const [result] = await intakePurchases(deps, orgId, [purchase]);
  assert.ok(result !== undefined, "one result for one purchase");
  if (result.status === "error") {
    throw result.error;
  }
  const { pointsLedger } = await loadOrgLedger(deps.db, orgId);
  const balance = await walletBalance(deps.ledger, {
    ledger: pointsLedger,
    memberId: result.memberId,
  });
  assert.ok(balance !== null, "a member who earned has a wallet");
  return { ...result.outcome, replayed: result.status === "replayed", balance };
}
