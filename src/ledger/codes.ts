/**
 * Account and transfer codes of the loyalty chart of accounts, defined once. `docs/ledger.md`
 * has the same table for humans; `codes.test.ts` keeps the two in step.
 *
 * Every organization gets its own ledger per unit (points, or one stamp-card program), so the
 * same codes repeat in every ledger and TigerBeetle keeps organizations apart.
 */
import { AccountFlags, TransferFlags } from "tigerbeetle-node";

/** What an account is for. Control accounts exist once per ledger; wallets once per member. */
export enum AccountCode {
  /** Source of points and stamps earned by purchases. */
  issuance = 1,
  /** Source of welcome bonuses, stamp-card rewards and other promotions. */
  promotions = 2,
  /** Sink of redeemed points (held while a redemption is pending). */
  redemptions = 3,
  /** Sink of points that expired unused (breakage). */
  breakage = 4,
  /** Counterparty of manual adjustments, both directions. */
  adjustments = 5,
  /** Sink of stamps exchanged when a stamp card completes. */
  completions = 6,
  /** A member's wallet: never overdrawn, with balance history. */
  wallet = 100,
}

export const controlAccountCodes = [
  AccountCode.issuance,
  AccountCode.promotions,
  AccountCode.redemptions,
  AccountCode.breakage,
  AccountCode.adjustments,
  AccountCode.completions,
] as const;
export type ControlAccountCode = (typeof controlAccountCodes)[number];

/** Wallets can never go below zero, and keep their balance after every transfer. */
export const walletAccountFlags =
  AccountFlags.debits_must_not_exceed_credits | AccountFlags.history;
export const controlAccountFlags = AccountFlags.none;

/** What a transfer means. Posting or voiding a hold keeps the hold's code (TigerBeetle rule). */
export enum TransferCode {
  /** promotions → wallet, when a member enrolls. */
  welcomeBonus = 1,
  /** issuance → wallet, points earned on a purchase. */
  purchaseEarn = 2,
  /** wallet → issuance, points clawed back by a refund (balancing debit). */
  refundReversal = 3,
  /** wallet → redemptions, pending: a redemption hold; its post is the fulfilment, its void the cancellation. */
  redemption = 4,
  /** adjustments → wallet. */
  adjustmentCredit = 5,
  /** wallet → adjustments. */
  adjustmentDebit = 6,
  /** wallet → breakage, points expiring (balancing debit). */
  expiry = 7,
  /** issuance → stamp wallet, stamps earned on a purchase. */
  stampEarn = 8,
  /** stamp wallet → completions, N stamps exchanged when a card completes. */
  stampCardCompletion = 9,
  /** promotions → points wallet, the reward of a completed stamp card. */
  stampCardReward = 10,
  /** promotions → points wallet, a promo code redeemed (once per code and member). */
  codeRedemption = 11,
  /**
   * promotions → points wallet, a referral's bonus: one to the referrer, one to the referred
   * member, linked in one chain; once per referred member, the ids derive from the referral.
   */
  referralBonus = 23,
}

/**
 * Codes posted also with amount 0 (TigerBeetle 0.16+ stores it): every purchase and every refund
 * is in the ledger with its time and spend, whatever points it moved.
 */
export const zeroAmountTransferCodes: readonly number[] = [
  TransferCode.purchaseEarn,
  TransferCode.refundReversal,
];

export interface TransferCodeSides {
  debit: AccountCode;
  credit: AccountCode;
  /** The operation's name in member history and the audit trail. */
  operation: string;
}

/** The debit and credit side of every operation: the single source of `docs/ledger.md`. */
export const transferCodeSides: Record<TransferCode, TransferCodeSides> = {
  [TransferCode.welcomeBonus]: {
    debit: AccountCode.promotions,
    credit: AccountCode.wallet,
    operation: "welcome_bonus",
  },
  [TransferCode.purchaseEarn]: {
    debit: AccountCode.issuance,
    credit: AccountCode.wallet,
    operation: "purchase_earn",
  },
  [TransferCode.refundReversal]: {
    debit: AccountCode.wallet,
    credit: AccountCode.issuance,
    operation: "refund_reversal",
  },
  [TransferCode.redemption]: {
    debit: AccountCode.wallet,
    credit: AccountCode.redemptions,
    operation: "redemption",
  },
  [TransferCode.adjustmentCredit]: {
    debit: AccountCode.adjustments,
    credit: AccountCode.wallet,
    operation: "adjustment_credit",
  },
  [TransferCode.adjustmentDebit]: {
    debit: AccountCode.wallet,
    credit: AccountCode.adjustments,
    operation: "adjustment_debit",
  },
  [TransferCode.expiry]: {
    debit: AccountCode.wallet,
    credit: AccountCode.breakage,
    operation: "expiry",
  },
  [TransferCode.stampEarn]: {
    debit: AccountCode.issuance,
    credit: AccountCode.wallet,
    operation: "stamp_earn",
  },
  [TransferCode.stampCardCompletion]: {
    debit: AccountCode.wallet,
    credit: AccountCode.completions,
    operation: "stamp_card_completion",
  },
  [TransferCode.stampCardReward]: {
    debit: AccountCode.promotions,
    credit: AccountCode.wallet,
    operation: "stamp_card_reward",
  },
  [TransferCode.codeRedemption]: {
    debit: AccountCode.promotions,
    credit: AccountCode.wallet,
    operation: "code_redemption",
  },
  [TransferCode.referralBonus]: {
    debit: AccountCode.promotions,
    credit: AccountCode.wallet,
    operation: "referral_bonus",
  },
};

/** Name of a transfer as members and auditors see it, including the phase of a hold. */
export function operationName(code: number, flags: number): string {
  const sides = transferCodeSides[code as TransferCode];
  if (sides === undefined) {
    return "unknown";
  }
  if (code === TransferCode.redemption) {
    if ((flags & TransferFlags.post_pending_transfer) !== 0) {
      return "redemption_fulfilled";
    }
    if ((flags & TransferFlags.void_pending_transfer) !== 0) {
      return "redemption_cancelled";
    }
    return "redemption_hold";
  }
  return sides.operation;
}

/**
 * Which phase of the two-phase protocol a transfer is: a single-phase transfer (posted at once),
 * a pending hold, or the post or void of a hold. Readers outside this module cannot see
 * TigerBeetle's flags, and a wallet's posted balance only counts `single` and `post`.
 */
export function transferPhase(flags: number): "single" | "pending" | "post" | "void" {
  if ((flags & TransferFlags.pending) !== 0) {
    return "pending";
  }
  if ((flags & TransferFlags.post_pending_transfer) !== 0) {
    return "post";
  }
  if ((flags & TransferFlags.void_pending_transfer) !== 0) {
    return "void";
  }
  return "single";
}
