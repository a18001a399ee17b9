/**
 * Domain errors: the expected business outcomes a caller must handle (an unknown member, a
 * duplicate card number, ...). They carry a code from a closed union and never an HTTP status;
 * the HTTP edge owns the one table from code to status. Bugs are assertions, not DomainErrors.
 */

/** Every domain error code, defined once so transports can map them exhaustively. */
export const domainErrorCodes = [
  "not_found",
  "conflict",
  "insufficient_points",
  "member_inactive",
  "invalid_state",
  "forbidden",
  /** A value the edge's schema cannot judge alone: a currency other than the org's, an amount
   * too large for the org's earning rate, an unreadable cursor, a bad item of a batch. */
  "invalid_input",
  /** The refunds of a purchase would add up to more than the purchase. */
  "refund_exceeds_purchase",
  /** A promo code that is unknown, expired, not yet valid, inactive or used up (one answer). */
  "code_not_found",
  /** The member redeemed this promo code before (codes are once per member). */
  "code_already_used",
  /** The member's tier ranks below the promo code's or the reward's minimum tier. */
  "tier_too_low",
  /** A reward's limited inventory has no units left for this redemption. */
  "out_of_stock",
  /** A reward outside its active window (not yet, or no longer, offered). */
  "reward_not_active",
  /** The member has had this reward as many times as its per-member limit allows. */
  "limit_reached",
  /**
   * A referral code given at enrollment that names no member of the org (unknown, or another
   * org's: one answer), or that names the member being enrolled.
   */
  "referral_code_invalid",
  /** A PIN login refused, whatever was wrong (org, PIN login off, member, PIN, lock): one answer. */
  "invalid_credentials",
] as const;

export type DomainErrorCode = (typeof domainErrorCodes)[number];

export type DomainErrorDetails = Readonly<Record<string, unknown>>;

/**
 * An expected business outcome.
 *
 * @example
 * throw new DomainError("not_found", "member not found", { memberId });
 */
export class DomainError extends Error {
  override readonly name = "DomainError";
  readonly code: DomainErrorCode;
  readonly details: DomainErrorDetails | undefined;

  constructor(code: DomainErrorCode, message: string, details?: DomainErrorDetails) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
