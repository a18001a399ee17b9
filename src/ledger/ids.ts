/**
 * Deterministic 128-bit ids for accounts and transfers, and their inverses.
 *
 * A transfer id is derived from (org, source, external id, leg), so a retried request, a replayed
 * intent or the recovery routine always posts the same ids and TigerBeetle answers `exists`
 * instead of posting twice. Ids are the first 16 bytes of a SHA-256 over length-prefixed parts,
 * which cannot be 0 or 2^128-1 in practice (asserted anyway, as TigerBeetle rejects both).
 *
 * Control accounts get structured ids, decodable back to (ledger, code). Wallet ids are hashes of
 * (ledger, member); the member is recoverable from the wallet's `user_data_128`, which holds the
 * member's UUID as a u128 (`uuidToU128` / `u128ToUuid`).
 *
 * Source documents (purchases, refunds, redemptions, adjustments) have UUIDv7 ids (`uuidV7`)
 * whose 48-bit millisecond timestamp is the document's time: a purchase's `occurred_at`, else the
 * time it was recorded. Transfers carry the id in `user_data_128`, so the ledger alone answers
 * "when" (`documentTimeMs`); see docs/ledger.md.
 */
import assert from "node:assert/strict";
import { hash, randomBytes } from "node:crypto";
import { AccountCode, type ControlAccountCode, controlAccountCodes } from "./codes.ts";

const u128Max = (1n << 128n) - 1n;
const u32Max = 2 ** 32 - 1;

/** Tag in the top byte of every control-account id; hashed ids land there with odds 2^-8 but
 * also need the exact ledger/code pattern below, so the two id spaces do not meet in practice. */
const controlTag = 0xc0n;

export type IdPart = string | number | bigint;

/** Bytes one derivation may hash; ids are derived from short names, never from documents. */
const deriveInputBytesMax = 4096;
const deriveScratch = Buffer.allocUnsafe(deriveInputBytesMax);

/**
 * SHA-256 of length-prefixed parts (each part as the UTF-8 of `${typeof part}:${part}`, after its
 * byte length as a u32 big-endian), first 16 bytes, big-endian. The parts are laid out in one
 * scratch buffer and hashed in one update: this runs once or twice per posted transfer.
 */
export function deriveId(...parts: IdPart[]): bigint {
  assert.ok(parts.length > 0, "an id is derived from at least one part");
  let offset = 0;
  for (const part of parts) {
    const text = `${typeof part}:${String(part)}`;
    // A UTF-8 byte per UTF-16 unit at most 3: checked before writing, so nothing is cut short.
    assert.ok(offset + 4 + text.length * 3 <= deriveInputBytesMax, "id parts are short");
    const length = deriveScratch.write(text, offset + 4, "utf8");
    deriveScratch.writeUInt32BE(length, offset);
    offset += 4 + length;
  }
  const digest = hash("sha256", deriveScratch.subarray(0, offset), "buffer");
  const id = (digest.readBigUInt64BE(0) << 64n) | digest.readBigUInt64BE(8);
  assert.ok(id !== 0n && id !== u128Max, "derived id must be a valid TigerBeetle id");
  return id;
}

export interface TransferIdParts {
  orgId: string;
  /** The kind of source document: "purchase", "refund", "redemption", "enrollment", ... */
  source: string;
  /** The source document's id, as the caller knows it (POS external id, redemption id, ...). */
  externalId: string;
  /** Which transfer of the operation: "earn", "hold", "fulfil", ... */
  leg: string;
}

export function transferId(parts: TransferIdParts): bigint {
  assert.ok(parts.orgId.length > 0, "transfer id needs an org");
  assert.ok(parts.source.length > 0, "transfer id needs a source");
  assert.ok(parts.externalId.length > 0, "transfer id needs an external id");
  assert.ok(parts.leg.length > 0, "transfer id needs a leg");
  return deriveId("transfer", parts.orgId, parts.source, parts.externalId, parts.leg);
}

export function controlAccountId(ledger: number, code: ControlAccountCode): bigint {
  assert.ok(Number.isInteger(ledger) && ledger > 0 && ledger <= u32Max, "ledger is a u32 > 0");
  assert.ok(controlAccountCodes.includes(code), "not a control account code");
  return (controlTag << 120n) | (BigInt(ledger) << 16n) | BigInt(code);
}

/**
 * The inventory ledger's control account: the same structured id as a points ledger's control
 * accounts, with its own code (10), which no points or stamps ledger has.
 */
export function inventoryControlAccountId(ledger: number): bigint {
  assert.ok(Number.isInteger(ledger) && ledger > 0 && ledger <= u32Max, "ledger is a u32 > 0");
  return (controlTag << 120n) | (BigInt(ledger) << 16n) | BigInt(AccountCode.inventoryControl);
}

