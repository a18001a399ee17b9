/**
 * Writer process for the crash test: `node --import tsx test/ledger/crash-child.ts <dataFile> <seed>`.
 *
 * Opens the engine on the data file, creates the accounts, then submits linked chains forever
 * (several in flight at once) until it is killed. Protocol on stdout, one line each, written
 * synchronously so that a line is in the pipe before the next step happens:
 *   `ready`        accounts exist
 *   `submit <n>`   batch n is about to be handed to the engine
 *   `ack <n>`      batch n's promise resolved with every event `created`
 *   `fail <n> …`   anything else (the parent treats it as a failure)
 *
 * Batch n is a chain of `crashChainLength(n)` transfers on ledger `crashLedgerOf(n)` with ids
 * `crashTransferId(n, i)`; the parent uses the same functions to check what survived.
 */
import { writeSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Account, Transfer } from "tigerbeetle-node";
import { CreateAccountStatus, CreateTransferStatus, TransferFlags } from "tigerbeetle-node";
import { createEmbeddedClient } from "../../src/ledger/embedded/index.ts";

export const crashLedgers = [1, 2] as const;
export const crashAccountsPerLedger = 3;
export const crashChainLengthMax = 4;
const idsPerBatch = 8n;
const batchesMax = 100_000;

export function crashAccountId(ledger: number, index: number): bigint {
  return BigInt(ledger * 100 + index + 1);
}

export function crashLedgerOf(batch: number): number {
  return batch % 2 === 0 ? 1 : 2;
}

export function crashChainLength(batch: number): number {
  return 2 + (batch % (crashChainLengthMax - 1));
}

export function crashTransferId(batch: number, index: number): bigint {
  return BigInt(batch) * idsPerBatch + BigInt(index) + 1n;
}

/** Inverse of `crashTransferId`. */
export function crashBatchOf(id: bigint): { batch: number; index: number } {
  return { batch: Number((id - 1n) / idsPerBatch), index: Number((id - 1n) % idsPerBatch) };
}

function line(text: string): void {
  writeSync(1, `${text}\n`);
}

function batchTransfers(batch: number, seed: number): Transfer[] {
  const ledger = crashLedgerOf(batch);
  const length = crashChainLength(batch);
  return Array.from({ length }, (_, i) => {
    const debit = (batch + i + seed) % crashAccountsPerLedger;
    const credit =
      (debit + 1 + ((batch * 7 + seed) % (crashAccountsPerLedger - 1))) % crashAccountsPerLedger;
    return {
      id: crashTransferId(batch, i),
      debit_account_id: crashAccountId(ledger, debit),
      credit_account_id: crashAccountId(ledger, credit),
      amount: BigInt(1 + ((batch * 31 + i * 17 + seed) % 100)),
      pending_id: 0n,
      user_data_128: BigInt(batch),
      user_data_64: BigInt(seed),
      user_data_32: i,
      timeout: 0,
      ledger,
      code: 1,
      flags: i === length - 1 ? TransferFlags.none : TransferFlags.linked,
      timestamp: 0n,
    };
  });
}

async function main(): Promise<void> {
  const [dataFile, seedText] = process.argv.slice(2);
  if (dataFile === undefined || seedText === undefined) {
    throw new Error("usage: crash-child.ts <dataFile> <seed>");
  }
  const seed = Number.parseInt(seedText, 10);
  const inFlightMax = 1 + (seed % 4);
  const client = createEmbeddedClient({ dataFile });

  const accounts: Account[] = crashLedgers.flatMap((ledger) =>
    Array.from({ length: crashAccountsPerLedger }, (_, index) => ({
      id: crashAccountId(ledger, index),
      debits_pending: 0n,
      debits_posted: 0n,
      credits_pending: 0n,
      credits_posted: 0n,
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      reserved: 0,
      ledger,
      code: 1,
      flags: 0,
      timestamp: 0n,
    })),
  );
  const accountResults = await client.createAccounts(accounts);
  for (const result of accountResults) {
    if (result.status !== CreateAccountStatus.created) {
      line(`fail accounts ${result.status}`);
      process.exit(2);
    }
  }
  line("ready");

  const inFlight = new Set<Promise<void>>();
  for (let batch = 0; batch < batchesMax; batch += 1) {
    const transfers = batchTransfers(batch, seed);
    line(`submit ${batch}`);
    const done = client.createTransfers(transfers).then(
      (results) => {
        const allCreated =
          results.length === transfers.length &&
          results.every((result) => result.status === CreateTransferStatus.created);
        if (!allCreated) {
          line(`fail ${batch} ${results.map((result) => result.status).join(",")}`);
          process.exit(2);
        }
        line(`ack ${batch}`);
      },
      (error: unknown) => {
        line(`fail ${batch} ${String(error)}`);
        process.exit(2);
      },
    );
    const tracked = done.finally(() => {
      inFlight.delete(tracked);
    });
    inFlight.add(tracked);
    if (inFlight.size >= inFlightMax) {
      await Promise.race(inFlight);
    }
  }
  await Promise.all(inFlight);
  await client.close();
}

// Only run when executed directly, so the parent can import the id scheme.
const entry = process.argv[1];
if (entry !== undefined && resolve(entry) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    line(`fail main ${String(error)}`);
    process.exit(2);
  });
}
