/**
 * Domain values returned by the ledger-backed use cases (purchases, refunds, redemptions,
 * adjustments, balances). Amounts are bigint; nothing here is a float or a wire format.
 */
import type { HistoryEntry, TrialBalance, WalletBalance } from "../ledger/index.ts";
import type { DomainErrorCode } from "./errors.ts";
import type { EarningLine } from "./purchases/earning.ts";

export type { HistoryEntry, TrialBalance, WalletBalance };

/** A line of a purchase. Stamp programs earning per item count the `quantity` of its lines. */
export interface PurchaseItem {
  sku: string;
  category?: string | null;
  /** Units bought, a positive integer. */
  quantity: number;
  /** The line's amount in minor units; part of the request (and its hash), not of earning. */
  amountMinor?: bigint | null;
}

export interface StampProgram {
  id: string;
  orgId: string;
  name: string;
  /** The program's own ledger (unit "stamps:<id>"). */
  ledger: number;
  stampsRequired: bigint;
  rewardPoints: bigint;
  /** Which purchases earn stamps, and how many. */
  earn: StampEarnRule;
  /** Purchases earn when their time is in [activeFrom, activeUntil); null: open on that side. */
  activeFrom: Date | null;
  activeUntil: Date | null;
  /** False once deactivated: nothing earns here any more; the cards stay readable. */
  active: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * A stamp program's earn rule. An item matches when its category is one of `categories` or its
 * sku one of `skus`; with both empty every item matches and every purchase qualifies. A purchase
 * qualifies when it is at least `amountMinMinor` and has a matching item.
 */
export interface StampEarnRule {
  /** `purchase`: one stamp per qualifying purchase; `item`: one per unit of matching items. */
  per: "purchase" | "item";
  /** Smallest purchase amount in minor units that earns; null: any. */
  amountMinMinor: bigint | null;
  categories: readonly string[];
  skus: readonly string[];
}

export interface StampsEarned {
  programId: string;
  stamps: bigint;
  /** True when this purchase completed the card (stamps exchanged for the reward). */
  completed: boolean;
}

/** What recording a purchase produced; stored, and replayed to a retry. */
export interface PurchaseOutcome {
  transactionId: string;
  /** After caps. */
  pointsEarned: bigint;
  /** Where the points came from (purchases/earning.ts), after caps. */
  breakdown: EarningLine[];
  stampsEarned: StampsEarned[];
}

export interface RecordPurchaseResult extends PurchaseOutcome {
  /** True when this external id was recorded before and its stored outcome is returned. */
  replayed: boolean;
  /** The member's points wallet now. */
  balance: WalletBalance;
}

/** One item's outcome in a batch. */
export type PurchaseBatchOutcome =
  | { status: "created"; externalId: string; outcome: PurchaseOutcome }
  | { status: "replayed"; externalId: string; outcome: PurchaseOutcome }
  | { status: "error"; externalId: string; code: DomainErrorCode; message: string };

/** What a refund produced; stored, and replayed to a retry. */
export interface RefundOutcome {
  transactionId: string;
  purchaseId: string;
  /** Points this refund was to take back: its share of the purchase's points. */
  pointsToReverse: bigint;
  /** Points actually taken back. */
  pointsReversed: bigint;
  /** Points the member had already spent: pointsToReverse − pointsReversed. */
  shortfall: bigint;
}

export interface RefundPurchaseResult extends RefundOutcome {
  replayed: boolean;
}

export type RedemptionStatus = "pending" | "fulfilled" | "cancelled" | "expired" | "failed";

export interface Redemption {
  id: string;
  orgId: string;
  memberId: string;
  externalId: string | null;
  status: RedemptionStatus;
  points: bigint;
  /** The catalog reward redeemed and how many; null for a redemption of plain points. */
  rewardId: string | null;
  quantity: number | null;
  /** When the hold lapses unless fulfilled or cancelled (the ledger's clock). */
  expiresAt: Date;
  createdAt: Date;
  resolvedAt: Date | null;
}

export interface AdjustmentResult {
  adjustmentId: string;
  direction: "credit" | "debit";
  points: bigint;
  replayed: boolean;
  balance: WalletBalance;
}

export interface StampCardBalance {
  programId: string;
  name: string;
  /** Stamps on the card now. */
  balance: bigint;
  stampsRequired: bigint;
}

export interface MemberBalances {
  points: WalletBalance;
  stamps: StampCardBalance[];
  /**
   * Available points still to expire under the org's expiry policy, soonest first (one entry per
   * expiry time); empty with the policy `none`.
   */
  expiring: Array<{ points: bigint; at: Date }>;
}

export interface MemberHistoryPage {
  /** A purchase's base entry (`purchase_earn`) carries the purchase's whole breakdown. */
  entries: Array<HistoryEntry & { breakdown?: EarningLine[] }>;
  /** Opaque; pass it back for the next (older) page. Null on the last page. */
  nextCursor: string | null;
}

/** The trial balance of one of the org's ledgers. */
export interface UnitTrialBalance {
  /** "points" or "stamps:<program id>". */
  unit: string;
  /** The stamp program's name; null for points. */
  name: string | null;
  trialBalance: TrialBalance;
}
