import assert from "node:assert/strict";
import type { LedgerDeps } from "../deps.ts";
import { invalidInput } from "../intents/support.ts";
import type { PurchaseBatchOutcome } from "../ledger-types.ts";
import { purchaseBatchItemsMax } from "../limits.ts";
import { intakePurchases, type PurchaseInput } from "./intake.ts";

export interface RecordPurchasesInput {
  orgId: string;
  /** Up to `purchaseBatchItemsMax` purchases, e.g. a till's offline backlog. */
  items: PurchaseInput[];
}

/**
 * Records a batch of purchases (offline POS sync). Every item is checked on its own and gets
 * its own outcome, in order: `created`, `replayed` (seen before, stored outcome returned) or
 * `error` with a domain code; one bad item never blocks the others. The new intents are
 * committed in one transaction, every chain is posted in as few ledger requests as the batch
 * limit allows (1,000 purchases fit in one), and the rows are marked posted in one transaction.
 *
 * Throws only for the batch as a whole: `invalid_input` beyond `purchaseBatchItemsMax` items,
 * `not_found` for an unknown org.
 */
export async function recordPurchases(
  deps: LedgerDeps,
  input: RecordPurchasesInput,
): Promise<PurchaseBatchOutcome[]> {
  if (input.items.length > purchaseBatchItemsMax) {
    throw invalidInput("too many purchases in one batch", {
      field: "items",
      max: purchaseBatchItemsMax,
    });
  }
  const results = await intakePurchases(deps, input.orgId, input.items);
  return results.map((result): PurchaseBatchOutcome => {
    if (result.status === "thrown") {
      // Not a business outcome (a malformed item object); intake failed the call before writing
      // anything, so this is unreachable, and asserted as such.
      return assert.fail("a thrown item fails the batch before anything is written");
    }
    if (result.status === "error") {
      return {
        status: "error",
        externalId: result.externalId,
        code: result.error.code,
        message: result.error.message,
      };
    }
    return { status: result.status, externalId: result.externalId, outcome: result.outcome };
  });
}
