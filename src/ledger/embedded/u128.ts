/**
 * 128-bit helpers and the open-addressing hash table the engine uses for id indexes.
 *
 * Why not a `Map<bigint, number>`: at millions of objects a Map costs ~70 bytes per entry plus the
 * retained key bigint, keeps every key alive for the garbage collector to trace, and caps out at
 * 2^24 entries. Typed arrays cost 20 bytes per slot and are invisible to the GC.
 */
import assert from "node:assert/strict";

export const u64Max = (1n << 64n) - 1n;
export const u128Max = (1n << 128n) - 1n;
export const two64 = 1n << 64n;

/** Low 64 bits of a u128. */
export function lo64(value: bigint): bigint {
  return value < two64 ? value : BigInt.asUintN(64, value);
}

/** High 64 bits of a u128. */
export function hi64(value: bigint): bigint {
  return value < two64 ? 0n : value >> 64n;
}

export function join128(lo: bigint, hi: bigint): bigint {
  return hi === 0n ? lo : (hi << 64n) | lo;
}

/**
 * 32-bit hash of a u128 given as two u64 halves. It reads the low 32 bits of each half (cheap
 * bigint operations) and mixes them with Murmur3's finaliser. Ids that differ only in bits 32..63
 * of a half would collide; deterministic ids (hashes) and TigerBeetle's time-based ids (random low
 * bits) never do that.
 */
function hash(lo: bigint, hi: bigint): number {
  let h = Number(BigInt.asUintN(32, lo)) | 0;
  if (hi !== 0n) {
    h = Math.imul(h ^ (Number(BigInt.asUintN(32, hi)) | 0), 0x9e3779b1);
  }
  return mix32(h);
}

/** Murmur3's 32-bit finaliser. */
export function mix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const capacityMin = 1024;

/**
 * Maps a u128 key to a non-negative int32 value. Linear probing, backward-shift deletion.
 * Each slot also keeps the key's 32-bit hash, so probing past other keys compares numbers and
 * allocates nothing; the bigint halves are read only on a hash match. The last key found is
 * cached: transfers keep hitting the same few control accounts.
 */
export class U128Table {
  private keysLo: BigUint64Array;
  private keysHi: BigUint64Array;
  private hashes: Int32Array;
  /** value + 1; 0 marks an empty slot. */
  private values: Int32Array;
  private mask: number;
  private cachedKey = -1n;
  private cachedValue = -1;
  // Where the last missed `get` stopped: an `insert` of that key right after it (the usual
  // "not there yet, create it" sequence) goes straight to that slot instead of probing again.
  private missKey = -1n;
  private missIndex = -1;
  private missHash = 0;
  size = 0;

  constructor(capacity = capacityMin) {
    assert.ok(capacity >= capacityMin && (capacity & (capacity - 1)) === 0, "capacity: power of 2");
    this.keysLo = new BigUint64Array(capacity);
    this.keysHi = new BigUint64Array(capacity);
    this.hashes = new Int32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  get(key: bigint): number {
    if (key === this.cachedKey) {
      return this.cachedValue;
    }
    const lo = lo64(key);
    const hi = hi64(key);
    const h = hash(lo, hi) | 0;
    let index = h & this.mask;
    for (;;) {
      const value = this.values[index] as number;
      if (value === 0) {
        this.missKey = key;
        this.missIndex = index;
        this.missHash = h;
        return -1;
      }
      if (this.hashes[index] === h && this.keysLo[index] === lo && this.keysHi[index] === hi) {
        this.cachedKey = key;
        this.cachedValue = value - 1;
        return value - 1;
      }
      index = (index + 1) & this.mask;
    }
  }

  /** Inserts a key that must not be present. */
  insert(key: bigint, value: number): void {
    assert.ok(value >= 0 && value < 0x7fffffff, "table value out of range");
    if ((this.size + 1) * 2 > this.values.length) {
      this.grow();
    }
    const lo = lo64(key);
    const hi = hi64(key);
    if (key === this.missKey) {
      this.missKey = -1n;
      const index = this.missIndex;
      assert.equal(this.values[index], 0, "the remembered slot is still free");
      this.keysLo[index] = lo;
      this.keysHi[index] = hi;
      this.hashes[index] = this.missHash;
      this.values[index] = value + 1;
      this.size += 1;
      return;
    }
    this.missKey = -1n; // this insert may take the remembered slot
    const h = hash(lo, hi) | 0;
    let index = h & this.mask;
    while (this.values[index] !== 0) {
      assert.ok(
        !(this.hashes[index] === h && this.keysLo[index] === lo && this.keysHi[index] === hi),
        "duplicate table key",
      );
      index = (index + 1) & this.mask;
    }
    this.keysLo[index] = lo;
    this.keysHi[index] = hi;
    this.hashes[index] = h;
    this.values[index] = value + 1;
    this.size += 1;
  }

  /** Removes a key that must be present. */
  remove(key: bigint): void {
    this.missKey = -1n;
    if (key === this.cachedKey) {
      this.cachedKey = -1n;
    }
    const lo = lo64(key);
    const hi = hi64(key);
    const h = hash(lo, hi) | 0;
    let index = h & this.mask;
    for (;;) {
      assert.ok(this.values[index] !== 0, "removing a key that is not in the table");
      if (this.hashes[index] === h && this.keysLo[index] === lo && this.keysHi[index] === hi) {
        break;
      }
      index = (index + 1) & this.mask;
    }
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    let hole = index;
    let next = (hole + 1) & this.mask;
    while (this.values[next] !== 0) {
      const home = (this.hashes[next] as number) & this.mask;
      const distanceNext = (next - home) & this.mask;
      const distanceHole = (hole - home) & this.mask;
      if (distanceHole <= distanceNext) {
        this.keysLo[hole] = this.keysLo[next] as bigint;
        this.keysHi[hole] = this.keysHi[next] as bigint;
        this.hashes[hole] = this.hashes[next] as number;
        this.values[hole] = this.values[next] as number;
        hole = next;
      }
      next = (next + 1) & this.mask;
    }
    this.values[hole] = 0;
    this.keysLo[hole] = 0n;
    this.keysHi[hole] = 0n;
    this.hashes[hole] = 0;
    this.size -= 1;
  }

  private grow(): void {
    this.missKey = -1n;
    const keysLo = this.keysLo;
    const keysHi = this.keysHi;
    const hashes = this.hashes;
    const values = this.values;
    const capacity = values.length * 2;
    this.keysLo = new BigUint64Array(capacity);
    this.keysHi = new BigUint64Array(capacity);
    this.hashes = new Int32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (let i = 0; i < values.length; i++) {
      const value = values[i] as number;
      if (value === 0) {
        continue;
      }
      const h = hashes[i] as number;
      let index = h & this.mask;
      while (this.values[index] !== 0) {
        index = (index + 1) & this.mask;
      }
      this.keysLo[index] = keysLo[i] as bigint;
      this.keysHi[index] = keysHi[i] as bigint;
      this.hashes[index] = h;
      this.values[index] = value;
    }
  }
}

/** A growable list of int32 (object slots), kept in insertion order. */
export class IntList {
  items: Int32Array;
  length = 0;

