/**
 * Durability of the embedded engine's journal: what was acknowledged survives a reopen, a torn
 * tail (a write cut short by a crash) is dropped and repaired, corruption anywhere before the
 * tail stops the engine with the offset instead of being skipped, one process at a time owns a
 * data file (a dead owner's lock is taken over by exactly one newcomer), concurrent batches
 * share fsyncs, timestamps keep increasing across a reopen, and pending-transfer expiry replays
 * to the same state. Time comes from a fake clock.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Account, AccountBalance, Transfer } from "tigerbeetle-node";
import {
  AccountFilterFlags,
  AccountFlags,
  amount_max,
  CreateAccountStatus,
  CreateTransferStatus,
  TransferFlags,
} from "tigerbeetle-node";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import type { EmbeddedClient } from "../../src/ledger/embedded/index.ts";
import { createEmbeddedClient } from "../../src/ledger/embedded/index.ts";

const nsPerSecond = 1_000_000_000n;
const clockStartNs = 1_700_000_000n * nsPerSecond;
const ledger = 7;
const projectRoot = fileURLToPath(new URL("../..", import.meta.url));
const engineUrl = new URL("../../src/ledger/embedded/index.ts", import.meta.url).href;
const crashChild = fileURLToPath(new URL("./crash-child.ts", import.meta.url));

interface FakeClock {
  now: () => bigint;
  advance: (ns: bigint) => void;
}

function createFakeClock(startNs = clockStartNs): FakeClock {
  let nowNs = startNs;
  return {
    now: () => nowNs,
    advance: (ns: bigint) => {
      nowNs += ns;
    },
  };
}

async function tempDataFile(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "ledger-durability-"));
  onTestFinished(async () => {
    await rm(directory, { recursive: true, force: true });
  });
  return join(directory, "ledger.journal");
}

/** Opens an engine and makes sure it is closed when the test ends, whatever happens. */
function open(dataFile: string | undefined, clock: FakeClock): EmbeddedClient {
  const client = createEmbeddedClient(
    dataFile === undefined ? { clock: clock.now } : { dataFile, clock: clock.now },
  );
  onTestFinished(async () => {
    await client.close();
  });
  return client;
}

function account(id: bigint, flags = AccountFlags.none): Account {
  return {
    id,
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
    flags,
    timestamp: 0n,
  };
}

function transfer(fields: Partial<Transfer> & { id: bigint }): Transfer {
  return {
    debit_account_id: 0n,
    credit_account_id: 0n,
    amount: 0n,
    pending_id: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    timeout: 0,
    ledger,
    code: 1,
    flags: TransferFlags.none,
    timestamp: 0n,
    ...fields,
  };
}

const accountIds = [1n, 2n, 3n, 4n];

async function createAccounts(client: EmbeddedClient): Promise<void> {
  const results = await client.createAccounts([
    account(1n),
    account(2n, AccountFlags.history),
    account(3n),
    account(4n, AccountFlags.history),
  ]);
  expect(results.map((r) => r.status)).toEqual(accountIds.map(() => CreateAccountStatus.created));
}

/** Batch `n`: a linked chain of `size` transfers with ids derived from `n`. */
function chainBatch(n: number, size = 12): Transfer[] {
  return Array.from({ length: size }, (_, i) =>
    transfer({
      id: BigInt(n) * 1_000n + BigInt(i) + 1n,
      debit_account_id: 1n,
      credit_account_id: 2n + BigInt((n + i) % 3),
      amount: BigInt(n + i + 1),
      user_data_128: BigInt(n) * 7n + 3n,
      user_data_64: BigInt(i),
      flags: i === size - 1 ? TransferFlags.none : TransferFlags.linked,
    }),
  );
}

async function submit(client: EmbeddedClient, batch: Transfer[]): Promise<void> {
  const results = await client.createTransfers(batch);
  expect(results.map((r) => r.status)).toEqual(batch.map(() => CreateTransferStatus.created));
}

function idsOf(batch: Transfer[]): bigint[] {
  return batch.map((t) => t.id);
}

function filterFor(accountId: bigint) {
  return {
    account_id: accountId,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: 8189,
    flags: AccountFilterFlags.debits | AccountFilterFlags.credits,
  };
}

interface Snapshot {
  accounts: Account[];
  transfers: Transfer[];
  balances: AccountBalance[][];
}

