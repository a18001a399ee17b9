/**
 * Finance exports read straight from the ledger: every transfer of one ledger in a half-open
 * range of TigerBeetle timestamps, decoded into rows (operation, account names, member, source
 * document), one query page at a time; the ledger's commit watermark, which makes an export's
 * range final; and wallet balances at a past instant from the wallets' balance history.
 *
 * Why the watermark: TigerBeetle assigns every committed object a timestamp larger than all
 * before it (`max(previous + 1, cluster time)`), so once an object with timestamp `w` is visible,
 * no later commit can land at or below `w`. A range that ends at `w + 1` is therefore closed for
 * good: reading it again returns the same transfers, and the next range starting there misses
 * nothing. The service's own clock cannot give that guarantee: it may run ahead of the cluster's.
 */
import assert from "node:assert/strict";
import {
  type Account,
  AccountFilterFlags,
  type Client,
  QueryFilterFlags,
  type Transfer,
} from "tigerbeetle-node";
import { AccountCode, operationName, transferPhase } from "./codes.ts";
import { decodeControlAccountId, documentTimeMs, isUuidV7U128, u128ToUuid } from "./ids.ts";
import { queryLimitMax } from "./limits.ts";
import { lookupAccountsById } from "./lookups.ts";

/** Transfers one export page holds at most: one TigerBeetle query's worth. */
export const exportPageTransfersMax = queryLimitMax;
/** Pages one export may read: 8,189 × 1,000,000 transfers, far beyond any ledger here. */
const exportPagesMax = 1_000_000;
/** Wallet → member pairs an export keeps; dropped all at once when full (O(1), bounded). */
export const exportWalletMembersCachedMax = 65_536;
/** Largest valid object timestamp (TigerBeetle: 1 ..= 2^63 - 1). */
export const ledgerTimestampMax = 2n ** 63n - 1n;
// A page names at most two wallets per transfer: all of them fit in the cache at once.
assert.ok(exportWalletMembersCachedMax >= 2 * exportPageTransfersMax, "a page's wallets fit");

const filterNone = {
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  ledger: 0,
  code: 0,
  timestamp_min: 0n,
  timestamp_max: 0n,
  limit: 1,
  flags: QueryFilterFlags.reversed,
};

/**
 * The timestamp of the newest object (transfer or account) committed on the cluster, or 0 when
 * it holds none. Every later commit gets a larger timestamp, so `[x, watermark + 1)` is final.
 */
export async function ledgerCommitWatermark(client: Client): Promise<bigint> {
  const [transfer] = await client.queryTransfers({ ...filterNone });
  const [account] = await client.queryAccounts({ ...filterNone });
  const newest = [transfer?.timestamp ?? 0n, account?.timestamp ?? 0n].reduce((a, b) =>
    a > b ? a : b,
  );
  assert.ok(newest >= 0n && newest <= ledgerTimestampMax, "a timestamp is within 0..2^63-1");
  return newest;
}

export interface LedgerRange {
  ledger: number;
  /** First TigerBeetle timestamp of the range (inclusive). */
  timestampFrom: bigint;
  /** End of the range (exclusive); equal to `timestampFrom` for an empty range. */
  timestampTo: bigint;
  /** Transfers per page, 1..8189; `exportPageTransfersMax` by default. */
  pageTransfersMax?: number;
}

/**
 * Every transfer of the ledger with `timestampFrom <= timestamp < timestampTo`, oldest first, in
 * pages of at most `pageTransfersMax`. Lazy: a page is queried only when the consumer asks for
 * it, so a slow reader holds one page in memory, never the range.
 */
