/**
 * Every bound the HTTP edge checks, named once. Request schemas refer to these; the membership
 * module asserts its own copies, and the relations between the two are checked at load below.
 */
import assert from "node:assert/strict";
import { holdSecondsMax, ledgerLimits } from "../ledger/index.ts";
import { membershipLimits } from "../membership/index.ts";

/** Request bodies of every route but the batch. */
export const bodyBytesMax = 64 * 1024;
/** `POST /v1/transactions/batch`: 1,000 transactions of a few hundred bytes each. */
export const batchBodyBytesMax = 1024 * 1024;
/** `POST /v1/events`: 1,000 events, each a transaction's body in an envelope of ~200 bytes. */
export const eventsBodyBytesMax = 2 * 1024 * 1024;
/** `POST /v1/imports/members`: a member file of up to 50 MB, streamed, never held whole. */
export const importBodyBytesMax = 50 * 1024 * 1024;
/** Events one `POST /v1/events` may carry. */
export const eventsPerRequestMax = membershipLimits.inboxEventsPerRequestMax;

/** Minor units of a purchase, refund or item: integers from 1 to 10^12. */
export const amountMinorMin = 1;
export const amountMinorMax = 1_000_000_000_000;
/** Points of one redemption: the ledger's per-transfer bound. */
export const redemptionPointsMax = Number(membershipLimits.documentPointsMax);
/** Units of a reward one redemption may take. */
export const rewardQuantityMax = membershipLimits.rewardQuantityMax;
export const holdSecondsMaxValue = holdSecondsMax;

/** Lines of one purchase. */
export const purchaseItemsMax = membershipLimits.purchaseItemsMax;
/** Transactions of one batch. */
export const batchTransactionsMax = 1_000;
export const itemQuantityMax = membershipLimits.itemQuantityMax;

export const externalIdLengthMax = membershipLimits.externalIdLengthMax;
export const externalRefLengthMax = membershipLimits.externalRefLengthMax;
export const locationLengthMax = membershipLimits.externalRefLengthMax;
export const skuLengthMax = membershipLimits.skuLengthMax;
export const categoryLengthMax = membershipLimits.categoryLengthMax;
export const emailLengthMax = membershipLimits.emailLengthMax;
export const phoneLengthMax = membershipLimits.phoneLengthMax;
export const personNameLengthMax = membershipLimits.personNameLengthMax;
export const orgNameLengthMax = membershipLimits.orgNameLengthMax;
export const stampProgramNameLengthMax = membershipLimits.stampProgramNameLengthMax;
export const stampsPerCardMax = membershipLimits.stampsRequiredMax;
export const stampEarnCategoriesMax = membershipLimits.stampEarnCategoriesMax;
export const stampEarnSkusMax = membershipLimits.stampEarnSkusMax;
export const slugLengthMax = 64;
export const timezoneLengthMax = 64;
/** Ids in paths are UUIDs; anything longer is refused before it reaches a query. */
export const idLengthMax = 64;
/** History cursors are short base64url strings. */
export const cursorLengthMax = 128;
export const historyPageDefault = 50;
export const historyPageMax = membershipLimits.historyPageMax;
/** `Authorization: Bearer <token>`: longer tokens are not ours. */
export const bearerTokenLengthMax = membershipLimits.apiKeyTokenLengthMax;

/**
 * Member app tokens (JWT HS256). Ours are about 300 characters; a longer bearer is not ours and
 * is refused before it is decoded.
 */
export const memberTokenLengthMax = 1_024;
/** MEMBER_TOKEN_TTL_SECONDS when unset (config.ts has the same default and the bounds). */
export const memberTokenTtlSecondsDefault = 15 * 60;
/** A token may say it was issued this far in our future (another replica's clock runs ahead). */
export const memberTokenClockSkewSeconds = 60;

/** `Idempotency-Key`: 1..255 printable ASCII characters (a UUID fits with room to spare). */
export const idempotencyKeyLengthMax = 255;
/** A response is replayed for this long; afterwards the key may be used again. */
export const idempotencyRetentionMs = 24 * 60 * 60 * 1000;
/**
 * How long a request may hold its key in flight. A process that crashed mid-request leaves the
 * key locked; after this the same request may take it over. Longer than any request can run.
 */
export const idempotencyLeaseMs = 60 * 1000;
/** Idempotency rows deleted per sweep statement. */
export const idempotencySweepRowsMax = 10_000;

/** A readiness probe waits this long for each dependency. */
export const readinessTimeoutMs = 2_000;
/**
 * The last guard of the failure contract: a request whose handler has not answered within this
 * long is answered 503 with `Retry-After` (deadline.ts), while its work may go on in the
 * background. Below the 3 s promised to clients, above the ledger's own request deadline and
 * Postgres' connect deadline, so those answer first with their own reason when they can.
 */
export const requestDeadlineMs = 2_500;
/**
 * A route that enqueues a job waits this long for Redis to take it, then answers 503: BullMQ
 * waits for its connection to come up, so an unreachable Redis would otherwise hold the request
 * until the edge deadline. Well below `requestDeadlineMs`, leaving time to record the refusal.
 */
export const jobEnqueueTimeoutMs = 1_000;
/**
 * The deadline of `POST /v1/imports/members` instead of `requestDeadlineMs`: the request lasts
 * as long as the client takes to send the file, and its rows are staged as they arrive.
 */
export const importRequestDeadlineMs = 10 * 60 * 1000;
/** `Retry-After` of every 503: the pool reconnects and the ledger client retries within it. */
export const unavailableRetryAfterSeconds = 1;
/** Redis gives up on a rate-limit command after this long (and the request is let through). */
export const redisCommandTimeoutMs = 500;
/** Request ids taken from `X-Request-Id` are at most this long. */
export const requestIdLengthMax = 128;

// The edge must never accept what the domain is bound to refuse or cannot represent.
assert.equal(
  BigInt(amountMinorMax),
  membershipLimits.amountMinorMax,
  "amount bound is the domain's",
);
assert.ok(Number.isSafeInteger(redemptionPointsMax), "redemption points are safe integers");
assert.ok(batchTransactionsMax <= membershipLimits.purchaseBatchItemsMax, "batch within domain");
assert.ok(historyPageDefault <= historyPageMax, "default page within the bound");
assert.ok(idempotencyLeaseMs < idempotencyRetentionMs, "a lease is shorter than retention");
assert.ok(
  ledgerLimits.requestTimeoutMsDefault < requestDeadlineMs,
  "a ledger request times out before the request deadline",
);
assert.ok(readinessTimeoutMs < requestDeadlineMs, "/ready answers before the request deadline");
assert.ok(
  membershipLimits.poolConnectTimeoutSeconds * 1000 < requestDeadlineMs,
  "a Postgres connection attempt gives up before the request deadline",
);
assert.ok(requestDeadlineMs < idempotencyLeaseMs, "work past the deadline keeps its key leased");

/**
 * How long an authenticated API key is trusted without asking Postgres again. A key revoked by
 * another process (the CLI, another replica) stops working within this time; it keeps the
 * per-request cost of authentication off Postgres.
 */
export const apiKeyCacheTtlMs = 5_000;
/** Authenticated keys kept in memory at once; the oldest is dropped first. */
export const apiKeyCacheEntriesMax = 10_000;

assert.ok(jobEnqueueTimeoutMs < requestDeadlineMs, "an enqueue gives up before the edge does");
