/**
 * A wallet's available balance right after given transfers were posted, read from the account's
 * balance history (wallets are opened with the `history` flag). Used to tell a webhook receiver
 * the balance a posting left, however much later the event is sent.
 */
import assert from "node:assert/strict";
import { AccountFilterFlags, type Client } from "tigerbeetle-node";
import { walletAccountId } from "./ids.ts";
import { queryLimitMax } from "./limits.ts";

/**
 * The available balance (credits_posted − debits_posted − debits_pending) of the member's wallet
 * just after the latest of `transferIds` that touched it; null when none of them did (nothing
 * was posted, e.g. a document of 0 points).
 */
export async function walletBalanceAfter(
  client: Client,
  args: { ledger: number; memberId: string; transferIds: readonly bigint[] },
): Promise<bigint | null> {
  if (args.transferIds.length === 0) {
    return null;
  }
  const walletId = walletAccountId(args.ledger, args.memberId);
  const transfers = await client.lookupTransfers([...args.transferIds]);
  let latest = 0n;
  for (const transfer of transfers) {
    if (transfer.debit_account_id === walletId || transfer.credit_account_id === walletId) {
      latest = transfer.timestamp > latest ? transfer.timestamp : latest;
    }
  }
  if (latest === 0n) {
    return null;
  }
  const [balance] = await client.getAccountBalances({
    account_id: walletId,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: latest,
    limit: 1,
    flags: AccountFilterFlags.debits | AccountFilterFlags.credits | AccountFilterFlags.reversed,
  });
  assert.ok(balance !== undefined, "a wallet that took a transfer has its balance after it");
  assert.equal(balance.timestamp, latest, "the balance is the one that transfer left");
  const available = balance.credits_posted - balance.debits_posted - balance.debits_pending;
  assert.ok(available >= 0n, "a wallet is never overdrawn");
  return available;
}

export interface WalletBalancePoint {
  /** The ledger timestamp of the transfer that left this balance. */
  timestamp: bigint;
  /** Available points right after it (credits_posted − debits_posted − debits_pending). */
  available: bigint;
}

function availableOf(balance: {
  credits_posted: bigint;
  debits_posted: bigint;
  debits_pending: bigint;
}): bigint {
  const available = balance.credits_posted - balance.debits_posted - balance.debits_pending;
  assert.ok(available >= 0n, "a wallet is never overdrawn");
  return available;
}

/**
 * The wallet's balance after each transfer posted after `timestampAfter`, oldest first, at most
 * `limit` (a page: call again from the last timestamp). A hold, its post and its void each leave
 * a balance; a lapsed hold's release leaves none (it is not a transfer).
 */
export async function walletBalancesSince(
  client: Client,
  args: { ledger: number; memberId: string; timestampAfter: bigint; limit: number },
): Promise<WalletBalancePoint[]> {
  assert.ok(args.limit >= 1 && args.limit <= queryLimitMax, "a page within the query limit");
  assert.ok(args.timestampAfter >= 0n, "timestamps are non-negative");
  const balances = await client.getAccountBalances({
    account_id: walletAccountId(args.ledger, args.memberId),
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    code: 0,
    timestamp_min: args.timestampAfter + 1n,
    timestamp_max: 0n,
    limit: args.limit,
    flags: AccountFilterFlags.debits | AccountFilterFlags.credits,
  });
  assert.ok(balances.length <= args.limit, "no more balances than asked");
  return balances.map((balance) => ({
    timestamp: balance.timestamp,
    available: availableOf(balance),
  }));
}

/** The wallet's latest balance point, or null when nothing was ever posted to it. */
export async function walletLatestBalance(
  client: Client,
  args: { ledger: number; memberId: string },
): Promise<WalletBalancePoint | null> {
  const [balance] = await client.getAccountBalances({
    account_id: walletAccountId(args.ledger, args.memberId),
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: 1,
    flags: AccountFilterFlags.debits | AccountFilterFlags.credits | AccountFilterFlags.reversed,
  });
  return balance === undefined
    ? null
    : { timestamp: balance.timestamp, available: availableOf(balance) };
}
