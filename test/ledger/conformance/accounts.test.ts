/**
 * create_accounts: what is stored, idempotency (`exists*` with the original timestamp), every
 * validation status and their precedence. Semantics reference §2.1, §3, §5.
 */
import { AccountFlags, CreateAccountStatus, id } from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  balances,
  balancesOf,
  expectAccountStatuses,
  expectStrictlyIncreasing,
  freshLedger,
  mustCreateAccounts,
  mustCreateTransfer,
  mustLookupAccount,
  newAccount,
  newTransfer,
  randomU32,
  randomU64,
  statusCoverageTest,
  u128Max,
} from "../builders.ts";
import { describeEngines } from "../engines.ts";

describeEngines("create_accounts", ({ engine, harness }) => {
  it("stores the account as submitted, with zero balances and the result's timestamp", async () => {
    const { client } = harness();
    const account = newAccount(freshLedger(), {
      user_data_128: id(),
      user_data_64: randomU64(),
      user_data_32: randomU32(),
      code: 65535,
      flags: AccountFlags.history | AccountFlags.debits_must_not_exceed_credits,
    });
    const results = await client.createAccounts([account]);
    expectAccountStatuses(results, [CreateAccountStatus.created]);
    const timestamp = results[0]?.timestamp ?? 0n;
    expect(timestamp > 0n).toBe(true);
    expect(await client.lookupAccounts([account.id])).toEqual([{ ...account, timestamp }]);
  });

  it("answers exists with the original timestamp, even after balances changed", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const source = newAccount(ledger);
    const target = newAccount(ledger);
    const [sourceTimestamp] = await mustCreateAccounts(client, [source, target]);
    await mustCreateTransfer(
      client,
      newTransfer({
        debit_account_id: source.id,
        credit_account_id: target.id,
        ledger,
        amount: 5n,
      }),
    );
    const fresh = newAccount(ledger);
    const results = await client.createAccounts([source, fresh]);
    expectAccountStatuses(results, [CreateAccountStatus.exists, CreateAccountStatus.created]);
    expect(results[0]?.timestamp).toBe(sourceTimestamp);
    // The balances a create event carries are not compared with the stored ones (§5.1 step 8):
    // idempotency comes before the "balances must be zero" checks.
    const withBalance = { ...source, debits_posted: 5n, credits_pending: 1n };
    const again = await client.createAccounts([withBalance]);
    expectAccountStatuses(again, [CreateAccountStatus.exists]);
    expect(again[0]?.timestamp).toBe(sourceTimestamp);
    expect(balancesOf(await mustLookupAccount(client, source.id))).toEqual(
      balances({ debits_posted: 5n }),
    );
  });

  it("answers exists_with_different_* in TigerBeetle's comparison order", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const stored = newAccount(ledger, {
      user_data_128: 7n,
      user_data_64: 8n,
      user_data_32: 9,
      code: 10,
      flags: AccountFlags.history,
    });
    const [timestamp] = await mustCreateAccounts(client, [stored]);
    const results = await client.createAccounts([
      { ...stored, flags: AccountFlags.none },
      { ...stored, user_data_128: 70n },
      { ...stored, user_data_64: 80n },
      { ...stored, user_data_32: 90 },
      { ...stored, ledger: ledger + 1 },
      { ...stored, code: 11 },
      // Several fields differ: flags are compared first, then user data, ledger, code.
      { ...stored, flags: AccountFlags.none, code: 11 },
      { ...stored, user_data_64: 80n, ledger: ledger + 1 },
      { ...stored, ledger: ledger + 1, code: 11 },
      // Idempotency beats the field checks that come after it.
      { ...stored, ledger: 0 },
      { ...stored, code: 0 },
      {
        ...stored,
        flags:
          AccountFlags.debits_must_not_exceed_credits | AccountFlags.credits_must_not_exceed_debits,
      },
    ]);
    expectAccountStatuses(results, [
      CreateAccountStatus.exists_with_different_flags,
      CreateAccountStatus.exists_with_different_user_data_128,
      CreateAccountStatus.exists_with_different_user_data_64,
      CreateAccountStatus.exists_with_different_user_data_32,
      CreateAccountStatus.exists_with_different_ledger,
      CreateAccountStatus.exists_with_different_code,
      CreateAccountStatus.exists_with_different_flags,
      CreateAccountStatus.exists_with_different_user_data_64,
      CreateAccountStatus.exists_with_different_ledger,
      CreateAccountStatus.exists_with_different_ledger,
      CreateAccountStatus.exists_with_different_code,
      CreateAccountStatus.exists_with_different_flags,
    ]);
    // None of them changed the stored account.
    expect(await client.lookupAccounts([stored.id])).toEqual([{ ...stored, timestamp }]);
  });

  it("rejects each invalid field with its own status and stores nothing", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const valid = (): ReturnType<typeof newAccount> => newAccount(ledger);
    const events = [
      { ...valid(), timestamp: 1n },
      { ...valid(), reserved: 1 },
      { ...valid(), flags: 1 << 6 },
      { ...valid(), flags: 1 << 15 },
      { ...valid(), id: 0n },
      { ...valid(), id: u128Max },
      {
        ...valid(),
        flags:
          AccountFlags.debits_must_not_exceed_credits | AccountFlags.credits_must_not_exceed_debits,
      },
      { ...valid(), debits_pending: 1n },
      { ...valid(), debits_posted: 1n },
      { ...valid(), credits_pending: 1n },
      { ...valid(), credits_posted: 1n },
      { ...valid(), ledger: 0 },
      { ...valid(), code: 0 },
    ];
    const results = await client.createAccounts(events);
    expectAccountStatuses(results, [
      CreateAccountStatus.timestamp_must_be_zero,
      CreateAccountStatus.reserved_field,
      CreateAccountStatus.reserved_flag,
      CreateAccountStatus.reserved_flag,
      CreateAccountStatus.id_must_not_be_zero,
      CreateAccountStatus.id_must_not_be_int_max,
      CreateAccountStatus.flags_are_mutually_exclusive,
      CreateAccountStatus.debits_pending_must_be_zero,
      CreateAccountStatus.debits_posted_must_be_zero,
      CreateAccountStatus.credits_pending_must_be_zero,
      CreateAccountStatus.credits_posted_must_be_zero,
      CreateAccountStatus.ledger_must_not_be_zero,
      CreateAccountStatus.code_must_not_be_zero,
    ]);
    // Every event consumed its own timestamp, failed or not.
    expectStrictlyIncreasing(results.map((result) => result.timestamp));
    expect(await client.lookupAccounts(events.map((event) => event.id))).toEqual([]);
  });

  it("applies the validation order when several fields are invalid", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const bothLimits =
      AccountFlags.debits_must_not_exceed_credits | AccountFlags.credits_must_not_exceed_debits;
    const results = await client.createAccounts([
      // timestamp before reserved before reserved flag before id.
      newAccount(ledger, { timestamp: 1n, reserved: 1, flags: 1 << 6, id: 0n }),
      newAccount(ledger, { reserved: 1, flags: 1 << 6, id: 0n }),
      newAccount(ledger, { flags: (1 << 6) | bothLimits, id: 0n }),
      // id before flags, flags before balances, balances in field order, then ledger, code.
      newAccount(ledger, { id: 0n, flags: bothLimits }),
      newAccount(ledger, { flags: bothLimits, debits_pending: 1n }),
      newAccount(ledger, { credits_posted: 1n, debits_posted: 1n, ledger: 0 }),
      newAccount(ledger, { credits_pending: 1n, credits_posted: 1n }),
      newAccount(ledger, { credits_posted: 1n, ledger: 0, code: 0 }),
      newAccount(ledger, { ledger: 0, code: 0 }),
    ]);
    expectAccountStatuses(results, [
      CreateAccountStatus.timestamp_must_be_zero,
      CreateAccountStatus.reserved_field,
      CreateAccountStatus.reserved_flag,
      CreateAccountStatus.id_must_not_be_zero,
      CreateAccountStatus.flags_are_mutually_exclusive,
      CreateAccountStatus.debits_posted_must_be_zero,
      CreateAccountStatus.credits_pending_must_be_zero,
      CreateAccountStatus.credits_posted_must_be_zero,
      CreateAccountStatus.ledger_must_not_be_zero,
    ]);
  });

  it("never burns an account id: a failed create can be retried with the same id", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const account = newAccount(ledger);
    expectAccountStatuses(await client.createAccounts([{ ...account, code: 0 }]), [
      CreateAccountStatus.code_must_not_be_zero,
    ]);
    expectAccountStatuses(await client.createAccounts([{ ...account, debits_posted: 3n }]), [
      CreateAccountStatus.debits_posted_must_be_zero,
    ]);
    await mustCreateAccounts(client, [account]);
  });

  it("may create an account already closed, and keeps the flag for exists", async () => {
    const { client } = harness();
    const account = newAccount(freshLedger(), { flags: AccountFlags.closed });
    const [timestamp] = await mustCreateAccounts(client, [account]);
    expect((await mustLookupAccount(client, account.id)).flags).toBe(AccountFlags.closed);
    const results = await client.createAccounts([account, { ...account, flags: 0 }]);
    expectAccountStatuses(results, [
      CreateAccountStatus.exists,
      CreateAccountStatus.exists_with_different_flags,
    ]);
    expect(results[0]?.timestamp).toBe(timestamp);
  });

  it("gives results strictly increasing timestamps within and across batches", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const first = await client.createAccounts([
      newAccount(ledger),
      newAccount(ledger, { code: 0 }),
      newAccount(ledger),
    ]);
    const second = await client.createAccounts([
      newAccount(ledger, { ledger: 0 }),
      newAccount(ledger),
    ]);
    expectAccountStatuses(first, [
      CreateAccountStatus.created,
      CreateAccountStatus.code_must_not_be_zero,
      CreateAccountStatus.created,
    ]);
    expectAccountStatuses(second, [
      CreateAccountStatus.ledger_must_not_be_zero,
      CreateAccountStatus.created,
    ]);
    expectStrictlyIncreasing([...first, ...second].map((result) => result.timestamp));
  });

  it("stores the account id space apart from the transfer id space", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const source = newAccount(ledger);
    const target = newAccount(ledger);
    await mustCreateAccounts(client, [source, target]);
    // A transfer may reuse an account's id: the two id spaces are separate.
    await mustCreateTransfer(
      client,
      newTransfer({
        id: source.id,
        debit_account_id: source.id,
        credit_account_id: target.id,
        ledger,
      }),
    );
    expect((await client.lookupTransfers([source.id])).map((transfer) => transfer.id)).toEqual([
      source.id,
    ]);
  });

  if (engine.kind === "embedded") {
    statusCoverageTest("accounts");
  }
});
