/**
 * Builders and exact expectations for the ledger conformance suite.
 *
 * Every builder starts from an all-zero record, so a test states exactly the fields it means and
 * nothing is filled in behind its back. Ids come from tigerbeetle-node's `id()` and ledgers are
 * random, because a real cluster cannot be truncated: tests must never see each other's objects.
 *
 * Status assertions go through `expectAccountStatuses` / `expectTransferStatuses`, which record
 * every status they assert. `statusCoverageTest(topic)` closes each conformance file by checking
 * that the statuses the table below assigns to that topic were asserted there, and
 * `status-coverage.test.ts` checks that the table covers every status of both enums. A status
 * can therefore not be left untested without a test failing.
 */
import { randomBytes, randomInt } from "node:crypto";
import type {
  Account,
  AccountFilter,
  Client,
  CreateAccountResult,
  CreateTransferResult,
  QueryFilter,
  Transfer,
} from "tigerbeetle-node";
import { CreateAccountStatus, CreateTransferStatus, id } from "tigerbeetle-node";
import { expect, it } from "vitest";

/** The largest u128: the "everything" amount for balancing and posting, an invalid id. */
export const u128Max = 2n ** 128n - 1n;
/** The largest valid object timestamp (TigerBeetle keeps timestamps below 2^63). */
export const timestampMax = 2n ** 63n - 1n;
/** Events per create request and ids per lookup that TigerBeetle accepts (1 MiB messages). */
export const batchEventsMax = 8189;

export type AccountBalances = Pick<
  Account,
  "debits_pending" | "debits_posted" | "credits_pending" | "credits_posted"
>;

/** An account with every field zero, then `fields`. */
export function accountOf(fields: Partial<Account> = {}): Account {
  return {
    id: 0n,
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    reserved: 0,
    ledger: 0,
    code: 0,
    flags: 0,
    timestamp: 0n,
    ...fields,
  };
}

/** A transfer with every field zero, then `fields`. */
export function transferOf(fields: Partial<Transfer> = {}): Transfer {
  return {
    id: 0n,
    debit_account_id: 0n,
    credit_account_id: 0n,
    amount: 0n,
    pending_id: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    timeout: 0,
    ledger: 0,
    code: 0,
    flags: 0,
    timestamp: 0n,
    ...fields,
  };
}

/** An account filter with every field zero (so invalid: limit 0, no flags), then `fields`. */
export function accountFilterOf(fields: Partial<AccountFilter> = {}): AccountFilter {
  return {
    account_id: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: 0,
    flags: 0,
    ...fields,
  };
}

/** A query filter with every field zero (so invalid: limit 0), then `fields`. */
export function queryFilterOf(fields: Partial<QueryFilter> = {}): QueryFilter {
  return {
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    ledger: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: 0,
    flags: 0,
    ...fields,
  };
}

/**
 * A random ledger number no other test uses. It stays below 2^32 - 2 so that `ledger + 1` is
 * still a valid, different ledger.
 */
export function freshLedger(): number {
  return randomInt(1, 2 ** 32 - 2);
}

/** A random non-zero u64, for user_data_64. */
export function randomU64(): bigint {
  const value = randomBytes(8).readBigUInt64BE();
  return value === 0n ? 1n : value;
}

/** A random non-zero u32, for user_data_32. */
export function randomU32(): number {
  return randomInt(1, 2 ** 32 - 1);
}

/** A new account on `ledger` with a fresh id and code 1, then `fields`. */
export function newAccount(ledger: number, fields: Partial<Account> = {}): Account {
  return accountOf({ id: id(), ledger, code: 1, ...fields });
}

/** A new transfer with a fresh id and code 1, then `fields` (ledger and accounts are required). */
export function newTransfer(
  fields: Partial<Transfer> & Pick<Transfer, "debit_account_id" | "credit_account_id" | "ledger">,
): Transfer {
  return transferOf({ id: id(), code: 1, ...fields });
}

