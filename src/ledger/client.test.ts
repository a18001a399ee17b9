/**
 * Which engine `createLedgerClient` opens, and how it fails. Without an address the service must
 * come up on a local data file whose contents survive a restart; with an address that nothing
 * answers on, start-up must fail with a message naming that address instead of hanging.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { pino } from "pino";
import { AccountFlags, CreateAccountStatus, CreateTransferStatus } from "tigerbeetle-node";
import { describe, expect, it, onTestFinished } from "vitest";
import { createLedgerClient } from "./index.ts";

function capturingLogger(): { logger: Logger; records: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
  return {
    logger,
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), "ledger-client-"));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

const account = {
  debits_pending: 0n,
  debits_posted: 0n,
  credits_pending: 0n,
  credits_posted: 0n,
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  reserved: 0,
  ledger: 1,
  code: 1,
  timestamp: 0n,
};

describe("createLedgerClient", () => {
  it("opens the embedded engine on the data file when no address is set", async () => {
    const dataFile = join(temporaryDirectory(), "missing-parent", "ledger.tb");
    const { logger, records } = capturingLogger();
    const config = { clusterId: 0n, dataFile };

    const ledger = await createLedgerClient(config, logger);
    expect(records()).toContainEqual(expect.objectContaining({ engine: "embedded", dataFile }));
    const accounts = await ledger.createAccounts([
      { ...account, id: 1n, flags: AccountFlags.none },
      { ...account, id: 2n, flags: AccountFlags.debits_must_not_exceed_credits },
    ]);
    expect(accounts.map((result) => result.status)).toEqual([
      CreateAccountStatus.created,
      CreateAccountStatus.created,
    ]);
    const transfers = await ledger.createTransfers([
      {
        id: 10n,
        debit_account_id: 1n,
        credit_account_id: 2n,
        amount: 250n,
        pending_id: 0n,
        user_data_128: 0n,
        user_data_64: 0n,
        user_data_32: 0,
        timeout: 0,
        ledger: 1,
        code: 1,
        flags: 0,
        timestamp: 0n,
      },
    ]);
    expect(transfers.map((result) => result.status)).toEqual([CreateTransferStatus.created]);
    await ledger.close();
    expect(existsSync(dataFile)).toBe(true);

    const reopened = await createLedgerClient(config, logger);
    onTestFinished(() => reopened.close());
    const [transfer] = await reopened.lookupTransfers([10n]);
    expect(transfer?.amount).toBe(250n);
    expect(transfer?.timestamp).toBe(transfers[0]?.timestamp);
    const balances = await reopened.lookupAccounts([1n, 2n]);
    expect(balances.map((row) => [row.id, row.debits_posted, row.credits_posted])).toEqual([
      [1n, 250n, 0n],
      [2n, 0n, 250n],
    ]);
  });

  it("fails with the address in the message when TigerBeetle does not answer", async () => {
    const { logger, records } = capturingLogger();
    const config = { address: ["127.0.0.1:1"], clusterId: 0n, dataFile: "unused.tb" };

    await expect(createLedgerClient(config, logger, { connectTimeoutMs: 300 })).rejects.toThrow(
      /TigerBeetle at 127\.0\.0\.1:1 .*did not answer/,
    );
    expect(records()).not.toContainEqual(expect.objectContaining({ engine: "tigerbeetle" }));
  });

  it("fails with the address in the message when the client refuses it", async () => {
    const { logger } = capturingLogger();
    // Config parsing refuses host names already; this is the check behind it.
    const config = { address: ["ledger.invalid:3000"], clusterId: 0n, dataFile: "unused.tb" };

    await expect(createLedgerClient(config, logger)).rejects.toThrow(/ledger\.invalid:3000/);
  });
});
