/**
 * The embedded engine's data file: an append-only journal of the requests that changed state,
 * replayed through the state machine on open.
 *
 * Layout: a 16-byte file header (magic, version), then records:
 *
 *   offset size
 *        0    4  header checksum: CRC-32 of bytes 4..32
 *        4    4  body checksum: CRC-32 of the body
 *        8    4  record size in bytes, header included
 *       12    1  kind: 1 create_accounts, 2 create_transfers, 3 expiry pulse
 *       13    3  zero
 *       16    8  first timestamp the request consumed
 *       24    8  pulse: the wall-clock time that triggered it; otherwise 0
 *       32  n*128  the events, in TigerBeetle's binary layout
 *
 * Durability: a request's promise resolves only after its record is written and fdatasync'd.
 * Records appended while a write+fdatasync is in flight wait and go out together in the next
 * one (group commit), so concurrent requests share an fsync.
 *
 * Recovery: a crash can only tear the last write. A record is a torn tail, and is truncated, when
 * its header is incomplete, when its header is valid but the record runs past the end of the
 * file, when its body checksum fails and it is the last record, or when everything from it to
 * the end of the file is zero bytes. Any other checksum failure is corruption of acknowledged
 * data: opening fails with the file name and offset, and nothing is skipped.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { crc32 } from "node:zlib";
import { eventSize } from "./codec.ts";
import { batchEventsMax } from "./validate.ts";

const magic = Buffer.from("LLEDGER\0", "latin1");
const version = 1;
const fileHeaderSize = 16;
export const recordHeaderSize = 32;
const recordSizeMax = recordHeaderSize + batchEventsMax * eventSize;
const readBlockSize = 8 * 1024 * 1024;

export const RecordKind = {
  createAccounts: 1,
  createTransfers: 2,
  pulse: 3,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export interface JournalRecord {
  kind: RecordKind;
  start: bigint;
  now: bigint;
  count: number;
  /** The events: `count` × 128 bytes starting at `offset`. */
  body: Buffer;
  offset: number;
}

export interface JournalStats {
  records: number;
  fsyncs: number;
  /** Bytes of a torn tail dropped when the file was opened. */
  truncatedBytes: number;
}

/** Allocates a record with its header filled in; the caller encodes the events after it. */
export function allocateRecord(
  kind: RecordKind,
  start: bigint,
  now: bigint,
  count: number,
): Buffer {
  assert.ok(count >= 0 && count <= batchEventsMax, "record event count out of range");
  const size = recordHeaderSize + count * eventSize;
  const record = Buffer.allocUnsafe(size);
  record.fill(0, 0, recordHeaderSize);
  record.writeUInt32LE(size, 8);
  record.writeUInt8(kind, 12);
  record.writeBigUInt64LE(start, 16);
  record.writeBigUInt64LE(now, 24);
  return record;
}

function seal(record: Buffer): void {
  record.writeUInt32LE(crc32(record.subarray(recordHeaderSize)), 4);
  record.writeUInt32LE(crc32(record.subarray(4, recordHeaderSize)), 0);
}

class JournalCorruptError extends Error {
  constructor(file: string, offset: number, reason: string) {
    super(`ledger data file ${file} is corrupt at offset ${offset}: ${reason}`);
    this.name = "JournalCorruptError";
  }
}

