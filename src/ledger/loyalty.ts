/**
 * The loyalty operations, each one linked chain of balanced transfers on an organization's
 * ledger. This module speaks TigerBeetle and loyalty, never HTTP or SQL: callers pass the ledger
 * numbers allocated in Postgres and the ids of the source documents.
 *
 * Every id is derived (see ids.ts), so calling an operation again with the same arguments is
 * safe: TigerBeetle answers `exists` and the operation reports the original outcome.
 */
import assert from "node:assert/strict";
import {
  AccountFlags,
  amount_max,
  type Client,
  CreateAccountStatus,
  CreateTransferStatus,
  type Transfer,
  TransferFlags,
} from "tigerbeetle-node";
import {
  AccountCode,
  controlAccountCodes,
  controlAccountFlags,
  TransferCode,
  walletAccountFlags,
} from "./codes.ts";
import {
  controlAccountId,
  inventoryControlAccountId,
  rewardInventoryAccountId,
  transferId,
  uuidToU128,
  walletAccountId,
} from "./ids.ts";
import { batchEventsMax } from "./limits.ts";
import {
  type ChainOutcome,
  link,
  pointsPerTransferMax,
  submitChains,
  transfer,
} from "./postings.ts";

/** Longest a redemption hold may last: 7 days, well inside TigerBeetle's u32 seconds. */
export const holdSecondsMax = 7 * 24 * 60 * 60;
assert.ok(holdSecondsMax < 2 ** 32, "hold seconds fit TigerBeetle's u32 timeout");

/** Why a ledger operation did not happen. Callers map these to their own error types. */
export type LedgerRefusal =
  | "insufficient_points"
  /** A reward's stock on the inventory ledger cannot cover the units a redemption holds. */
  | "out_of_stock"
  | "hold_expired"
  | "hold_already_fulfilled"
  | "hold_already_cancelled"
  | "not_found"
  | "conflict"
  /**
   * Any other answer that refuses a transfer for good (its id is then burnt or taken, e.g.
   * `id_already_failed`, `exists_with_different_amount`): re-sending it can never succeed.
   */
  | "rejected";

export class LedgerRefusedError extends Error {
  constructor(
    readonly refusal: LedgerRefusal,
    readonly status: CreateTransferStatus,
    operation?: string,
  ) {
    const where = operation === undefined ? "" : `${operation}: `;
    super(`${where}ledger refused: ${refusal} (${CreateTransferStatus[status] ?? status})`);
    this.name = "LedgerRefusedError";
  }

  /** The ledger's own name of the answer, e.g. `id_already_failed`: what a failed intent keeps. */
  get reason(): string {
    return CreateTransferStatus[this.status] ?? String(this.status);
  }
}

/**
 * A refusal no business rule explains. TigerBeetle's answers are final for a transfer id, so the
 * caller records the operation as failed for good (with `reason`) rather than retrying it.
 */
function unexpected(operation: string, status: CreateTransferStatus): never {
  throw new LedgerRefusedError("rejected", status, operation);
}

export interface OrgLedger {
  orgId: string;
  ledger: number;
}

export function accountTemplate(id: bigint, ledger: number, code: AccountCode, flags: number) {
  return {
    id,
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    reserved: 0,
    ledger,
    code,
    flags,
    timestamp: 0n,
  };
}

/** Creates the ledger's control accounts. Idempotent. */
export async function provisionLedger(client: Client, ledger: number): Promise<void> {
  const accounts = controlAccountCodes.map((code) =>
    accountTemplate(controlAccountId(ledger, code), ledger, code, controlAccountFlags),
  );
  const results = await client.createAccounts(accounts);
  for (const result of results) {
    if (
      result.status !== CreateAccountStatus.created &&
      result.status !== CreateAccountStatus.exists
    ) {
      assert.fail(`provisionLedger: ${CreateAccountStatus[result.status]}`);
    }
  }
}

/** Opens a member's wallet on one ledger. Idempotent. */
export async function openWallet(
  client: Client,
  args: { ledger: number; memberId: string },
): Promise<bigint> {
  const id = walletAccountId(args.ledger, args.memberId);
  const account = {
    ...accountTemplate(id, args.ledger, AccountCode.wallet, walletAccountFlags),
    user_data_128: uuidToU128(args.memberId),
  };
  const [result] = await client.createAccounts([account]);
  assert.ok(result !== undefined, "one result per account");
  if (
    result.status !== CreateAccountStatus.created &&
    result.status !== CreateAccountStatus.exists
  ) {
    assert.fail(`openWallet: ${CreateAccountStatus[result.status]}`);
  }
  return id;
}