const accountStatusesAsserted = new Set<CreateAccountStatus>();
const transferStatusesAsserted = new Set<CreateTransferStatus>();

function accountStatusName(status: CreateAccountStatus): string {
  return CreateAccountStatus[status] ?? `unknown(${status})`;
}

function transferStatusName(status: CreateTransferStatus): string {
  return CreateTransferStatus[status] ?? `unknown(${status})`;
}

/**
 * Asserts the exact status of every result, in order, and records the expected statuses as
 * exercised. Statuses are compared by name so that a failure reads as a status diff.
 */
export function expectAccountStatuses(
  results: readonly CreateAccountResult[],
  expected: readonly CreateAccountStatus[],
): void {
  for (const status of expected) {
    accountStatusesAsserted.add(status);
  }
  expect(results.map((result) => accountStatusName(result.status))).toEqual(
    expected.map(accountStatusName),
  );
}

/** Like `expectAccountStatuses`, for transfers. */
export function expectTransferStatuses(
  results: readonly CreateTransferResult[],
  expected: readonly CreateTransferStatus[],
): void {
  for (const status of expected) {
    transferStatusesAsserted.add(status);
  }
  expect(results.map((result) => transferStatusName(result.status))).toEqual(
    expected.map(transferStatusName),
  );
}

/** Creates the accounts, asserts each one is `created` and returns their timestamps. */
export async function mustCreateAccounts(
  client: Client,
  accounts: readonly Account[],
): Promise<bigint[]> {
  const results = await client.createAccounts([...accounts]);
  expectAccountStatuses(
    results,
    accounts.map(() => CreateAccountStatus.created),
  );
  return results.map((result) => result.timestamp);
}

/** Creates the transfers, asserts each one is `created` and returns their timestamps. */
export async function mustCreateTransfers(
  client: Client,
  transfers: readonly Transfer[],
): Promise<bigint[]> {
  const results = await client.createTransfers([...transfers]);
  expectTransferStatuses(
    results,
    transfers.map(() => CreateTransferStatus.created),
  );
  return results.map((result) => result.timestamp);
}

/** Creates one transfer, asserts it is `created` and returns its timestamp. */
export async function mustCreateTransfer(client: Client, transfer: Transfer): Promise<bigint> {
  const [timestamp] = await mustCreateTransfers(client, [transfer]);
  if (timestamp === undefined) {
    throw new Error("a created transfer has a timestamp");
  }
  return timestamp;
}

/** Looks one account up and fails unless it exists. */
export async function mustLookupAccount(client: Client, accountId: bigint): Promise<Account> {
  const [account, ...rest] = await client.lookupAccounts([accountId]);
  expect(rest).toEqual([]);
  if (account === undefined) {
    throw new Error(`account ${accountId} was not found`);
  }
  return account;
}

/** Looks one transfer up and fails unless it exists. */
export async function mustLookupTransfer(client: Client, transferId: bigint): Promise<Transfer> {
  const [transfer, ...rest] = await client.lookupTransfers([transferId]);
  expect(rest).toEqual([]);
  if (transfer === undefined) {
    throw new Error(`transfer ${transferId} was not found`);
  }
  return transfer;
}

/** The four balances of an account or an account balance, for exact comparison. */
export function balancesOf(record: AccountBalances): AccountBalances {
  return {
    debits_pending: record.debits_pending,
    debits_posted: record.debits_posted,
    credits_pending: record.credits_pending,
    credits_posted: record.credits_posted,
  };
}

/** Balances with every unnamed field zero. */
export function balances(fields: Partial<AccountBalances> = {}): AccountBalances {
  return {
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    ...fields,
  };
}

/** Asserts an account's current balances exactly; unnamed balances must be zero. */
export async function expectBalances(
  client: Client,
  accountId: bigint,
  expected: Partial<AccountBalances>,
): Promise<void> {
  const account = await mustLookupAccount(client, accountId);
  expect(balancesOf(account)).toEqual(balances(expected));
}

