/**
 * A purchase's entries as its row stores them (`pos_transactions.earning`), and the chains that
 * post them: one transfer per entry (base always, every other entry when it asks for points), in
 * the purchase's linked chain; a capped purchase first reserves from its caps (their own chain)
 * and posts what it used of each in the same chain as the entries. Built from the row alone, so
 * recovery posts exactly what the live path did.
 */
import assert from "node:assert/strict";
import {
  AccountCode,
  type CapAccount,
  type CapReservation,
  capAccountId,
  controlAccountId,
  earnEntryCodes,
  type LedgerTransfer,
  ledgerTransfer,
  linkTransfers,
  reservationChain,
  reservationPost,
  transferId,
  uuidToU128,
  walletAccountId,
} from "../../ledger/index.ts";
import type { CapPeriod } from "../earning-rules/types.ts";
import {
  applyCaps,
  type CappedEarning,
  type CapRef,
  capKey,
  type Earning,
  type EarningEntry,
  type EarningEntryKind,
  type EarningLine,
} from "./earning.ts";

interface StoredCapRef {
  scope: "rule" | "overall";
  period: CapPeriod;
  rule_id: string | null;
  cap: string;
  period_key: string;
}

/** `pos_transactions.earning`: the entries before caps, and the caps they fall under. */
export interface StoredEarning {
  entries: Array<{
    kind: EarningEntryKind;
    rule_id: string | null;
    rule_version: number | null;
    points: string;
    caps: StoredCapRef[];
  }>;
  overall_caps: StoredCapRef[];
}

const storeCap = (ref: CapRef): StoredCapRef => ({
  scope: ref.scope,
  period: ref.period,
  rule_id: ref.ruleId,
  cap: ref.cap.toString(),
  period_key: ref.periodKey,
});
const readCap = (ref: StoredCapRef): CapRef => ({
  scope: ref.scope,
  period: ref.period,
  ruleId: ref.rule_id,
  cap: BigInt(ref.cap),
  periodKey: ref.period_key,
});

export function storeEarning(earning: Extract<Earning, { kind: "earned" }>): StoredEarning {
  return {
    entries: earning.entries.map((entry) => ({
      kind: entry.kind,
      rule_id: entry.ruleId,
      rule_version: entry.ruleVersion,
      points: entry.points.toString(),
      caps: entry.caps.map(storeCap),
    })),
    overall_caps: earning.overallCaps.map(storeCap),
  };
}

/** The row's earning; a row from before entries were stored earned its points as base. */
export function readEarning(
  stored: StoredEarning | null,
  points: bigint,
): Extract<Earning, { kind: "earned" }> {
  const entries: EarningEntry[] =
    stored === null
      ? [{ kind: "base", ruleId: null, ruleVersion: null, points, caps: [] }]
      : stored.entries.map((entry) => ({
          kind: entry.kind,
          ruleId: entry.rule_id,
          ruleVersion: entry.rule_version,
          points: BigInt(entry.points),
          caps: entry.caps.map(readCap),
        }));
  assert.equal(entries[0]?.kind, "base", "a purchase's first entry is its base");
  let total = 0n;
  for (const entry of entries) {
    total += entry.points;
  }
  // A posted row holds what it earned after caps; its entries what they asked before.
  assert.ok(total >= points, "the entries ask at least what the row earned");
  const overallCaps = stored === null ? [] : stored.overall_caps.map(readCap);
  return {
    kind: "earned",
    points: total,
    entries,
    overallCaps,
    breakdown: [],
    stamps: [],
  };
}

/** Every cap the purchase touches, once each. */
function capsTouched(earning: Extract<Earning, { kind: "earned" }>): CapRef[] {
  const refs = new Map<string, CapRef>();
  for (const entry of earning.entries) {
    for (const ref of entry.caps) {
      refs.set(capKey(ref), ref);
    }
  }
  for (const ref of earning.overallCaps) {
    refs.set(capKey(ref), ref);
  }
  return [...refs.values()];
}

export interface PurchaseEntriesInput {
  orgId: string;
  ledger: number;
  memberId: string;
  externalId: string;
  documentId: string;
  spendMinor: bigint;
  locationNumber: number;
  earning: Extract<Earning, { kind: "earned" }>;
}