async function snapshot(client: EmbeddedClient, transferIds: bigint[]): Promise<Snapshot> {
  return {
    accounts: await client.lookupAccounts(accountIds),
    transfers: await client.lookupTransfers(transferIds),
    balances: [
      await client.getAccountBalances(filterFor(2n)),
      await client.getAccountBalances(filterFor(4n)),
    ],
  };
}

function sizeOf(path: string): number {
  return statSync(path).size;
}

/**
 * Writes the accounts and `count` chain batches, one awaited call each, and closes. Returns the
 * journal size after each acknowledged call: `ends[0]` after the accounts, `ends[k]` after batch
 * k - 1, so batch k's record spans `ends[k]..ends[k + 1]`.
 */
async function writeJournal(
  dataFile: string,
  count: number,
): Promise<{ batches: Transfer[][]; ends: number[]; before: Snapshot }> {
  const clock = createFakeClock();
  const client = open(dataFile, clock);
  await createAccounts(client);
  const ends = [sizeOf(dataFile)];
  const batches: Transfer[][] = [];
  for (let n = 0; n < count; n += 1) {
    const batch = chainBatch(n);
    await submit(client, batch);
    batches.push(batch);
    ends.push(sizeOf(dataFile));
  }
  const before = await snapshot(client, batches.flatMap(idsOf));
  await client.close();
  for (let k = 1; k < ends.length; k += 1) {
    expect(ends[k] ?? 0).toBeGreaterThan(ends[k - 1] ?? 0);
  }
  return { batches, ends, before };
}

function endAt(ends: number[], index: number): number {
  const end = ends[index];
  expect(end).toBeDefined();
  return end ?? 0;
}

describe("acknowledged batches", () => {
  it("survive close and reopen unchanged", async () => {
    const dataFile = await tempDataFile();
    const { batches, before } = await writeJournal(dataFile, 6);
    const clock = createFakeClock(clockStartNs + nsPerSecond);
    const reopened = open(dataFile, clock);
    const after = await snapshot(reopened, batches.flatMap(idsOf));
    expect(after).toEqual(before);
    expect(after.transfers).toHaveLength(6 * 12);
    const [source] = after.accounts;
    expect(source?.debits_posted).toBe(batches.flat().reduce((total, t) => total + t.amount, 0n));
  });
});

describe("timestamps across a reopen", () => {
  it("keep increasing when the clock reads earlier after a restart", async () => {
    const dataFile = await tempDataFile();
    const first = open(dataFile, createFakeClock(clockStartNs + 60n * nsPerSecond));
    await createAccounts(first);
    await submit(first, chainBatch(1));
    const before = await first.lookupTransfers(idsOf(chainBatch(1)));
    await first.close();

    const reopened = open(dataFile, createFakeClock(clockStartNs));
    const results = await reopened.createTransfers(chainBatch(2));
    const newest = before.map((t) => t.timestamp).sort((a, b) => (a < b ? -1 : 1))[
      before.length - 1
    ];
    expect(newest).toBeDefined();
    for (const result of results) {
      expect(result.status).toBe(CreateTransferStatus.created);
      expect(result.timestamp > (newest ?? 0n)).toBe(true);
    }
  });
});