/**
 * Opens many wallets of one ledger in as few requests as the batch limit allows (a member
 * import). Idempotent: a wallet that exists answers `exists`, which is success.
 */
export async function openWallets(
  client: Client,
  args: { ledger: number; memberIds: readonly string[] },
): Promise<void> {
  assert.ok(args.ledger > 0, "a ledger number is positive");
  for (let start = 0; start < args.memberIds.length; start += batchEventsMax) {
    const accounts = args.memberIds.slice(start, start + batchEventsMax).map((memberId) => ({
      ...accountTemplate(
        walletAccountId(args.ledger, memberId),
        args.ledger,
        AccountCode.wallet,
        walletAccountFlags,
      ),
      user_data_128: uuidToU128(memberId),
    }));
    const results = await client.createAccounts(accounts);
    assert.equal(results.length, accounts.length, "one result per account");
    for (const result of results) {
      if (
        result.status !== CreateAccountStatus.created &&
        result.status !== CreateAccountStatus.exists
      ) {
        assert.fail(`openWallets: ${CreateAccountStatus[result.status]}`);
      }
    }
  }
}

export interface OpeningBalanceInput extends OrgLedger {
  memberId: string;
  points: bigint;
  /** The import that brought the member (UUIDv7: its time is the import's), `user_data_128`. */
  importId: string;
}

/**
 * The id of an imported member's opening balance: derived from the member alone, so a member is
 * credited an opening balance at most once, however often its import is re-run or recovered.
 */
export function openingBalanceTransferId(input: { orgId: string; memberId: string }): bigint {
  assert.ok(input.memberId.length > 0, "an opening balance names its member");
  return transferId({
    orgId: input.orgId,
    source: "import",
    externalId: input.memberId,
    leg: "opening_balance",
  });
}

/** openingBalances → wallet: the migration credit of an imported member's `opening_points`. */
export function openingBalanceChain(input: OpeningBalanceInput): Transfer[] {
  assert.ok(input.points > 0n, "an opening balance credits a positive amount");
  return link([
    transfer({
      id: openingBalanceTransferId(input),
      debit_account_id: controlAccountId(input.ledger, AccountCode.openingBalances),
      credit_account_id: walletAccountId(input.ledger, input.memberId),
      amount: input.points,
      user_data_128: uuidToU128(input.importId),
      ledger: input.ledger,
      code: TransferCode.openingBalance,
    }),
  ]);
}

export interface EnrollInput extends OrgLedger {
  memberId: string;
  welcomeBonusPoints: bigint;
}

/** Opens the wallet and credits the welcome bonus (promotions → wallet). */
export async function enroll(
  client: Client,
  input: EnrollInput,
): Promise<{ welcomeBonus: bigint }> {
  assert.ok(input.welcomeBonusPoints >= 0n, "welcome bonus is not negative");
  await provisionLedger(client, input.ledger);
  await openWallet(client, input);
  if (input.welcomeBonusPoints === 0n) {
    return { welcomeBonus: 0n };
  }
  const [outcome] = await submitChains(client, [welcomeBonusChain(input)]);
  assert.ok(outcome !== undefined);
  if (outcome.kind === "failed") {
    unexpected("enroll", outcome.status);
  }
  return { welcomeBonus: input.welcomeBonusPoints };
}

export function welcomeBonusChain(input: EnrollInput): Transfer[] {
  return link([
    transfer({
      id: transferId({
        orgId: input.orgId,
        source: "enrollment",
        externalId: input.memberId,
        leg: "welcome_bonus",
      }),
      debit_account_id: controlAccountId(input.ledger, AccountCode.promotions),
      credit_account_id: walletAccountId(input.ledger, input.memberId),
      amount: input.welcomeBonusPoints,
      user_data_128: uuidToU128(input.memberId),
      ledger: input.ledger,
      code: TransferCode.welcomeBonus,
    }),
  ]);
}

