/**
 * Full scans of ledger history, oldest first, in pages: an org ledger's transfers by code (RFM,
 * reconciliation) and one member wallet's transfers (tiers, expiry). Each code is read with its
 * own paged query (TigerBeetle filters on one code at a time) and the streams are merged by
 * timestamp, which is unique per transfer across the cluster.
 *
 * A transfer's document time is in its `user_data_128` (`documentTimeMs`); the TigerBeetle
 * timestamp only bounds a scan from below (`timestampMin`), as a document is never posted before
 * it occurred (up to the allowed clock skew, which callers subtract).
 */
import assert from "node:assert/strict";
import { AccountFilterFlags, type Client, QueryFilterFlags, type Transfer } from "tigerbeetle-node";
import { walletAccountId } from "./ids.ts";
import { queryLimitMax } from "./limits.ts";

/** Transfers of one merged page at most: one TigerBeetle query's worth. */
export const scanPageTransfersMax = queryLimitMax;
/** Codes one scan may merge; the loyalty chart has ten. */
export const scanCodesMax = 16;
/** Queries one code's stream may make: 8189 × 100,000 transfers, far beyond any ledger here. */
const scanQueriesPerCodeMax = 100_000;

export interface LedgerScanOptions {
  ledger: number;
  /** Transfer codes to read (TransferCode values), each at most once. */
  codes: readonly number[];
  /** Smallest TigerBeetle timestamp read (inclusive); 0 or absent: from the start. */
  timestampMin?: bigint;
}

export interface WalletScanOptions {
  ledger: number;
  memberId: string;
  /** Transfer codes to read; absent: every transfer of the wallet, both sides. */
  codes?: readonly number[];
  /** Smallest TigerBeetle timestamp read (inclusive); 0 or absent: from the start. */
  timestampMin?: bigint;
}

/** Reads one page of one stream from `timestampMin` (inclusive), oldest first. */
type PageReader = (timestampMin: bigint, limit: number) => Promise<Transfer[]>;

interface Stream {
  read: PageReader;
  buffer: Transfer[];
  position: number;
  nextMin: bigint;
  done: boolean;
  queries: number;
}

function checkedCodes(codes: readonly number[]): readonly number[] {
  assert.ok(codes.length > 0 && codes.length <= scanCodesMax, "a scan reads 1..16 codes");
  for (const code of codes) {
    assert.ok(Number.isInteger(code) && code > 0 && code <= 0xffff, "a code is a u16 > 0");
  }
  assert.equal(new Set(codes).size, codes.length, "each code once");
  return codes;
}

function checkedTimestampMin(timestampMin: bigint | undefined): bigint {
  const value = timestampMin ?? 0n;
  assert.ok(value >= 0n && value < 2n ** 64n, "timestampMin is a u64");
  return value;
}

/** Makes sure the stream's head is loaded, reading its next page when the buffer is spent. */
async function refill(stream: Stream): Promise<void> {
  if (stream.position < stream.buffer.length || stream.done) {
    return;
  }
  assert.ok(stream.queries < scanQueriesPerCodeMax, "a scan ends within its query bound");
  stream.queries += 1;
  const page = await stream.read(stream.nextMin, queryLimitMax);
  assert.ok(page.length <= queryLimitMax, "a query answers at most its limit");
  let previous = stream.nextMin - 1n;
  for (const transfer of page) {
    assert.ok(transfer.timestamp > previous, "a stream is strictly ascending by timestamp");
    previous = transfer.timestamp;
  }
  stream.buffer = page;
  stream.position = 0;
  const last = page[page.length - 1];
  if (page.length < queryLimitMax || last === undefined) {
    stream.done = true;
  } else {
    stream.nextMin = last.timestamp + 1n;
  }
}

/** Merges ascending streams into ascending pages of at most `scanPageTransfersMax`. */
async function* mergeStreams(
  readers: readonly PageReader[],
  timestampMin: bigint,
): AsyncGenerator<Transfer[]> {
  const streams: Stream[] = readers.map((read) => ({
    read,
    buffer: [],
    position: 0,
    nextMin: timestampMin,
    done: false,
    queries: 0,
  }));
  let out: Transfer[] = [];
  let previous = -1n;
  for (;;) {
    let best: Stream | undefined;
    let bestTransfer: Transfer | undefined;
    for (const stream of streams) {
      await refill(stream);
      const head = stream.buffer[stream.position];
      if (
        head !== undefined &&
        (bestTransfer === undefined || head.timestamp < bestTransfer.timestamp)
      ) {
        best = stream;
        bestTransfer = head;
      }
    }
    if (best === undefined || bestTransfer === undefined) {
      break;
    }
    assert.ok(bestTransfer.timestamp > previous, "merged transfers are strictly ascending");
    previous = bestTransfer.timestamp;
    best.position += 1;
    out.push(bestTransfer);
    if (out.length === scanPageTransfersMax) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) {
    yield out;
  }
}

/**
 * Every transfer of the ledger with one of `codes`, oldest first, in pages of at most 8,189.
 * One `queryTransfers` stream per code, merged.
 */
export function scanLedgerTransfers(
  client: Client,
  options: LedgerScanOptions,
): AsyncGenerator<Transfer[]> {
  const { ledger } = options;
  assert.ok(Number.isInteger(ledger) && ledger > 0 && ledger < 2 ** 32, "ledger is a u32 > 0");
  const readers = checkedCodes(options.codes).map(
    (code): PageReader =>
      (timestampMin, limit) =>
        client.queryTransfers({
          user_data_128: 0n,
          user_data_64: 0n,
          user_data_32: 0,
          ledger,
          code,
          timestamp_min: timestampMin,
          timestamp_max: 0n,
          limit,
          flags: QueryFilterFlags.none,
        }),
  );
  return mergeStreams(readers, checkedTimestampMin(options.timestampMin));
}

/**
 * The member wallet's transfers (debits and credits), oldest first, in pages of at most 8,189;
 * only those with one of `codes` when given (one `getAccountTransfers` stream per code, merged).
 */
export function scanWalletTransfers(
  client: Client,
  options: WalletScanOptions,
): AsyncGenerator<Transfer[]> {
  const accountId = walletAccountId(options.ledger, options.memberId);
  const codes = options.codes === undefined ? [0] : checkedCodes(options.codes);
  const readers = codes.map(
    (code): PageReader =>
      (timestampMin, limit) =>
        client.getAccountTransfers({
          account_id: accountId,
          user_data_128: 0n,
          user_data_64: 0n,
          user_data_32: 0,
          code,
          timestamp_min: timestampMin,
          timestamp_max: 0n,
          limit,
          flags: AccountFilterFlags.debits | AccountFilterFlags.credits,
        }),
  );
  return mergeStreams(readers, checkedTimestampMin(options.timestampMin));
}
