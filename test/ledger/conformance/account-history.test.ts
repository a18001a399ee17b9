/**
 * get_account_transfers and get_account_balances: every AccountFilter field and flag, invalid
 * filters answering [], the history flag, one balance entry per transfer (post and void
 * included) and none for an expiry. Semantics reference §9.
 */
import type { AccountBalance, AccountFilter, Client, Transfer } from "tigerbeetle-node";
import {
  AccountFilterFlags,
  AccountFlags,
  amount_max,
  CreateTransferStatus,
  id,
  TransferFlags,
} from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  type AccountBalances,
  accountFilterOf,
  balances,
  balancesOf,
  batchEventsMax,
  expectBalances,
  expectTransferStatuses,
  freshLedger,
  mustCreateAccounts,
  mustCreateTransfer,
  mustCreateTransfers,
  newAccount,
  newTransfer,
  randomU32,
  randomU64,
  timestampMax,
  u128Max,
} from "../builders.ts";
import { describeEngines } from "../engines.ts";

const { debits, credits, reversed } = AccountFilterFlags;

/** An account filter with room for every match and both directions, then `fields`. */
function filter(accountId: bigint, fields: Partial<AccountFilter> = {}): AccountFilter {
  return accountFilterOf({
    account_id: accountId,
    limit: batchEventsMax,
    flags: debits | credits,
    ...fields,
  });
}

interface Activity {
  a: bigint;
  b: bigint;
  c: bigint;
  userData128: bigint;
  userData64: bigint;
  userData32: number;
  /** t1..t9 as stored (t6 posts t5, t9 voids t8), with their timestamps. */
  transfers: Transfer[];
}

/**
 * a and b have `history`, c does not. In one batch:
 * t1 a→b 10 (code 1, u128, u64, u32) · t2 b→a 5 (code 2, u128) · t3 a→c 7 (code 1, u64) ·
 * t4 c→a 3 (code 3, u32) · t5 a→b 20 pending (code 1) · t6 post t5 for 15 ·
 * t7 c→b 4 (code 1) · t8 a→c 6 pending (code 4) · t9 void t8; plus a failing event.
 */
async function activity(client: Client): Promise<Activity> {
  const ledger = freshLedger();
  const a = newAccount(ledger, { flags: AccountFlags.history });
  const b = newAccount(ledger, { flags: AccountFlags.history });
  const c = newAccount(ledger);
  await mustCreateAccounts(client, [a, b, c]);
  const userData128 = id();
  const userData64 = randomU64();
  const userData32 = randomU32();
  const move = (
    debit: bigint,
    credit: bigint,
    amount: bigint,
    fields: Partial<Transfer>,
  ): Transfer =>
    newTransfer({ debit_account_id: debit, credit_account_id: credit, ledger, amount, ...fields });
  const resolve = (pendingId: bigint, flags: number, amount: bigint): Transfer =>
    newTransfer({
      debit_account_id: 0n,
      credit_account_id: 0n,
      ledger: 0,
      code: 0,
      pending_id: pendingId,
      amount,
      flags,
    });
  const t5 = move(a.id, b.id, 20n, { code: 1, flags: TransferFlags.pending });
  const t8 = move(a.id, c.id, 6n, { code: 4, flags: TransferFlags.pending });
  const submitted = [
    move(a.id, b.id, 10n, {
      code: 1,
      user_data_128: userData128,
      user_data_64: userData64,
      user_data_32: userData32,
    }),
    move(b.id, a.id, 5n, { code: 2, user_data_128: userData128 }),
    move(a.id, c.id, 7n, { code: 1, user_data_64: userData64 }),
    move(c.id, a.id, 3n, { code: 3, user_data_32: userData32 }),
    t5,
    resolve(t5.id, TransferFlags.post_pending_transfer, 15n),
    move(c.id, b.id, 4n, { code: 1 }),
    t8,
    resolve(t8.id, TransferFlags.void_pending_transfer, 0n),
  ];
  const failing = move(a.id, b.id, 1n, { code: 0 });
  const results = await client.createTransfers([
    ...submitted.slice(0, 4),
    failing,
    ...submitted.slice(4),
  ]);
  expectTransferStatuses(results, [
    ...submitted.slice(0, 4).map(() => CreateTransferStatus.created),
    CreateTransferStatus.code_must_not_be_zero,
    ...submitted.slice(4).map(() => CreateTransferStatus.created),
  ]);
  const transfers = await client.lookupTransfers(submitted.map((transfer) => transfer.id));
  expect(transfers).toHaveLength(9);
  return { a: a.id, b: b.id, c: c.id, userData128, userData64, userData32, transfers };
}