/**
 * Points for a purchase: floor(amount × base rate × tier multiplier), with the amount in minor
 * units of the org's currency, the base rate in points per whole currency unit and the
 * multiplier in basis points. Rounding is always down, once, at the end: a member never receives
 * a fraction of a point, and splitting a basket never earns more than buying it whole.
 *
 * @example pointsForPurchase({ amountMinor: 1999n, currencyExponent: 2, basePointsPerUnit: 1n,
 *   multiplierBps: 12500n }) === 24n  // 19.99 × 1 × 1.25 = 24.98… → 24
 */
export function pointsForPurchase(args: {
  amountMinor: bigint;
  currencyExponent: number;
  basePointsPerUnit: bigint;
  multiplierBps: bigint;
}): bigint {
  assert.ok(args.amountMinor > 0n, "purchase amount is positive");
  assert.ok(Number.isInteger(args.currencyExponent) && args.currencyExponent >= 0);
  assert.ok(args.currencyExponent <= 4, "ISO 4217 exponents are 0..4");
  assert.ok(args.basePointsPerUnit >= 0n && args.multiplierBps >= 0n);
  const numerator = args.amountMinor * args.basePointsPerUnit * args.multiplierBps;
  const denominator = 10n ** BigInt(args.currencyExponent) * 10_000n;
  const points = numerator / denominator;
  assert.ok(points <= pointsPerTransferMax, "points of one purchase within the transfer bound");
  return points;
}

/** Minor-unit exponent of an ISO 4217 currency (USD 2, JPY 0, KWD 3). */
export function currencyExponent(currency: string): number {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
    .maximumFractionDigits;
  assert.ok(digits !== undefined && digits >= 0 && digits <= 4, "currency exponent in 0..4");
  return digits;
}

export interface EarnInput extends OrgLedger {
  memberId: string;
  /** The purchase's id as the POS knows it. */
  externalId: string;
  /** May be 0: every purchase is in the ledger, with its spend, whatever it earned. */
  points: bigint;
  /** The purchase amount in minor units (`user_data_64`): spend is read back from the ledger. */
  spendMinor: bigint;
  /** The location's per-org number, 0 when unknown. */
  locationNumber: number;
  /**
   * The Postgres id of the source document (pos transaction): a UUIDv7 whose timestamp is the
   * purchase's `occurred_at` (`user_data_128`, see ids.ts `documentTimeMs`).
   */
  documentId: string;
}

/**
 * issuance → wallet, posted for every purchase, also one earning 0 points (TigerBeetle 0.16+
 * stores a 0 amount), so that the purchase's time and spend are in the ledger.
 */
export function earnChain(input: EarnInput): Transfer[] {
  assert.ok(input.points >= 0n, "a purchase earns a non-negative amount");
  assert.ok(input.spendMinor > 0n && input.spendMinor < 2n ** 64n, "spend fits user_data_64");
  return link([
    transfer({
      id: transferId({
        orgId: input.orgId,
        source: "purchase",
        externalId: input.externalId,
        leg: "earn",
      }),
      debit_account_id: controlAccountId(input.ledger, AccountCode.issuance),
      credit_account_id: walletAccountId(input.ledger, input.memberId),
      amount: input.points,
      user_data_128: uuidToU128(input.documentId),
      user_data_64: input.spendMinor,
      user_data_32: input.locationNumber,
      ledger: input.ledger,
      code: TransferCode.purchaseEarn,
    }),
  ]);
}

/** Posts many purchases' chains in as few requests as possible; one outcome per input. */
export async function earnMany(
  client: Client,
  inputs: readonly EarnInput[],
): Promise<ChainOutcome[]> {
  const outcomes = await submitChains(
    client,
    inputs.map((input) => earnChain(input)),
  );
  assert.equal(outcomes.length, inputs.length, "one outcome per purchase");
  for (const outcome of outcomes) {
    if (outcome.kind === "failed") {
      unexpected("earn", outcome.status);
    }
  }
  return outcomes;
}

export interface HoldInput extends OrgLedger {
  memberId: string;
  redemptionId: string;
  points: bigint;
  holdSeconds: number;
  /**
   * A reward with a limited inventory: its units are held in the same linked chain, on the org's
   * inventory ledger, with the same timeout, so they come back with the points on a cancel or an
   * expiry. Absent: points only.
   */
  inventory?: RedemptionInventory;
}

