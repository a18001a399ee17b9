/**
 * The read side of the loyalty ledger: a member's balances, their history decoded into named
 * operations, and the trial balance of a ledger. Everything is read from TigerBeetle; nothing
 * here trusts a cached or derived balance.
 */
import assert from "node:assert/strict";
import {
  type Account,
  AccountFilterFlags,
  type Client,
  QueryFilterFlags,
  type Transfer,
  TransferFlags,
} from "tigerbeetle-node";
import { AccountCode, controlAccountCodes, operationName, TransferCode } from "./codes.ts";
import { controlAccountId, inventoryControlAccountId, u128ToUuid, walletAccountId } from "./ids.ts";
import { queryLimitMax } from "./limits.ts";
import { assertWalletFlags } from "./loyalty.ts";

/** Pages a trial balance may read before giving up: 8189 × 10,000 accounts per ledger. */
export const trialBalancePagesMax = 10_000;
/** Largest history page a caller may ask for. */
export const historyPageMax = 200;

export interface WalletBalance {
  /** credits_posted − debits_posted − debits_pending: what the member can spend now. */
  available: bigint;
  /** Points held by pending redemptions. */
  pending: bigint;
  /** Everything ever credited: purchases, bonuses, rewards, credit adjustments. */
  lifetimeEarned: bigint;
  /** Points spent on fulfilled redemptions. */
  lifetimeRedeemed: bigint;
}

const emptyFilter = {
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  code: 0,
  timestamp_min: 0n,
  timestamp_max: 0n,
};

function walletBalanceOf(account: Account, lifetimeRedeemed: bigint): WalletBalance {
  assertWalletFlags(account.flags);
  // The account flag forbids overdrawing; re-check it on every read.
  assert.ok(
    account.debits_posted + account.debits_pending <= account.credits_posted,
    "a wallet is never overdrawn",
  );
  return {
    available: account.credits_posted - account.debits_posted - account.debits_pending,
    pending: account.debits_pending,
    lifetimeEarned: account.credits_posted,
    lifetimeRedeemed,
  };
}

/** The member's wallet on one ledger, or null when it was never opened. */
export async function walletBalance(
  client: Client,
  args: { ledger: number; memberId: string },
): Promise<WalletBalance | null> {
  const walletId = walletAccountId(args.ledger, args.memberId);
  const [account] = await client.lookupAccounts([walletId]);
  if (account === undefined) {
    return null;
  }
  // Fulfilled redemptions: posts of redemption holds debiting this wallet.
  let lifetimeRedeemed = 0n;
  let timestampMin = 0n;
  for (let page = 0; page < trialBalancePagesMax; page++) {
    // Written out rather than spread from `emptyFilter`: this runs on every balance read.
    const transfers = await client.getAccountTransfers({
      account_id: walletId,
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      code: TransferCode.redemption,
      timestamp_min: timestampMin,
      timestamp_max: 0n,
      limit: queryLimitMax,
      flags: AccountFilterFlags.debits,
    });
    for (const transfer of transfers) {
      if ((transfer.flags & TransferFlags.post_pending_transfer) !== 0) {
        lifetimeRedeemed += transfer.amount;
      }
    }
    const last = transfers[transfers.length - 1];
    if (transfers.length < queryLimitMax || last === undefined) {
      break;
    }
    timestampMin = last.timestamp + 1n;
  }
  return walletBalanceOf(account, lifetimeRedeemed);
}

/**
 * The available points (credits posted − debits posted − debits pending) of many wallets on one
 * ledger, in one lookup request. A wallet never opened is absent from the map.
 */
export async function walletsAvailable(
  client: Client,
  args: { ledger: number; memberIds: readonly string[] },
): Promise<Map<string, bigint>> {
  assert.ok(args.memberIds.length <= queryLimitMax, "wallets within one lookup request");
  const ids = args.memberIds.map((memberId) => walletAccountId(args.ledger, memberId));
  const accounts = args.memberIds.length === 0 ? [] : await client.lookupAccounts(ids);
  const byId = new Map(accounts.map((account) => [account.id, account]));
  const available = new Map<string, bigint>();
  args.memberIds.forEach((memberId, index) => {
    const account = byId.get(ids[index] as bigint);
    if (account !== undefined) {
      available.set(memberId, walletBalanceOf(account, 0n).available);
    }
  });
  return available;
}

export interface HistoryEntry {
  transferId: bigint;
  operation: string;
  /** Credit: points came into the wallet; debit: they left it (or were held). */
  direction: "credit" | "debit";
  amount: bigint;
  timestamp: bigint;
  /** The source document's id (pos transaction, redemption, member), when it has one. */
  documentId: string | null;
  /** Purchases: the spend in minor units and the location number. */
  spendMinor: bigint;
  locationNumber: number;
  /** For posts and voids of a hold: the hold's transfer id. */
  pendingId: bigint;
}

/**
 * A member's history on one ledger, newest first. `before` is the cursor: the timestamp of the
 * last entry of the previous page (exclusive).
 */