/** The transfers at the given 1-based positions (t1 = 1). */
function pick(transfers: Transfer[], positions: number[]): Transfer[] {
  return positions.map((position) => {
    const transfer = transfers[position - 1];
    if (transfer === undefined) {
      throw new Error(`no t${position}`);
    }
    return transfer;
  });
}

/** a's balances after each transfer that touches it. */
const balancesOfA: Record<number, AccountBalances> = {
  1: balances({ debits_posted: 10n }),
  2: balances({ debits_posted: 10n, credits_posted: 5n }),
  3: balances({ debits_posted: 17n, credits_posted: 5n }),
  4: balances({ debits_posted: 17n, credits_posted: 8n }),
  5: balances({ debits_pending: 20n, debits_posted: 17n, credits_posted: 8n }),
  6: balances({ debits_posted: 32n, credits_posted: 8n }),
  8: balances({ debits_pending: 6n, debits_posted: 32n, credits_posted: 8n }),
  9: balances({ debits_posted: 32n, credits_posted: 8n }),
};

/** b's balances after each transfer that touches it. */
const balancesOfB: Record<number, AccountBalances> = {
  1: balances({ credits_posted: 10n }),
  2: balances({ debits_posted: 5n, credits_posted: 10n }),
  5: balances({ debits_posted: 5n, credits_posted: 10n, credits_pending: 20n }),
  6: balances({ debits_posted: 5n, credits_posted: 25n }),
  7: balances({ debits_posted: 5n, credits_posted: 29n }),
};

function entries(
  transfers: Transfer[],
  table: Record<number, AccountBalances>,
  positions: number[],
): AccountBalance[] {
  return positions.map((position) => {
    const after = table[position];
    const transfer = transfers[position - 1];
    if (after === undefined || transfer === undefined) {
      throw new Error(`no balance after t${position}`);
    }
    return { ...after, timestamp: transfer.timestamp };
  });
}

/** Filters that are invalid for both operations, each answering []. */
function invalidFilters(accountId: bigint): [string, AccountFilter][] {
  return [
    ["account_id 0", filter(0n)],
    ["account_id 2^128-1", filter(u128Max)],
    ["limit 0", filter(accountId, { limit: 0 })],
    ["neither debits nor credits", filter(accountId, { flags: 0 })],
    ["reversed without a direction", filter(accountId, { flags: reversed })],
    ["unknown flag", filter(accountId, { flags: debits | credits | 8 })],
    [
      "timestamp_min above timestamp_max",
      filter(accountId, { timestamp_min: 10n, timestamp_max: 9n }),
    ],
    ["timestamp_min out of range", filter(accountId, { timestamp_min: timestampMax + 1n })],
    ["timestamp_max out of range", filter(accountId, { timestamp_max: timestampMax + 1n })],
  ];
}

