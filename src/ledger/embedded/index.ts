/**
 * The embedded ledger engine: an in-process implementation of tigerbeetle-node's `Client` with
 * TigerBeetle 0.17.9's semantics, in memory or durable on a single data file. It plays the role
 * SQLite plays next to Postgres: the rest of the service cannot tell it from a real cluster.
 *
 * @example
 *   const client = createEmbeddedClient({ dataFile: "./data/ledger.tb" });
 *   const results = await client.createTransfers([transfer]);
 *   await client.close();
 */
import assert from "node:assert/strict";
import {
  type Account,
  type AccountBalance,
  type Client,
  type CreateAccountResult,
  type CreateTransferResult,
  ErrorCodes,
  RequestError,
  type Transfer,
} from "tigerbeetle-node";
import {
  decodeAccount,
  decodeTransfer,
  encodeAccount,
  encodeTransfer,
  eventSize,
  eventViews,
} from "./codec.ts";
import {
  allocateRecord,
  Journal,
  type JournalRecord,
  type JournalStats,
  RecordKind,
  recordHeaderSize,
} from "./journal.ts";
import { StateMachine } from "./state-machine.ts";
import {
  normalizeAccountFilter,
  normalizeAccounts,
  normalizeIds,
  normalizeQueryFilter,
  normalizeTransfers,
} from "./validate.ts";

export interface EmbeddedClientOptions {
  /** Journal path; without it the engine keeps everything in memory. */
  dataFile?: string;
  /** Wall-clock nanoseconds since the Unix epoch; drives timestamps and pending expiry. */
  clock?: () => bigint;
}

export interface EmbeddedClient extends Client {
  /** Flushes and fsyncs everything, closes the data file and releases its lock. Idempotent. */
  close(): Promise<void>;
  /** Journal counters (all 0 in memory). */
  stats(): JournalStats;
}

/** Nanosecond wall clock: the epoch read once, advanced by the monotonic high-resolution timer. */
function realClock(): () => bigint {
  const origin = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  return () => origin + process.hrtime.bigint();
}

export function createEmbeddedClient(options: EmbeddedClientOptions = {}): EmbeddedClient {
  const clock = options.clock ?? realClock();
  const machine = new StateMachine();
  const journal =
    options.dataFile === undefined
      ? null
      : Journal.open(options.dataFile, (record) => replay(machine, record));
  let closed = false;
  let closing: Promise<void> | null = null;

  /** Like tigerbeetle-node, a closed client refuses a request before looking at it. */
  function checkOpen(): void {
    if (closed) {
      throw new RequestError(ErrorCodes.ERR_CLIENT_CLOSED);
    }
    const failure = journal?.failed;
    if (failure) {
      throw failure;
    }
  }

  /** Reads the clock and runs any due expiry, as TigerBeetle's pulse would. */
  function begin(): bigint {
    const now = clock();
    assert.ok(typeof now === "bigint" && now > 0n, "clock must return positive bigint nanoseconds");
    if (machine.expiryDue(now)) {
      const start = machine.requestTimestamp(now);
      const expired = machine.expire(now, start);
      assert.ok(expired > 0, "a due expiry expires at least one transfer");
      journal?.append(allocateRecord(RecordKind.pulse, start, now, 0));
    }
    return now;
  }

  /** Reads answer only once everything they may have seen is durable. */
  async function settle<T>(result: T): Promise<T> {
    if (journal !== null) {
      await journal.durable(journal.lastSequence);
    }
    return result;
  }

  async function createAccounts(batch: Account[]): Promise<CreateAccountResult[]> {
    checkOpen();
    const events = normalizeAccounts(batch);
    const now = begin();
    const start = machine.requestTimestamp(now);
    const results = machine.createAccounts(events, start);
    if (journal !== null && events.length > 0) {
      const record = allocateRecord(RecordKind.createAccounts, start, 0n, events.length);
      const views = eventViews(record);
      for (let i = 0; i < events.length; i++) {
        encodeAccount(views, recordHeaderSize + i * eventSize, events[i] as Account);
      }
      await journal.durable(journal.append(record));
    }
    return results;
  }

  async function createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]> {
    checkOpen();
    const events = normalizeTransfers(batch);
    const now = begin();
    const start = machine.requestTimestamp(now);
    const results = machine.createTransfers(events, start);
    if (journal !== null && events.length > 0) {
      const record = allocateRecord(RecordKind.createTransfers, start, 0n, events.length);
      const views = eventViews(record);
      for (let i = 0; i < events.length; i++) {
        encodeTransfer(views, recordHeaderSize + i * eventSize, events[i] as Transfer);
      }
      await journal.durable(journal.append(record));
    }
    return results;
  }

  function close(): Promise<void> {
    closed = true;
    if (closing === null) {
      closing = journal === null ? Promise.resolve() : journal.close();
    }
    return closing;
  }

  return {
    createAccounts,
    createTransfers,
    async lookupAccounts(batch: bigint[]): Promise<Account[]> {
      checkOpen();
      const ids = normalizeIds(batch);
      machine.advance(begin());
      return settle(machine.lookupAccounts(ids));
    },
    async lookupTransfers(batch: bigint[]): Promise<Transfer[]> {
      checkOpen();
      const ids = normalizeIds(batch);
      machine.advance(begin());
      return settle(machine.lookupTransfers(ids));
    },
    async getAccountTransfers(filter): Promise<Transfer[]> {
      checkOpen();
      const normalized = normalizeAccountFilter(filter);
      machine.advance(begin());
      return settle(machine.getAccountTransfers(normalized));
    },
    async getAccountBalances(filter): Promise<AccountBalance[]> {
      checkOpen();
      const normalized = normalizeAccountFilter(filter);
      machine.advance(begin());
      return settle(machine.getAccountBalances(normalized));
    },
    async queryAccounts(filter): Promise<Account[]> {
      checkOpen();
      const normalized = normalizeQueryFilter(filter);
      machine.advance(begin());
      return settle(machine.queryAccounts(normalized));
    },
    async queryTransfers(filter): Promise<Transfer[]> {
      checkOpen();
      const normalized = normalizeQueryFilter(filter);
      machine.advance(begin());
      return settle(machine.queryTransfers(normalized));
    },
    close,
    destroy(): void {
      // Like tigerbeetle-node: idempotent, and every later call fails with ERR_CLIENT_CLOSED.
      close().catch(() => {});
    },
    stats(): JournalStats {
      return journal === null ? { records: 0, fsyncs: 0, truncatedBytes: 0 } : journal.stats();
    },
  };
}

/** Re-applies one journal record with the timestamps it had the first time. */
function replay(machine: StateMachine, record: JournalRecord): void {
  assert.ok(record.start > machine.lastTimestamp, "journal timestamps must increase");
  switch (record.kind) {
    case RecordKind.createAccounts: {
      const events: Account[] = [];
      const views = eventViews(record.body);
      for (let i = 0; i < record.count; i++) {
        events.push(decodeAccount(views, record.offset + i * eventSize));
      }
      machine.createAccounts(events, record.start);
      return;
    }
    case RecordKind.createTransfers: {
      const events: Transfer[] = [];
      const views = eventViews(record.body);
      for (let i = 0; i < record.count; i++) {
        events.push(decodeTransfer(views, record.offset + i * eventSize));
      }
      machine.createTransfers(events, record.start);
      return;
    }
    case RecordKind.pulse: {
      assert.equal(record.count, 0, "a pulse record has no events");
      const expired = machine.expire(record.now, record.start);
      assert.ok(expired > 0, "a replayed pulse expires what it expired the first time");
      return;
    }
  }
}
