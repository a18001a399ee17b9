/**
 * create_transfers for single-phase transfers: effects, what is stored, idempotency, every
 * validation status and its precedence, burned ids (`id_already_failed`) and timestamps.
 * Semantics reference §3, §6.1, §6.4, §6.7, §6.8.
 */
import type { Account, Client, Transfer } from "tigerbeetle-node";
import {
  AccountFlags,
  amount_max,
  CreateTransferStatus,
  id,
  TransferFlags,
} from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  expectBalances,
  expectStrictlyIncreasing,
  expectTransferStatuses,
  freshLedger,
  mustCreateAccounts,
  mustCreateTransfer,
  mustCreateTransfers,
  newAccount,
  newTransfer,
  randomU32,
  randomU64,
  statusCoverageTest,
  u128Max,
} from "../builders.ts";
import { describeEngines } from "../engines.ts";

interface Fixture {
  ledger: number;
  otherLedger: number;
  a: Account;
  b: Account;
  /** On `otherLedger`. */
  c: Account;
  /** A valid transfer from a to b on `ledger`, with a fresh id each call. */
  valid(fields?: Partial<Transfer>): Transfer;
}

async function fixture(client: Client): Promise<Fixture> {
  const ledger = freshLedger();
  const otherLedger = freshLedger();
  const a = newAccount(ledger);
  const b = newAccount(ledger);
  const c = newAccount(otherLedger);
  await mustCreateAccounts(client, [a, b, c]);
  return {
    ledger,
    otherLedger,
    a,
    b,
    c,
    valid: (fields = {}) =>
      newTransfer({
        debit_account_id: a.id,
        credit_account_id: b.id,
        ledger,
        amount: 1n,
        ...fields,
      }),
  };
}

