/**
 * Balancing transfers (the amount is clamped to what the account can move) and closing transfers
 * (a pending transfer that closes an account until it is voided or expires).
 * Semantics reference §6.5, §6.6, §6.3 (expiry re-opens).
 */
import type { Account, Client, Transfer } from "tigerbeetle-node";
import {
  AccountFlags,
  amount_max,
  CreateAccountStatus,
  CreateTransferStatus,
  TransferFlags,
} from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  expectAccountStatuses,
  expectBalances,
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

const { pending, balancing_debit, balancing_credit, closing_debit, closing_credit } = TransferFlags;

interface Fixture {
  ledger: number;
  /** A funding account with no limits. */
  source: Account;
  accounts(count: number, flags?: number): Promise<Account[]>;
  move(debit: Account, credit: Account, amount: bigint, fields?: Partial<Transfer>): Transfer;
}

async function fixture(client: Client): Promise<Fixture> {
  const ledger = freshLedger();
  const source = newAccount(ledger);
  await mustCreateAccounts(client, [source]);
  return {
    ledger,
    source,
    accounts: async (count, flags = 0) => {
      const created = Array.from({ length: count }, () => newAccount(ledger, { flags }));
      await mustCreateAccounts(client, created);
      return created;
    },
    move: (debit, credit, amount, fields = {}) =>
      newTransfer({
        debit_account_id: debit.id,
        credit_account_id: credit.id,
        ledger,
        amount,
        ...fields,
      }),
  };
}

async function amountsOf(client: Client, transfers: readonly Transfer[]): Promise<bigint[]> {
  const stored = await client.lookupTransfers(transfers.map((transfer) => transfer.id));
  return stored.map((transfer) => transfer.amount);
}

function isClosed(account: Account): boolean {
  return (account.flags & AccountFlags.closed) !== 0;
}

