/**
 * Redemptions whose hold the ledger let lapse, and nobody fulfilled or cancelled: found here,
 * platform-wide, a while after their expiry, and resolved so that their status (and the member's
 * app) tells the truth and `redemption.expired` goes out. Run every minute by the workers.
 *
 * Each is resolved the way a member's cancel would be: the resolution `cancel` is recorded (first
 * writer wins, so a fulfil asked for first stands and is left to the recovery of intents), then a
 * void is sent. The ledger refuses it as expired (`hold_expired`) and the redemption becomes
 * `expired`. Should the ledger's clock be far behind ours and the void be accepted, the
 * redemption is `cancelled` instead: the same points go back to the member either way, which is
 * what an expiry does, so no outcome of this sweep takes points a member could still use.
 */
import assert from "node:assert/strict";
import { and, asc, eq, isNull, lt } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { nowOf } from "../intents/support.ts";
import { redemptions } from "../store/schema.ts";
import { driveResolution, requestResolution } from "./redemption-ledger.ts";

/**
 * How long after its expiry (Postgres's copy of the ledger's) a hold is looked at: above any
 * skew between this process's clock and the ledger's, so the void is refused as expired.
 */
export const lapsedHoldGraceMs = 60_000;
/** Redemptions one run resolves at most; the next run takes the rest. */
export const lapsedRedemptionsPerRunMax = 500;

export interface ResolveLapsedResult {
  expired: number;
  /** Resolved otherwise: the ledger accepted the void, or another resolution stood. */
  other: number;
}

export async function resolveLapsedRedemptions(
  deps: LedgerDeps,
  options: { limit?: number } = {},
): Promise<ResolveLapsedResult> {
  const limit = options.limit ?? lapsedRedemptionsPerRunMax;
  assert.ok(Number.isSafeInteger(limit) && limit >= 1 && limit <= lapsedRedemptionsPerRunMax);
  const lapsedBefore = new Date(nowOf(deps).getTime() - lapsedHoldGraceMs);
  const lapsed = await deps.db
    .select()
    .from(redemptions)
    .where(
      and(
        eq(redemptions.status, "pending"),
        eq(redemptions.holdStatus, "posted"),
        isNull(redemptions.resolution),
        lt(redemptions.expiresAt, lapsedBefore),
      ),
    )
    .orderBy(asc(redemptions.expiresAt))
    .limit(limit);
  const result: ResolveLapsedResult = { expired: 0, other: 0 };
  for (const found of lapsed) {
    let row = await requestResolution(deps, found, "cancel");
    if (row.status === "pending" && row.resolution === "cancel") {
      row = await driveResolution(deps, row);
    }
    if (row.status === "expired") {
      result.expired += 1;
    } else {
      result.other += 1;
    }
  }
  return result;
}