describe("torn tail", () => {
  const cuts: { name: string; cut: (recordLength: number) => number }[] = [
    { name: "one byte", cut: () => 1 },
    { name: "a few bytes", cut: () => 5 },
    { name: "all but the first byte of the record", cut: (length) => length - 1 },
  ];

  it.each(cuts)("drops a last record cut short by $name and repairs the file", async ({ cut }) => {
    const dataFile = await tempDataFile();
    const count = 5;
    const { batches, ends, before } = await writeJournal(dataFile, count);
    const goodEnd = endAt(ends, count);
    const tornStart = endAt(ends, count - 1);
    truncateSync(dataFile, goodEnd - cut(goodEnd - tornStart));

    const clock = createFakeClock(clockStartNs + nsPerSecond);
    const reopened = open(dataFile, clock);
    // The file is cut back to the last complete record.
    expect(sizeOf(dataFile)).toBe(tornStart);
    const kept = batches.slice(0, count - 1);
    const torn = batches[count - 1] ?? [];
    expect(await reopened.lookupTransfers(kept.flatMap(idsOf))).toEqual(
      before.transfers.slice(0, (count - 1) * 12),
    );
    expect(await reopened.lookupTransfers(idsOf(torn))).toEqual([]);

    // Writing carries on after the repair, and the result reopens cleanly.
    const next = chainBatch(100);
    await submit(reopened, next);
    await submit(reopened, torn);
    await reopened.close();
    const again = open(dataFile, createFakeClock(clockStartNs + 2n * nsPerSecond));
    const all = [...kept, next, torn].flatMap(idsOf);
    expect((await again.lookupTransfers(all)).map((t) => t.id)).toEqual(all);
  });

  const tails: { name: string; bytes: Buffer }[] = [
    { name: "three garbage bytes", bytes: Buffer.from([0xde, 0xad, 0xbe]) },
    { name: "eight zero bytes", bytes: Buffer.alloc(8) },
    { name: "five 0xff bytes", bytes: Buffer.alloc(5, 0xff) },
    // Longer than a record header, but still not a record: what a crash mid-write can leave.
    { name: "48 garbage bytes", bytes: Buffer.from(Array.from({ length: 48 }, (_, i) => 37 + i)) },
    // A write whose first page never reached the disk while a later one did.
    {
      name: "a zero page followed by a partial page",
      bytes: Buffer.concat([Buffer.alloc(4096), Buffer.alloc(100, 0x11)]),
    },
  ];

  it.each(tails)(
    "treats $name appended after the last record as a torn tail",
    async ({ bytes }) => {
      const dataFile = await tempDataFile();
      const count = 4;
      const { batches, ends, before } = await writeJournal(dataFile, count);
      const goodEnd = endAt(ends, count);
      appendFileSync(dataFile, bytes);

      const reopened = open(dataFile, createFakeClock(clockStartNs + nsPerSecond));
      expect(sizeOf(dataFile)).toBe(goodEnd);
      expect(await reopened.lookupTransfers(batches.flatMap(idsOf))).toEqual(before.transfers);
      const next = chainBatch(100);
      await submit(reopened, next);
      await reopened.close();
      const again = open(dataFile, createFakeClock(clockStartNs + 2n * nsPerSecond));
      const all = [...batches, next].flatMap(idsOf);
      expect((await again.lookupTransfers(all)).map((t) => t.id)).toEqual(all);
    },
  );
});