  constructor(capacity = 4) {
    this.items = new Int32Array(capacity);
  }

  push(value: number): void {
    if (this.length === this.items.length) {
      const items = new Int32Array(this.items.length * 2);
      items.set(this.items);
      this.items = items;
    }
    this.items[this.length] = value;
    this.length += 1;
  }

  pop(): number {
    assert.ok(this.length > 0, "pop from an empty list");
    this.length -= 1;
    return this.items[this.length] as number;
  }

  at(index: number): number {
    return this.items[index] as number;
  }
}

/** A growable array of u64 words, read and written in fixed-size records. */
export class WordList {
  words: BigUint64Array;
  length = 0;

  constructor(
    readonly recordWords: number,
    capacityRecords = 4,
  ) {
    this.words = new BigUint64Array(capacityRecords * recordWords);
  }

  /** Appends a record and returns the word offset where it starts. */
  append(): number {
    if ((this.length + 1) * this.recordWords > this.words.length) {
      const words = new BigUint64Array(this.words.length * 2);
      words.set(this.words);
      this.words = words;
    }
    const offset = this.length * this.recordWords;
    this.length += 1;
    return offset;
  }

  pop(): void {
    assert.ok(this.length > 0, "pop from an empty word list");
    this.length -= 1;
  }
}

/** Maps a u32 key (a JS number) to a non-negative int32 value. Linear probing; no deletion. */
export class U32Table {
  private keys: Uint32Array;
  /** value + 1; 0 marks an empty slot. */
  private values: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 64) {
    assert.ok(capacity > 0 && (capacity & (capacity - 1)) === 0, "capacity: power of 2");
    this.keys = new Uint32Array(capacity);
    this.values = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  get(key: number): number {
    let index = mix32(key) & this.mask;
    for (;;) {
      const value = this.values[index] as number;
      if (value === 0) {
        return -1;
      }
      if (this.keys[index] === key) {
        return value - 1;
      }
      index = (index + 1) & this.mask;
    }
  }

  /** Inserts a key that must not be present. */
  insert(key: number, value: number): void {
    assert.ok(value >= 0 && value < 0x7fffffff, "table value out of range");
    if ((this.size + 1) * 2 > this.values.length) {
      const keys = this.keys;
      const values = this.values;
      this.keys = new Uint32Array(keys.length * 2);
      this.values = new Int32Array(values.length * 2);
      this.mask = this.values.length - 1;
      this.size = 0;
      for (let i = 0; i < values.length; i++) {
        if (values[i] !== 0) {
          this.insert(keys[i] as number, (values[i] as number) - 1);
        }
      }
    }
    let index = mix32(key) & this.mask;
    while (this.values[index] !== 0) {
      assert.ok(this.keys[index] !== key, "duplicate table key");
      index = (index + 1) & this.mask;
    }
    this.keys[index] = key;
    this.values[index] = value + 1;
    this.size += 1;
  }
}
