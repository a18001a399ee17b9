/**
 * Binary encoding of accounts and transfers for the journal: TigerBeetle's own 128-byte layouts,
 * little-endian, so a journal record is the request body TigerBeetle would have received.
 */
import assert from "node:assert/strict";
import type { Account, Transfer } from "tigerbeetle-node";
import { two64 } from "./u128.ts";

export const eventSize = 128;

function writeU128(buffer: Buffer, offset: number, value: bigint): void {
  if (value < two64) {
    buffer.writeBigUInt64LE(value, offset);
    buffer.writeBigUInt64LE(0n, offset + 8);
  } else {
    buffer.writeBigUInt64LE(BigInt.asUintN(64, value), offset);
    buffer.writeBigUInt64LE(value >> 64n, offset + 8);
  }
}

function readU128(buffer: Buffer, offset: number): bigint {
  const lo = buffer.readBigUInt64LE(offset);
  const hi = buffer.readBigUInt64LE(offset + 8);
  return hi === 0n ? lo : (hi << 64n) | lo;
}

export function encodeAccount(buffer: Buffer, offset: number, account: Account): void {
  writeU128(buffer, offset, account.id);
  writeU128(buffer, offset + 16, account.debits_pending);
  writeU128(buffer, offset + 32, account.debits_posted);
  writeU128(buffer, offset + 48, account.credits_pending);
  writeU128(buffer, offset + 64, account.credits_posted);
  writeU128(buffer, offset + 80, account.user_data_128);
  buffer.writeBigUInt64LE(account.user_data_64, offset + 96);
  buffer.writeUInt32LE(account.user_data_32, offset + 104);
  buffer.writeUInt32LE(account.reserved, offset + 108);
  buffer.writeUInt32LE(account.ledger, offset + 112);
  buffer.writeUInt16LE(account.code, offset + 116);
  buffer.writeUInt16LE(account.flags, offset + 118);
  buffer.writeBigUInt64LE(account.timestamp, offset + 120);
}

export function decodeAccount(buffer: Buffer, offset: number): Account {
  assert.ok(offset + eventSize <= buffer.length, "account record out of bounds");
  return {
    id: readU128(buffer, offset),
    debits_pending: readU128(buffer, offset + 16),
    debits_posted: readU128(buffer, offset + 32),
    credits_pending: readU128(buffer, offset + 48),
    credits_posted: readU128(buffer, offset + 64),
    user_data_128: readU128(buffer, offset + 80),
    user_data_64: buffer.readBigUInt64LE(offset + 96),
    user_data_32: buffer.readUInt32LE(offset + 104),
    reserved: buffer.readUInt32LE(offset + 108),
    ledger: buffer.readUInt32LE(offset + 112),
    code: buffer.readUInt16LE(offset + 116),
    flags: buffer.readUInt16LE(offset + 118),
    timestamp: buffer.readBigUInt64LE(offset + 120),
  };
}

export function encodeTransfer(buffer: Buffer, offset: number, transfer: Transfer): void {
  writeU128(buffer, offset, transfer.id);
  writeU128(buffer, offset + 16, transfer.debit_account_id);
  writeU128(buffer, offset + 32, transfer.credit_account_id);
  writeU128(buffer, offset + 48, transfer.amount);
  writeU128(buffer, offset + 64, transfer.pending_id);
  writeU128(buffer, offset + 80, transfer.user_data_128);
  buffer.writeBigUInt64LE(transfer.user_data_64, offset + 96);
  buffer.writeUInt32LE(transfer.user_data_32, offset + 104);
  buffer.writeUInt32LE(transfer.timeout, offset + 108);
  buffer.writeUInt32LE(transfer.ledger, offset + 112);
  buffer.writeUInt16LE(transfer.code, offset + 116);
  buffer.writeUInt16LE(transfer.flags, offset + 118);
  buffer.writeBigUInt64LE(transfer.timestamp, offset + 120);
}

export function decodeTransfer(buffer: Buffer, offset: number): Transfer {
  assert.ok(offset + eventSize <= buffer.length, "transfer record out of bounds");
  return {
    id: readU128(buffer, offset),
    debit_account_id: readU128(buffer, offset + 16),
    credit_account_id: readU128(buffer, offset + 32),
    amount: readU128(buffer, offset + 48),
    pending_id: readU128(buffer, offset + 64),
    user_data_128: readU128(buffer, offset + 80),
    user_data_64: buffer.readBigUInt64LE(offset + 96),
    user_data_32: buffer.readUInt32LE(offset + 104),
    timeout: buffer.readUInt32LE(offset + 108),
    ledger: buffer.readUInt32LE(offset + 112),
    code: buffer.readUInt16LE(offset + 116),
    flags: buffer.readUInt16LE(offset + 118),
    timestamp: buffer.readBigUInt64LE(offset + 120),
  };
}
