import type { LedgerDeps } from "../deps.ts";
import type { Redemption } from "../ledger-types.ts";
import { resolveRedemptionRow } from "./redemption-ledger.ts";
import { findRedemption } from "./redemption-lookup.ts";

export interface FulfilRedemptionInput {
  orgId: string;
  redemptionId: string;
}

/**
 * Spends the held points: posts the hold in full and marks the redemption fulfilled, with a
 * `redemption.fulfilled` event. Fulfilling a fulfilled redemption returns it unchanged. A hold
 * that lapsed is marked `expired`; fulfilling an expired, cancelled or failed redemption is
 * `invalid_state`. Unknown or another org's: `not_found`.
 */
export async function fulfilRedemption(
  deps: LedgerDeps,
  input: FulfilRedemptionInput,
): Promise<Redemption> {
  const row = await findRedemption(deps, input);
  return resolveRedemptionRow(deps, row, "fulfil");
}
