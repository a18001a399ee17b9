/**
 * Columnar, paged storage for transfers and the secondary indexes over them.
 *
 * A transfer lives in a "slot". Slots are handed out in creation order and TigerBeetle requires
 * every new transfer's timestamp to exceed all earlier ones (imported transfers included), so slot
 * order *is* timestamp order: every index below is sorted by timestamp for free, and ranges by
 * timestamp are binary searches. Fields live in typed-array pages rather than JS objects so that a
 * million transfers cost ~100 bytes each and nothing for the garbage collector to trace.
 */
import assert from "node:assert/strict";
import { hi64, IntList, join128, lo64, U32Table, U128Table } from "./u128.ts";

const pageShift = 14;
const pageSize = 1 << pageShift;
const pageMask = pageSize - 1;

// Word offsets within a slot's 8 u64 words.
const w64IdLo = 0;
const w64IdHi = 1;
const w64AmountLo = 2;
const w64AmountHi = 3;
const w64UserData128Lo = 4;
const w64UserData128Hi = 5;
const w64UserData64 = 6;
const w64Timestamp = 7;
const words64 = 8;

// Word offsets within a slot's 8 u32 words.
const w32Debit = 0;
const w32Credit = 1;
const w32Pending = 2; // pending transfer's slot + 1; 0 when none
const w32UserData32 = 3;
const w32Timeout = 4;
const w32Ledger = 5;
const w32CodeFlags = 6; // code | flags << 16
const w32State = 7; // PendingState, only meaningful for transfers with flags.pending
const words32 = 8;

/** Resolution of a pending transfer; kept beside the transfer, which itself never changes. */
export const PendingState = {
  none: 0,
  pending: 1,
  posted: 2,
  voided: 3,
  expired: 4,
} as const;
export type PendingState = (typeof PendingState)[keyof typeof PendingState];

export interface TransferRow {
  id: bigint;
  debitSlot: number;
  creditSlot: number;
  amount: bigint;
  /** Slot of the pending transfer for post/void, -1 otherwise. */
  pendingSlot: number;
  userData128: bigint;
  userData64: bigint;
  userData32: number;
  timeout: number;
  ledger: number;
  code: number;
  flags: number;
  timestamp: bigint;
}

export class TransferStore {
  private pages64: BigUint64Array[] = [];
  private pages32: Uint32Array[] = [];
  count = 0;

  append(row: TransferRow): number {
    const slot = this.count;
    const page = slot >>> pageShift;
    if (page === this.pages64.length) {
      this.pages64.push(new BigUint64Array(pageSize * words64));
      this.pages32.push(new Uint32Array(pageSize * words32));
    }
    const p64 = this.pages64[page] as BigUint64Array;
    const p32 = this.pages32[page] as Uint32Array;
    const o64 = (slot & pageMask) * words64;
    const o32 = (slot & pageMask) * words32;
    p64[o64 + w64IdLo] = lo64(row.id);
    p64[o64 + w64IdHi] = hi64(row.id);
    p64[o64 + w64AmountLo] = lo64(row.amount);
    p64[o64 + w64AmountHi] = hi64(row.amount);
    p64[o64 + w64UserData128Lo] = lo64(row.userData128);
    p64[o64 + w64UserData128Hi] = hi64(row.userData128);
    p64[o64 + w64UserData64] = row.userData64;
    p64[o64 + w64Timestamp] = row.timestamp;
    p32[o32 + w32Debit] = row.debitSlot;
    p32[o32 + w32Credit] = row.creditSlot;
    p32[o32 + w32Pending] = row.pendingSlot + 1;
    p32[o32 + w32UserData32] = row.userData32;
    p32[o32 + w32Timeout] = row.timeout;
    p32[o32 + w32Ledger] = row.ledger;
    p32[o32 + w32CodeFlags] = (row.code | (row.flags << 16)) >>> 0;
    p32[o32 + w32State] = PendingState.none;
    this.count += 1;
    return slot;
  }

  /** Drops the newest slot (rolling back a linked chain). */
  pop(slot: number): void {
    assert.equal(slot, this.count - 1, "only the newest transfer can be rolled back");
    this.count -= 1;
  }

  private w64(slot: number, word: number): bigint {
    assert.ok(slot >= 0 && slot < this.count, "transfer slot out of range");
    return (this.pages64[slot >>> pageShift] as BigUint64Array)[
      (slot & pageMask) * words64 + word
    ] as bigint;
  }

  private w32(slot: number, word: number): number {
    assert.ok(slot >= 0 && slot < this.count, "transfer slot out of range");
    return (this.pages32[slot >>> pageShift] as Uint32Array)[
      (slot & pageMask) * words32 + word
    ] as number;
  }

  id(slot: number): bigint {
    return join128(this.w64(slot, w64IdLo), this.w64(slot, w64IdHi));
  }
  amount(slot: number): bigint {
    return join128(this.w64(slot, w64AmountLo), this.w64(slot, w64AmountHi));
  }
  userData128(slot: number): bigint {
    return join128(this.w64(slot, w64UserData128Lo), this.w64(slot, w64UserData128Hi));
  }
  userData64(slot: number): bigint {
    return this.w64(slot, w64UserData64);
  }
  timestamp(slot: number): bigint {
    return this.w64(slot, w64Timestamp);
  }
  debitSlot(slot: number): number {
    return this.w32(slot, w32Debit);
  }
  creditSlot(slot: number): number {
    return this.w32(slot, w32Credit);
  }
  pendingSlot(slot: number): number {
    return this.w32(slot, w32Pending) - 1;
  }
  userData32(slot: number): number {
    return this.w32(slot, w32UserData32);
  }
  timeout(slot: number): number {
    return this.w32(slot, w32Timeout);
  }
  ledger(slot: number): number {
    return this.w32(slot, w32Ledger);
  }
  code(slot: number): number {
    return this.w32(slot, w32CodeFlags) & 0xffff;
  }
  flags(slot: number): number {
    return this.w32(slot, w32CodeFlags) >>> 16;
  }
  state(slot: number): PendingState {
    return this.w32(slot, w32State) as PendingState;
  }
  setState(slot: number, state: PendingState): void {
    assert.ok(slot >= 0 && slot < this.count, "transfer slot out of range");
    (this.pages32[slot >>> pageShift] as Uint32Array)[(slot & pageMask) * words32 + w32State] =
      state;
  }

