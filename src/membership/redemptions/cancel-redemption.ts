import type { LedgerDeps } from "../deps.ts";
import type { Redemption } from "../ledger-types.ts";
import { resolveRedemptionRow } from "./redemption-ledger.ts";
import { findRedemption } from "./redemption-lookup.ts";

export interface CancelRedemptionInput {
  orgId: string;
  redemptionId: string;
}

/**
 * Gives the held points back: voids the hold and marks the redemption cancelled, with a
 * `redemption.cancelled` event. Cancelling a cancelled redemption returns it unchanged. A hold
 * that lapsed is marked `expired`; cancelling an expired, fulfilled or failed redemption is
 * `invalid_state`. Unknown or another org's: `not_found`.
 */
export async function cancelRedemption(
  deps: LedgerDeps,
  input: CancelRedemptionInput,
): Promise<Redemption> {
  const row = await findRedemption(deps, input);
  return resolveRedemptionRow(deps, row, "cancel");
}