/** Opening must fail naming the file and an offset inside the damaged record [start, end). */
function expectCorruptionInside(dataFile: string, start: number, end: number): void {
  let error: unknown;
  try {
    const client = createEmbeddedClient({ dataFile, clock: createFakeClock().now });
    void client.close();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(Error);
  const message = error instanceof Error ? error.message : "";
  expect(message).toContain(dataFile);
  const offset = /offset\D{0,16}(\d+)/i.exec(message);
  expect(offset, message).not.toBeNull();
  const reported = Number(offset?.[1]);
  expect(reported).toBeGreaterThanOrEqual(start);
  expect(reported).toBeLessThan(end);
}

describe("corruption before the tail", () => {
  it.each([
    { name: "the account record", record: 0 },
    { name: "an early transfer batch", record: 2 },
    { name: "the second-to-last record", record: 4 },
  ])("in $name stops the engine with the file and offset", async ({ record }) => {
    const dataFile = await tempDataFile();
    const count = 5;
    const { ends } = await writeJournal(dataFile, count);
    const start = record === 0 ? 0 : endAt(ends, record - 1);
    const end = endAt(ends, record);
    // Flip one byte in the middle of the record: payload, not framing.
    const position = start + Math.floor((end - start) / 2);
    const content = readFileSync(dataFile);
    content[position] = (content[position] ?? 0) ^ 0x5a;
    writeFileSync(dataFile, content);

    for (let attempt = 0; attempt < 2; attempt += 1) {
      expectCorruptionInside(dataFile, start, end);
      // Nothing was truncated or rewritten: the evidence stays for an operator.
      expect(readFileSync(dataFile).equals(content)).toBe(true);
    }
  });

  it("is still reported when the file also ends in a torn tail", async () => {
    const dataFile = await tempDataFile();
    const count = 4;
    const { ends } = await writeJournal(dataFile, count);
    const start = endAt(ends, 1);
    const end = endAt(ends, 2);
    const content = readFileSync(dataFile);
    const position = start + Math.floor((end - start) / 2);
    content[position] = (content[position] ?? 0) ^ 0x01;
    // The last record is cut short as well, as if the process had also crashed mid-write.
    const damaged = content.subarray(0, endAt(ends, count) - 7);
    writeFileSync(dataFile, damaged);

    expectCorruptionInside(dataFile, start, end);
    expect(readFileSync(dataFile).equals(damaged)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Locks. Child processes are tracked so that none outlives its test.

const children = new Set<ReturnType<typeof spawn>>();

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

function spawnNode(args: string[]): ReturnType<typeof spawn> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: projectRoot,
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  return child;
}

async function collect(child: ReturnType<typeof spawn>) {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const [code] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  return { code, stdout, stderr };
}

/** A throwaway script that tries to open the data file and reports what happened. */
function writeOpenerScript(dataFile: string): string {
  const script = join(dataFile, "..", "open-once.mjs");
  writeFileSync(
    script,
    [
      `import { createEmbeddedClient } from ${JSON.stringify(engineUrl)};`,
      "try {",
      "  const client = createEmbeddedClient({ dataFile: process.argv[2] });",
      "  const accounts = await client.lookupAccounts([1n, 2n, 3n, 4n]);",
      "  await client.close();",
      "  process.stdout.write(JSON.stringify({ opened: true, accounts: accounts.length }));",
      "} catch (error) {",
      "  process.stdout.write(JSON.stringify({ opened: false, message: String(error?.message) }));",
      "  process.exitCode = 3;",
      "}",
    ].join("\n"),
  );
  return script;
}

/**
 * A script that waits for `go` on stdin, tries to open the data file, reports `opened` or
 * `refused`, and holds the file until `close` arrives, so contenders overlap.
 */
function writeContenderScript(dataFile: string): string {
  const script = join(dataFile, "..", "contend.mjs");
  writeFileSync(
    script,
    [
      `import { createEmbeddedClient } from ${JSON.stringify(engineUrl)};`,
      'import { createInterface } from "node:readline";',
      "let client = null;",
      "const lines = createInterface({ input: process.stdin });",
      'process.stdout.write("ready\\n");',
      "for await (const line of lines) {",
      '  if (line === "go") {',
      "    try {",
      "      client = createEmbeddedClient({ dataFile: process.argv[2] });",
      '      process.stdout.write("opened\\n");',
      "    } catch (error) {",
      '      process.stdout.write("refused " + JSON.stringify(String(error?.message)) + "\\n");',
      "    }",
      '  } else if (line === "close") {',
      "    await client?.close();",
      "    break;",
      "  }",
      "}",
    ].join("\n"),
  );
  return script;
}

/** Hands out a child's stdout lines one at a time, in order. */
function lineReader(child: ReturnType<typeof spawn>): () => Promise<string> {
  const input = child.stdout;
  if (input === null) {
    throw new Error("child has no stdout");
  }
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input }).on("line", (line) => {
    const waiter = waiting.shift();
    if (waiter === undefined) {
      lines.push(line);
    } else {
      waiter(line);
    }
  });
  return () => {
    const line = lines.shift();
    return line === undefined
      ? new Promise((resolve) => waiting.push(resolve))
      : Promise.resolve(line);
  };
}

function expectLockError(error: unknown, dataFile: string): void {
  expect(error).toBeInstanceOf(Error);
  const message = error instanceof Error ? error.message : String(error);
  expect(message).toMatch(/lock/i);
  expect(message).toContain(dataFile);
}

function openError(dataFile: string): unknown {
  try {
    const client = createEmbeddedClient({ dataFile, clock: createFakeClock().now });
    void client.close();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("exclusive lock", () => {
  it("refuses a second open in the same process until the first is closed", async () => {
    const dataFile = await tempDataFile();
    const first = open(dataFile, createFakeClock());
    await createAccounts(first);
    expectLockError(openError(dataFile), dataFile);
    // The refused open must not disturb the owner.
    await submit(first, chainBatch(1));
    await first.close();

    const second = open(dataFile, createFakeClock(clockStartNs + nsPerSecond));
    expect(await second.lookupTransfers(idsOf(chainBatch(1)))).toHaveLength(12);
  });

  it("refuses another process while open, and lets it in after close", async () => {
    const dataFile = await tempDataFile();
    const owner = open(dataFile, createFakeClock());
    await createAccounts(owner);
    const script = writeOpenerScript(dataFile);

    const refused = await collect(spawnNode([script, dataFile]));
    expect(refused.code, refused.stderr).toBe(3);
    const report = JSON.parse(refused.stdout) as { opened: boolean; message?: string };
    expect(report.opened).toBe(false);
    expectLockError(new Error(report.message), dataFile);

    await owner.close();
    const admitted = await collect(spawnNode([script, dataFile]));
    expect(admitted.code, admitted.stderr).toBe(0);
    expect(JSON.parse(admitted.stdout)).toEqual({ opened: true, accounts: 4 });

    // And the child released it again.
    const reopened = open(dataFile, createFakeClock(clockStartNs + nsPerSecond));
    expect(await reopened.lookupAccounts(accountIds)).toHaveLength(4);
  });

  it("does not let a lock left by a killed process block reopening", async () => {
    const dataFile = await tempDataFile();
    const child = spawnNode([crashChild, dataFile, "7"]);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const acked: number[] = [];
    const lines = createInterface({ input: child.stdout ?? process.stdin });
    const exited = once(child, "exit");
    await new Promise<void>((resolve, reject) => {
      lines.on("line", (line) => {
        const match = /^ack (\d+)$/.exec(line);
        if (match !== null) {
          acked.push(Number(match[1]));
          resolve();
        }
      });
      child.on("exit", () => reject(new Error(`child exited before its first ack: ${stderr}`)));
    });

    // While the child lives, its lock holds.
    expectLockError(openError(dataFile), dataFile);

    child.kill("SIGKILL");
    await exited;
    const reopened = open(dataFile, createFakeClock());
    const [first] = acked;
    expect(first).toBeDefined();
    const found = await reopened.queryTransfers({
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      ledger: 0,
      code: 0,
      timestamp_min: 0n,
      timestamp_max: 0n,
      limit: 8189,
      flags: 0,
    });
    expect(found.length).toBeGreaterThan(0);
  });
});

describe("stale lock takeover", () => {
  // After a crash, several processes may start at once and all find the dead owner's lock.
  // Exactly one of them may take it over; two owners would interleave writes in one journal.
  const contenders = 5;
  const rounds = 3;

  it("admits exactly one of several processes starting at once", async () => {
    const dataFile = await tempDataFile();
    const setup = open(dataFile, createFakeClock());
    await createAccounts(setup);
    await setup.close();
    const script = writeContenderScript(dataFile);

    for (let round = 0; round < rounds; round += 1) {
      const dead = spawnNode(["--input-type=module", "-e", ""]);
      const [deadExit] = (await once(dead, "exit")) as [number | null];
      expect(deadExit).toBe(0);
      writeFileSync(`${dataFile}.lock`, `${dead.pid}\n`);

      const children = Array.from({ length: contenders }, () => spawnNode([script, dataFile]));
      const readers = children.map(lineReader);
      expect(await Promise.all(readers.map((next) => next()))).toEqual(children.map(() => "ready"));
      for (const child of children) {
        child.stdin?.write("go\n");
      }
      const outcomes = await Promise.all(readers.map((next) => next()));
      const exits = children.map((child) => once(child, "exit"));
      for (const child of children) {
        child.stdin?.end("close\n");
      }
      await Promise.all(exits);

      const opened = outcomes.filter((outcome) => outcome === "opened");
      expect(opened, `round ${round}: ${outcomes.join(" | ")}`).toHaveLength(1);
      for (const outcome of outcomes.filter((o) => o !== "opened")) {
        expectLockError(
          new Error(JSON.parse(outcome.slice("refused ".length)) as string),
          dataFile,
        );
      }
    }
  });
});

describe("group commit", () => {
  it("makes concurrent batches share fsyncs while journaling each of them", async () => {
    const dataFile = await tempDataFile();
    const client = open(dataFile, createFakeClock());
    await createAccounts(client);
    const batchCount = 50;
    const before = client.stats();
    const batches = Array.from({ length: batchCount }, (_, n) => chainBatch(n, 3));
    const pending = batches.map((batch) => client.createTransfers(batch));
    const results = await Promise.all(pending);
    const after = client.stats();
    for (const batchResults of results) {
      expect(batchResults.map((r) => r.status)).toEqual([
        CreateTransferStatus.created,
        CreateTransferStatus.created,
        CreateTransferStatus.created,
      ]);
    }
    expect(after.records - before.records).toBe(batchCount);
    expect(after.fsyncs - before.fsyncs).toBeGreaterThanOrEqual(1);
    expect(after.fsyncs - before.fsyncs).toBeLessThan(batchCount);

    await client.close();
    const reopened = open(dataFile, createFakeClock(clockStartNs + nsPerSecond));
    const ids = batches.flatMap(idsOf);
    expect((await reopened.lookupTransfers(ids)).map((t) => t.id)).toEqual(ids);
  });

  it("reports zero journal counters in memory", async () => {
    const client = open(undefined, createFakeClock());
    await createAccounts(client);
    await submit(client, chainBatch(1));
    expect(client.stats()).toMatchObject({ records: 0, fsyncs: 0 });
  });
});

describe("pending expiry replay", () => {
  // Pending transfers from account 1 to 2 (history), one closing account 4 with a 2 s timeout.
  const timeouts = [1, 2, 3, 5, 0];
  const pendings = timeouts.map((timeout, i) =>
    transfer({
      id: 500n + BigInt(i),
      debit_account_id: 1n,
      credit_account_id: 2n,
      amount: BigInt(10 * (i + 1)),
      timeout,
      flags: TransferFlags.pending,
    }),
  );
  const closing = transfer({
    id: 600n,
    debit_account_id: 3n,
    credit_account_id: 4n,
    amount: 1n,
    timeout: 2,
    flags: TransferFlags.pending | TransferFlags.closing_credit,
  });
  const transferIds = [...pendings, closing].map((t) => t.id);
  const posts = [...pendings, closing].map((t, i) =>
    transfer({
      id: 700n + BigInt(i),
      pending_id: t.id,
      amount: amount_max,
      ledger: 0,
      code: 0,
      flags: TransferFlags.post_pending_transfer,
    }),
  );

  /**
   * Runs the same calls on an engine. With a data file it closes and reopens (at the same clock)
   * between the deadlines passing and the posts; `expireBeforeClose` makes a call before closing,
   * so the expiry is journaled rather than first applied after the reopen.
   */
  async function scenario(
    dataFile: string | undefined,
    expireBeforeClose: boolean,
  ): Promise<{ beforePosts: Snapshot; statuses: number[]; afterPosts: Snapshot }> {
    const clock = createFakeClock();
    let client = open(dataFile, clock);
    await createAccounts(client);
    await submit(client, [...pendings, closing]);
    clock.advance((5n * nsPerSecond) / 2n);
    let beforeClose: Snapshot | undefined;
    if (expireBeforeClose) {
      // Any call at the new clock applies the expiry of the 1 s and 2 s reservations.
      beforeClose = await snapshot(client, transferIds);
    }
    if (dataFile !== undefined) {
      await client.close();
      client = open(dataFile, clock);
    }
    const beforePosts = await snapshot(client, transferIds);
    if (beforeClose !== undefined) {
      expect(beforePosts).toEqual(beforeClose);
    }
    const results = await client.createTransfers(posts);
    const afterPosts = await snapshot(client, transferIds);
    return { beforePosts, statuses: results.map((r) => r.status), afterPosts };
  }

  it.each([
    { name: "after expiry ran", expireBeforeClose: true },
    { name: "before expiry ran", expireBeforeClose: false },
  ])(
    "replays to the same pending and expired state when reopened $name",
    async ({ expireBeforeClose }) => {
      const dataFile = await tempDataFile();
      const journal = await scenario(dataFile, expireBeforeClose);
      const memory = await scenario(undefined, expireBeforeClose);

      const expired = CreateTransferStatus.pending_transfer_expired;
      const created = CreateTransferStatus.created;
      expect(journal.statuses).toEqual([expired, expired, created, created, created, expired]);
      expect(memory.statuses).toEqual(journal.statuses);

      const balancesOnly = (s: Snapshot) =>
        s.accounts.map(
          ({ id, debits_pending, debits_posted, credits_pending, credits_posted, flags }) => ({
            id,
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
            flags,
          }),
        );
      expect(balancesOnly(journal.beforePosts)).toEqual(balancesOnly(memory.beforePosts));
      expect(balancesOnly(journal.afterPosts)).toEqual(balancesOnly(memory.afterPosts));
      expect(journal.beforePosts.transfers).toEqual(memory.beforePosts.transfers);
      expect(journal.beforePosts.balances).toEqual(memory.beforePosts.balances);

      // Expired: 10 + 20 released; still reserved: 30 + 40 + 50. Account 4 re-opened by expiry.
      const [source, , , closedOne] = journal.beforePosts.accounts;
      expect(source?.debits_pending).toBe(120n);
      expect(source?.debits_posted).toBe(0n);
      expect(closedOne?.flags).toBe(AccountFlags.history);
      const [sourceAfter] = journal.afterPosts.accounts;
      expect(sourceAfter?.debits_pending).toBe(0n);
      expect(sourceAfter?.debits_posted).toBe(120n);
    },
  );
});