export interface RedemptionInventory {
  /** The org's inventory ledger (unit "inventory"). */
  ledger: number;
  rewardId: string;
  units: bigint;
}

export function holdTransferId(input: { orgId: string; redemptionId: string }): bigint {
  return transferId({
    orgId: input.orgId,
    source: "redemption",
    externalId: input.redemptionId,
    leg: "hold",
  });
}

/** The id of the inventory leg of a reward redemption's hold. */
export function inventoryHoldTransferId(input: { orgId: string; redemptionId: string }): bigint {
  return transferId({
    orgId: input.orgId,
    source: "redemption",
    externalId: input.redemptionId,
    leg: "inventory_hold",
  });
}

/** The id of the post (fulfil) or void (cancel) of a redemption's hold. */
export function resolutionTransferId(input: {
  orgId: string;
  redemptionId: string;
  resolution: "fulfil" | "cancel";
}): bigint {
  return transferId({
    orgId: input.orgId,
    source: "redemption",
    externalId: input.redemptionId,
    leg: input.resolution,
  });
}

/**
 * wallet → redemptions, pending for `holdSeconds`, and with `inventory` the reward's units
 * rewardInventory → inventoryControl, pending for as long, in one linked chain: both or neither.
 * Refused (`insufficient_points`) when the points are not available, (`out_of_stock`) when the
 * units are not.
 */
export async function holdRedemption(
  client: Client,
  input: HoldInput,
): Promise<{ timestamp: bigint }> {
  assert.ok(input.points > 0n, "a redemption holds a positive amount");
  assert.ok(input.holdSeconds > 0 && input.holdSeconds <= holdSecondsMax, "hold within bounds");
  const legs = [
    transfer({
      id: holdTransferId(input),
      debit_account_id: walletAccountId(input.ledger, input.memberId),
      credit_account_id: controlAccountId(input.ledger, AccountCode.redemptions),
      amount: input.points,
      user_data_128: uuidToU128(input.redemptionId),
      timeout: input.holdSeconds,
      ledger: input.ledger,
      code: TransferCode.redemption,
      flags: TransferFlags.pending,
    }),
  ];
  if (input.inventory !== undefined) {
    const { inventory } = input;
    assert.ok(inventory.units > 0n, "a reward redemption holds at least one unit");
    assert.notEqual(inventory.ledger, input.ledger, "units live on their own ledger");
    legs.push(
      transfer({
        id: inventoryHoldTransferId(input),
        debit_account_id: rewardInventoryAccountId(inventory.ledger, inventory.rewardId),
        credit_account_id: inventoryControlAccountId(inventory.ledger),
        amount: inventory.units,
        user_data_128: uuidToU128(input.redemptionId),
        timeout: input.holdSeconds,
        ledger: inventory.ledger,
        code: TransferCode.inventoryHold,
        flags: TransferFlags.pending,
      }),
    );
  }
  const [outcome] = await submitChains(client, [link(legs)]);
  assert.ok(outcome !== undefined);
  switch (outcome.kind) {
    case "created":
      assert.equal(outcome.timestamps.length, legs.length, "every leg of the hold was created");
      return { timestamp: outcome.timestamps[0] as bigint };
    case "exists":
      return { timestamp: outcome.timestamp };
    case "failed":
      // exceeds_credits burns the id of the leg that was short, so a retry answers
      // id_already_failed on that same leg: the same refusal.
      if (
        outcome.status === CreateTransferStatus.exceeds_credits ||
        outcome.status === CreateTransferStatus.id_already_failed
      ) {
        throw new LedgerRefusedError(
          outcome.leg === 0 ? "insufficient_points" : "out_of_stock",
          outcome.status,
        );
      }
      if (outcome.status === CreateTransferStatus.debit_account_not_found) {
        // A reward's account is opened with its first stock: without one, nothing was stocked.
        throw new LedgerRefusedError(
          outcome.leg === 0 ? "not_found" : "out_of_stock",
          outcome.status,
        );
      }
      return unexpected("holdRedemption", outcome.status);
  }
}

/**
 * Posts (fulfil) or voids (cancel) a redemption hold, and with `inventoryLedger` the hold of its
 * units in the same chain. Idempotent.
 */