describeEngines("create_transfers", ({ engine, harness }) => {
  it("moves the amount between posted balances and stores the transfer as submitted", async () => {
    const { client } = harness();
    const { a, b, valid } = await fixture(client);
    const transfer = valid({
      amount: 10n,
      user_data_128: id(),
      user_data_64: randomU64(),
      user_data_32: randomU32(),
      code: 65535,
    });
    const timestamp = await mustCreateTransfer(client, transfer);
    expect(await client.lookupTransfers([transfer.id])).toEqual([{ ...transfer, timestamp }]);
    await expectBalances(client, a.id, { debits_posted: 10n });
    await expectBalances(client, b.id, { credits_posted: 10n });
  });

  it("creates a zero-amount transfer that moves nothing", async () => {
    const { client } = harness();
    const { a, b, valid } = await fixture(client);
    const transfer = valid({ amount: 0n });
    const timestamp = await mustCreateTransfer(client, transfer);
    expect(await client.lookupTransfers([transfer.id])).toEqual([{ ...transfer, timestamp }]);
    await expectBalances(client, a.id, {});
    await expectBalances(client, b.id, {});
  });

  it("moves amounts up to amount_max", async () => {
    const { client } = harness();
    const { a, b, valid } = await fixture(client);
    await mustCreateTransfer(client, valid({ amount: amount_max }));
    await expectBalances(client, a.id, { debits_posted: amount_max });
    await expectBalances(client, b.id, { credits_posted: amount_max });
  });

  it("answers exists with the original timestamp and applies nothing twice", async () => {
    const { client } = harness();
    const { a, b, valid } = await fixture(client);
    const transfer = valid({ amount: 3n });
    const original = await mustCreateTransfer(client, transfer);
    const results = await client.createTransfers([valid(), transfer, valid()]);
    expectTransferStatuses(results, [
      CreateTransferStatus.created,
      CreateTransferStatus.exists,
      CreateTransferStatus.created,
    ]);
    const [before, exists, after] = results.map((result) => result.timestamp);
    expect(exists).toBe(original);
    expectStrictlyIncreasing([original, before ?? 0n, after ?? 0n]);
    await expectBalances(client, a.id, { debits_posted: 5n });
    await expectBalances(client, b.id, { credits_posted: 5n });
  });

  it("answers exists_with_different_* in TigerBeetle's comparison order", async () => {
    const { client } = harness();
    const { otherLedger, valid } = await fixture(client);
    const stored = valid({
      amount: 10n,
      user_data_128: 1n,
      user_data_64: 2n,
      user_data_32: 3,
      code: 4,
    });
    const timestamp = await mustCreateTransfer(client, stored);
    const results = await client.createTransfers([
      { ...stored, flags: TransferFlags.pending },
      { ...stored, pending_id: id() },
      { ...stored, timeout: 1 },
      { ...stored, debit_account_id: id() },
      { ...stored, credit_account_id: id() },
      { ...stored, amount: 11n },
      { ...stored, user_data_128: 10n },
      { ...stored, user_data_64: 20n },
      { ...stored, user_data_32: 30 },
      { ...stored, ledger: otherLedger },
      { ...stored, code: 40 },
      // Several fields differ: the first in comparison order is reported.
      { ...stored, flags: TransferFlags.pending, pending_id: id(), code: 40 },
      { ...stored, pending_id: id(), timeout: 1 },
      { ...stored, timeout: 1, debit_account_id: id() },
      { ...stored, debit_account_id: id(), credit_account_id: id() },
      { ...stored, credit_account_id: id(), amount: 11n },
      { ...stored, amount: 0n, user_data_128: 10n },
      { ...stored, user_data_128: 0n, user_data_64: 0n },
      { ...stored, user_data_64: 0n, user_data_32: 0 },
      { ...stored, user_data_32: 0, ledger: 0 },
      { ...stored, ledger: 0, code: 0 },
      // Idempotency comes before the field checks that would otherwise fail.
      { ...stored, credit_account_id: stored.debit_account_id },
      { ...stored, code: 0 },
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.exists_with_different_flags,
      CreateTransferStatus.exists_with_different_pending_id,
      CreateTransferStatus.exists_with_different_timeout,
      CreateTransferStatus.exists_with_different_debit_account_id,
      CreateTransferStatus.exists_with_different_credit_account_id,
      CreateTransferStatus.exists_with_different_amount,
      CreateTransferStatus.exists_with_different_user_data_128,
      CreateTransferStatus.exists_with_different_user_data_64,
      CreateTransferStatus.exists_with_different_user_data_32,
      CreateTransferStatus.exists_with_different_ledger,
      CreateTransferStatus.exists_with_different_code,
      CreateTransferStatus.exists_with_different_flags,
      CreateTransferStatus.exists_with_different_pending_id,
      CreateTransferStatus.exists_with_different_timeout,
      CreateTransferStatus.exists_with_different_debit_account_id,
      CreateTransferStatus.exists_with_different_credit_account_id,
      CreateTransferStatus.exists_with_different_amount,
      CreateTransferStatus.exists_with_different_user_data_128,
      CreateTransferStatus.exists_with_different_user_data_64,
      CreateTransferStatus.exists_with_different_user_data_32,
      CreateTransferStatus.exists_with_different_ledger,
      CreateTransferStatus.exists_with_different_credit_account_id,
      CreateTransferStatus.exists_with_different_code,
    ]);
    // A different event is not a retry, so its id is not burned: the original still answers.
    const again = await client.createTransfers([stored]);
    expectTransferStatuses(again, [CreateTransferStatus.exists]);
    expect(again[0]?.timestamp).toBe(timestamp);
  });

  it("rejects each invalid field with its own status and applies nothing", async () => {
    const { client } = harness();
    const { a, b, c, otherLedger, valid } = await fixture(client);
    const events = [
      valid({ timestamp: 1n }),
      valid({ flags: 1 << 9 }),
      valid({ flags: 1 << 15 }),
      valid({ id: 0n }),
      valid({ id: u128Max }),
      valid({ debit_account_id: 0n }),
      valid({ debit_account_id: u128Max }),
      valid({ credit_account_id: 0n }),
      valid({ credit_account_id: u128Max }),
      valid({ credit_account_id: a.id }),
      valid({ pending_id: id() }),
      valid({ timeout: 1 }),
      valid({ ledger: 0 }),
      valid({ code: 0 }),
      valid({ debit_account_id: id() }),
      valid({ credit_account_id: id() }),
      valid({ credit_account_id: c.id }),
      valid({ ledger: otherLedger }),
    ];
    const results = await client.createTransfers(events);
    expectTransferStatuses(results, [
      CreateTransferStatus.timestamp_must_be_zero,
      CreateTransferStatus.reserved_flag,
      CreateTransferStatus.reserved_flag,
      CreateTransferStatus.id_must_not_be_zero,
      CreateTransferStatus.id_must_not_be_int_max,
      CreateTransferStatus.debit_account_id_must_not_be_zero,
      CreateTransferStatus.debit_account_id_must_not_be_int_max,
      CreateTransferStatus.credit_account_id_must_not_be_zero,
      CreateTransferStatus.credit_account_id_must_not_be_int_max,
      CreateTransferStatus.accounts_must_be_different,
      CreateTransferStatus.pending_id_must_be_zero,
      CreateTransferStatus.timeout_reserved_for_pending_transfer,
      CreateTransferStatus.ledger_must_not_be_zero,
      CreateTransferStatus.code_must_not_be_zero,
      CreateTransferStatus.debit_account_not_found,
      CreateTransferStatus.credit_account_not_found,
      CreateTransferStatus.accounts_must_have_the_same_ledger,
      CreateTransferStatus.transfer_must_have_the_same_ledger_as_accounts,
    ]);
    expectStrictlyIncreasing(results.map((result) => result.timestamp));
    expect(await client.lookupTransfers(events.map((event) => event.id))).toEqual([]);
    await expectBalances(client, a.id, {});
    await expectBalances(client, b.id, {});
    await expectBalances(client, c.id, {});
  });

  it("applies the validation order when several fields are invalid", async () => {
    const { client } = harness();
    const { a, c, otherLedger, valid } = await fixture(client);
    const results = await client.createTransfers([
      valid({ timestamp: 1n, flags: 1 << 9, id: 0n }),
      valid({ flags: 1 << 9, id: 0n }),
      valid({ id: 0n, debit_account_id: 0n }),
      valid({ debit_account_id: 0n, credit_account_id: 0n }),
      valid({ debit_account_id: u128Max, credit_account_id: 0n }),
      valid({ credit_account_id: 0n, pending_id: id() }),
      valid({ credit_account_id: u128Max, pending_id: id() }),
      valid({ credit_account_id: a.id, pending_id: id() }),
      valid({ pending_id: id(), timeout: 1 }),
      valid({ timeout: 1, flags: TransferFlags.closing_debit }),
      valid({ flags: TransferFlags.closing_debit, ledger: 0 }),
      valid({ ledger: 0, code: 0 }),
      valid({ code: 0, debit_account_id: id() }),
      valid({ debit_account_id: id(), credit_account_id: id() }),
      valid({ credit_account_id: id(), ledger: otherLedger }),
      valid({ credit_account_id: c.id, ledger: otherLedger }),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.timestamp_must_be_zero,
      CreateTransferStatus.reserved_flag,
      CreateTransferStatus.id_must_not_be_zero,
      CreateTransferStatus.debit_account_id_must_not_be_zero,
      CreateTransferStatus.debit_account_id_must_not_be_int_max,
      CreateTransferStatus.credit_account_id_must_not_be_zero,
      CreateTransferStatus.credit_account_id_must_not_be_int_max,
      CreateTransferStatus.accounts_must_be_different,
      CreateTransferStatus.pending_id_must_be_zero,
      CreateTransferStatus.timeout_reserved_for_pending_transfer,
      CreateTransferStatus.closing_transfer_must_be_pending,
      CreateTransferStatus.ledger_must_not_be_zero,
      CreateTransferStatus.code_must_not_be_zero,
      CreateTransferStatus.debit_account_not_found,
      CreateTransferStatus.credit_account_not_found,
      CreateTransferStatus.accounts_must_have_the_same_ledger,
    ]);
  });

  it("burns an id exactly for the seven transient statuses", async () => {
    const { client } = harness();
    const { ledger, otherLedger, a, b, c, valid } = await fixture(client);
    const debitLimited = newAccount(ledger, { flags: AccountFlags.debits_must_not_exceed_credits });
    const creditLimited = newAccount(ledger, {
      flags: AccountFlags.credits_must_not_exceed_debits,
    });
    const closedDebit = newAccount(ledger, { flags: AccountFlags.closed });
    const closedCredit = newAccount(ledger, { flags: AccountFlags.closed });
    await mustCreateAccounts(client, [debitLimited, creditLimited, closedDebit, closedCredit]);
    const regular = valid();
    const pending = valid({ amount: 10n, flags: TransferFlags.pending });
    await mustCreateTransfers(client, [regular, pending]);
    const resolve = (flags: number, fields: Partial<Transfer> = {}): Transfer =>
      newTransfer({
        debit_account_id: 0n,
        credit_account_id: 0n,
        ledger: 0,
        code: 0,
        pending_id: pending.id,
        flags,
        ...fields,
      });
    const post = TransferFlags.post_pending_transfer;
    const voidFlag = TransferFlags.void_pending_transfer;

    const transient = [
      valid({ debit_account_id: id() }),
      valid({ credit_account_id: id() }),
      resolve(post, { pending_id: id() }),
      valid({ debit_account_id: debitLimited.id }),
      valid({ credit_account_id: creditLimited.id }),
      valid({ debit_account_id: closedDebit.id }),
      valid({ credit_account_id: closedCredit.id }),
    ];
    const permanent = [
      valid({ timestamp: 1n }),
      valid({ flags: 1 << 9 }),
      valid({ credit_account_id: a.id }),
      valid({ pending_id: id() }),
      valid({ timeout: 1 }),
      valid({ flags: TransferFlags.closing_credit }),
      valid({ ledger: 0 }),
      valid({ code: 0 }),
      valid({ credit_account_id: c.id }),
      valid({ ledger: otherLedger }),
      resolve(post | voidFlag),
      resolve(post, { pending_id: 0n }),
      resolve(post, { pending_id: regular.id }),
      resolve(post, { amount: 11n }),
      resolve(voidFlag, { amount: 5n }),
      resolve(post, { debit_account_id: b.id }),
    ];
    const failed = await client.createTransfers([...transient, ...permanent]);
    expectTransferStatuses(failed, [
      CreateTransferStatus.debit_account_not_found,
      CreateTransferStatus.credit_account_not_found,
      CreateTransferStatus.pending_transfer_not_found,
      CreateTransferStatus.exceeds_credits,
      CreateTransferStatus.exceeds_debits,
      CreateTransferStatus.debit_account_already_closed,
      CreateTransferStatus.credit_account_already_closed,
      CreateTransferStatus.timestamp_must_be_zero,
      CreateTransferStatus.reserved_flag,
      CreateTransferStatus.accounts_must_be_different,
      CreateTransferStatus.pending_id_must_be_zero,
      CreateTransferStatus.timeout_reserved_for_pending_transfer,
      CreateTransferStatus.closing_transfer_must_be_pending,
      CreateTransferStatus.ledger_must_not_be_zero,
      CreateTransferStatus.code_must_not_be_zero,
      CreateTransferStatus.accounts_must_have_the_same_ledger,
      CreateTransferStatus.transfer_must_have_the_same_ledger_as_accounts,
      CreateTransferStatus.flags_are_mutually_exclusive,
      CreateTransferStatus.pending_id_must_not_be_zero,
      CreateTransferStatus.pending_transfer_not_pending,
      CreateTransferStatus.exceeds_pending_transfer_amount,
      CreateTransferStatus.pending_transfer_has_different_amount,
      CreateTransferStatus.pending_transfer_has_different_debit_account_id,
    ]);

    // Retrying each id with a valid transfer: burned ids stay burned, whatever the event says.
    const retried = await client.createTransfers(
      [...transient, ...permanent].map((event) => valid({ id: event.id })),
    );
    expectTransferStatuses(retried, [
      ...transient.map(() => CreateTransferStatus.id_already_failed),
      ...permanent.map(() => CreateTransferStatus.created),
    ]);
    // Burned ids are not transfers: lookups omit them.
    expect(await client.lookupTransfers(transient.map((event) => event.id))).toEqual([]);
    await expectBalances(client, a.id, {
      debits_posted: 1n + BigInt(permanent.length),
      debits_pending: 10n,
    });
  });

  it("checks a burned id right after the id checks, from the moment it fails", async () => {
    const { client } = harness();
    const { valid } = await fixture(client);
    const burned = valid({ debit_account_id: id() });
    const results = await client.createTransfers([burned, valid({ id: burned.id })]);
    expectTransferStatuses(results, [
      CreateTransferStatus.debit_account_not_found,
      CreateTransferStatus.id_already_failed,
    ]);
    const later = await client.createTransfers([
      { ...burned, timestamp: 1n },
      { ...burned, flags: 1 << 9 },
      { ...burned, credit_account_id: burned.debit_account_id },
      { ...burned, ledger: 0, code: 0 },
      burned,
    ]);
    expectTransferStatuses(later, [
      CreateTransferStatus.timestamp_must_be_zero,
      CreateTransferStatus.reserved_flag,
      CreateTransferStatus.id_already_failed,
      CreateTransferStatus.id_already_failed,
      CreateTransferStatus.id_already_failed,
    ]);
  });

  it("gives every event its own, strictly increasing timestamp, stored as the object's", async () => {
    const { client } = harness();
    const { a, b, valid } = await fixture(client);
    const first = valid({ amount: 2n });
    const second = valid({ amount: 3n });
    const third = valid({ amount: 4n });
    const batchOne = await client.createTransfers([first, valid({ code: 0 }), second]);
    const batchTwo = await client.createTransfers([valid({ ledger: 0 }), third]);
    expectTransferStatuses(batchOne, [
      CreateTransferStatus.created,
      CreateTransferStatus.code_must_not_be_zero,
      CreateTransferStatus.created,
    ]);
    expectTransferStatuses(batchTwo, [
      CreateTransferStatus.ledger_must_not_be_zero,
      CreateTransferStatus.created,
    ]);
    const timestamps = [...batchOne, ...batchTwo].map((result) => result.timestamp);
    expectStrictlyIncreasing(timestamps);
    const stored = await client.lookupTransfers([first.id, second.id, third.id]);
    expect(stored.map((transfer) => transfer.timestamp)).toEqual([
      timestamps[0],
      timestamps[2],
      timestamps[4],
    ]);
    // Failed events in between do not disturb the successful ones.
    await expectBalances(client, a.id, { debits_posted: 9n });
    await expectBalances(client, b.id, { credits_posted: 9n });
  });

  if (engine.kind === "embedded") {
    statusCoverageTest("transfers");
  }
});
