/**
 * Crash safety: a writer process (`crash-child.ts`) submits linked chains with several in flight
 * and reports each acknowledged one; we SIGKILL it at a seeded random moment and reopen its
 * journal here. Every acknowledged chain must be there, nothing may appear that was never
 * submitted, every chain is entirely present or entirely absent, and the ledgers balance.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Transfer } from "tigerbeetle-node";
import { CreateTransferStatus } from "tigerbeetle-node";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { createEmbeddedClient } from "../../src/ledger/embedded/index.ts";
import {
  crashAccountId,
  crashAccountsPerLedger,
  crashBatchOf,
  crashChainLength,
  crashLedgerOf,
  crashLedgers,
  crashTransferId,
} from "./crash-child.ts";

const projectRoot = fileURLToPath(new URL("../..", import.meta.url));
const crashChild = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
const seeds = [1, 2, 3, 4, 5];
const acksMin = 5;
const acksMax = 200;
const queryLimitMax = 8189;
const pagesMax = 100;

/** A small seeded generator (mulberry32), so each seed replays the same kill point. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const children = new Set<ChildProcess>();

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    }
  }
  children.clear();
});

interface ChildLog {
  submitted: Set<number>;
  acked: Set<number>;
  failures: string[];
  stderr: string;
}

/**
 * Runs the writer until it has acknowledged `acksTarget` batches, lets it run on for a seeded
 * number of event-loop turns, SIGKILLs it and returns everything it printed before dying.
 */