export interface PurchaseCaps {
  reservations: CapReservation[];
  /** What each cap asks, by `capKey`, to find its reservation. */
  byKey: Map<string, CapReservation>;
}

/** The purchase's reservations, one per cap it touches; none when uncapped. */
export function purchaseCaps(input: PurchaseEntriesInput): PurchaseCaps {
  const byKey = new Map<string, CapReservation>();
  const refs = capsTouched(input.earning);
  for (const ref of refs) {
    const key = capKey(ref);
    // A rule cap is asked for its entry's points; an overall cap for all of them.
    const asked =
      ref.scope === "overall"
        ? input.earning.points
        : input.earning.entries
            .filter((entry) => entry.caps.some((cap) => capKey(cap) === key))
            .reduce((sum, entry) => sum + entry.points, 0n);
    const account: CapAccount = {
      ledger: input.ledger,
      memberId: input.memberId,
      key,
      cap: ref.cap,
    };
    byKey.set(key, {
      id: transferId({
        orgId: input.orgId,
        source: "purchase",
        externalId: input.externalId,
        leg: `cap:${key}`,
      }),
      postId: transferId({
        orgId: input.orgId,
        source: "purchase",
        externalId: input.externalId,
        leg: `cap-post:${key}`,
      }),
      account,
      asked,
      documentId: input.documentId,
    });
  }
  return { reservations: [...byKey.values()], byKey };
}

/** The first 8 bytes of a rule's UUID, as the entry's `user_data_64`. */
function ruleTag(ruleId: string | null): bigint {
  if (ruleId === null) {
    return 0n;
  }
  return uuidToU128(ruleId) >> 64n;
}

/**
 * The purchase's chains: [reservations] (when capped), then [cap posts + entries]. `reserved`
 * holds what the ledger reserved (by reservation id); without it (only the ids are wanted, or
 * nothing is capped) every cap counts as having room for what is asked.
 */
export function purchaseEntryChains(
  input: PurchaseEntriesInput,
  reserved?: ReadonlyMap<bigint, bigint>,
): { chains: LedgerTransfer[][]; capped: CappedEarning } {
  const caps = purchaseCaps(input);
  const left = (ref: CapRef): bigint => {
    const reservation = caps.byKey.get(capKey(ref));
    assert.ok(reservation !== undefined, "every cap has its reservation");
    const amount = reserved?.get(reservation.id) ?? reservation.asked;
    assert.ok(amount <= reservation.asked, "a reservation never holds more than asked");
    return amount;
  };
  const capped = applyCaps(input.earning, left);
  const wallet = walletAccountId(input.ledger, input.memberId);
  const issuance = controlAccountId(input.ledger, AccountCode.issuance);
  const legs: LedgerTransfer[] = [];
  for (const reservation of caps.reservations) {
    legs.push(reservationPost(reservation, capped.used.get(reservation.account.key) ?? 0n));
  }
  input.earning.entries.forEach((entry, index) => {
    const base = entry.kind === "base";
    if (!base && entry.points === 0n) {
      return;
    }
    const points = capped.points[index];
    assert.ok(points !== undefined, "an amount per entry");
    legs.push(
      ledgerTransfer({
        id: transferId({
          orgId: input.orgId,
          source: "purchase",
          externalId: input.externalId,
          // The base keeps the id every purchase posted before entries existed.
          leg: base ? "earn" : `earn:${index}:${entry.kind}`,
        }),
        debit_account_id: issuance,
        credit_account_id: wallet,
        amount: points,
        user_data_128: uuidToU128(input.documentId),
        // The base carries the spend and the location; a rule's entry names the rule.
        user_data_64: base ? input.spendMinor : ruleTag(entry.ruleId),
        user_data_32: base ? input.locationNumber : (entry.ruleVersion ?? 0),
        ledger: input.ledger,
        code: earnEntryCodes[entry.kind],
      }),
    );
  });
  const chains: LedgerTransfer[][] = [];
  if (caps.reservations.length > 0) {
    chains.push(reservationChain(caps.reservations));
  }
  chains.push(linkTransfers(legs));
  return { chains, capped };
}

/** The breakdown's wire lines are `EarningLine`s; re-exported for the stored response. */
export type { EarningLine };
export { capAccountId };
