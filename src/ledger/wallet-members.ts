/**
 * Wallets back to their members: a wallet's `user_data_128` holds its member's UUID. Used by
 * org-wide scans (RFM), which meet wallets by id and need the members, without deriving every
 * member's wallet id (a SHA-256 each) from a member list.
 */
import assert from "node:assert/strict";
import type { Client } from "tigerbeetle-node";
import { AccountCode } from "./codes.ts";
import { u128ToUuid } from "./ids.ts";
import { batchEventsMax } from "./limits.ts";

/**
 * The member of each wallet named, looked up in batches of 8,189 (one request each). Ids that are
 * not wallets of `ledger` are a caller's bug and fail the assertion.
 */
export async function walletMemberIds(
  client: Client,
  args: { ledger: number; walletIds: readonly bigint[] },
): Promise<Map<bigint, string>> {
  const members = new Map<bigint, string>();
  for (let start = 0; start < args.walletIds.length; start += batchEventsMax) {
    const ids = args.walletIds.slice(start, start + batchEventsMax);
    const accounts = await client.lookupAccounts(ids);
    assert.equal(accounts.length, ids.length, "every wallet named exists");
    for (const account of accounts) {
      assert.equal(account.ledger, args.ledger, "the wallet is on the ledger asked for");
      assert.equal(account.code, AccountCode.wallet, "the account is a wallet");
      members.set(account.id, u128ToUuid(account.user_data_128));
    }
  }
  assert.equal(members.size, args.walletIds.length, "one member per wallet (no duplicates)");
  return members;
}
