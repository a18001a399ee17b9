/**
 * Every bound the ledger module relies on, named with its unit last.
 *
 * The batch and query bounds come from TigerBeetle 0.17.9: a request is one 1 MiB message with a
 * 256-byte header, each event is 128 bytes, and one slot is reserved for the multi-batch trailer.
 * The client refuses anything larger with ERR_TOO_MUCH_DATA. See
 * https://docs.tigerbeetle.com/coding/requests/ (batch sizes).
 */
import assert from "node:assert/strict";

/** Size of one TigerBeetle message, header included. */
export const messageSizeBytesMax = 1024 * 1024;
/** Size of a TigerBeetle message header. */
export const messageHeaderSizeBytes = 256;
/** Size of one Account or Transfer on the wire. */
export const eventSizeBytes = 128;

/** Events per create or lookup request. */
export const batchEventsMax = 8189;
/** `limit` of one get_account_transfers / get_account_balances / query_* request. */
export const queryLimitMax = 8189;

/** Replica addresses a client may be given (TigerBeetle clusters have at most six replicas). */
export const replicaAddressesMax = 6;

/**
 * How long `createLedgerClient` waits for TigerBeetle's first answer before giving up. The real
 * client retries a refused connection forever, so without this bound start-up would hang.
 */
export const connectTimeoutMsDefault = 5_000;
export const connectTimeoutMsMax = 60_000;

/**
 * How long one ledger request may wait for its answer (see deadline.ts). TigerBeetle itself
 * never gives up: without quorum a request waits until quorum returns. A few seconds, so that a
 * replica failing over (well under a second) is never mistaken for an outage, and short enough
 * that the HTTP edge still answers 503 within its own request deadline.
 */
export const requestTimeoutMsDefault = 2_000;
export const requestTimeoutMsMax = 60_000;
/**
 * Ledger requests that may wait at once. While the ledger does not answer, timed-out requests
 * stay queued in the client; past this bound new ones fail at once rather than pile up.
 */
export const requestsInFlightMax = 4_096;

/** How long closing the ledger client may take during shutdown before the process gives up. */
export const closeTimeoutMs = 10_000;

/** Largest amount TigerBeetle accepts (u128). Posting `amountMax` means "everything" there. */
export const amountMax = 2n ** 128n - 1n;

// Relations between the constants, checked once at module load.
const trailerEvents = 1;
assert.equal(
  batchEventsMax,
  Math.floor((messageSizeBytesMax - messageHeaderSizeBytes) / eventSizeBytes) - trailerEvents,
  "batchEventsMax must match what one TigerBeetle message holds",
);
assert.ok(queryLimitMax <= batchEventsMax, "a query page must fit in one reply message");
assert.ok(replicaAddressesMax >= 1, "a cluster has at least one replica");
assert.ok(connectTimeoutMsDefault > 0, "connect timeout must be positive");
assert.ok(connectTimeoutMsDefault <= connectTimeoutMsMax, "default connect timeout within bound");
assert.ok(requestTimeoutMsDefault > 0, "request timeout must be positive");
assert.ok(requestTimeoutMsDefault <= requestTimeoutMsMax, "default request timeout within bound");
assert.ok(requestTimeoutMsMax < 2 ** 31, "request timeout must fit a Node.js timer");
assert.ok(requestsInFlightMax >= 1, "at least one request may be in flight");
assert.ok(closeTimeoutMs > 0, "close timeout must be positive");
// Timers in Node.js overflow above 2^31 - 1 ms and then fire immediately.
assert.ok(connectTimeoutMsMax < 2 ** 31, "connect timeout must fit a Node.js timer");
assert.ok(closeTimeoutMs < 2 ** 31, "close timeout must fit a Node.js timer");