export async function resolveRedemption(
  client: Client,
  input: OrgLedger & {
    redemptionId: string;
    resolution: "fulfil" | "cancel";
    /** The inventory ledger, when the hold took a reward's units too (the row says so). */
    inventoryLedger?: number | null;
  },
): Promise<{ timestamp: bigint }> {
  const fulfil = input.resolution === "fulfil";
  const flags = fulfil ? TransferFlags.post_pending_transfer : TransferFlags.void_pending_transfer;
  // amount_max posts the whole hold; 0 voids the whole hold.
  const amount = fulfil ? amount_max : 0n;
  const legs = [
    transfer({
      id: resolutionTransferId(input),
      pending_id: holdTransferId(input),
      amount,
      ledger: input.ledger,
      code: TransferCode.redemption,
      flags,
    }),
  ];
  if (input.inventoryLedger !== undefined && input.inventoryLedger !== null) {
    legs.push(
      transfer({
        id: transferId({
          orgId: input.orgId,
          source: "redemption",
          externalId: input.redemptionId,
          leg: `inventory_${input.resolution}`,
        }),
        pending_id: inventoryHoldTransferId(input),
        amount,
        ledger: input.inventoryLedger,
        code: TransferCode.inventoryHold,
        flags,
      }),
    );
  }
  const [outcome] = await submitChains(client, [link(legs)]);
  assert.ok(outcome !== undefined);
  switch (outcome.kind) {
    case "created":
      return { timestamp: outcome.timestamps[0] as bigint };
    case "exists":
      return { timestamp: outcome.timestamp };
    case "failed":
      // Both holds were created together with one timeout, so they lapse and resolve together:
      // whichever leg answers, the answer is the redemption's.
      switch (outcome.status) {
        case CreateTransferStatus.pending_transfer_expired:
          throw new LedgerRefusedError("hold_expired", outcome.status);
        case CreateTransferStatus.pending_transfer_already_posted:
          throw new LedgerRefusedError("hold_already_fulfilled", outcome.status);
        case CreateTransferStatus.pending_transfer_already_voided:
          throw new LedgerRefusedError("hold_already_cancelled", outcome.status);
        case CreateTransferStatus.pending_transfer_not_found:
        case CreateTransferStatus.id_already_failed:
          throw new LedgerRefusedError("not_found", outcome.status);
        default:
          return unexpected("resolveRedemption", outcome.status);
      }
  }
}

export interface ReversalInput extends OrgLedger {
  memberId: string;
  /** Where the reversal comes from: "refund" (to issuance) or "expiry" (to breakage). */
  reason: "refund" | "expiry";
  /** Points that should leave the wallet; may be 0 for a refund (its spend still counts). */
  points: bigint;
  /**
   * `user_data_128`: for a refund, the refunded purchase's document id (so the reversal carries
   * the purchase's time); for an expiry, the expiry's own document id.
   */
  documentId: string;
  /** `user_data_64`: for a refund, the refunded amount in minor units; 0 otherwise. */
  spendMinor?: bigint;
  /**
   * The reversal's id as its document recorded it (`reversalTransferId`, when the intent was
   * written): posted as recorded, never derived a second time.
   */
  transferId: bigint;
}

/** The id of a reversal: what its document records before it is posted. */
export function reversalTransferId(input: {
  orgId: string;
  reason: "refund" | "expiry";
  externalId: string;
}): bigint {
  return transferId({
    orgId: input.orgId,
    source: input.reason,
    externalId: input.externalId,
    leg: "reversal",
  });
}

/**
 * Takes up to `points` out of the wallet with a balancing debit: if the member has already spent
 * some, TigerBeetle moves what is available, and the rest is reported as the shortfall.
 */
export async function reversePoints(
  client: Client,
  input: ReversalInput,
): Promise<{ reversed: bigint; shortfall: bigint }> {
  const [outcome] = await reversePointsMany(client, [input]);
  assert.ok(outcome !== undefined, "one outcome per reversal");
  if (outcome instanceof LedgerRefusedError) {
    throw outcome;
  }
  return outcome;
}

/** Reversals posted together at most: one request of chains, one of lookups. */
export const reversalsPerRequestMax = 1_000;
assert.ok(reversalsPerRequestMax <= batchEventsMax, "reversals and their lookups fit one request");

