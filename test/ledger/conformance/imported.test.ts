/**
 * Imported events: objects created with a user-supplied timestamp. Semantics reference §7 and
 * §5.1 / §6.1 steps 3, 4, 12, 15.
 *
 * Imported timestamps must be newer than every existing object yet older than the request, so
 * these tests first create an "anchor" transfer: with nothing else writing, its timestamp is the
 * newest in the engine, and the imports use timestamps just above it. That holds on the embedded
 * engine and on a per-file container; on a shared cluster (TB_ADDRESS) another writer could slip
 * in between, so those tests are skipped there. Checks that do not depend on other objects run
 * everywhere; importing a history from timestamp 1 needs an empty engine and runs embedded only.
 */
import type { Account, Transfer } from "tigerbeetle-node";
import {
  AccountFilterFlags,
  AccountFlags,
  amount_max,
  CreateAccountStatus,
  CreateTransferStatus,
  TransferFlags,
} from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  accountFilterOf,
  expectAccountStatuses,
  expectBalances,
  expectTransferStatuses,
  freshLedger,
  mustCreateAccounts,
  mustCreateTransfer,
  mustLookupAccount,
  newAccount,
  newTransfer,
  statusCoverageTest,
  timestampMax,
} from "../builders.ts";
import { describeEngines, type Harness, itWhere, openEmbedded } from "../engines.ts";

const sharedClusterReason =
  "the cluster is shared (TB_ADDRESS): another writer could take timestamps between anchor and import";

interface Anchor {
  ledger: number;
  /** The newest account's timestamp. */
  accountTimestamp: bigint;
  /** The newest object's timestamp: imports go just above it. */
  timestamp: bigint;
  importAccount(timestamp: bigint, fields?: Partial<Account>): Account;
  importTransfer(
    debit: Account,
    credit: Account,
    timestamp: bigint,
    fields?: Partial<Transfer>,
  ): Transfer;
}

/**
 * Creates two accounts and a transfer between them, then lets the clock move on so that the
 * next request's timestamp is well above them.
 */
async function anchor(h: Harness): Promise<Anchor> {
  const ledger = freshLedger();
  const debit = newAccount(ledger);
  const credit = newAccount(ledger);
  const [, accountTimestamp] = await mustCreateAccounts(h.client, [debit, credit]);
  const timestamp = await mustCreateTransfer(
    h.client,
    newTransfer({ debit_account_id: debit.id, credit_account_id: credit.id, ledger, amount: 1n }),
  );
  if (accountTimestamp === undefined) {
    throw new Error("two accounts were created");
  }
  await h.advanceSeconds(0.01);
  return {
    ledger,
    accountTimestamp,
    timestamp,
    importAccount: (accountTimestampImported, fields = {}) =>
      newAccount(ledger, {
        flags: AccountFlags.imported,
        timestamp: accountTimestampImported,
        ...fields,
      }),
    importTransfer: (debitAccount, creditAccount, transferTimestamp, fields = {}) =>
      newTransfer({
        debit_account_id: debitAccount.id,
        credit_account_id: creditAccount.id,
        ledger,
        amount: 1n,
        flags: TransferFlags.imported,
        timestamp: transferTimestamp,
        ...fields,
      }),
  };
}

