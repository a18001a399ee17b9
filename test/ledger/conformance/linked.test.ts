/**
 * Linked chains: all-or-nothing groups of events within one batch, for accounts and transfers.
 * Semantics reference §4, §6.8 (which ids a broken chain burns).
 */
import type { Account, Client, Transfer } from "tigerbeetle-node";
import {
  AccountFlags,
  amount_max,
  CreateAccountStatus,
  CreateTransferStatus,
  id,
  TransferFlags,
} from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  expectAccountStatuses,
  expectBalances,
  expectStrictlyIncreasing,
  expectTransferStatuses,
  freshLedger,
  mustCreateAccounts,
  mustCreateTransfer,
  mustCreateTransfers,
  mustLookupAccount,
  newAccount,
  newTransfer,
  statusCoverageTest,
} from "../builders.ts";
import { describeEngines } from "../engines.ts";

const linked = TransferFlags.linked;

interface Fixture {
  ledger: number;
  a: Account;
  b: Account;
  /** a → b for `amount`, with a fresh id. */
  move(amount: bigint, fields?: Partial<Transfer>): Transfer;
}

async function fixture(client: Client): Promise<Fixture> {
  const ledger = freshLedger();
  const a = newAccount(ledger);
  const b = newAccount(ledger);
  await mustCreateAccounts(client, [a, b]);
  return {
    ledger,
    a,
    b,
    move: (amount, fields = {}) =>
      newTransfer({ debit_account_id: a.id, credit_account_id: b.id, ledger, amount, ...fields }),
  };
}