/**
 * `reversePoints` for many wallets in one ledger request (each reversal its own chain, so one
 * refusal never blocks the others) and one lookup request. One outcome per input, in order: what
 * was moved, or the refusal (always `rejected`: a balancing debit is never short of points).
 */
export async function reversePointsMany(
  client: Client,
  inputs: readonly ReversalInput[],
): Promise<Array<{ reversed: bigint; shortfall: bigint } | LedgerRefusedError>> {
  assert.ok(inputs.length <= reversalsPerRequestMax, "reversals within reversalsPerRequestMax");
  const chains = inputs.map((input) => {
    assert.ok(input.points >= 0n, "a reversal takes a non-negative amount");
    assert.ok(input.transferId > 0n, "a reversal posts the id its document recorded");
    const refund = input.reason === "refund";
    // Only a refund may be 0 (its spend still counts): the chain's assertion checks the code.
    const spendMinor = input.spendMinor ?? 0n;
    assert.ok(spendMinor >= 0n && spendMinor < 2n ** 64n, "spend fits user_data_64");
    assert.ok(refund || spendMinor === 0n, "only a refund carries a spend");
    return link([
      transfer({
        id: input.transferId,
        debit_account_id: walletAccountId(input.ledger, input.memberId),
        credit_account_id: controlAccountId(
          input.ledger,
          refund ? AccountCode.issuance : AccountCode.breakage,
        ),
        amount: input.points,
        user_data_128: uuidToU128(input.documentId),
        user_data_64: spendMinor,
        ledger: input.ledger,
        code: refund ? TransferCode.refundReversal : TransferCode.expiry,
        flags: TransferFlags.balancing_debit,
      }),
    ]);
  });
  const outcomes = await submitChains(client, chains);
  const accepted = inputs.filter((_, index) => outcomes[index]?.kind !== "failed");
  // The transfers store the amounts actually moved.
  const posted =
    accepted.length === 0
      ? []
      : await client.lookupTransfers(accepted.map((input) => input.transferId));
  const amounts = new Map(posted.map((found) => [found.id, found.amount]));
  return inputs.map((input, index) => {
    const outcome = outcomes[index];
    assert.ok(outcome !== undefined, "one outcome per chain");
    if (outcome.kind === "failed") {
      return new LedgerRefusedError("rejected", outcome.status, "reversePoints");
    }
    const reversed = amounts.get(input.transferId);
    assert.ok(reversed !== undefined, "a posted reversal can be looked up");
    assert.ok(reversed <= input.points, "a balancing debit never moves more than asked");
    return { reversed, shortfall: input.points - reversed };
  });
}

export interface AdjustmentInput extends OrgLedger {
  memberId: string;
  direction: "credit" | "debit";
  points: bigint;
  documentId: string;
  /** The id its document recorded (`adjustmentTransferId`): posted as recorded. */
  transferId: bigint;
}

/** The id of an adjustment's transfer: what its document records before it is posted. */
export function adjustmentTransferId(input: {
  orgId: string;
  externalId: string;
  direction: "credit" | "debit";
}): bigint {
  return transferId({
    orgId: input.orgId,
    source: "adjustment",
    externalId: input.externalId,
    leg: input.direction,
  });
}

/** adjustments → wallet (credit) or wallet → adjustments (debit; refused beyond the balance). */
export async function adjustPoints(client: Client, input: AdjustmentInput): Promise<void> {
  assert.ok(input.points > 0n, "an adjustment moves a positive amount");
  const wallet = walletAccountId(input.ledger, input.memberId);
  const control = controlAccountId(input.ledger, AccountCode.adjustments);
  const credit = input.direction === "credit";
  const chain = link([
    transfer({
      id: input.transferId,
      debit_account_id: credit ? control : wallet,
      credit_account_id: credit ? wallet : control,
      amount: input.points,
      user_data_128: uuidToU128(input.documentId),
      ledger: input.ledger,
      code: credit ? TransferCode.adjustmentCredit : TransferCode.adjustmentDebit,
    }),
  ]);
  const [outcome] = await submitChains(client, [chain]);
  assert.ok(outcome !== undefined);
  if (outcome.kind === "failed") {
    if (
      outcome.status === CreateTransferStatus.exceeds_credits ||
      outcome.status === CreateTransferStatus.id_already_failed
    ) {
      throw new LedgerRefusedError("insufficient_points", outcome.status);
    }
    unexpected("adjustPoints", outcome.status);
  }
}

