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
 * Recovery: a crash can only tear the last write, so a damaged record that no valid record
 * follows is a torn tail: it was never acknowledged, and it is truncated. A damaged record with a
 * valid record anywhere after it is corruption of acknowledged data: opening fails with the file
 * name and offset, and nothing is skipped. Record sizes are multiples of 32 bytes, so the search
 * for a later record only looks at offsets where one could start.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
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
/** Every record starts at fileHeaderSize + a multiple of this. */
const recordAlignment = 32;
assert.equal(eventSize % recordAlignment, 0, "events keep records aligned");
assert.equal(recordHeaderSize % recordAlignment, 0, "the header keeps records aligned");

function recordHeaderSane(recordSize: number, kind: number): boolean {
  return (
    recordSize >= recordHeaderSize &&
    recordSize <= recordSizeMax &&
    (recordSize - recordHeaderSize) % eventSize === 0 &&
    (kind === RecordKind.createAccounts ||
      kind === RecordKind.createTransfers ||
      kind === RecordKind.pulse)
  );
}

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
  // Not from the shared pool: the codec writes through typed arrays that need 8-byte alignment.
  const record = Buffer.allocUnsafeSlow(size);
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
        return this.tornTail(offset, size, "record header checksum mismatch");
      }
      const recordSize = header.readUInt32LE(8);
      const kind = header.readUInt8(12);
      if (!recordHeaderSane(recordSize, kind)) {
        throw new JournalCorruptError(this.file, offset, "invalid record header");
      }
      if (offset + recordSize > size) {
        return offset; // torn: the record runs past the end of the file
      }
      const record = view(offset, recordSize);
      const body = record.subarray(recordHeaderSize);
      if (record.readUInt32LE(4) !== crc32(body)) {
        return this.tornTail(offset, size, "record body checksum mismatch");
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

  /** A damaged record at `offset`: the torn tail if no valid record follows, else corruption. */
  private tornTail(offset: number, size: number, reason: string): number {
    if (this.validRecordAfter(offset, size)) {
      throw new JournalCorruptError(this.file, offset, reason);
    }
    return offset;
  }

  private validRecordAfter(offset: number, size: number): boolean {
    const header = Buffer.allocUnsafe(recordHeaderSize);
    for (let at = offset + recordAlignment; at + recordHeaderSize <= size; at += recordAlignment) {
      fs.readSync(this.fd, header, 0, recordHeaderSize, at);
      if (header.readUInt32LE(0) !== crc32(header.subarray(4, recordHeaderSize))) {
        continue;
      }
      const recordSize = header.readUInt32LE(8);
      if (!recordHeaderSane(recordSize, header.readUInt8(12)) || at + recordSize > size) {
        continue;
      }
      const body = Buffer.allocUnsafe(recordSize - recordHeaderSize);
      fs.readSync(this.fd, body, 0, body.length, at + recordHeaderSize);
      if (header.readUInt32LE(4) === crc32(body)) {
        return true;
      }
    }
    return false;
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

/**
 * Identity of a running process: its pid and, on Linux, its start time in clock ticks since boot
 * (field 22 of /proc/<pid>/stat). The start time tells a restarted container's new process apart
 * from the dead one that had the same pid, and an unrelated process that reused a pid.
 */
function processIdentity(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count from the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return `${pid}:${fields[19] ?? "?"}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && fs.existsSync("/proc/self/stat")) {
      return null; // procfs is there and the process is not: it is gone
    }
  }
  // No procfs (macOS, say): fall back to asking the kernel whether the pid exists.
  try {
    process.kill(pid, 0);
    return `${pid}:?`;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM" ? `${pid}:?` : null;
  }
}

/** The identity recorded in a lock file, if its owner still runs; null when it is gone. */
function liveOwner(lockFile: string): { pid: number } | null | "missing" {
  let recorded = "";
  try {
    recorded = fs.readFileSync(lockFile, "utf8").trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return "missing";
    }
    throw error;
  }
  const pid = Number.parseInt(recorded.split(":")[0] ?? "", 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    return null; // unreadable: a crash while writing it
  }
  const live = processIdentity(pid);
  if (live === null) {
    return null;
  }
  const identity = recorded.includes(":") ? recorded : `${pid}:?`;
  const same = live === identity || live.endsWith(":?") || identity.endsWith(":?");
  return same ? { pid } : null;
}

/**
 * Creates `file` holding `content`, or answers false when it exists. The content is written to a
 * private file first and linked into place, so no other process ever reads the file half
 * written: an empty lock file read between `open("wx")` and `write` looked like the leftover of a
 * crash, and a second process deleted the fresh lock and opened the data file too.
 */
function createExclusive(file: string, content: string): boolean {
  const staged = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.staged`;
  fs.writeFileSync(staged, content, { mode: 0o644, flag: "wx" });
  try {
    fs.linkSync(staged, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      return false;
    }
    throw error;
  } finally {
    fs.rmSync(staged, { force: true });
  }
}

/** Attempts at taking the lock before giving up; each loses only to another live process. */
const lockAttemptsMax = 8;

/**
 * One process at a time: the lock file holds its owner's identity (pid and start time). A live
 * owner, this process included, makes the open fail. A lock whose owner is gone (a crash) is
 * taken over, and only under a second, exclusive "takeover" file: without it, two processes that
 * both found the lock stale could each delete the other's fresh lock and both open the file.
 */
function acquireLock(file: string, lockFile: string): void {
  const self = processIdentity(process.pid);
  assert.ok(self !== null, "this process has an identity");
  const takeoverFile = `${lockFile}.takeover`;
  const locked = (pid: number) =>
    new Error(
      `ledger data file ${file} is locked by ${pid === process.pid ? "this process" : `process ${pid}`} ` +
        `(lock file ${lockFile}); only one process may open it at a time`,
    );
  for (let attempt = 0; attempt < lockAttemptsMax; attempt++) {
    if (createExclusive(lockFile, `${self}\n`)) {
      return;
    }
    const owner = liveOwner(lockFile);
    if (owner === "missing") {
      continue; // released in between
    }
    if (owner !== null) {
      throw locked(owner.pid);
    }
    // The owner is gone. Take the lock over under the takeover file.
    if (!createExclusive(takeoverFile, `${self}\n`)) {
      const taker = liveOwner(takeoverFile);
      if (taker !== null && taker !== "missing") {
        throw locked(taker.pid);
      }
      // A taker that died mid-takeover: clear its file and start again.
      fs.rmSync(takeoverFile, { force: true });
      continue;
    }
    try {
      if (liveOwner(lockFile) === null) {
        fs.rmSync(lockFile, { force: true });
      }
      if (createExclusive(lockFile, `${self}\n`)) {
        return;
      }
    } finally {
      fs.rmSync(takeoverFile, { force: true });
    }
  }
  throw new Error(`could not lock ledger data file ${file} (lock file ${lockFile})`);
}

function releaseLock(lockFile: string): void {
  fs.rmSync(lockFile, { force: true });
}