interface Waiter {
  sequence: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Journal {
  private pending: Buffer[] = [];
  private appended = 0;
  private durableSequence = 0;
  private waiters: Waiter[] = [];
  private flushing = false;
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  private counters: JournalStats = { records: 0, fsyncs: 0, truncatedBytes: 0 };

  private constructor(
    private readonly file: string,
    private readonly fd: number,
    private readonly lockFile: string,
    private position: number,
  ) {}

  /**
   * Locks the file, replays every record through `apply`, drops a torn tail and returns the
   * journal ready for appends. Throws on corruption or when another live process holds the lock.
   */
  static open(file: string, apply: (record: JournalRecord) => void): Journal {
    const lockFile = `${file}.lock`;
    acquireLock(file, lockFile);
    let fd = -1;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      const size = fs.fstatSync(fd).size;
      if (size < fileHeaderSize) {
        // New file, or a crash while creating it (nothing was ever acknowledged from it).
        const header = Buffer.alloc(fileHeaderSize);
        magic.copy(header, 0);
        header.writeUInt32LE(version, 8);
        fs.ftruncateSync(fd, 0);
        fs.writeSync(fd, header, 0, header.length, 0);
        fs.fsyncSync(fd);
        fsyncDirectory(path.dirname(file));
        return new Journal(file, fd, lockFile, fileHeaderSize);
      }
      const header = Buffer.alloc(fileHeaderSize);
      fs.readSync(fd, header, 0, fileHeaderSize, 0);
      if (!header.subarray(0, magic.length).equals(magic)) {
        throw new Error(`${file} is not a ledger data file (bad magic number)`);
      }
      if (header.readUInt32LE(8) !== version) {
        throw new Error(
          `${file} has journal version ${header.readUInt32LE(8)}, expected ${version}`,
        );
      }
      const journal = new Journal(file, fd, lockFile, fileHeaderSize);
      const end = journal.replay(size, apply);
      if (end < size) {
        fs.ftruncateSync(fd, end);
        fs.fsyncSync(fd);
        journal.counters.truncatedBytes = size - end;
      }
      journal.position = end;
      return journal;
    } catch (error) {
      if (fd >= 0) {
        fs.closeSync(fd);
      }
      releaseLock(lockFile);
      throw error;
    }
  }

  /** Reads records from the file header on; returns the offset where valid records end. */
  private replay(size: number, apply: (record: JournalRecord) => void): number {
    let offset = fileHeaderSize;
    let block = Buffer.allocUnsafe(readBlockSize);
    let blockStart = 0;
    let blockLength = 0;
    // Returns a view of [at, at + length) of the file, reading a new block when needed.
    const view = (at: number, length: number): Buffer => {
      if (at < blockStart || at + length > blockStart + blockLength) {
        if (block.length < length) {
          block = Buffer.allocUnsafe(length);
        }
        blockStart = at;
        blockLength = fs.readSync(this.fd, block, 0, Math.min(block.length, size - at), at);
        assert.ok(blockLength >= length, "short read from the data file");
      }
      return block.subarray(at - blockStart, at - blockStart + length);
    };
    while (offset < size) {
      if (size - offset < recordHeaderSize) {
        return offset; // torn: incomplete header
      }
      const header = view(offset, recordHeaderSize);
      const headerValid = header.readUInt32LE(0) === crc32(header.subarray(4, recordHeaderSize));
      if (!headerValid) {
        if (this.zeroFrom(offset, size)) {
          return offset; // torn: the file was extended but the data never reached the disk
        }
        throw new JournalCorruptError(this.file, offset, "record header checksum mismatch");
      }
      const recordSize = header.readUInt32LE(8);
      const kind = header.readUInt8(12);
      if (
        recordSize < recordHeaderSize ||
        recordSize > recordSizeMax ||
        (recordSize - recordHeaderSize) % eventSize !== 0 ||
        (kind !== RecordKind.createAccounts &&
          kind !== RecordKind.createTransfers &&
          kind !== RecordKind.pulse)
      ) {
        throw new JournalCorruptError(this.file, offset, "invalid record header");
      }
      if (offset + recordSize > size) {
        return offset; // torn: the record runs past the end of the file
      }
      const record = view(offset, recordSize);
      const body = record.subarray(recordHeaderSize);
      if (record.readUInt32LE(4) !== crc32(body)) {
        if (offset + recordSize === size) {
          return offset; // torn: the last record's body did not fully reach the disk
        }
        throw new JournalCorruptError(this.file, offset, "record body checksum mismatch");
      }
      apply({
        kind: kind as RecordKind,
        start: record.readBigUInt64LE(16),
        now: record.readBigUInt64LE(24),
        count: (recordSize - recordHeaderSize) / eventSize,
        body: record,
        offset: recordHeaderSize,
      });
      this.counters.records += 1;
      offset += recordSize;
    }
    return offset;
  }

