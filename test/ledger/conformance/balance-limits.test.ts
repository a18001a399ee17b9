/**
 * Balance limits (debits_must_not_exceed_credits, credits_must_not_exceed_debits) and the u128
 * overflow checks of create_transfers. Semantics reference §2.1, §6.1 steps 18-22, §6.8.
 */
import type { Account, Client, Transfer } from "tigerbeetle-node";
import { AccountFlags, amount_max, CreateTransferStatus, TransferFlags } from "tigerbeetle-node";
import { it } from "vitest";
import {
  expectBalances,
  expectTransferStatuses,
  freshLedger,
  mustCreateAccounts,
  mustCreateTransfer,
  mustCreateTransfers,
  newAccount,
  newTransfer,
  statusCoverageTest,
} from "../builders.ts";
import { describeEngines } from "../engines.ts";

const half = 2n ** 127n;

interface Fixture {
  accounts(count: number, flags?: number): Promise<Account[]>;
  move(debit: Account, credit: Account, amount: bigint, fields?: Partial<Transfer>): Transfer;
}

async function fixture(client: Client): Promise<Fixture> {
  const ledger = freshLedger();
  return {
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

function two(accounts: Account[]): [Account, Account] {
  const [first, second] = accounts;
  if (first === undefined || second === undefined) {
    throw new Error("two accounts");
  }
  return [first, second];
}

describeEngines("balance limits and overflows", ({ engine, harness }) => {
  it("keeps debits (posted and pending) within credits posted with debits_must_not_exceed_credits", async () => {
    const { client } = harness();
    const { accounts, move } = await fixture(client);
    const [limited] = await accounts(1, AccountFlags.debits_must_not_exceed_credits);
    const [funder, target] = two(await accounts(2));
    if (limited === undefined) {
      throw new Error("one account");
    }
    await mustCreateTransfers(client, [
      move(funder, limited, 100n),
      move(limited, target, 30n, { flags: TransferFlags.pending }),
      // Pending credits do not count towards the limit.
      move(funder, limited, 50n, { flags: TransferFlags.pending }),
    ]);
    const results = await client.createTransfers([
      move(limited, target, 71n),
      move(limited, target, 71n, { flags: TransferFlags.pending }),
      move(limited, target, 70n),
      move(limited, target, 1n),
      move(limited, target, 0n),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.exceeds_credits,
      CreateTransferStatus.exceeds_credits,
      CreateTransferStatus.created,
      CreateTransferStatus.exceeds_credits,
      CreateTransferStatus.created,
    ]);
    await expectBalances(client, limited.id, {
      credits_posted: 100n,
      credits_pending: 50n,
      debits_posted: 70n,
      debits_pending: 30n,
    });
  });

  it("keeps credits (posted and pending) within debits posted with credits_must_not_exceed_debits", async () => {
    const { client } = harness();
    const { accounts, move } = await fixture(client);
    const [limited] = await accounts(1, AccountFlags.credits_must_not_exceed_debits);
    const [other, source] = two(await accounts(2));
    if (limited === undefined) {
      throw new Error("one account");
    }
    await mustCreateTransfers(client, [
      move(limited, other, 100n),
      move(source, limited, 30n, { flags: TransferFlags.pending }),
      // Pending debits do not count towards the limit.
      move(limited, other, 50n, { flags: TransferFlags.pending }),
    ]);
    const results = await client.createTransfers([
      move(source, limited, 71n),
      move(source, limited, 70n),
      move(source, limited, 1n),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.exceeds_debits,
      CreateTransferStatus.created,
      CreateTransferStatus.exceeds_debits,
    ]);
    await expectBalances(client, limited.id, {
      debits_posted: 100n,
      debits_pending: 50n,
      credits_posted: 70n,
      credits_pending: 30n,
    });
  });

  it("lets later events of a batch use what earlier events moved", async () => {
    const { client } = harness();
    const { accounts, move } = await fixture(client);
    const [limited] = await accounts(1, AccountFlags.debits_must_not_exceed_credits);
    const [funder, target] = two(await accounts(2));
    if (limited === undefined) {
      throw new Error("one account");
    }
    const results = await client.createTransfers([
      move(limited, target, 10n),
      move(funder, limited, 10n),
      move(limited, target, 10n),
      move(limited, target, 1n),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.exceeds_credits,
      CreateTransferStatus.created,
      CreateTransferStatus.created,
      CreateTransferStatus.exceeds_credits,
    ]);
  });

  it("refuses transfers that would overflow a pending or posted balance", async () => {
    const { client } = harness();
    const { accounts, move } = await fixture(client);
    const [debitFull, creditFull, spareDebit, spareCredit] = await accounts(4);
    const [postedDebitFull, postedCreditFull] = two(await accounts(2));
    if (
      debitFull === undefined ||
      creditFull === undefined ||
      spareDebit === undefined ||
      spareCredit === undefined
    ) {
      throw new Error("four accounts");
    }
    await mustCreateTransfers(client, [
      move(debitFull, creditFull, amount_max, { flags: TransferFlags.pending }),
      move(postedDebitFull, postedCreditFull, amount_max),
    ]);
    const results = await client.createTransfers([
      move(debitFull, spareCredit, 1n, { flags: TransferFlags.pending }),
      move(spareDebit, creditFull, 1n, { flags: TransferFlags.pending }),
      move(postedDebitFull, spareCredit, 1n),
      move(spareDebit, postedCreditFull, 1n),
      // The posted checks also apply to pending transfers.
      move(postedDebitFull, spareCredit, 1n, { flags: TransferFlags.pending }),
      move(spareDebit, postedCreditFull, 1n, { flags: TransferFlags.pending }),
      // A full pending balance does not stop posting, and 0 never overflows.
      move(debitFull, spareCredit, 1n),
      move(postedDebitFull, spareCredit, 0n),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.overflows_debits_pending,
      CreateTransferStatus.overflows_credits_pending,
      CreateTransferStatus.overflows_debits_posted,
      CreateTransferStatus.overflows_credits_posted,
      CreateTransferStatus.overflows_debits_posted,
      CreateTransferStatus.overflows_credits_posted,
      CreateTransferStatus.overflows_debits,
      CreateTransferStatus.created,
    ]);
    await expectBalances(client, debitFull.id, { debits_pending: amount_max });
    await expectBalances(client, postedCreditFull.id, { credits_posted: amount_max });
    await expectBalances(client, spareCredit.id, {});
  });

  it("refuses transfers whose pending plus posted total would overflow", async () => {
    const { client } = harness();
    const { accounts, move } = await fixture(client);
    const [debited, creditedOne, creditedTwo, creditedThree] = await accounts(4);
    const [credited, debitedTwo] = two(await accounts(2));
    const [debitedThree, debitedFour] = two(await accounts(2));
    if (
      debited === undefined ||
      creditedOne === undefined ||
      creditedTwo === undefined ||
      creditedThree === undefined
    ) {
      throw new Error("four accounts");
    }
    // debits_posted + debits_pending reaches amount_max exactly, which is allowed.
    await mustCreateTransfers(client, [
      move(debited, creditedOne, half),
      move(debited, creditedTwo, half - 1n, { flags: TransferFlags.pending }),
      move(debitedTwo, credited, half),
      move(debitedThree, credited, half - 1n, { flags: TransferFlags.pending }),
    ]);
    const results = await client.createTransfers([
      move(debited, creditedThree, 1n),
      move(debited, creditedThree, 1n, { flags: TransferFlags.pending }),
      move(debitedFour, credited, 1n),
      move(debitedFour, credited, 1n, { flags: TransferFlags.pending }),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.overflows_debits,
      CreateTransferStatus.overflows_debits,
      CreateTransferStatus.overflows_credits,
      CreateTransferStatus.overflows_credits,
    ]);
    await expectBalances(client, debited.id, {
      debits_posted: half,
      debits_pending: half - 1n,
    });
  });

  it("burns the id of a transfer refused by a balance limit, but not of an overflow", async () => {
    const { client } = harness();
    const { accounts, move } = await fixture(client);
    const [debitLimited] = await accounts(1, AccountFlags.debits_must_not_exceed_credits);
    const [creditLimited] = await accounts(1, AccountFlags.credits_must_not_exceed_debits);
    const [full, fullTarget] = two(await accounts(2));
    const [other] = await accounts(1);
    if (debitLimited === undefined || creditLimited === undefined || other === undefined) {
      throw new Error("limited accounts");
    }
    await mustCreateTransfer(client, move(full, fullTarget, amount_max));
    const exceedsCredits = move(debitLimited, other, 1n);
    const exceedsDebits = move(other, creditLimited, 1n);
    const overflows = move(full, other, 1n);
    expectTransferStatuses(
      await client.createTransfers([exceedsCredits, exceedsDebits, overflows]),
      [
        CreateTransferStatus.exceeds_credits,
        CreateTransferStatus.exceeds_debits,
        CreateTransferStatus.overflows_debits_posted,
      ],
    );
    const retried = await client.createTransfers(
      [exceedsCredits, exceedsDebits, overflows].map((transfer) =>
        move(other, debitLimited, 1n, { id: transfer.id }),
      ),
    );
    expectTransferStatuses(retried, [
      CreateTransferStatus.id_already_failed,
      CreateTransferStatus.id_already_failed,
      CreateTransferStatus.created,
    ]);
  });

  if (engine.kind === "embedded") {
    statusCoverageTest("balance-limits");
  }
});