async function runAndKill(dataFile: string, seed: number, acksTarget: number, turns: number) {
  const child = spawn(process.execPath, ["--import", "tsx", crashChild, dataFile, String(seed)], {
    cwd: projectRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const log: ChildLog = { submitted: new Set(), acked: new Set(), failures: [], stderr: "" };
  child.stderr?.on("data", (chunk: Buffer) => {
    log.stderr += chunk.toString("utf8");
  });
  const stdout = child.stdout;
  expect(stdout).not.toBeNull();
  if (stdout === null) {
    throw new Error("child has no stdout");
  }
  const lines = createInterface({ input: stdout });
  const closed = once(lines, "close");
  const exited = once(child, "exit");

  await new Promise<void>((resolve, reject) => {
    lines.on("line", (text) => {
      const [kind, value] = text.split(" ");
      if (kind === "submit") {
        log.submitted.add(Number(value));
      } else if (kind === "ack") {
        log.acked.add(Number(value));
        if (log.acked.size >= acksTarget) {
          resolve();
        }
      } else if (kind === "fail") {
        log.failures.push(text);
        reject(new Error(`writer failed: ${text}`));
      }
    });
    child.once("exit", (code, signal) => {
      reject(new Error(`writer exited early (${code ?? signal}): ${log.stderr}`));
    });
  });

  for (let turn = 0; turn < turns; turn += 1) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  child.kill("SIGKILL");
  const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  await closed; // every line written before the kill has been read
  expect(signal).toBe("SIGKILL");
  return log;
}

async function allTransfers(client: ReturnType<typeof createEmbeddedClient>): Promise<Transfer[]> {
  const all: Transfer[] = [];
  let timestampMin = 0n;
  for (let page = 0; page < pagesMax; page += 1) {
    const batch = await client.queryTransfers({
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      ledger: 0,
      code: 0,
      timestamp_min: timestampMin,
      timestamp_max: 0n,
      limit: queryLimitMax,
      flags: 0,
    });
    all.push(...batch);
    const last = batch[batch.length - 1];
    if (batch.length < queryLimitMax || last === undefined) {
      return all;
    }
    timestampMin = last.timestamp + 1n;
  }
  throw new Error("more transfers than the crash test can ever write");
}

describe("crash recovery", () => {
  it.each(seeds)("keeps every acknowledged chain after SIGKILL (seed %i)", async (seed) => {
    const directory = await mkdtemp(join(tmpdir(), "ledger-crash-"));
    onTestFinished(async () => {
      await rm(directory, { recursive: true, force: true });
    });
    const dataFile = join(directory, "ledger.journal");
    const next = random(seed);
    const acksTarget = acksMin + Math.floor(next() * (acksMax - acksMin + 1));
    const turns = Math.floor(next() * 20);

    const log = await runAndKill(dataFile, seed, acksTarget, turns);
    expect(log.failures).toEqual([]);
    expect(log.acked.size).toBeGreaterThanOrEqual(acksTarget);

    const client = createEmbeddedClient({ dataFile });
    onTestFinished(async () => {
      await client.close();
    });

    // Every present transfer belongs to a submitted batch, and each batch is all or nothing.
    const present = await allTransfers(client);
    const presentByBatch = new Map<number, Transfer[]>();
    for (const transfer of present) {
      const { batch, index } = crashBatchOf(transfer.id);
      expect(log.submitted.has(batch), `transfer ${transfer.id} of unsubmitted batch`).toBe(true);
      expect(index).toBeLessThan(crashChainLength(batch));
      expect(transfer.ledger).toBe(crashLedgerOf(batch));
      expect(transfer.user_data_128).toBe(BigInt(batch));
      const list = presentByBatch.get(batch) ?? [];
      list.push(transfer);
      presentByBatch.set(batch, list);
    }
    for (const [batch, transfers] of presentByBatch) {
      expect(transfers, `batch ${batch} is torn`).toHaveLength(crashChainLength(batch));
    }

    // Every acknowledged batch is fully there, by id.
    for (const batch of log.acked) {
      const ids = Array.from({ length: crashChainLength(batch) }, (_, i) =>
        crashTransferId(batch, i),
      );
      const found = await client.lookupTransfers(ids);
      expect(
        found.map((t) => t.id),
        `acknowledged batch ${batch}`,
      ).toEqual(ids);
    }

    // Ledgers balance, and each account's balance is what its surviving transfers say.
    for (const ledger of crashLedgers) {
      const ids = Array.from({ length: crashAccountsPerLedger }, (_, i) =>
        crashAccountId(ledger, i),
      );
      const accounts = await client.lookupAccounts(ids);
      expect(accounts).toHaveLength(crashAccountsPerLedger);
      let debits = 0n;
      let credits = 0n;
      for (const account of accounts) {
        debits += account.debits_posted;
        credits += account.credits_posted;
        expect(account.debits_pending).toBe(0n);
        expect(account.credits_pending).toBe(0n);
        const mine = present.filter((t) => t.ledger === ledger);
        expect(account.debits_posted).toBe(
          mine
            .filter((t) => t.debit_account_id === account.id)
            .reduce((sum, t) => sum + t.amount, 0n),
        );
        expect(account.credits_posted).toBe(
          mine
            .filter((t) => t.credit_account_id === account.id)
            .reduce((sum, t) => sum + t.amount, 0n),
        );
      }
      expect(debits).toBe(credits);
    }

    // The recovered journal takes new writes and reopens again.
    const nextBatch = Math.max(...log.submitted) + 1;
    const results = await client.createTransfers([
      {
        id: crashTransferId(nextBatch, 0),
        debit_account_id: crashAccountId(1, 0),
        credit_account_id: crashAccountId(1, 1),
        amount: 1n,
        pending_id: 0n,
        user_data_128: BigInt(nextBatch),
        user_data_64: 0n,
        user_data_32: 0,
        timeout: 0,
        ledger: 1,
        code: 1,
        flags: 0,
        timestamp: 0n,
      },
    ]);
    expect(results.map((r) => r.status)).toEqual([CreateTransferStatus.created]);
    await client.close();
    const again = createEmbeddedClient({ dataFile });
    onTestFinished(async () => {
      await again.close();
    });
    expect(await again.lookupTransfers([crashTransferId(nextBatch, 0)])).toHaveLength(1);
  });
});
