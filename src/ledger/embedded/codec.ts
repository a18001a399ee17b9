/**
 * Binary encoding of accounts and transfers for the journal: TigerBeetle's own 128-byte layouts,
 * little-endian, so a journal record is the request body TigerBeetle would have received.
 *
 * Fields are written through typed-array views rather than Buffer.writeBigUInt64LE, which splits
 * every bigint into 32-bit halves with several bigint operations. The views need the host to be
 * little-endian (as TigerBeetle itself does) and each event to start 8-byte aligned.
 */
import assert from "node:assert/strict";
import os from "node:os";
import type { Account, Transfer } from "tigerbeetle-node";
import { hi64, join128, lo64 } from "./u128.ts";

export const eventSize = 128;
const words64 = eventSize / 8;

assert.equal(os.endianness(), "LE", "the journal layout is little-endian, like TigerBeetle's");

interface Views {
  u64: BigUint64Array;
  u32: Uint32Array;
  u16: Uint16Array;
}

/** Views over `buffer`, which must start 8-byte aligned in its ArrayBuffer. */
export function eventViews(buffer: Buffer): Views {
  assert.equal(buffer.byteOffset % 8, 0, "event buffers are 8-byte aligned");
  const words = Math.floor(buffer.length / 8);
  return {
    u64: new BigUint64Array(buffer.buffer, buffer.byteOffset, words),
    u32: new Uint32Array(buffer.buffer, buffer.byteOffset, words * 2),
    u16: new Uint16Array(buffer.buffer, buffer.byteOffset, words * 4),
  };
}

// Offsets below are in units of the view's element size, from the event's start:
// u64 word k = bytes 8k..8k+7; u32 word 2k = bytes 8k..; u16 word 4k = bytes 8k...
function writeU128(u64: BigUint64Array, word: number, value: bigint): void {
  u64[word] = lo64(value);
  u64[word + 1] = hi64(value);
}

function readU128(u64: BigUint64Array, word: number): bigint {
  return join128(u64[word] as bigint, u64[word + 1] as bigint);
}

function base(offset: number): number {
  assert.equal(offset % 8, 0, "events start 8-byte aligned");
  return offset / 8;
}

export function encodeAccount(views: Views, offset: number, account: Account): void {
  const w = base(offset);
  writeU128(views.u64, w, account.id);
  writeU128(views.u64, w + 2, account.debits_pending);
  writeU128(views.u64, w + 4, account.debits_posted);
  writeU128(views.u64, w + 6, account.credits_pending);
  writeU128(views.u64, w + 8, account.credits_posted);
  writeU128(views.u64, w + 10, account.user_data_128);
  views.u64[w + 12] = account.user_data_64;
  views.u32[(w + 13) * 2] = account.user_data_32;
  views.u32[(w + 13) * 2 + 1] = account.reserved;
  views.u32[(w + 14) * 2] = account.ledger;
  views.u16[(w + 14) * 4 + 2] = account.code;
  views.u16[(w + 14) * 4 + 3] = account.flags;
  views.u64[w + 15] = account.timestamp;
}

export function decodeAccount(views: Views, offset: number): Account {
  const w = base(offset);
  assert.ok(w + words64 <= views.u64.length, "account record out of bounds");
  return {
    id: readU128(views.u64, w),
    debits_pending: readU128(views.u64, w + 2),
    debits_posted: readU128(views.u64, w + 4),
    credits_pending: readU128(views.u64, w + 6),
    credits_posted: readU128(views.u64, w + 8),
    user_data_128: readU128(views.u64, w + 10),
    user_data_64: views.u64[w + 12] as bigint,
    user_data_32: views.u32[(w + 13) * 2] as number,
    reserved: views.u32[(w + 13) * 2 + 1] as number,
    ledger: views.u32[(w + 14) * 2] as number,
    code: views.u16[(w + 14) * 4 + 2] as number,
    flags: views.u16[(w + 14) * 4 + 3] as number,
    timestamp: views.u64[w + 15] as bigint,
  };
}

export function encodeTransfer(views: Views, offset: number, transfer: Transfer): void {
  const w = base(offset);
  writeU128(views.u64, w, transfer.id);
  writeU128(views.u64, w + 2, transfer.debit_account_id);
  writeU128(views.u64, w + 4, transfer.credit_account_id);
  writeU128(views.u64, w + 6, transfer.amount);
  writeU128(views.u64, w + 8, transfer.pending_id);
  writeU128(views.u64, w + 10, transfer.user_data_128);
  views.u64[w + 12] = transfer.user_data_64;
  views.u32[(w + 13) * 2] = transfer.user_data_32;
  views.u32[(w + 13) * 2 + 1] = transfer.timeout;
  views.u32[(w + 14) * 2] = transfer.ledger;
  views.u16[(w + 14) * 4 + 2] = transfer.code;
  views.u16[(w + 14) * 4 + 3] = transfer.flags;
  views.u64[w + 15] = transfer.timestamp;
}

export function decodeTransfer(views: Views, offset: number): Transfer {
  const w = base(offset);
  assert.ok(w + words64 <= views.u64.length, "transfer record out of bounds");
  return {
    id: readU128(views.u64, w),
    debit_account_id: readU128(views.u64, w + 2),
    credit_account_id: readU128(views.u64, w + 4),
    amount: readU128(views.u64, w + 6),
    pending_id: readU128(views.u64, w + 8),
    user_data_128: readU128(views.u64, w + 10),
    user_data_64: views.u64[w + 12] as bigint,
    user_data_32: views.u32[(w + 13) * 2] as number,
    timeout: views.u32[(w + 13) * 2 + 1] as number,
    ledger: views.u32[(w + 14) * 2] as number,
    code: views.u16[(w + 14) * 4 + 2] as number,
    flags: views.u16[(w + 14) * 4 + 3] as number,
    timestamp: views.u64[w + 15] as bigint,
  };
}
