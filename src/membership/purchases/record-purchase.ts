import type { LedgerDeps } from "../deps.ts";
import type { RecordPurchaseResult } from "../ledger-types.ts";
import { createPurchaseBatcher } from "./batcher.ts";
import type { PurchaseInput } from "./intake.ts";

export type { PurchaseInput };

const unbatched = Object.freeze({ batchItemsMax: 1, batchesInFlightMax: 1, queueMax: 1 });

export interface RecordPurchaseInput extends PurchaseInput {
  orgId: string;
}

/**
 * Records one purchase: points by the org's rate and the member's tier, stamps for every active
 * program it qualifies for, all posted in one ledger request, then any stamp card it filled
 * completed. Idempotent by external id: the same request again returns the stored outcome with
 * `replayed: true`; a different request under the same external id is a `conflict`.
 *
 * Purchases of one org arriving together are recorded together when `deps.purchaseBatcher` is
 * set (batcher.ts): the answer still
 * comes only once this purchase's intent is committed, posted, and marked posted. `balance` is
 * the member's points wallet read after that, so it includes this purchase (and any other
 * recorded meanwhile).
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
  // Without a batcher of the composition's, this purchase is a batch of its own.
  const batcher = deps.purchaseBatcher ?? createPurchaseBatcher(deps, unbatched);
  const result = await batcher.submit(orgId, purchase);
  if (result.status === "error" || result.status === "thrown") {
    throw result.error;
  }
  return { ...result.outcome, replayed: result.status === "replayed", balance: result.balance };
}