describeEngines("imported events", ({ engine, harness }) => {
  itWhere(
    engine.exclusive,
    sharedClusterReason,
    "keeps the user's timestamps on imported accounts and transfers",
    async () => {
      const h = harness();
      const { timestamp, importAccount, importTransfer } = await anchor(h);
      const x = importAccount(timestamp + 1n, {
        flags: AccountFlags.imported | AccountFlags.history,
      });
      const y = importAccount(timestamp + 2n);
      const accountResults = await h.client.createAccounts([x, y]);
      expectAccountStatuses(accountResults, [
        CreateAccountStatus.created,
        CreateAccountStatus.created,
      ]);
      expect(accountResults.map((result) => result.timestamp)).toEqual([
        timestamp + 1n,
        timestamp + 2n,
      ]);
      expect(await h.client.lookupAccounts([x.id, y.id])).toEqual([x, y]);

      const moved = importTransfer(x, y, timestamp + 3n, { amount: 5n });
      const held = importTransfer(x, y, timestamp + 4n, {
        amount: 2n,
        flags: TransferFlags.imported | TransferFlags.pending,
      });
      const posted = importTransfer(x, y, timestamp + 5n, {
        debit_account_id: 0n,
        credit_account_id: 0n,
        ledger: 0,
        code: 0,
        amount: amount_max,
        pending_id: held.id,
        flags: TransferFlags.imported | TransferFlags.post_pending_transfer,
      });
      const transferResults = await h.client.createTransfers([moved, held, posted]);
      expectTransferStatuses(transferResults, [
        CreateTransferStatus.created,
        CreateTransferStatus.created,
        CreateTransferStatus.created,
      ]);
      expect(transferResults.map((result) => result.timestamp)).toEqual([
        timestamp + 3n,
        timestamp + 4n,
        timestamp + 5n,
      ]);
      const stored = await h.client.lookupTransfers([moved.id, held.id, posted.id]);
      expect(stored.map((transfer) => transfer.timestamp)).toEqual([
        timestamp + 3n,
        timestamp + 4n,
        timestamp + 5n,
      ]);
      expect(stored[0]).toEqual(moved);
      await expectBalances(h.client, x.id, { debits_posted: 7n });
      // History entries carry the imported timestamps too.
      const history = await h.client.getAccountBalances(
        accountFilterOf({
          account_id: x.id,
          limit: 10,
          flags: AccountFilterFlags.debits | AccountFilterFlags.credits,
        }),
      );
      expect(history.map((entry) => entry.timestamp)).toEqual([
        timestamp + 3n,
        timestamp + 4n,
        timestamp + 5n,
      ]);
    },
  );

  itWhere(
    engine.exclusive,
    sharedClusterReason,
    "lets the first event decide whether a batch is imported",
    async () => {
      const h = harness();
      const { ledger, timestamp, importAccount, importTransfer } = await anchor(h);
      const x = importAccount(timestamp + 1n);
      const y = importAccount(timestamp + 2n);
      const accountResults = await h.client.createAccounts([x, y, newAccount(ledger)]);
      expectAccountStatuses(accountResults, [
        CreateAccountStatus.created,
        CreateAccountStatus.created,
        CreateAccountStatus.imported_event_expected,
      ]);
      const transferResults = await h.client.createTransfers([
        importTransfer(x, y, timestamp + 3n),
        newTransfer({ debit_account_id: x.id, credit_account_id: y.id, ledger, amount: 1n }),
      ]);
      expectTransferStatuses(transferResults, [
        CreateTransferStatus.created,
        CreateTransferStatus.imported_event_expected,
      ]);

      const liveAccounts = await h.client.createAccounts([
        newAccount(ledger),
        importAccount(timestamp + 100n),
      ]);
      expectAccountStatuses(liveAccounts, [
        CreateAccountStatus.created,
        CreateAccountStatus.imported_event_not_expected,
      ]);
      const liveTransfers = await h.client.createTransfers([
        newTransfer({ debit_account_id: x.id, credit_account_id: y.id, ledger, amount: 1n }),
        importTransfer(x, y, timestamp + 100n),
      ]);
      expectTransferStatuses(liveTransfers, [
        CreateTransferStatus.created,
        CreateTransferStatus.imported_event_not_expected,
      ]);
      // A non-imported event must not carry a timestamp at all.
      expectTransferStatuses(
        await h.client.createTransfers([
          newTransfer({
            debit_account_id: x.id,
            credit_account_id: y.id,
            ledger,
            amount: 1n,
            timestamp: timestamp + 200n,
          }),
        ]),
        [CreateTransferStatus.timestamp_must_be_zero],
      );
      await expectBalances(h.client, x.id, { debits_posted: 2n });
    },
  );

  it("refuses imported timestamps outside 1..2^63-1 or not before the request", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const imported = (timestamp: bigint): Account =>
      newAccount(ledger, { flags: AccountFlags.imported, timestamp });
    const accountResults = await client.createAccounts([
      imported(0n),
      imported(timestampMax + 1n),
      imported(2n ** 64n - 1n),
      imported(timestampMax),
    ]);
    expectAccountStatuses(accountResults, [
      CreateAccountStatus.imported_event_timestamp_out_of_range,
      CreateAccountStatus.imported_event_timestamp_out_of_range,
      CreateAccountStatus.imported_event_timestamp_out_of_range,
      CreateAccountStatus.imported_event_timestamp_must_not_advance,
    ]);
    const importedTransfer = (timestamp: bigint): Transfer =>
      newTransfer({
        debit_account_id: 1n,
        credit_account_id: 2n,
        ledger,
        amount: 1n,
        flags: TransferFlags.imported,
        timestamp,
      });
    const transferResults = await client.createTransfers([
      importedTransfer(0n),
      importedTransfer(timestampMax + 1n),
      importedTransfer(timestampMax),
    ]);
    expectTransferStatuses(transferResults, [
      CreateTransferStatus.imported_event_timestamp_out_of_range,
      CreateTransferStatus.imported_event_timestamp_out_of_range,
      CreateTransferStatus.imported_event_timestamp_must_not_advance,
    ]);
  });

  itWhere(
    engine.exclusive,
    sharedClusterReason,
    "refuses an imported account that does not come after every account and transfer",
    async () => {
      const h = harness();
      const { accountTimestamp, timestamp, importAccount } = await anchor(h);
      const first = importAccount(timestamp + 1n);
      const results = await h.client.createAccounts([
        importAccount(accountTimestamp),
        importAccount(accountTimestamp - 1n),
        // Newer than every account, but taken by the anchor transfer.
        importAccount(timestamp),
        first,
        importAccount(timestamp + 1n),
        // Idempotency comes before the regress check: a retry with another past timestamp exists.
        { ...first, timestamp: accountTimestamp },
        // Invalid fields are reported before the regress check too.
        importAccount(accountTimestamp, { code: 0 }),
      ]);
      expectAccountStatuses(results, [
        CreateAccountStatus.imported_event_timestamp_must_not_regress,
        CreateAccountStatus.imported_event_timestamp_must_not_regress,
        CreateAccountStatus.imported_event_timestamp_must_not_regress,
        CreateAccountStatus.created,
        CreateAccountStatus.imported_event_timestamp_must_not_regress,
        CreateAccountStatus.exists,
        CreateAccountStatus.code_must_not_be_zero,
      ]);
      expect(results[5]?.timestamp).toBe(timestamp + 1n);
      expect((await mustLookupAccount(h.client, first.id)).timestamp).toBe(timestamp + 1n);
    },
  );

  itWhere(
    engine.exclusive,
    sharedClusterReason,
    "refuses an imported transfer that regresses, collides with an account or predates one",
    async () => {
      const h = harness();
      const { timestamp, importAccount, importTransfer } = await anchor(h);
      const x = importAccount(timestamp + 5n);
      const y = importAccount(timestamp + 10n);
      await mustCreateAccounts(h.client, [x, y]);
      const accepted = importTransfer(x, y, timestamp + 11n);
      const results = await h.client.createTransfers([
        importTransfer(x, y, timestamp),
        importTransfer(x, y, timestamp + 5n),
        importTransfer(y, x, timestamp + 5n),
        importTransfer(y, x, timestamp + 7n),
        importTransfer(x, y, timestamp + 7n),
        importTransfer(x, y, timestamp + 10n),
        importTransfer(x, y, timestamp + 11n, {
          flags: TransferFlags.imported | TransferFlags.pending,
          timeout: 5,
        }),
        accepted,
        importTransfer(x, y, timestamp + 11n),
        importTransfer(x, y, timestamp + 12n, {
          flags: TransferFlags.imported | TransferFlags.pending,
        }),
      ]);
      expectTransferStatuses(results, [
        CreateTransferStatus.imported_event_timestamp_must_not_regress,
        CreateTransferStatus.imported_event_timestamp_must_not_regress,
        CreateTransferStatus.imported_event_timestamp_must_not_regress,
        CreateTransferStatus.imported_event_timestamp_must_postdate_debit_account,
        CreateTransferStatus.imported_event_timestamp_must_postdate_credit_account,
        CreateTransferStatus.imported_event_timestamp_must_not_regress,
        CreateTransferStatus.imported_event_timeout_must_be_zero,
        CreateTransferStatus.created,
        CreateTransferStatus.imported_event_timestamp_must_not_regress,
        CreateTransferStatus.created,
      ]);
      expect(results[7]?.timestamp).toBe(timestamp + 11n);
      await expectBalances(h.client, x.id, { debits_posted: 1n, debits_pending: 1n });
    },
  );

  itWhere(
    engine.kind === "embedded",
    "needs an empty engine, which a real cluster is not after its first test",
    "imports a history into an empty engine from timestamp 1",
    async () => {
      const fresh = openEmbedded();
      try {
        const ledger = freshLedger();
        const imported = (timestamp: bigint): Account =>
          newAccount(ledger, { flags: AccountFlags.imported, timestamp });
        const x = imported(1n);
        const y = imported(2n);
        await mustCreateAccounts(fresh.client, [x, y]);
        const moved = newTransfer({
          debit_account_id: x.id,
          credit_account_id: y.id,
          ledger,
          amount: 3n,
          flags: TransferFlags.imported,
          timestamp: 3n,
        });
        await mustCreateTransfer(fresh.client, moved);
        const results = await fresh.client.createAccounts([imported(3n), imported(4n)]);
        expectAccountStatuses(results, [
          CreateAccountStatus.imported_event_timestamp_must_not_regress,
          CreateAccountStatus.created,
        ]);
        expect((await fresh.client.lookupTransfers([moved.id])).map((t) => t.timestamp)).toEqual([
          3n,
        ]);
        // Live objects created afterwards take the engine's clock again.
        const [live] = await mustCreateAccounts(fresh.client, [newAccount(ledger)]);
        expect(live !== undefined && live > 4n).toBe(true);
        await expectBalances(fresh.client, y.id, { credits_posted: 3n });
      } finally {
        await fresh.close();
      }
    },
  );

  if (engine.kind === "embedded") {
    statusCoverageTest("imported");
  }
});
