/**
 * What a purchase would earn now, computed by the very steps a real purchase takes — the same
 * checks (intake-check.ts), the same member and tier lookup and the same earning function
 * (intake-members.ts, earning.ts) — and nothing written: no intent, no location, no transfer.
 * A program manager or a till asks "what would this earn?"; the answer and the real purchase
 * agree because they are one computation.
 */
import assert from "node:assert/strict";
import { capAccountId, capsLeft } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { loadOrgLedger, nowOf } from "../intents/support.ts";
import { applyCaps, capKey, type EarningLine } from "./earning.ts";
import { purchaseCaps, readEarning } from "./entries.ts";
import { checkPurchase, type PurchaseInput, type Slot } from "./intake-check.ts";
import { resolveMembers } from "./intake-members.ts";

/** The external id the checks require, never stored: a simulation records nothing. */
const simulationExternalId = "simulation";

export interface SimulatePurchaseInput extends Omit<PurchaseInput, "externalId" | "currency"> {
  orgId: string;
  /** The org's currency when absent. */
  currency?: string;
}

export interface SimulatedPurchase {
  memberId: string;
  points: bigint;
  breakdown: EarningLine[];
  stamps: Array<{ programId: string; stamps: bigint }>;
}

/**
 * Errors are the real purchase's: `invalid_input`, `not_found` (unknown org or member, or
 * another org's), `member_inactive`.
 */
export async function simulatePurchase(
  deps: LedgerDeps,
  input: SimulatePurchaseInput,
): Promise<SimulatedPurchase> {
  const { orgId, currency, ...purchase } = input;
  const context = await loadOrgLedger(deps, orgId);
  const now = nowOf(deps);
  const checked = checkPurchase(
    {
      ...purchase,
      externalId: simulationExternalId,
      currency: currency ?? context.org.currency,
    },
    context,
    now,
  );
  const slots: Slot[] = [{ state: "checked", checked }];
  // Read from Postgres, not the pool's hints: no insert follows to catch a stale guess.
  await resolveMembers(deps, new Map([[orgId, context]]), slots, now, { hints: false });
  const [slot] = slots;
  assert.ok(slot !== undefined);
  if (slot.state === "refused") {
    throw slot.error;
  }
  assert.equal(slot.state, "resolved", "a checked request is resolved or refused");
  const { resolved } = slot as Extract<Slot, { state: "resolved" }>;
  // Caps as they stand now: what is left of each, nothing reserved.
  const earning = readEarning(resolved.earning, resolved.points);
  const caps = purchaseCaps({
    orgId,
    ledger: context.pointsLedger,
    memberId: resolved.memberId,
    externalId: simulationExternalId,
    documentId: "00000000-0000-7000-8000-000000000000",
    spendMinor: checked.amountMinor,
    locationNumber: 0,
    earning,
  });
  const left = await capsLeft(
    deps.ledger,
    caps.reservations.map((reservation) => reservation.account),
  );
  const capped = applyCaps(earning, (ref) => {
    const reservation = caps.byKey.get(capKey(ref));
    assert.ok(reservation !== undefined, "every cap has its reservation");
    const remaining = left.get(capAccountId(reservation.account)) ?? ref.cap;
    return remaining < reservation.asked ? remaining : reservation.asked;
  });
  return {
    memberId: resolved.memberId,
    points: capped.total,
    breakdown: capped.breakdown,
    stamps: resolved.stamps.map((grant) => ({
      programId: grant.program_id,
      stamps: BigInt(grant.stamps),
    })),
  };
}