export async function walletHistory(
  client: Client,
  args: { ledger: number; memberId: string; limit: number; before?: bigint },
): Promise<{ entries: HistoryEntry[]; nextBefore: bigint | null }> {
  assert.ok(Number.isInteger(args.limit) && args.limit >= 1 && args.limit <= historyPageMax);
  const walletId = walletAccountId(args.ledger, args.memberId);
  const transfers = await client.getAccountTransfers({
    ...emptyFilter,
    account_id: walletId,
    timestamp_max: args.before === undefined ? 0n : args.before - 1n,
    limit: args.limit,
    flags: AccountFilterFlags.debits | AccountFilterFlags.credits | AccountFilterFlags.reversed,
  });
  const entries = transfers.map((transfer) => historyEntry(transfer, walletId));
  const last = transfers[transfers.length - 1];
  return {
    entries,
    nextBefore: transfers.length === args.limit && last !== undefined ? last.timestamp : null,
  };
}

function carriesSpend(code: number): boolean {
  return code === TransferCode.purchaseEarn || code === TransferCode.refundReversal;
}

function historyEntry(transfer: Transfer, walletId: bigint): HistoryEntry {
  const credit = transfer.credit_account_id === walletId;
  assert.ok(credit || transfer.debit_account_id === walletId, "history belongs to the wallet");
  return {
    transferId: transfer.id,
    operation: operationName(transfer.code, transfer.flags),
    direction: credit ? "credit" : "debit",
    amount: transfer.amount,
    timestamp: transfer.timestamp,
    documentId: transfer.user_data_128 === 0n ? null : u128ToUuid(transfer.user_data_128),
    // Only a purchase's base and a refund carry spend and location; a rule's entry names its
    // rule there instead.
    spendMinor: carriesSpend(transfer.code) ? transfer.user_data_64 : 0n,
    locationNumber: carriesSpend(transfer.code) ? transfer.user_data_32 : 0,
    pendingId: transfer.pending_id,
  };
}

export interface BalanceLine {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

export interface TrialBalance {
  ledger: number;
  /** One line per control account, by name. */
  controls: Record<string, BalanceLine>;
  /** All member wallets together. */
  wallets: BalanceLine & { count: number };
  /** All earning-cap accounts together: allowance, not points (docs/ledger.md). */
  earningCaps: BalanceLine & { count: number };
  totals: BalanceLine;
  /** Total debits equal total credits, posted and pending. */
  balanced: boolean;
  /** Points members hold and could still redeem: posted wallet balances (holds included). */
  outstandingLiability: bigint;
  /** Points held by pending redemptions. */
  pendingRedemptions: bigint;
}

function zeroLine(): BalanceLine {
  return { debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n };
}

function addAccount(line: BalanceLine, account: Account): void {
  line.debitsPosted += account.debits_posted;
  line.creditsPosted += account.credits_posted;
  line.debitsPending += account.debits_pending;
  line.creditsPending += account.credits_pending;
}

/** Reads every account of the ledger and adds them up. */
export async function trialBalance(client: Client, ledger: number): Promise<TrialBalance> {
  const controls: Record<string, BalanceLine> = {};
  const controlIds = new Map<bigint, string>();
  for (const code of controlAccountCodes) {
    controls[AccountCode[code]] = zeroLine();
    controlIds.set(controlAccountId(ledger, code), AccountCode[code]);
  }
  const wallets = { ...zeroLine(), count: 0 };
  const earningCaps = { ...zeroLine(), count: 0 };
  const totals = zeroLine();
  let timestampMin = 0n;
  let complete = false;
  for (let page = 0; page < trialBalancePagesMax; page++) {
    const accounts = await client.queryAccounts({
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      ledger,
      code: 0,
      timestamp_min: timestampMin,
      timestamp_max: 0n,
      limit: queryLimitMax,
      flags: QueryFilterFlags.none,
    });
    for (const account of accounts) {
      assert.equal(account.ledger, ledger, "queryAccounts returns the ledger asked for");
      addAccount(totals, account);
      const control = controlIds.get(account.id);
      if (control !== undefined) {
        addAccount(controls[control] as BalanceLine, account);
      } else if (account.code === AccountCode.earningCap) {
        addAccount(earningCaps, account);
        earningCaps.count += 1;
      } else if (account.code === AccountCode.inventoryControl) {
        // An inventory ledger: its one control account, and rewards' stock in `wallets`.
        assert.equal(account.id, inventoryControlAccountId(ledger), "the inventory control id");
        controls[AccountCode[account.code]] ??= zeroLine();
        addAccount(controls[AccountCode[account.code]] as BalanceLine, account);
      } else if (account.code === AccountCode.rewardInventory) {
        assert.ok(
          account.debits_posted + account.debits_pending <= account.credits_posted,
          "a reward's stock is never overdrawn",
        );
        addAccount(wallets, account);
        wallets.count += 1;
      } else {
        assert.equal(account.code, AccountCode.wallet, "every other account is a wallet");
        walletBalanceOf(account, 0n);
        addAccount(wallets, account);
        wallets.count += 1;
      }
    }
    const last = accounts[accounts.length - 1];
    if (accounts.length < queryLimitMax || last === undefined) {
      complete = true;
      break;
    }
    timestampMin = last.timestamp + 1n;
  }
  assert.ok(complete, "trial balance read every page");
  const balanced =
    totals.debitsPosted === totals.creditsPosted && totals.debitsPending === totals.creditsPending;
  // The ledger balances by construction; a trial balance that does not is a broken engine.
  assert.ok(balanced, `ledger ${ledger} does not balance`);
  return {
    ledger,
    controls,
    wallets,
    earningCaps,
    totals,
    balanced,
    outstandingLiability: wallets.creditsPosted - wallets.debitsPosted,
    pendingRedemptions: wallets.debitsPending,
  };
}