export async function* scanLedgerRange(
  client: Client,
  range: LedgerRange,
): AsyncGenerator<Transfer[]> {
  const { ledger, timestampFrom, timestampTo } = range;
  const limit = range.pageTransfersMax ?? exportPageTransfersMax;
  assert.ok(Number.isInteger(ledger) && ledger > 0 && ledger < 2 ** 32, "ledger is a u32 > 0");
  assert.ok(Number.isInteger(limit) && limit >= 1 && limit <= queryLimitMax, "page in 1..8189");
  assert.ok(timestampFrom >= 0n, "a range starts at 0 or later");
  assert.ok(timestampTo >= timestampFrom, "a range does not end before it starts");
  assert.ok(timestampTo <= ledgerTimestampMax + 1n, "a range ends within the timestamp space");
  let next = timestampFrom;
  for (let page = 0; page < exportPagesMax; page++) {
    // Inclusive bounds in TigerBeetle; both non-zero, as 0 would mean "unbounded".
    if (next >= timestampTo) {
      return;
    }
    const transfers = await client.queryTransfers({
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      ledger,
      code: 0,
      timestamp_min: next === 0n ? 1n : next,
      timestamp_max: timestampTo - 1n,
      limit,
      flags: QueryFilterFlags.none,
    });
    assert.ok(transfers.length <= limit, "a query answers at most its limit");
    let previous = next - 1n;
    for (const transfer of transfers) {
      assert.equal(transfer.ledger, ledger, "a ledger query answers its ledger");
      assert.ok(transfer.timestamp > previous, "a page is strictly ascending by timestamp");
      assert.ok(transfer.timestamp < timestampTo, "a page stays within the range");
      previous = transfer.timestamp;
    }
    if (transfers.length > 0) {
      yield transfers;
    }
    if (transfers.length < limit) {
      return;
    }
    next = previous + 1n;
  }
  assert.fail("an export ends within its page bound");
}

/** One transfer as finance reads it. */
export interface LedgerExportRow {
  transferId: bigint;
  /** TigerBeetle timestamp: ns since the Unix epoch, when the ledger committed it. */
  timestamp: bigint;
  /** The source document's time (UUIDv7 ids, docs/ledger.md); null when the id carries none. */
  documentTimeMs: number | null;
  /** Operation name (codes.ts `operationName`), the phase of a hold included. */
  operation: string;
  code: number;
  /** The member of the wallet side; null when neither side is a wallet. */
  memberId: string | null;
  /** Control account name (`issuance`, ...) or `wallet:<member id>`. */
  debitAccount: string;
  creditAccount: string;
  amount: bigint;
  phase: "single" | "pending" | "post" | "void";
  /** For a post or void: the hold's transfer id; 0 otherwise. */
  pendingId: bigint;
  /** `user_data_128` as a UUID: the source document; null when 0. */
  documentId: string | null;
}

/**
 * Decodes pages of one ledger's transfers into rows. Wallets are named by their member (the
 * wallet's `user_data_128`), looked up once per page for the wallets not already known and kept
 * in a bounded cache, so a page costs at most one lookup request per 8,189 new wallets.
 */