export interface CodeRedemptionInput extends OrgLedger {
  memberId: string;
  points: bigint;
  /** The code redemption's Postgres id (`user_data_128`). */
  documentId: string;
  /** The id its document recorded (`codeRedemptionTransferId`): posted as recorded. */
  transferId: bigint;
}

/**
 * The id of a code redemption's transfer: one per (code, member), so however often a redemption
 * is retried or recovered, a member is credited for a code at most once.
 */
export function codeRedemptionTransferId(input: {
  orgId: string;
  codeId: string;
  memberId: string;
}): bigint {
  assert.ok(input.codeId.length > 0 && input.memberId.length > 0, "code and member named");
  return transferId({
    orgId: input.orgId,
    source: "code",
    externalId: `${input.codeId}:${input.memberId}`,
    leg: "credit",
  });
}

/** promotions → wallet for a redeemed promo code. Idempotent by its transfer id. */
export async function creditCodeRedemption(
  client: Client,
  input: CodeRedemptionInput,
): Promise<void> {
  assert.ok(input.points > 0n, "a code credits a positive amount");
  assert.ok(input.transferId !== 0n, "a code redemption's transfer id is never zero");
  const chain = link([
    transfer({
      id: input.transferId,
      debit_account_id: controlAccountId(input.ledger, AccountCode.promotions),
      credit_account_id: walletAccountId(input.ledger, input.memberId),
      amount: input.points,
      user_data_128: uuidToU128(input.documentId),
      ledger: input.ledger,
      code: TransferCode.codeRedemption,
    }),
  ]);
  const [outcome] = await submitChains(client, [chain]);
  assert.ok(outcome !== undefined, "one outcome per chain");
  if (outcome.kind === "failed") {
    unexpected("creditCodeRedemption", outcome.status);
  }
}

export interface StampEarnInput extends OrgLedger {
  /** The stamp-card program's ledger (unit "stamps:<program>"). */
  memberId: string;
  externalId: string;
  programId: string;
  stamps: bigint;
  documentId: string;
}

/** issuance → stamp wallet on the program's ledger. Null when there are no stamps to give. */
export function stampEarnChain(input: StampEarnInput): Transfer[] | null {
  if (input.stamps === 0n) {
    return null;
  }
  return link([
    transfer({
      id: transferId({
        orgId: input.orgId,
        source: "purchase",
        externalId: input.externalId,
        leg: `stamps:${input.programId}`,
      }),
      debit_account_id: controlAccountId(input.ledger, AccountCode.issuance),
      credit_account_id: walletAccountId(input.ledger, input.memberId),
      amount: input.stamps,
      user_data_128: uuidToU128(input.documentId),
      ledger: input.ledger,
      code: TransferCode.stampEarn,
    }),
  ]);
}

export interface StampCardCompletionInput {
  orgId: string;
  memberId: string;
  programId: string;
  /** Which completion of this member's card this is (1, 2, ...): part of the ids. */
  completionNumber: number;
  stampsLedger: number;
  stampsRequired: bigint;
  pointsLedger: number;
  rewardPoints: bigint;
}

/**
 * N stamps leave the stamp wallet and the reward points arrive in the points wallet, in one
 * linked chain: both or neither. Refused (insufficient) when the card is not full.
 */