/** Asserts that every timestamp is strictly greater than the one before it. */
export function expectStrictlyIncreasing(timestamps: readonly bigint[]): void {
  for (let index = 1; index < timestamps.length; index += 1) {
    const previous = timestamps[index - 1];
    const current = timestamps[index];
    if (previous === undefined || current === undefined) {
      throw new Error("timestamps are dense");
    }
    expect(current > previous, `timestamp ${index} (${current}) > ${previous}`).toBe(true);
  }
}

/** Rejection of a promise, for exact assertions on the error. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) {
      return error;
    }
    throw new Error(`rejected with a non-Error: ${String(error)}`);
  }
  throw new Error("expected the promise to reject, but it resolved");
}

/** The conformance files, one per topic; each asserts the statuses assigned to it below. */
export type ConformanceTopic =
  | "accounts"
  | "transfers"
  | "two-phase"
  | "balancing-closing"
  | "balance-limits"
  | "imported"
  | "linked";

/**
 * Where each CreateAccountStatus is asserted. Typed over the enum's names, so a status added to
 * tigerbeetle-node does not compile until it has a home.
 */
export const accountStatusTopics: Record<keyof typeof CreateAccountStatus, ConformanceTopic> = {
  created: "accounts",
  linked_event_failed: "linked",
  linked_event_chain_open: "linked",
  imported_event_expected: "imported",
  imported_event_not_expected: "imported",
  timestamp_must_be_zero: "accounts",
  imported_event_timestamp_out_of_range: "imported",
  imported_event_timestamp_must_not_advance: "imported",
  reserved_field: "accounts",
  reserved_flag: "accounts",
  id_must_not_be_zero: "accounts",
  id_must_not_be_int_max: "accounts",
  exists_with_different_flags: "accounts",
  exists_with_different_user_data_128: "accounts",
  exists_with_different_user_data_64: "accounts",
  exists_with_different_user_data_32: "accounts",
  exists_with_different_ledger: "accounts",
  exists_with_different_code: "accounts",
  exists: "accounts",
  flags_are_mutually_exclusive: "accounts",
  debits_pending_must_be_zero: "accounts",
  debits_posted_must_be_zero: "accounts",
  credits_pending_must_be_zero: "accounts",
  credits_posted_must_be_zero: "accounts",
  ledger_must_not_be_zero: "accounts",
  code_must_not_be_zero: "accounts",
  imported_event_timestamp_must_not_regress: "imported",
};