describeEngines("balancing and closing transfers", ({ engine, harness }) => {
  it("clamps balancing_debit to credits posted minus debits posted and pending", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [account, target, other] = await accounts(3);
    if (account === undefined || target === undefined || other === undefined) {
      throw new Error("three accounts");
    }
    await mustCreateTransfers(client, [
      move(source, account, 100n),
      move(account, target, 30n),
      // Pending credits are ignored; pending debits count.
      move(other, account, 40n, { flags: pending }),
      move(account, target, 10n, { flags: pending }),
    ]);
    const balancing = [
      move(account, target, 20n, { flags: balancing_debit }),
      move(account, target, amount_max, { flags: balancing_debit }),
      move(account, target, 0n, { flags: balancing_debit }),
      move(account, target, amount_max, { flags: balancing_debit }),
    ];
    await mustCreateTransfers(client, balancing);
    expect(await amountsOf(client, balancing)).toEqual([20n, 40n, 0n, 0n]);
    await expectBalances(client, account.id, {
      debits_posted: 90n,
      debits_pending: 10n,
      credits_posted: 100n,
      credits_pending: 40n,
    });
  });

  it("clamps balancing_credit to debits posted minus credits posted and pending", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [account, other] = await accounts(2);
    if (account === undefined || other === undefined) {
      throw new Error("two accounts");
    }
    await mustCreateTransfers(client, [
      move(account, source, 100n),
      move(source, account, 30n),
      // Pending debits are ignored; pending credits count.
      move(account, other, 40n, { flags: pending }),
      move(other, account, 10n, { flags: pending }),
    ]);
    const balancing = [
      move(other, account, 20n, { flags: balancing_credit }),
      move(other, account, amount_max, { flags: balancing_credit }),
      move(other, account, 0n, { flags: balancing_credit }),
      move(other, account, amount_max, { flags: balancing_credit }),
    ];
    await mustCreateTransfers(client, balancing);
    expect(await amountsOf(client, balancing)).toEqual([20n, 40n, 0n, 0n]);
    await expectBalances(client, account.id, {
      debits_posted: 100n,
      debits_pending: 40n,
      credits_posted: 90n,
      credits_pending: 10n,
    });
  });

  it("moves 0 when the account is already past its balance, and applies both limits together", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [overdrawn, funded, owing] = await accounts(3);
    if (overdrawn === undefined || funded === undefined || owing === undefined) {
      throw new Error("three accounts");
    }
    await mustCreateTransfers(client, [
      move(overdrawn, source, 10n),
      move(source, funded, 50n),
      move(owing, source, 30n),
    ]);
    const balancing = [
      move(overdrawn, source, amount_max, { flags: balancing_debit }),
      move(funded, owing, amount_max, { flags: balancing_debit | balancing_credit }),
    ];
    await mustCreateTransfers(client, balancing);
    expect(await amountsOf(client, balancing)).toEqual([0n, 30n]);
    await expectBalances(client, funded.id, { credits_posted: 50n, debits_posted: 30n });
    await expectBalances(client, owing.id, { debits_posted: 30n, credits_posted: 30n });
  });

  it("reserves the clamped amount when balancing a pending transfer", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [account, target] = await accounts(2);
    if (account === undefined || target === undefined) {
      throw new Error("two accounts");
    }
    await mustCreateTransfer(client, move(source, account, 50n));
    const balancing = [
      move(account, target, amount_max, { flags: pending | balancing_debit }),
      move(account, target, amount_max, { flags: balancing_debit }),
    ];
    await mustCreateTransfers(client, balancing);
    expect(await amountsOf(client, balancing)).toEqual([50n, 0n]);
    await expectBalances(client, account.id, { credits_posted: 50n, debits_pending: 50n });
    await expectBalances(client, target.id, { credits_pending: 50n });
  });

  it("accepts a retried balancing transfer whose amount is at least the amount moved", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [account, target] = await accounts(2);
    if (account === undefined || target === undefined) {
      throw new Error("two accounts");
    }
    await mustCreateTransfer(client, move(source, account, 40n));
    const balancing = move(account, target, 1000n, { flags: balancing_debit });
    const timestamp = await mustCreateTransfer(client, balancing);
    const results = await client.createTransfers([
      balancing,
      { ...balancing, amount: amount_max },
      { ...balancing, amount: 40n },
      { ...balancing, amount: 39n },
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.exists,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists_with_different_amount,
    ]);
    expect(results.slice(0, 3).map((result) => result.timestamp)).toEqual([
      timestamp,
      timestamp,
      timestamp,
    ]);
    await expectBalances(client, account.id, { credits_posted: 40n, debits_posted: 40n });
  });

  it("requires closing transfers to be pending", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [account] = await accounts(1);
    if (account === undefined) {
      throw new Error("one account");
    }
    const results = await client.createTransfers([
      move(account, source, 0n, { flags: closing_debit }),
      move(source, account, 0n, { flags: closing_credit }),
      move(account, source, 0n, { flags: closing_debit | closing_credit }),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.closing_transfer_must_be_pending,
      CreateTransferStatus.closing_transfer_must_be_pending,
      CreateTransferStatus.closing_transfer_must_be_pending,
    ]);
    expect(isClosed(await mustLookupAccount(client, account.id))).toBe(false);
  });

  it("closes the debit account with closing_debit until the closing transfer is voided", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [account] = await accounts(1);
    if (account === undefined) {
      throw new Error("one account");
    }
    const closing = move(account, source, 0n, { flags: pending | closing_debit });
    await mustCreateTransfer(client, closing);
    const closed = await mustLookupAccount(client, account.id);
    expect(closed.flags).toBe(AccountFlags.closed);
    expect(isClosed(await mustLookupAccount(client, source.id))).toBe(false);

    const refused = await client.createTransfers([
      move(account, source, 1n),
      move(source, account, 1n),
      move(account, source, 0n, { flags: pending | closing_debit }),
      newTransfer({
        debit_account_id: 0n,
        credit_account_id: 0n,
        ledger: 0,
        code: 0,
        pending_id: closing.id,
        amount: amount_max,
        flags: TransferFlags.post_pending_transfer,
      }),
    ]);
    expectTransferStatuses(refused, [
      CreateTransferStatus.debit_account_already_closed,
      CreateTransferStatus.credit_account_already_closed,
      CreateTransferStatus.debit_account_already_closed,
      CreateTransferStatus.debit_account_already_closed,
    ]);
    // The stored `closed` bit takes part in the exists comparison of the original create.
    expectAccountStatuses(await client.createAccounts([account]), [
      CreateAccountStatus.exists_with_different_flags,
    ]);

    await mustCreateTransfer(
      client,
      newTransfer({
        debit_account_id: 0n,
        credit_account_id: 0n,
        ledger: 0,
        code: 0,
        pending_id: closing.id,
        flags: TransferFlags.void_pending_transfer,
      }),
    );
    expect((await mustLookupAccount(client, account.id)).flags).toBe(0);
    await mustCreateTransfer(client, move(account, source, 1n));
    await expectBalances(client, account.id, { debits_posted: 1n });
  });

  it("closes the credit account with closing_credit, and both with both flags", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [credited, left, right] = await accounts(3);
    if (credited === undefined || left === undefined || right === undefined) {
      throw new Error("three accounts");
    }
    await mustCreateTransfers(client, [
      move(source, credited, 0n, { flags: pending | closing_credit }),
      move(left, right, 0n, { flags: pending | closing_debit | closing_credit }),
    ]);
    const flags = (await client.lookupAccounts([source.id, credited.id, left.id, right.id])).map(
      (account) => account.flags,
    );
    expect(flags).toEqual([0, AccountFlags.closed, AccountFlags.closed, AccountFlags.closed]);
    const refused = await client.createTransfers([
      move(source, credited, 1n),
      move(credited, source, 1n),
    ]);
    expectTransferStatuses(refused, [
      CreateTransferStatus.credit_account_already_closed,
      CreateTransferStatus.debit_account_already_closed,
    ]);
  });

  it("still voids, but does not post, other pending transfers of a closed account", async () => {
    const { client } = harness();
    const { source, accounts, move } = await fixture(client);
    const [account] = await accounts(1);
    if (account === undefined) {
      throw new Error("one account");
    }
    const first = move(account, source, 10n, { flags: pending });
    const second = move(account, source, 20n, { flags: pending });
    const closing = move(account, source, 5n, { flags: pending | closing_debit });
    await mustCreateTransfers(client, [first, second, closing]);
    await expectBalances(client, account.id, { debits_pending: 35n });
    const resolve = (pendingId: bigint, flags: number): Transfer =>
      newTransfer({
        debit_account_id: 0n,
        credit_account_id: 0n,
        ledger: 0,
        code: 0,
        pending_id: pendingId,
        amount: flags === TransferFlags.post_pending_transfer ? amount_max : 0n,
        flags,
      });
    const results = await client.createTransfers([
      resolve(first.id, TransferFlags.void_pending_transfer),
      resolve(second.id, TransferFlags.post_pending_transfer),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.created,
      CreateTransferStatus.debit_account_already_closed,
    ]);
    await expectBalances(client, account.id, { debits_pending: 25n });
    expect(isClosed(await mustLookupAccount(client, account.id))).toBe(true);
  });

  it("re-opens the account when the closing transfer expires", async () => {
    const h = harness();
    const { source, accounts, move } = await fixture(h.client);
    const [account] = await accounts(1);
    if (account === undefined) {
      throw new Error("one account");
    }
    await mustCreateTransfer(
      h.client,
      move(account, source, 3n, { flags: pending | closing_debit, timeout: 1 }),
    );
    expect(isClosed(await mustLookupAccount(h.client, account.id))).toBe(true);
    await h.advanceSeconds(2);
    const reopened = await mustLookupAccount(h.client, account.id);
    expect(reopened.flags).toBe(0);
    await expectBalances(h.client, account.id, {});
    await mustCreateTransfer(h.client, move(account, source, 1n));
    await expectBalances(h.client, account.id, { debits_posted: 1n });
  });

  if (engine.kind === "embedded") {
    statusCoverageTest("balancing-closing");
  }
});
