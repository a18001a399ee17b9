/**
 * Request limits and client-side errors: empty batches, the 8189-event / 8189-limit bound
 * (ERR_TOO_MUCH_DATA one past it), field validation while encoding (messages observed with the
 * published tigerbeetle-node@0.17.9 client) and ERR_CLIENT_CLOSED after destroy().
 * Semantics reference §2.4, §2.6.
 *
 * On a real cluster the 8189 bound needs production request sizes; see engines.ts for how the
 * container is started.
 */
import type { Account, AccountFilter, Client, QueryFilter, Transfer } from "tigerbeetle-node";
import {
  AccountFilterFlags,
  CreateAccountStatus,
  CreateTransferStatus,
  ErrorCodes,
  id,
  RequestError,
} from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  accountFilterOf,
  batchEventsMax,
  expectBalances,
  freshLedger,
  mustCreateAccounts,
  newAccount,
  newTransfer,
  queryFilterOf,
  rejectionOf,
} from "../builders.ts";
import { describeEngines } from "../engines.ts";

/** A copy of `record` with one field set to a value its type does not allow. */
function withInvalid<T extends object>(record: T, field: string, value: unknown): T {
  return { ...record, [field]: value } as T;
}

async function expectRequestError(promise: Promise<unknown>, code: ErrorCodes): Promise<void> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(RequestError);
  expect(error instanceof RequestError ? error.code : undefined).toBe(code);
}