export async function completeStampCard(
  client: Client,
  input: StampCardCompletionInput,
): Promise<ChainOutcome> {
  assert.ok(input.stampsRequired > 0n, "a card needs stamps");
  assert.ok(input.rewardPoints >= 0n, "a reward is not negative");
  const externalId = `${input.programId}:${input.memberId}:${input.completionNumber}`;
  const legs = [
    transfer({
      id: transferId({ orgId: input.orgId, source: "stamp_card", externalId, leg: "stamps" }),
      debit_account_id: walletAccountId(input.stampsLedger, input.memberId),
      credit_account_id: controlAccountId(input.stampsLedger, AccountCode.completions),
      amount: input.stampsRequired,
      user_data_128: uuidToU128(input.memberId),
      ledger: input.stampsLedger,
      code: TransferCode.stampCardCompletion,
    }),
  ];
  if (input.rewardPoints > 0n) {
    legs.push(
      transfer({
        id: transferId({ orgId: input.orgId, source: "stamp_card", externalId, leg: "reward" }),
        debit_account_id: controlAccountId(input.pointsLedger, AccountCode.promotions),
        credit_account_id: walletAccountId(input.pointsLedger, input.memberId),
        amount: input.rewardPoints,
        user_data_128: uuidToU128(input.memberId),
        ledger: input.pointsLedger,
        code: TransferCode.stampCardReward,
      }),
    );
  }
  const [outcome] = await submitChains(client, [link(legs)]);
  assert.ok(outcome !== undefined);
  if (outcome.kind === "failed") {
    if (
      outcome.status === CreateTransferStatus.exceeds_credits ||
      outcome.status === CreateTransferStatus.id_already_failed
    ) {
      throw new LedgerRefusedError("insufficient_points", outcome.status);
    }
    unexpected("completeStampCard", outcome.status);
  }
  return outcome;
}

/** Posts any mix of prepared chains (earn, stamps) in as few requests as possible. */
/**
 * Posts independent chains (see `submitChains`) and returns one outcome per chain, in order.
 * A `failed` outcome is final for that chain (TigerBeetle never accepts a refused id later):
 * the caller records its document as failed; the other chains are unaffected.
 */
export async function postChains(
  client: Client,
  chains: readonly Transfer[][],
): Promise<ChainOutcome[]> {
  return submitChains(client, chains);
}

/** The ledger's name of a failed chain's status, as a failed intent records it. */
export function chainFailureReason(outcome: Extract<ChainOutcome, { kind: "failed" }>): string {
  return CreateTransferStatus[outcome.status] ?? String(outcome.status);
}

/** Wallet flags are part of the contract: assert them when a wallet is read. */
export function assertWalletFlags(flags: number): void {
  assert.ok((flags & AccountFlags.debits_must_not_exceed_credits) !== 0, "wallet cannot overdraw");
  assert.ok((flags & AccountFlags.history) !== 0, "wallet keeps history");
}

/** Which member of a referral a bonus leg credits. */
export type ReferralBonusLeg = "referrer" | "referred";

/**
 * The id of one leg of a referral's bonus: derived from the referral (one per referred member),
 * so however often the bonus is retried or recovered, each leg is credited at most once.
 */
export function referralBonusTransferId(input: {
  orgId: string;
  referralId: string;
  leg: ReferralBonusLeg;
}): bigint {
  assert.ok(input.referralId.length > 0, "a referral is named");
  return transferId({
    orgId: input.orgId,
    source: "referral",
    externalId: input.referralId,
    leg: input.leg,
  });
}

export interface ReferralBonusInput extends OrgLedger {
  /** The referral's Postgres id (`user_data_128`). */
  referralId: string;
  /** The legs to credit (one or two), with the ids their referral recorded. */
  legs: ReadonlyArray<{ memberId: string; points: bigint; transferId: bigint }>;
}

/**
 * promotions → wallet for each leg of a referral's bonus, in ONE linked chain: both members are
 * credited or neither. Idempotent by the recorded transfer ids.
 */
export async function creditReferralBonus(
  client: Client,
  input: ReferralBonusInput,
): Promise<void> {
  assert.ok(input.legs.length >= 1 && input.legs.length <= 2, "a referral credits one or two legs");
  assert.ok(
    input.legs.length === 1 || input.legs[0]?.memberId !== input.legs[1]?.memberId,
    "a referral's legs credit two different members",
  );
  const chain = link(
    input.legs.map((leg) => {
      assert.ok(leg.points > 0n, "a referral leg credits a positive amount");
      assert.ok(leg.transferId !== 0n, "a referral leg's transfer id is never zero");
      return transfer({
        id: leg.transferId,
        debit_account_id: controlAccountId(input.ledger, AccountCode.promotions),
        credit_account_id: walletAccountId(input.ledger, leg.memberId),
        amount: leg.points,
        user_data_128: uuidToU128(input.referralId),
        ledger: input.ledger,
        code: TransferCode.referralBonus,
      });
    }),
  );
  const [outcome] = await submitChains(client, [chain]);
  assert.ok(outcome !== undefined, "one outcome per chain");
  if (outcome.kind === "failed") {
    unexpected("creditReferralBonus", outcome.status);
  }
}