export function createExportRowDecoder(
  client: Client,
  ledger: number,
): (transfers: readonly Transfer[]) => Promise<LedgerExportRow[]> {
  assert.ok(Number.isInteger(ledger) && ledger > 0 && ledger < 2 ** 32, "ledger is a u32 > 0");
  const walletMembers = new Map<bigint, string>();

  function accountName(id: bigint): string {
    const control = decodeControlAccountId(id);
    if (control !== null) {
      assert.equal(control.ledger, ledger, "a control account of the ledger exported");
      return AccountCode[control.code];
    }
    const member = walletMembers.get(id);
    assert.ok(member !== undefined, "every wallet of a page was looked up");
    return `wallet:${member}`;
  }

  return async (transfers) => {
    assert.ok(transfers.length <= exportPageTransfersMax, "one page at a time");
    const wallets = new Set<bigint>();
    for (const transfer of transfers) {
      for (const id of [transfer.debit_account_id, transfer.credit_account_id]) {
        if (decodeControlAccountId(id) === null) {
          wallets.add(id);
        }
      }
    }
    let unknown = [...wallets].filter((id) => !walletMembers.has(id));
    if (walletMembers.size + unknown.length > exportWalletMembersCachedMax) {
      // Dropping everything keeps this O(1) and bounded; this page's wallets are read again.
      walletMembers.clear();
      unknown = [...wallets];
    }
    if (unknown.length > 0) {
      const accounts = await lookupAccountsById(client, unknown);
      for (const id of unknown) {
        const account = accounts.get(id);
        assert.ok(account !== undefined, "a transfer's accounts exist");
        assert.equal(account.ledger, ledger, "the wallet is on the ledger exported");
        assert.equal(account.code, AccountCode.wallet, "an account not a control is a wallet");
        walletMembers.set(id, u128ToUuid(account.user_data_128));
      }
    }
    assert.ok(walletMembers.size <= exportWalletMembersCachedMax, "the wallet cache is bounded");
    return transfers.map((transfer): LedgerExportRow => {
      const debitAccount = accountName(transfer.debit_account_id);
      const creditAccount = accountName(transfer.credit_account_id);
      const walletSide = debitAccount.startsWith("wallet:")
        ? debitAccount
        : creditAccount.startsWith("wallet:")
          ? creditAccount
          : null;
      const documentU128 = transfer.user_data_128;
      return {
        transferId: transfer.id,
        timestamp: transfer.timestamp,
        documentTimeMs:
          documentU128 !== 0n && isUuidV7U128(documentU128) ? documentTimeMs(documentU128) : null,
        operation: operationName(transfer.code, transfer.flags),
        code: transfer.code,
        memberId: walletSide === null ? null : walletSide.slice("wallet:".length),
        debitAccount,
        creditAccount,
        amount: transfer.amount,
        phase: transferPhase(transfer.flags),
        pendingId: transfer.pending_id,
        documentId: documentU128 === 0n ? null : u128ToUuid(documentU128),
      };
    });
  };
}

/** A wallet's balances right after the last transfer at or before an instant. */
export interface WalletBalanceAt {
  creditsPosted: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  debitsPending: bigint;
  /** Timestamp of that transfer; null when the wallet had no transfer yet (all zero). */
  entryTimestamp: bigint | null;
}

/**
 * The wallet's balances at `atTimestamp` (inclusive) from its history (wallets have the
 * `history` flag): the entry of the last transfer at or before it. Null when the wallet did not
 * exist then (created later, or never). One lookup and one balance query.
 *
 * A hold that expired (TigerBeetle's timeout) adds no history entry: it still counts in
 * `debitsPending` until the wallet's next transfer. Posted balances are exact.
 */
export async function walletBalanceAt(
  client: Client,
  args: { account: Account; atTimestamp: bigint },
): Promise<WalletBalanceAt | null> {
  const { account, atTimestamp } = args;
  assert.equal(account.code, AccountCode.wallet, "balances at an instant are read for wallets");
  assert.ok(atTimestamp >= 0n && atTimestamp <= ledgerTimestampMax, "an instant is a timestamp");
  assert.ok(account.timestamp > 0n, "a wallet has a timestamp");
  // Also covers `atTimestamp` 0, which the query below would read as "unbounded".
  if (account.timestamp > atTimestamp) {
    return null;
  }
  const [entry] = await client.getAccountBalances({
    account_id: account.id,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: atTimestamp,
    limit: 1,
    flags: AccountFilterFlags.debits | AccountFilterFlags.credits | AccountFilterFlags.reversed,
  });
  if (entry === undefined) {
    return {
      creditsPosted: 0n,
      debitsPosted: 0n,
      creditsPending: 0n,
      debitsPending: 0n,
      entryTimestamp: null,
    };
  }
  assert.ok(entry.timestamp <= atTimestamp, "the entry is at or before the instant");
  assert.ok(entry.timestamp >= account.timestamp, "an entry follows the wallet's creation");
  // The account flag forbids overdrawing; re-check it on the history read too.
  assert.ok(
    entry.debits_posted + entry.debits_pending <= entry.credits_posted,
    "a wallet is never overdrawn",
  );
  return {
    creditsPosted: entry.credits_posted,
    debitsPosted: entry.debits_posted,
    creditsPending: entry.credits_pending,
    debitsPending: entry.debits_pending,
    entryTimestamp: entry.timestamp,
  };
}