  private zeroFrom(offset: number, size: number): boolean {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    for (let at = offset; at < size; ) {
      const read = fs.readSync(this.fd, chunk, 0, Math.min(chunk.length, size - at), at);
      assert.ok(read > 0, "short read from the data file");
      for (let i = 0; i < read; i++) {
        if (chunk[i] !== 0) {
          return false;
        }
      }
      at += read;
    }
    return true;
  }

  /** Queues a record (built with `allocateRecord`) and returns its sequence number. */
  append(record: Buffer): number {
    assert.ok(this.closing === null, "append after close");
    if (this.failure !== null) {
      throw this.failure;
    }
    seal(record);
    this.pending.push(record);
    this.appended += 1;
    this.counters.records += 1;
    if (!this.flushing) {
      this.flushing = true;
      // Let every request issued in this turn of the event loop join the same write.
      setImmediate(() => this.flush());
    }
    return this.appended;
  }

  get lastSequence(): number {
    return this.appended;
  }

  /** Resolves once record `sequence` and every record before it are on disk. */
  durable(sequence: number): Promise<void> {
    if (this.failure !== null) {
      return Promise.reject(this.failure);
    }
    if (sequence <= this.durableSequence) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ sequence, resolve, reject });
    });
  }

  private flush(): void {
    const buffers = this.pending;
    this.pending = [];
    const sequence = this.appended;
    let bytes = 0;
    for (const buffer of buffers) {
      bytes += buffer.length;
    }
    const position = this.position;
    this.position += bytes;
    fs.writev(this.fd, buffers, position, (error, written) => {
      if (error === null && written !== bytes) {
        error = new Error(`short write to ${this.file}: ${written} of ${bytes} bytes`);
      }
      if (error !== null) {
        this.fail(error);
        return;
      }
      fs.fdatasync(this.fd, (syncError) => {
        if (syncError !== null) {
          this.fail(syncError);
          return;
        }
        this.counters.fsyncs += 1;
        this.durableSequence = sequence;
        const waiters = this.waiters;
        this.waiters = [];
        for (const waiter of waiters) {
          if (waiter.sequence <= sequence) {
            waiter.resolve();
          } else {
            this.waiters.push(waiter);
          }
        }
        if (this.pending.length > 0) {
          this.flush();
        } else {
          this.flushing = false;
          this.onIdle?.();
        }
      });
    });
  }

  private onIdle: (() => void) | null = null;

  /**
   * After a failed write or fsync the file's contents are unknown, so the journal refuses all
   * further work: the process must restart and recover from what is on disk.
   */
  private fail(error: Error): void {
    this.failure = new Error(`ledger data file ${this.file}: ${error.message}`, { cause: error });
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      waiter.reject(this.failure);
    }
    this.flushing = false;
    this.onIdle?.();
  }

  get failed(): Error | null {
    return this.failure;
  }

  stats(): JournalStats {
    return { ...this.counters };
  }

  /** Waits for every queued record to reach the disk, then closes the file and its lock. */
  close(): Promise<void> {
    if (this.closing === null) {
      this.closing = new Promise<void>((resolve) => {
        const finish = () => {
          fs.closeSync(this.fd);
          releaseLock(this.lockFile);
          resolve();
        };
        if (this.flushing) {
          this.onIdle = finish;
        } else {
          finish();
        }
      });
    }
    return this.closing;
  }
}

function fsyncDirectory(directory: string): void {
  const fd = fs.openSync(directory, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One process at a time: the lock file holds the owner's pid. A lock whose owner is gone (a
 * crash) is taken over; a live owner, this process included, makes the open fail.
 */
function acquireLock(file: string, lockFile: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lockFile, "wx", 0o644);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw error;
      }
    }
    let owner = Number.NaN;
    try {
      owner = Number.parseInt(fs.readFileSync(lockFile, "utf8").trim(), 10);
    } catch {
      continue; // removed in between: try again
    }
    if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
      throw new Error(
        `ledger data file ${file} is locked by process ${owner} (lock file ${lockFile}); ` +
          "only one process may open it at a time",
      );
    }
    fs.rmSync(lockFile, { force: true });
  }
  throw new Error(`could not lock ledger data file ${file} (lock file ${lockFile})`);
}

function releaseLock(lockFile: string): void {
  fs.rmSync(lockFile, { force: true });
}