/** Where each CreateTransferStatus is asserted (same rule as `accountStatusTopics`). */
export const transferStatusTopics: Record<keyof typeof CreateTransferStatus, ConformanceTopic> = {
  created: "transfers",
  linked_event_failed: "linked",
  linked_event_chain_open: "linked",
  imported_event_expected: "imported",
  imported_event_not_expected: "imported",
  timestamp_must_be_zero: "transfers",
  imported_event_timestamp_out_of_range: "imported",
  imported_event_timestamp_must_not_advance: "imported",
  reserved_flag: "transfers",
  id_must_not_be_zero: "transfers",
  id_must_not_be_int_max: "transfers",
  exists_with_different_flags: "transfers",
  exists_with_different_pending_id: "transfers",
  exists_with_different_timeout: "transfers",
  exists_with_different_debit_account_id: "transfers",
  exists_with_different_credit_account_id: "transfers",
  exists_with_different_amount: "transfers",
  exists_with_different_user_data_128: "transfers",
  exists_with_different_user_data_64: "transfers",
  exists_with_different_user_data_32: "transfers",
  exists_with_different_ledger: "transfers",
  exists_with_different_code: "transfers",
  exists: "transfers",
  id_already_failed: "transfers",
  flags_are_mutually_exclusive: "two-phase",
  debit_account_id_must_not_be_zero: "transfers",
  debit_account_id_must_not_be_int_max: "transfers",
  credit_account_id_must_not_be_zero: "transfers",
  credit_account_id_must_not_be_int_max: "transfers",
  accounts_must_be_different: "transfers",
  pending_id_must_be_zero: "transfers",
  pending_id_must_not_be_zero: "two-phase",
  pending_id_must_not_be_int_max: "two-phase",
  pending_id_must_be_different: "two-phase",
  timeout_reserved_for_pending_transfer: "transfers",
  closing_transfer_must_be_pending: "balancing-closing",
  ledger_must_not_be_zero: "transfers",
  code_must_not_be_zero: "transfers",
  debit_account_not_found: "transfers",
  credit_account_not_found: "transfers",
  accounts_must_have_the_same_ledger: "transfers",
  transfer_must_have_the_same_ledger_as_accounts: "transfers",
  pending_transfer_not_found: "two-phase",
  pending_transfer_not_pending: "two-phase",
  pending_transfer_has_different_debit_account_id: "two-phase",
  pending_transfer_has_different_credit_account_id: "two-phase",
  pending_transfer_has_different_ledger: "two-phase",
  pending_transfer_has_different_code: "two-phase",
  exceeds_pending_transfer_amount: "two-phase",
  pending_transfer_has_different_amount: "two-phase",
  pending_transfer_already_posted: "two-phase",
  pending_transfer_already_voided: "two-phase",
  pending_transfer_expired: "two-phase",
  imported_event_timestamp_must_not_regress: "imported",
  imported_event_timestamp_must_postdate_debit_account: "imported",
  imported_event_timestamp_must_postdate_credit_account: "imported",
  imported_event_timeout_must_be_zero: "imported",
  debit_account_already_closed: "balancing-closing",
  credit_account_already_closed: "balancing-closing",
  overflows_debits_pending: "balance-limits",
  overflows_credits_pending: "balance-limits",
  overflows_debits_posted: "balance-limits",
  overflows_credits_posted: "balance-limits",
  overflows_debits: "balance-limits",
  overflows_credits: "balance-limits",
  overflows_timeout: "two-phase",
  exceeds_credits: "balance-limits",
  exceeds_debits: "balance-limits",
};

/** The names of a numeric TypeScript enum (its object also maps values back to names). */
export function enumNames(enumObject: Record<string, string | number>): string[] {
  return Object.keys(enumObject).filter((key) => Number.isNaN(Number(key)));
}

/** Forgets the statuses asserted so far; called when an engine's describe block starts. */
export function resetAssertedStatuses(): void {
  accountStatusesAsserted.clear();
  transferStatusesAsserted.clear();
}

/**
 * Registers the closing test of a conformance file: every status `accountStatusTopics` and
 * `transferStatusTopics` assign to `topic` must have been asserted by the tests before it.
 * Register it last, and only where every test of the file runs (the embedded engine).
 */
export function statusCoverageTest(topic: ConformanceTopic): void {
  it(`asserts every create status assigned to "${topic}"`, () => {
    const accountMissing = Object.entries(accountStatusTopics)
      .filter(([, home]) => home === topic)
      .map(([name]) => name)
      .filter((name) => !accountStatusesAsserted.has(statusValue(CreateAccountStatus, name)));
    const transferMissing = Object.entries(transferStatusTopics)
      .filter(([, home]) => home === topic)
      .map(([name]) => name)
      .filter((name) => !transferStatusesAsserted.has(statusValue(CreateTransferStatus, name)));
    expect({ accountMissing, transferMissing }).toEqual({
      accountMissing: [],
      transferMissing: [],
    });
  });
}

function statusValue(enumObject: Record<string, string | number>, name: string): number {
  const value = enumObject[name];
  if (typeof value !== "number") {
    throw new Error(`${name} is not a status name`);
  }
  return value;
}