describeEngines("account transfers and balances", ({ harness }) => {
  it("filters getAccountTransfers by every AccountFilter field and flag", async () => {
    const { client } = harness();
    const { a, b, c, userData128, userData64, userData32, transfers } = await activity(client);
    const [t1, t2, , t4] = transfers;
    if (t1 === undefined || t2 === undefined || t4 === undefined) {
      throw new Error("nine transfers");
    }
    const cases: [string, AccountFilter, number[]][] = [
      ["debits and credits", filter(a), [1, 2, 3, 4, 5, 6, 8, 9]],
      ["debits", filter(a, { flags: debits }), [1, 3, 5, 6, 8, 9]],
      ["credits", filter(a, { flags: credits }), [2, 4]],
      ["reversed", filter(a, { flags: debits | credits | reversed }), [9, 8, 6, 5, 4, 3, 2, 1]],
      ["credits reversed", filter(a, { flags: credits | reversed }), [4, 2]],
      ["limit", filter(a, { limit: 3 }), [1, 2, 3]],
      ["reversed with limit", filter(a, { limit: 2, flags: debits | credits | reversed }), [9, 8]],
      ["user_data_128", filter(a, { user_data_128: userData128 }), [1, 2]],
      ["user_data_64", filter(a, { user_data_64: userData64 }), [1, 3]],
      ["user_data_32", filter(a, { user_data_32: userData32 }), [1, 4]],
      ["code (posts and voids inherit it)", filter(a, { code: 1 }), [1, 3, 5, 6]],
      ["code 4", filter(a, { code: 4 }), [8, 9]],
      ["code with credits only", filter(a, { code: 1, flags: credits }), []],
      [
        "user_data_128 with debits only",
        filter(a, { user_data_128: userData128, flags: debits }),
        [1],
      ],
      [
        "every user data field",
        filter(a, {
          user_data_128: userData128,
          user_data_64: userData64,
          user_data_32: userData32,
        }),
        [1],
      ],
      [
        "timestamp bounds, inclusive",
        filter(a, { timestamp_min: t2.timestamp, timestamp_max: t4.timestamp }),
        [2, 3, 4],
      ],
      ["timestamp_min alone", filter(a, { timestamp_min: t4.timestamp }), [4, 5, 6, 8, 9]],
      ["timestamp_max alone", filter(a, { timestamp_max: t2.timestamp }), [1, 2]],
      ["next page", filter(a, { limit: 4, timestamp_min: t4.timestamp + 1n }), [5, 6, 8, 9]],
      [
        "previous page, reversed",
        filter(a, {
          limit: 1,
          timestamp_max: t2.timestamp - 1n,
          flags: debits | credits | reversed,
        }),
        [1],
      ],
      ["another account", filter(b), [1, 2, 5, 6, 7]],
      ["an account without history", filter(c), [3, 4, 7, 8, 9]],
      ["an unknown account", filter(id()), []],
    ];
    for (const [name, accountFilter, positions] of cases) {
      expect(await client.getAccountTransfers(accountFilter), name).toEqual(
        pick(transfers, positions),
      );
    }
  });

  it("answers getAccountTransfers with [] for invalid filters", async () => {
    const { client } = harness();
    const { a } = await activity(client);
    for (const [name, accountFilter] of invalidFilters(a)) {
      expect(await client.getAccountTransfers(accountFilter), name).toEqual([]);
    }
  });

  it("returns the balances after each transfer for an account with history", async () => {
    const { client } = harness();
    const { a, b, c, userData128, userData64, userData32, transfers } = await activity(client);
    const [, t2, , t4] = transfers;
    if (t2 === undefined || t4 === undefined) {
      throw new Error("nine transfers");
    }
    const cases: [string, AccountFilter, Record<number, AccountBalances>, number[]][] = [
      ["a, both directions", filter(a), balancesOfA, [1, 2, 3, 4, 5, 6, 8, 9]],
      ["a, debits", filter(a, { flags: debits }), balancesOfA, [1, 3, 5, 6, 8, 9]],
      ["a, credits", filter(a, { flags: credits }), balancesOfA, [2, 4]],
      [
        "a, reversed with limit",
        filter(a, { limit: 3, flags: debits | credits | reversed }),
        balancesOfA,
        [9, 8, 6],
      ],
      ["a, code 3", filter(a, { code: 3 }), balancesOfA, [4]],
      ["a, user_data_128", filter(a, { user_data_128: userData128 }), balancesOfA, [1, 2]],
      ["a, user_data_64", filter(a, { user_data_64: userData64 }), balancesOfA, [1, 3]],
      ["a, user_data_32", filter(a, { user_data_32: userData32 }), balancesOfA, [1, 4]],
      [
        "a, timestamp_min alone",
        filter(a, { timestamp_min: t4.timestamp }),
        balancesOfA,
        [4, 5, 6, 8, 9],
      ],
      ["a, timestamp_max alone", filter(a, { timestamp_max: t2.timestamp }), balancesOfA, [1, 2]],
      ["a, credits reversed", filter(a, { flags: credits | reversed }), balancesOfA, [4, 2]],
      [
        "a, timestamp bounds",
        filter(a, { timestamp_min: t2.timestamp, timestamp_max: t4.timestamp }),
        balancesOfA,
        [2, 3, 4],
      ],
      ["b, both directions", filter(b), balancesOfB, [1, 2, 5, 6, 7]],
    ];
    for (const [name, accountFilter, table, positions] of cases) {
      expect(await client.getAccountBalances(accountFilter), name).toEqual(
        entries(transfers, table, positions),
      );
    }
    // Without the history flag there is nothing to read back, even with a valid filter.
    expect(await client.getAccountBalances(filter(c))).toEqual([]);
    expect(await client.getAccountBalances(filter(id()))).toEqual([]);
    // The last entry is the account's current balance.
    await expectBalances(client, a, balancesOfA[9] ?? balances());
  });

  it("answers getAccountBalances with [] for invalid filters", async () => {
    const { client } = harness();
    const { a } = await activity(client);
    for (const [name, accountFilter] of invalidFilters(a)) {
      expect(await client.getAccountBalances(accountFilter), name).toEqual([]);
    }
  });

  it("adds no balance entry for an expiry", async () => {
    const h = harness();
    const ledger = freshLedger();
    const account = newAccount(ledger, { flags: AccountFlags.history });
    const other = newAccount(ledger);
    await mustCreateAccounts(h.client, [account, other]);
    const hold = newTransfer({
      debit_account_id: account.id,
      credit_account_id: other.id,
      ledger,
      amount: 9n,
      flags: TransferFlags.pending,
      timeout: 1,
    });
    const heldAt = await mustCreateTransfer(h.client, hold);
    const expected = [{ ...balances({ debits_pending: 9n }), timestamp: heldAt }];
    expect(await h.client.getAccountBalances(filter(account.id))).toEqual(expected);
    await h.advanceSeconds(2);
    await expectBalances(h.client, account.id, {});
    expect(await h.client.getAccountBalances(filter(account.id))).toEqual(expected);
    expect((await h.client.getAccountTransfers(filter(account.id))).map((t) => t.id)).toEqual([
      hold.id,
    ]);
    // A transfer after the expiry starts from the released balances.
    const after = newTransfer({
      debit_account_id: account.id,
      credit_account_id: other.id,
      ledger,
      amount: 2n,
    });
    const afterAt = await mustCreateTransfer(h.client, after);
    const history = await h.client.getAccountBalances(filter(account.id));
    expect(history.map((entry) => [balancesOf(entry), entry.timestamp])).toEqual([
      [balances({ debits_pending: 9n }), heldAt],
      [balances({ debits_posted: 2n }), afterAt],
    ]);
  });

  it("records a balance entry for a post that moves everything with amount_max", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const account = newAccount(ledger, { flags: AccountFlags.history });
    const other = newAccount(ledger);
    await mustCreateAccounts(client, [account, other]);
    const hold = newTransfer({
      debit_account_id: other.id,
      credit_account_id: account.id,
      ledger,
      amount: 12n,
      flags: TransferFlags.pending,
    });
    const posting = newTransfer({
      debit_account_id: 0n,
      credit_account_id: 0n,
      ledger: 0,
      code: 0,
      pending_id: hold.id,
      amount: amount_max,
      flags: TransferFlags.post_pending_transfer,
    });
    const [heldAt, postedAt] = await mustCreateTransfers(client, [hold, posting]);
    expect(await client.getAccountBalances(filter(account.id))).toEqual([
      { ...balances({ credits_pending: 12n }), timestamp: heldAt },
      { ...balances({ credits_posted: 12n }), timestamp: postedAt },
    ]);
  });
});