describeEngines("linked chains", ({ engine, harness }) => {
  it("applies a chain whose events all succeed", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const accounts = [
      newAccount(ledger, { flags: AccountFlags.linked }),
      newAccount(ledger, { flags: AccountFlags.linked }),
      newAccount(ledger),
    ];
    await mustCreateAccounts(client, accounts);
    // Flags are stored as submitted, linked included.
    expect(
      (await client.lookupAccounts(accounts.map((account) => account.id))).map((x) => x.flags),
    ).toEqual([AccountFlags.linked, AccountFlags.linked, 0]);
    const { a, b, move } = await fixture(client);
    await mustCreateTransfers(client, [
      move(1n, { flags: linked }),
      move(2n, { flags: linked }),
      move(3n),
    ]);
    await expectBalances(client, a.id, { debits_posted: 6n });
    await expectBalances(client, b.id, { credits_posted: 6n });
  });

  it("rolls back the whole chain when one event fails, leaving events outside it alone", async () => {
    const { client } = harness();
    const { a, b, move } = await fixture(client);
    const chain = [move(10n, { flags: linked }), move(20n, { flags: linked, code: 0 }), move(30n)];
    const results = await client.createTransfers([move(1n), ...chain, move(2n)]);
    expectTransferStatuses(results, [
      CreateTransferStatus.created,
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.code_must_not_be_zero,
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.created,
    ]);
    // Rolled-back events keep the timestamp they were evaluated with.
    expectStrictlyIncreasing(results.map((result) => result.timestamp));
    expect(await client.lookupTransfers(chain.map((transfer) => transfer.id))).toEqual([]);
    await expectBalances(client, a.id, { debits_posted: 3n });
    await expectBalances(client, b.id, { credits_posted: 3n });
  });

  it("rolls back account chains the same way", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const first = newAccount(ledger, { flags: AccountFlags.linked });
    const second = newAccount(ledger, { flags: AccountFlags.linked });
    const third = newAccount(ledger);
    const results = await client.createAccounts([first, { ...second, ledger: 0 }, third]);
    expectAccountStatuses(results, [
      CreateAccountStatus.linked_event_failed,
      CreateAccountStatus.ledger_must_not_be_zero,
      CreateAccountStatus.linked_event_failed,
    ]);
    expect(await client.lookupAccounts([first.id, second.id, third.id])).toEqual([]);
    // Nothing of the failed chain remains, so the same ids can be created afterwards.
    await mustCreateAccounts(client, [first, second, third]);
  });

  it("lets events see the effects of earlier events of their chain", async () => {
    const { client } = harness();
    const { ledger, a, b } = await fixture(client);
    const limited = newAccount(ledger, { flags: AccountFlags.debits_must_not_exceed_credits });
    await mustCreateAccounts(client, [limited]);
    const fund = (flags: number): Transfer =>
      newTransfer({
        debit_account_id: a.id,
        credit_account_id: limited.id,
        ledger,
        amount: 10n,
        flags,
      });
    const spend = (amount: bigint, flags: number): Transfer =>
      newTransfer({ debit_account_id: limited.id, credit_account_id: b.id, ledger, amount, flags });
    const failed = await client.createTransfers([fund(linked), spend(10n, linked), spend(1n, 0)]);
    expectTransferStatuses(failed, [
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.exceeds_credits,
    ]);
    await expectBalances(client, limited.id, {});
    await mustCreateTransfers(client, [fund(linked), spend(10n, 0)]);
    await expectBalances(client, limited.id, { credits_posted: 10n, debits_posted: 10n });
  });

  it("breaks a chain on exists, which is not created", async () => {
    const { client } = harness();
    const { a, move } = await fixture(client);
    const stored = move(5n, { flags: linked });
    const [storedAt] = await mustCreateTransfers(client, [stored, move(1n)]);
    const follower = move(7n);
    const results = await client.createTransfers([stored, follower]);
    expectTransferStatuses(results, [
      CreateTransferStatus.exists,
      CreateTransferStatus.linked_event_failed,
    ]);
    expect(results[0]?.timestamp).toBe(storedAt);
    // Without the linked flag it was stored with, the retry differs in its flags.
    expectTransferStatuses(await client.createTransfers([{ ...stored, flags: 0 }]), [
      CreateTransferStatus.exists_with_different_flags,
    ]);
    expect(await client.lookupTransfers([follower.id])).toEqual([]);
    await expectBalances(client, a.id, { debits_posted: 6n });
  });

  it("answers exists for an id repeated inside its own chain, then rolls both back", async () => {
    const { client } = harness();
    const { a, move } = await fixture(client);
    const repeated = move(5n, { flags: linked });
    const results = await client.createTransfers([repeated, repeated, move(1n)]);
    expectTransferStatuses(results, [
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.exists,
      CreateTransferStatus.linked_event_failed,
    ]);
    // The exists answer carries the timestamp of the event that created it earlier in the chain.
    expect(results[1]?.timestamp).toBe(results[0]?.timestamp);
    expect(await client.lookupTransfers([repeated.id])).toEqual([]);
    await expectBalances(client, a.id, {});
  });

  it("answers linked_event_chain_open for a batch ending inside a chain", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const alone = newAccount(ledger, { flags: AccountFlags.linked });
    expectAccountStatuses(await client.createAccounts([alone]), [
      CreateAccountStatus.linked_event_chain_open,
    ]);
    const individual = newAccount(ledger);
    const open = [
      newAccount(ledger, { flags: AccountFlags.linked }),
      newAccount(ledger, { flags: AccountFlags.linked }),
    ];
    const results = await client.createAccounts([individual, ...open]);
    expectAccountStatuses(results, [
      CreateAccountStatus.created,
      CreateAccountStatus.linked_event_failed,
      CreateAccountStatus.linked_event_chain_open,
    ]);
    expect(
      (await client.lookupAccounts([alone.id, individual.id, ...open.map((x) => x.id)])).map(
        (x) => x.id,
      ),
    ).toEqual([individual.id]);

    const { move } = await fixture(client);
    const transferResults = await client.createTransfers([move(1n), move(1n, { flags: linked })]);
    expectTransferStatuses(transferResults, [
      CreateTransferStatus.created,
      CreateTransferStatus.linked_event_chain_open,
    ]);
  });

  it("reports chain_open on the last event even when the chain had already failed", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const existing = newAccount(ledger);
    await mustCreateAccounts(client, [existing]);
    const accountResults = await client.createAccounts([
      newAccount(ledger, { flags: AccountFlags.linked }),
      { ...existing, flags: AccountFlags.linked },
      newAccount(ledger, { flags: AccountFlags.linked }),
    ]);
    expectAccountStatuses(accountResults, [
      CreateAccountStatus.linked_event_failed,
      CreateAccountStatus.exists_with_different_flags,
      CreateAccountStatus.linked_event_chain_open,
    ]);

    const { move } = await fixture(client);
    const transferResults = await client.createTransfers([
      move(1n, { flags: linked }),
      move(1n, { flags: linked, ledger: 0 }),
      move(1n, { flags: linked }),
      move(1n, { flags: linked }),
    ]);
    expectTransferStatuses(transferResults, [
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.ledger_must_not_be_zero,
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.linked_event_chain_open,
    ]);
  });

  it("keeps chains of one batch independent of each other", async () => {
    const { client } = harness();
    const { a, move } = await fixture(client);
    const results = await client.createTransfers([
      move(1n, { flags: linked }),
      move(2n, { flags: linked }),
      move(3n, { code: 0 }),
      move(4n, { flags: linked }),
      move(5n),
      move(6n, { flags: linked }),
      move(7n, { timeout: 1 }),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.code_must_not_be_zero,
      CreateTransferStatus.created,
      CreateTransferStatus.created,
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.timeout_reserved_for_pending_transfer,
    ]);
    await expectBalances(client, a.id, { debits_posted: 9n });
  });

  it("burns only the id of the event that broke a chain with a transient status", async () => {
    const { client } = harness();
    const { a, move } = await fixture(client);
    const before = move(1n, { flags: linked });
    const breaking = move(2n, { flags: linked, debit_account_id: id() });
    const after = move(3n);
    expectTransferStatuses(await client.createTransfers([before, breaking, after]), [
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.debit_account_not_found,
      CreateTransferStatus.linked_event_failed,
    ]);
    const retried = await client.createTransfers([
      { ...before, flags: 0 },
      move(2n, { id: breaking.id }),
      after,
    ]);
    expectTransferStatuses(retried, [
      CreateTransferStatus.created,
      CreateTransferStatus.id_already_failed,
      CreateTransferStatus.created,
    ]);
    await expectBalances(client, a.id, { debits_posted: 4n });
  });

  it("undoes a post and a closing transfer when their chain fails", async () => {
    const { client } = harness();
    const { ledger, a, b, move } = await fixture(client);
    const reservation = move(50n, { flags: TransferFlags.pending });
    await mustCreateTransfer(client, reservation);
    const posting = newTransfer({
      debit_account_id: 0n,
      credit_account_id: 0n,
      ledger: 0,
      code: 0,
      amount: amount_max,
      pending_id: reservation.id,
      flags: TransferFlags.post_pending_transfer | linked,
    });
    const closing = newTransfer({
      debit_account_id: b.id,
      credit_account_id: a.id,
      ledger,
      amount: 0n,
      flags: TransferFlags.pending | TransferFlags.closing_debit | linked,
    });
    const results = await client.createTransfers([posting, closing, move(1n, { code: 0 })]);
    expectTransferStatuses(results, [
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.code_must_not_be_zero,
    ]);
    await expectBalances(client, a.id, { debits_pending: 50n });
    expect((await mustLookupAccount(client, b.id)).flags).toBe(0);
    // The pending transfer is pending again and can be posted for real.
    await mustCreateTransfer(client, { ...posting, flags: TransferFlags.post_pending_transfer });
    await expectBalances(client, a.id, { debits_posted: 50n });
  });

  it("applies a chain whose transfers are on different ledgers, all or nothing", async () => {
    // A reward redemption holds points on one ledger and stock on another in one chain: each
    // transfer stays within its own ledger, the chain is atomic across them.
    const { client } = harness();
    const points = await fixture(client);
    const stock = await fixture(client);
    await mustCreateTransfer(client, stock.move(1n));
    const limited = newAccount(stock.ledger, {
      flags: AccountFlags.debits_must_not_exceed_credits,
    });
    await mustCreateAccounts(client, [limited]);
    await mustCreateTransfer(
      client,
      newTransfer({
        debit_account_id: stock.b.id,
        credit_account_id: limited.id,
        ledger: stock.ledger,
        amount: 1n,
      }),
    );
    const take = () =>
      newTransfer({
        debit_account_id: limited.id,
        credit_account_id: stock.b.id,
        ledger: stock.ledger,
        amount: 1n,
        timeout: 60,
        flags: TransferFlags.pending,
      });
    const first = [points.move(5n, { flags: linked | TransferFlags.pending, timeout: 60 }), take()];
    const second = [
      points.move(5n, { flags: linked | TransferFlags.pending, timeout: 60 }),
      take(),
    ];
    const results = await client.createTransfers([...first, ...second]);
    expectTransferStatuses(results, [
      CreateTransferStatus.created,
      CreateTransferStatus.created,
      CreateTransferStatus.linked_event_failed,
      CreateTransferStatus.exceeds_credits,
    ]);
    await expectBalances(client, points.a.id, { debits_pending: 5n });
    await expectBalances(client, limited.id, { credits_posted: 1n, debits_pending: 1n });
  });

  if (engine.kind === "embedded") {
    statusCoverageTest("linked");
  }
});