/** A reward's stock account on its org's inventory ledger: a hash of (ledger, reward). */
export function rewardInventoryAccountId(ledger: number, rewardId: string): bigint {
  assert.ok(Number.isInteger(ledger) && ledger > 0 && ledger <= u32Max, "ledger is a u32 > 0");
  assert.ok(rewardId.length > 0, "a reward is named");
  const id = deriveId("reward_inventory", ledger, rewardId);
  assert.ok(id >> 120n !== controlTag || decodeControlAccountId(id) === null, "not a control id");
  return id;
}

/** The inverse of `controlAccountId`; null for any other id. */
export function decodeControlAccountId(
  id: bigint,
): { ledger: number; code: ControlAccountCode } | null {
  if (id >> 120n !== controlTag) {
    return null;
  }
  const middle = (id >> 48n) & ((1n << 72n) - 1n);
  if (middle !== 0n) {
    return null;
  }
  const ledger = Number((id >> 16n) & 0xffffffffn);
  const code = Number(id & 0xffffn) as AccountCode;
  if (ledger === 0 || !controlAccountCodes.includes(code as ControlAccountCode)) {
    return null;
  }
  return { ledger, code: code as ControlAccountCode };
}

/** Wallet ids derived lately, by "ledger:member": a purchase batch names the same few often. */
const walletIdsCached = new Map<string, bigint>();
const walletIdsCachedMax = 65_536;

export function walletAccountId(ledger: number, memberId: string): bigint {
  assert.ok(Number.isInteger(ledger) && ledger > 0 && ledger <= u32Max, "ledger is a u32 > 0");
  const key = `${ledger}:${memberId}`;
  const cached = walletIdsCached.get(key);
  if (cached !== undefined) {
    return cached;
  }
  const id = deriveId("wallet", ledger, memberId);
  assert.ok(decodeControlAccountId(id) === null, "wallet id collides with a control id");
  if (walletIdsCached.size >= walletIdsCachedMax) {
    // Dropping everything keeps this O(1) and bounded; the ids are recomputed on demand.
    walletIdsCached.clear();
  }
  walletIdsCached.set(key, id);
  return id;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A UUID as the u128 with the same 16 bytes (big-endian); used in `user_data_128`. */
export function uuidToU128(uuid: string): bigint {
  const normalized = uuid.toLowerCase();
  assert.ok(uuidPattern.test(normalized), "not a UUID");
  return BigInt(`0x${normalized.replaceAll("-", "")}`);
}

export function u128ToUuid(value: bigint): string {
  assert.ok(value >= 0n && value <= u128Max, "not a u128");
  const hex = value.toString(16).padStart(32, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** UUIDv7 timestamps are 48-bit milliseconds since the Unix epoch. */
export const uuidV7MsMax = 2 ** 48 - 1;
/** Random bytes a UUIDv7 takes: 12 bits of rand_a and 62 of rand_b, from 10 bytes. */
export const uuidV7RandomBytes = 10;

/**
 * A UUIDv7 (RFC 9562 §5.7) with the 48-bit big-endian Unix-millisecond timestamp `ms`, version 7,
 * variant 0b10, and the rest from `random` (10 bytes; fresh ones when absent).
 */
export function uuidV7(ms: number, random: Buffer = randomBytes(uuidV7RandomBytes)): string {
  assert.ok(Number.isSafeInteger(ms) && ms >= 0 && ms <= uuidV7MsMax, "UUIDv7 ms in 0..2^48-1");
  assert.ok(random.length >= uuidV7RandomBytes, "UUIDv7 takes 10 random bytes");
  const bytes = Buffer.allocUnsafe(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | ((random[0] as number) & 0x0f);
  bytes[7] = random[1] as number;
  bytes[8] = 0x80 | ((random[2] as number) & 0x3f);
  random.copy(bytes, 9, 3, 10);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The document time (Unix ms) of a transfer's `user_data_128` holding a UUIDv7 document id: its
 * top 48 bits. Meaningless for ids that are not UUIDv7 (`isUuidV7U128`).
 */
export function documentTimeMs(userData128: bigint): number {
  assert.ok(userData128 >= 0n && userData128 <= u128Max, "not a u128");
  return Number(userData128 >> 80n);
}

/** True when the u128 has the version (7) and variant (0b10) bits of a UUIDv7. */
export function isUuidV7U128(value: bigint): boolean {
  return ((value >> 76n) & 0xfn) === 7n && ((value >> 62n) & 0x3n) === 2n;
}