  /** First slot whose timestamp is >= `timestamp` (count when none). */
  lowerBound(timestamp: bigint): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.timestamp(middle) < timestamp) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    return low;
  }

  hasTimestamp(timestamp: bigint): boolean {
    const slot = this.lowerBound(timestamp);
    return slot < this.count && this.timestamp(slot) === timestamp;
  }
}

/** A paged int32 array addressed by slot, growing on demand. */
class PagedInt32 {
  private pages: Int32Array[] = [];
  private capacity = 0;

  set(slot: number, value: number): void {
    if (slot >= this.capacity) {
      while (this.capacity <= slot) {
        this.pages.push(new Int32Array(pageSize));
        this.capacity += pageSize;
      }
    }
    (this.pages[slot >>> pageShift] as Int32Array)[slot & pageMask] = value;
  }

  get(slot: number): number {
    return (this.pages[slot >>> pageShift] as Int32Array)[slot & pageMask] as number;
  }
}

/**
 * Secondary index on one field: for every non-zero value, a doubly linked chain of the slots
 * holding it, in slot (= timestamp) order. Walking forward serves ascending queries, walking
 * backward serves `reversed` ones; each costs O(matches visited), never O(all objects).
 * Key lookups go through a table keyed by the field's own type (u128 or u32); the last key is
 * cached because consecutive objects usually share ledger and code.
 */
abstract class FieldIndex<Key extends bigint | number> {
  private first = new IntList(64);
  private last = new IntList(64);
  private counts = new IntList(64);
  private next = new PagedInt32();
  private previous = new PagedInt32();
  private cachedKey: Key | null = null;
  private cachedEntry = -1;

  protected abstract isZero(key: Key): boolean;
  protected abstract lookup(key: Key): number;
  protected abstract store(key: Key, entry: number): void;

  private entry(key: Key): number {
    if (key === this.cachedKey) {
      return this.cachedEntry;
    }
    const entry = this.lookup(key);
    if (entry >= 0) {
      this.cachedKey = key;
      this.cachedEntry = entry;
    }
    return entry;
  }

  add(slot: number, key: Key): void {
    if (this.isZero(key)) {
      return;
    }
    const entry = this.entry(key);
    this.next.set(slot, -1);
    if (entry < 0) {
      this.store(key, this.first.length);
      this.first.push(slot);
      this.last.push(slot);
      this.counts.push(1);
      this.previous.set(slot, -1);
      return;
    }
    const tail = this.last.items[entry] as number;
    if (tail < 0) {
      this.first.items[entry] = slot;
      this.previous.set(slot, -1);
    } else {
      assert.ok(tail < slot, "index chains are in slot order");
      this.next.set(tail, slot);
      this.previous.set(slot, tail);
    }
    this.last.items[entry] = slot;
    this.counts.items[entry] = (this.counts.items[entry] as number) + 1;
  }

  /** Unlinks the newest slot of `key`'s chain (rolling back a linked chain). */
  removeLast(slot: number, key: Key): void {
    if (this.isZero(key)) {
      return;
    }
    const entry = this.entry(key);
    assert.ok(entry >= 0 && this.last.at(entry) === slot, "rollback must remove the newest slot");
    const before = this.previous.get(slot);
    if (before < 0) {
      this.first.items[entry] = -1;
      this.last.items[entry] = -1;
    } else {
      this.next.set(before, -1);
      this.last.items[entry] = before;
    }
    this.counts.items[entry] = this.counts.at(entry) - 1;
  }

  /** Number of slots holding `key`. */
  count(key: Key): number {
    const entry = this.entry(key);
    return entry < 0 ? 0 : this.counts.at(entry);
  }

  head(key: Key): number {
    const entry = this.entry(key);
    return entry < 0 ? -1 : this.first.at(entry);
  }

  tail(key: Key): number {
    const entry = this.entry(key);
    return entry < 0 ? -1 : this.last.at(entry);
  }

  after(slot: number): number {
    return this.next.get(slot);
  }

  before(slot: number): number {
    return this.previous.get(slot);
  }
}

/** Index on a u128 or u64 field. */
export class WideFieldIndex extends FieldIndex<bigint> {
  private keys = new U128Table();
  protected override isZero(key: bigint): boolean {
    return key === 0n;
  }
  protected override lookup(key: bigint): number {
    return this.keys.get(key);
  }
  protected override store(key: bigint, entry: number): void {
    this.keys.insert(key, entry);
  }
}

/** Index on a u32 or u16 field. */
export class NarrowFieldIndex extends FieldIndex<number> {
  private keys = new U32Table();
  protected override isZero(key: number): boolean {
    return key === 0;
  }
  protected override lookup(key: number): number {
    return this.keys.get(key);
  }
  protected override store(key: number, entry: number): void {
    this.keys.insert(key, entry);
  }
}
