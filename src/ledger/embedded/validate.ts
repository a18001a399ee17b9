/**
 * Client-side checks, reproducing what tigerbeetle-node does while it encodes a request: the
 * same error messages for fields of the wrong type or range, the same `RequestError` for
 * batches and limits over the message size, and u32 fields truncated the way N-API converts
 * numbers. Each check copies the event, so a caller mutating its objects afterwards cannot
 * reach into the engine's state.
 */
import {
  type Account,
  type AccountFilter,
  ErrorCodes,
  type QueryFilter,
  RequestError,
  type Transfer,
} from "tigerbeetle-node";
import { batchEventsMax, queryLimitMax } from "../limits.ts";
import { u64Max, u128Max } from "./u128.ts";

export { batchEventsMax };

function u128(value: unknown, field: string): bigint {
  if (typeof value !== "bigint") {
    throw new Error(`${field} must be a BigInt`);
  }
  if (value < 0n) {
    throw new Error(`${field} must be positive`);
  }
  if (value > u128Max) {
    throw new Error(`${field} must fit in 128 bits`);
  }
  return value;
}

function u64(value: unknown, field: string): bigint {
  if (typeof value !== "bigint") {
    throw new Error(`${field} must be a BigInt`);
  }
  if (value < 0n || value > u64Max) {
    throw new Error(`${field} conversion was lossy`);
  }
  return value;
}

function u32(value: unknown, field: string): number {
  if (typeof value !== "number") {
    throw new Error(`${field} must be a number`);
  }
  // N-API's uint32 conversion: ToUint32 (fractions dropped, modulo 2^32, NaN -> 0).
  return value >>> 0;
}

function u16(value: unknown, field: string): number {
  const converted = u32(value, field);
  if (converted > 0xffff) {
    throw new Error(`${field} must be a u16.`);
  }
  return converted;
}

function record(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) {
    throw new TypeError("Cannot convert undefined or null to object");
  }
  return value as Record<string, unknown>;
}

function batch<T>(value: unknown): readonly T[] {
  if (!Array.isArray(value)) {
    throw new Error("Array argument must be an [object Array].");
  }
  if (value.length > batchEventsMax) {
    throw new RequestError(ErrorCodes.ERR_TOO_MUCH_DATA);
  }
  return value;
}

export function normalizeAccounts(value: unknown): Account[] {
  return batch<unknown>(value).map((item) => {
    const event = record(item);
    return {
      id: u128(event.id, "id"),
      debits_pending: u128(event.debits_pending, "debits_pending"),
      debits_posted: u128(event.debits_posted, "debits_posted"),
      credits_pending: u128(event.credits_pending, "credits_pending"),
      credits_posted: u128(event.credits_posted, "credits_posted"),
      user_data_128: u128(event.user_data_128, "user_data_128"),
      user_data_64: u64(event.user_data_64, "user_data_64"),
      user_data_32: u32(event.user_data_32, "user_data_32"),
      reserved: u32(event.reserved, "reserved"),
      ledger: u32(event.ledger, "ledger"),
      code: u16(event.code, "code"),
      flags: u16(event.flags, "flags"),
      timestamp: u64(event.timestamp, "timestamp"),
    };
  });
}

/**
 * Validates transfers. An event whose number fields are already canonical is passed through as
 * is (the engine reads it synchronously, before the caller can touch it again); one with, say, a
 * fractional code is copied with the values tigerbeetle-node would have sent.
 */
export function normalizeTransfers(value: unknown): Transfer[] {
  return batch<unknown>(value).map((item) => {
    const event = record(item);
    u128(event.id, "id");
    u128(event.debit_account_id, "debit_account_id");
    u128(event.credit_account_id, "credit_account_id");
    u128(event.amount, "amount");
    u128(event.pending_id, "pending_id");
    u128(event.user_data_128, "user_data_128");
    u64(event.user_data_64, "user_data_64");
    const userData32 = u32(event.user_data_32, "user_data_32");
    const timeout = u32(event.timeout, "timeout");
    const ledger = u32(event.ledger, "ledger");
    const code = u16(event.code, "code");
    const flags = u16(event.flags, "flags");
    u64(event.timestamp, "timestamp");
    const transfer = event as unknown as Transfer;
    if (
      userData32 === transfer.user_data_32 &&
      timeout === transfer.timeout &&
      ledger === transfer.ledger &&
      code === transfer.code &&
      flags === transfer.flags
    ) {
      return transfer;
    }
    return {
      ...transfer,
      user_data_32: userData32,
      timeout,
      ledger,
      code,
      flags,
    };
  });
}

export function normalizeIds(value: unknown): bigint[] {
  return batch<unknown>(value).map((id) => u128(id, "lookup"));
}

function limit(value: unknown): number {
  const converted = u32(value, "limit");
  if (converted > queryLimitMax) {
    throw new RequestError(ErrorCodes.ERR_TOO_MUCH_DATA);
  }
  return converted;
}

export function normalizeAccountFilter(value: unknown): AccountFilter {
  const filter = record(value);
  return {
    account_id: u128(filter.account_id, "account_id"),
    user_data_128: u128(filter.user_data_128, "user_data_128"),
    user_data_64: u64(filter.user_data_64, "user_data_64"),
    user_data_32: u32(filter.user_data_32, "user_data_32"),
    code: u16(filter.code, "code"),
    timestamp_min: u64(filter.timestamp_min, "timestamp_min"),
    timestamp_max: u64(filter.timestamp_max, "timestamp_max"),
    limit: limit(filter.limit),
    flags: u32(filter.flags, "flags"),
  };
}

export function normalizeQueryFilter(value: unknown): QueryFilter {
  const filter = record(value);
  return {
    user_data_128: u128(filter.user_data_128, "user_data_128"),
    user_data_64: u64(filter.user_data_64, "user_data_64"),
    user_data_32: u32(filter.user_data_32, "user_data_32"),
    ledger: u32(filter.ledger, "ledger"),
    code: u16(filter.code, "code"),
    timestamp_min: u64(filter.timestamp_min, "timestamp_min"),
    timestamp_max: u64(filter.timestamp_max, "timestamp_max"),
    limit: limit(filter.limit),
    flags: u32(filter.flags, "flags"),
  };
}