describeEngines("limits and client errors", ({ harness }) => {
  it("answers empty batches with empty arrays", async () => {
    const { client } = harness();
    expect(await client.createAccounts([])).toEqual([]);
    expect(await client.createTransfers([])).toEqual([]);
    expect(await client.lookupAccounts([])).toEqual([]);
    expect(await client.lookupTransfers([])).toEqual([]);
  });

  it("refuses 8190 events or ids with ERR_TOO_MUCH_DATA and applies none of them", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const [source, target] = [newAccount(ledger), newAccount(ledger)];
    await mustCreateAccounts(client, [source, target]);
    const accounts = Array.from({ length: batchEventsMax + 1 }, () => newAccount(ledger));
    const transfers = Array.from({ length: batchEventsMax + 1 }, () =>
      newTransfer({
        debit_account_id: source.id,
        credit_account_id: target.id,
        ledger,
        amount: 1n,
      }),
    );
    await expectRequestError(client.createAccounts(accounts), ErrorCodes.ERR_TOO_MUCH_DATA);
    await expectRequestError(client.createTransfers(transfers), ErrorCodes.ERR_TOO_MUCH_DATA);
    await expectRequestError(
      client.lookupAccounts(accounts.map((account) => account.id)),
      ErrorCodes.ERR_TOO_MUCH_DATA,
    );
    await expectRequestError(
      client.lookupTransfers(transfers.map((transfer) => transfer.id)),
      ErrorCodes.ERR_TOO_MUCH_DATA,
    );
    const firstAndLast = [0, batchEventsMax].map((index) => accounts[index]?.id ?? 0n);
    expect(await client.lookupAccounts(firstAndLast)).toEqual([]);
    await expectBalances(client, source.id, {});
  });

  it("accepts exactly 8189 events and 8189 ids", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const accounts = Array.from({ length: batchEventsMax }, () => newAccount(ledger));
    const accountResults = await client.createAccounts(accounts);
    expect(accountResults).toHaveLength(batchEventsMax);
    expect(accountResults.every((result) => result.status === CreateAccountStatus.created)).toBe(
      true,
    );
    const found = await client.lookupAccounts(accounts.map((account) => account.id));
    expect(found.map((account) => account.id)).toEqual(accounts.map((account) => account.id));

    const [source, target] = accounts;
    if (source === undefined || target === undefined) {
      throw new Error("two accounts");
    }
    const transfers = Array.from({ length: batchEventsMax }, () =>
      newTransfer({
        debit_account_id: source.id,
        credit_account_id: target.id,
        ledger,
        amount: 1n,
      }),
    );
    const transferResults = await client.createTransfers(transfers);
    expect(transferResults).toHaveLength(batchEventsMax);
    expect(transferResults.every((result) => result.status === CreateTransferStatus.created)).toBe(
      true,
    );
    const stored = await client.lookupTransfers(transfers.map((transfer) => transfer.id));
    expect(stored).toHaveLength(batchEventsMax);
    await expectBalances(client, source.id, { debits_posted: BigInt(batchEventsMax) });
  });

  it("refuses a query limit of 8190 with ERR_TOO_MUCH_DATA and accepts 8189", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const [account] = [newAccount(ledger)];
    await mustCreateAccounts(client, [account]);
    const accountFilter = (limit: number): AccountFilter =>
      accountFilterOf({
        account_id: account.id,
        limit,
        flags: AccountFilterFlags.debits | AccountFilterFlags.credits,
      });
    const queryFilter = (limit: number): QueryFilter => queryFilterOf({ ledger, limit });
    const over = batchEventsMax + 1;
    await expectRequestError(
      client.getAccountTransfers(accountFilter(over)),
      ErrorCodes.ERR_TOO_MUCH_DATA,
    );
    await expectRequestError(
      client.getAccountBalances(accountFilter(over)),
      ErrorCodes.ERR_TOO_MUCH_DATA,
    );
    await expectRequestError(client.queryAccounts(queryFilter(over)), ErrorCodes.ERR_TOO_MUCH_DATA);
    await expectRequestError(
      client.queryTransfers(queryFilter(over)),
      ErrorCodes.ERR_TOO_MUCH_DATA,
    );
    expect(await client.getAccountTransfers(accountFilter(batchEventsMax))).toEqual([]);
    expect(await client.getAccountBalances(accountFilter(batchEventsMax))).toEqual([]);
    expect((await client.queryAccounts(queryFilter(batchEventsMax))).map((x) => x.id)).toEqual([
      account.id,
    ]);
    expect(await client.queryTransfers(queryFilter(batchEventsMax))).toEqual([]);
  });

  it("validates fields while encoding, rejecting the whole request with the client's message", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const account: Account = newAccount(ledger);
    const transfer: Transfer = newTransfer({
      debit_account_id: id(),
      credit_account_id: id(),
      ledger,
      amount: 1n,
    });
    const accountFilter = accountFilterOf({ account_id: account.id, limit: 1, flags: 3 });
    const queryFilter = queryFilterOf({ ledger, limit: 1 });
    const cases: [string, () => Promise<unknown>][] = [
      ["id must be a BigInt", () => client.createAccounts([withInvalid(account, "id", "1")])],
      ["id must be a BigInt", () => client.createAccounts([withInvalid(account, "id", 1)])],
      ["id must be a BigInt", () => client.createAccounts([withInvalid(account, "id", undefined)])],
      ["id must be positive", () => client.createAccounts([withInvalid(account, "id", -1n)])],
      [
        "id must fit in 128 bits",
        () => client.createAccounts([withInvalid(account, "id", 2n ** 128n)]),
      ],
      [
        "user_data_64 conversion was lossy",
        () => client.createAccounts([withInvalid(account, "user_data_64", 2n ** 64n)]),
      ],
      [
        "user_data_64 conversion was lossy",
        () => client.createAccounts([withInvalid(account, "user_data_64", -1n)]),
      ],
      [
        "timestamp conversion was lossy",
        () => client.createAccounts([withInvalid(account, "timestamp", 2n ** 64n)]),
      ],
      [
        "ledger must be a number",
        () => client.createAccounts([withInvalid(account, "ledger", "1")]),
      ],
      [
        "user_data_32 must be a number",
        () => client.createAccounts([withInvalid(account, "user_data_32", "1")]),
      ],
      ["code must be a u16.", () => client.createAccounts([withInvalid(account, "code", 65536)])],
      ["code must be a u16.", () => client.createAccounts([withInvalid(account, "code", -1)])],
      ["flags must be a u16.", () => client.createAccounts([withInvalid(account, "flags", 65536)])],
      // The whole batch is refused, valid events included.
      [
        "code must be a u16.",
        () => client.createAccounts([account, withInvalid(newAccount(ledger), "code", 70000)]),
      ],
      [
        "amount must be positive",
        () => client.createTransfers([withInvalid(transfer, "amount", -1n)]),
      ],
      [
        "amount must fit in 128 bits",
        () => client.createTransfers([withInvalid(transfer, "amount", 2n ** 128n)]),
      ],
      [
        "amount must be a BigInt",
        () => client.createTransfers([withInvalid(transfer, "amount", undefined)]),
      ],
      [
        "debit_account_id must be a BigInt",
        () => client.createTransfers([withInvalid(transfer, "debit_account_id", "1")]),
      ],
      [
        "pending_id must be positive",
        () => client.createTransfers([withInvalid(transfer, "pending_id", -1n)]),
      ],
      [
        "user_data_128 must be a BigInt",
        () => client.createTransfers([withInvalid(transfer, "user_data_128", 5)]),
      ],
      [
        "timeout must be a number",
        () => client.createTransfers([withInvalid(transfer, "timeout", "1")]),
      ],
      ["code must be a u16.", () => client.createTransfers([withInvalid(transfer, "code", 65536)])],
      [
        "flags must be a u16.",
        () => client.createTransfers([withInvalid(transfer, "flags", 70000)]),
      ],
      ["lookup must be a BigInt", () => client.lookupAccounts([1 as unknown as bigint])],
      ["lookup must be a BigInt", () => client.lookupTransfers(["1" as unknown as bigint])],
      ["lookup must be positive", () => client.lookupAccounts([-1n])],
      ["lookup must fit in 128 bits", () => client.lookupTransfers([2n ** 128n])],
      [
        "account_id must be a BigInt",
        () => client.getAccountTransfers(withInvalid(accountFilter, "account_id", "1")),
      ],
      [
        "timestamp_min conversion was lossy",
        () => client.getAccountTransfers(withInvalid(accountFilter, "timestamp_min", -1n)),
      ],
      [
        "limit must be a number",
        () => client.getAccountTransfers(withInvalid(accountFilter, "limit", "1")),
      ],
      [
        "code must be a u16.",
        () => client.getAccountBalances(withInvalid(accountFilter, "code", 65536)),
      ],
      [
        "user_data_64 conversion was lossy",
        () => client.queryAccounts(withInvalid(queryFilter, "user_data_64", 2n ** 64n)),
      ],
      [
        "ledger must be a number",
        () => client.queryTransfers(withInvalid(queryFilter, "ledger", "x")),
      ],
      [
        "flags must be a number",
        () => client.queryTransfers(withInvalid(queryFilter, "flags", "x")),
      ],
      ["code must be a u16.", () => client.queryTransfers(withInvalid(queryFilter, "code", 65536))],
    ];
    for (const [message, call] of cases) {
      const error = await rejectionOf(call());
      expect(error.message, message).toBe(message);
      expect(error, message).not.toBeInstanceOf(RequestError);
    }
    // Nothing was sent, so nothing was created.
    expect(await client.lookupAccounts([account.id])).toEqual([]);
  });

  it("rejects every call with ERR_CLIENT_CLOSED after destroy()", async () => {
    const other: Client = harness().spawnClient();
    const ledger = freshLedger();
    const account = newAccount(ledger);
    await mustCreateAccounts(other, [account]);
    other.destroy();
    const accountFilter = accountFilterOf({ account_id: account.id, limit: 1, flags: 3 });
    const queryFilter = queryFilterOf({ ledger, limit: 1 });
    const calls: [string, () => Promise<unknown>][] = [
      ["createAccounts", () => other.createAccounts([newAccount(ledger)])],
      ["createTransfers", () => other.createTransfers([])],
      ["lookupAccounts", () => other.lookupAccounts([account.id])],
      ["lookupTransfers", () => other.lookupTransfers([id()])],
      ["getAccountTransfers", () => other.getAccountTransfers(accountFilter)],
      ["getAccountBalances", () => other.getAccountBalances(accountFilter)],
      ["queryAccounts", () => other.queryAccounts(queryFilter)],
      ["queryTransfers", () => other.queryTransfers(queryFilter)],
      // Closed wins over field validation.
      ["invalid createAccounts", () => other.createAccounts([withInvalid(account, "code", 65536)])],
    ];
    for (const [name, call] of calls) {
      const error = await rejectionOf(call());
      expect(error, name).toBeInstanceOf(RequestError);
      expect(error instanceof RequestError ? error.code : undefined, name).toBe(
        ErrorCodes.ERR_CLIENT_CLOSED,
      );
    }
    // destroy() is idempotent.
    expect(() => other.destroy()).not.toThrow();
  });
});
