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
  /** Source of every earning-cap allowance: it funds a cap account with the cap. */
  earningAllowances = 7,
  /** Sink of cap allowances used: reservations against a cap account post here. */
  capUsage = 8,
  /** Counterparty of opening balances carried over from another program by a member import. */
  openingBalances = 9,
  /**
   * Source of every reward's stock, on an org's inventory ledger (unit "inventory"): units stocked
   * leave it, units given out or withdrawn come back to it.
   */
  inventoryControl = 10,
  /** A member's wallet: never overdrawn, with balance history. */
  wallet = 100,
  /**
   * What is left of one member's earning cap for one period (per rule or overall): funded with
   * the cap, reserved by each capped purchase, never below zero. Holds no points, only allowance.
   */
  earningCap = 101,
  /**
   * One reward's stock on the inventory ledger: never overdrawn, so holds of its units can never
   * take more than was stocked, however many race for it.
   */
  rewardInventory = 102,
}

export const controlAccountCodes = [
  AccountCode.issuance,
  AccountCode.promotions,
  AccountCode.redemptions,
  AccountCode.breakage,
  AccountCode.adjustments,
  AccountCode.completions,
  AccountCode.earningAllowances,
  AccountCode.capUsage,
  AccountCode.openingBalances,
] as const;
export type ControlAccountCode = (typeof controlAccountCodes)[number];

/** Wallets can never go below zero, and keep their balance after every transfer. */
export const walletAccountFlags =
  AccountFlags.debits_must_not_exceed_credits | AccountFlags.history;
export const controlAccountFlags = AccountFlags.none;
/** The control accounts of an org's inventory ledger (it has no points control accounts). */
export const inventoryControlAccountCodes = [AccountCode.inventoryControl] as const;
/** A reward's stock can never go below zero: a hold beyond it is refused (`exceeds_credits`). */
export const rewardInventoryAccountFlags = AccountFlags.debits_must_not_exceed_credits;

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
  /** openingBalances → points wallet, the balance an imported member brings (a migration credit). */
  openingBalance = 12,
  /** issuance → wallet, the extra points of a category multiplier rule on its lines. */
  categoryMultiplierEarn = 13,
  /** issuance → wallet, an sku bonus rule's points per unit sold. */
  skuBonusEarn = 14,
  /** issuance → wallet, a campaign's extra (multiplier) or fixed bonus points. */
  campaignEarn = 15,
  /** issuance → wallet, the member's tier bonus on base and multiplier points. */
  tierBonusEarn = 16,
  /** earningAllowances → earning cap account: the cap of one member, rule (or overall) and period. */
  capAllowance = 17,
  /** earning cap account → capUsage, pending then posted: what a purchase used of the cap. */
  capReservation = 18,
  /** inventoryControl → rewardInventory, units stocked when a reward's inventory is set or raised. */
  inventoryStock = 20,
  /**
   * rewardInventory → inventoryControl, units leaving a reward's stock: pending with a
   * redemption's points hold (its post gives the units out, its void puts them back), or posted at
   * once as a balancing debit when an admin lowers the inventory (never more than is on hand).
   */
  inventoryHold = 21,
  /**
   * promotions → points wallet, a referral's bonus: one to the referrer, one to the referred
   * member, linked in one chain; once per referred member, the ids derive from the referral.
   */
  referralBonus = 23,
}

/** The transfer codes of a purchase's entries, by breakdown kind (base is `purchaseEarn`). */
export const earnEntryCodes = {
  base: TransferCode.purchaseEarn,
  category_multiplier: TransferCode.categoryMultiplierEarn,
  sku_bonus: TransferCode.skuBonusEarn,
  campaign: TransferCode.campaignEarn,
  tier: TransferCode.tierBonusEarn,
} as const;

/** Every code a purchase credits a points wallet with. */
export const purchaseCreditCodes: readonly TransferCode[] = Object.values(earnEntryCodes);

/**
 * Codes posted also with amount 0 (TigerBeetle 0.16+ stores it): every purchase and every refund
 * is in the ledger with its time and spend, whatever points it moved.
 */
export const zeroAmountTransferCodes: readonly number[] = [
  TransferCode.purchaseEarn,
  TransferCode.refundReversal,
  // An entry a cap trimmed to 0 is still posted: its id was recorded before the cap was known.
  TransferCode.categoryMultiplierEarn,
  TransferCode.skuBonusEarn,
  TransferCode.campaignEarn,
  TransferCode.tierBonusEarn,
  // A reservation on a spent cap moves 0; its post then uses 0.
  TransferCode.capReservation,
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
  [TransferCode.categoryMultiplierEarn]: {
    debit: AccountCode.issuance,
    credit: AccountCode.wallet,
    operation: "category_multiplier_earn",
  },
  [TransferCode.skuBonusEarn]: {
    debit: AccountCode.issuance,
    credit: AccountCode.wallet,
    operation: "sku_bonus_earn",
  },
  [TransferCode.campaignEarn]: {
    debit: AccountCode.issuance,
    credit: AccountCode.wallet,
    operation: "campaign_earn",
  },
  [TransferCode.tierBonusEarn]: {
    debit: AccountCode.issuance,
    credit: AccountCode.wallet,
    operation: "tier_bonus_earn",
  },
  [TransferCode.capAllowance]: {
    debit: AccountCode.earningAllowances,
    credit: AccountCode.earningCap,
    operation: "cap_allowance",
  },
  [TransferCode.capReservation]: {
    debit: AccountCode.earningCap,
    credit: AccountCode.capUsage,
    operation: "cap_reservation",
  },
  [TransferCode.codeRedemption]: {
    debit: AccountCode.promotions,
    credit: AccountCode.wallet,
    operation: "code_redemption",
  },
  [TransferCode.inventoryStock]: {
    debit: AccountCode.inventoryControl,
    credit: AccountCode.rewardInventory,
    operation: "inventory_stock",
  },
  [TransferCode.inventoryHold]: {
    debit: AccountCode.rewardInventory,
    credit: AccountCode.inventoryControl,
    operation: "inventory_hold",
  },
  [TransferCode.openingBalance]: {
    debit: AccountCode.openingBalances,
    credit: AccountCode.wallet,
    operation: "opening_balance",
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
