/**
 * Every bound the membership module relies on, named once. The HTTP layer validates input
 * against the string limits; the pool and timeout values are passed to the driver explicitly.
 */
import assert from "node:assert/strict";
import { historyPageMax as ledgerHistoryPageMax, pointsPerTransferMax } from "../ledger/index.ts";

/** Idle pooled connections are closed after this long. */
export const poolIdleTimeoutSeconds = 30;
/** Giving up on opening a connection after this long beats hanging start-up or a request. */
export const connectTimeoutSeconds = 10;
/**
 * A pooled connection that is not ready (TCP, TLS, authentication) within this long fails, and
 * the query waiting for it fails with CONNECT_TIMEOUT: 503 at the HTTP edge. It covers a server
 * that accepts connections and never answers. Below the HTTP request deadline.
 */
export const poolConnectTimeoutSeconds = 2;
/**
 * The pool's pause before reconnecting after a failed connection grows with each failure, up to
 * this. postgres.js would let it grow to 20 s, and every query waits out that pause before even
 * trying: a request could wait half a minute for a database that was back long before.
 */
export const poolReconnectBackoffSecondsMax = 0.5;
/** The first pause after a failure; doubled after each further one, up to the bound above. */
export const poolReconnectBackoffSecondsMin = 0.05;
/** Connections are recycled after this long so server-side memory and plans do not pile up. */
export const connectionLifetimeSeconds = 30 * 60;
/** `close()` waits this long for queries in flight before cutting connections. */
export const closeTimeoutSeconds = 5;
/** Creating a database and running migrations may legitimately take longer than a request. */
export const migrationStatementTimeoutMs = 120_000;

/** Longest API key token we will hash; anything longer is not ours and is refused unhashed. */
export const apiKeyTokenLengthMax = 128;
/** Characters of the token kept in `api_keys.prefix`. */
export const apiKeyPrefixLength = 12;

export const orgNameLengthMax = 200;
export const apiKeyNameLengthMax = 100;
export const externalRefLengthMax = 128;
export const emailLengthMax = 254;
export const phoneLengthMax = 32;
export const personNameLengthMax = 100;
export const tierReasonLengthMax = 200;
/** A manual tier override's reason, kept on the member, in the history and the audit log. */
export const tierOverrideReasonLengthMax = 200;
/** How far ahead an override's `expires_at` may lie: ten years. */
export const tierOverrideDaysMax = 3_660;

/** Members returned by one e-mail lookup; more than a handful means the data needs a look. */
export const membersByEmailMax = 50;
/** Tier history rows returned by one read. */
export const tierHistoryMax = 500;
/** Tiers one tier set (a ladder) may have; listing a ladder reads at most this many. */
export const tiersPerOrgMax = 32;
/** Tier sets an org may have: the default one and a few more ("Dining", "Retail"). */
export const tierSetsPerOrgMax = 8;
/**
 * The `statement_timeout` of a switch of the earning set's transaction (manage-tier-sets.ts), in
 * place of the pool's: its statements touch every member of the org at once (about 17 s for
 * 100,000 members on the development machine, `npm run bench:earning-switch`), far beyond the
 * 5 s a request's statement gets. All or nothing either way.
 */
export const earningSwitchStatementTimeoutMs = 10 * 60 * 1000;
export const tierSetNameLengthMax = 100;
export const tierNameLengthMax = 100;
/** Largest tier multiplier, in basis points: 100x. */
export const tierMultiplierBpsMax = 1_000_000;
/** Largest tier threshold: points or minor units, within a safe JSON integer. */
export const tierThresholdMax = 2n ** 53n - 1n;
/** Benefits an org may describe, and benefits one tier may give. */
export const benefitsPerOrgMax = 500;
export const benefitsPerTierMax = 32;
export const benefitNameLengthMax = 100;
export const benefitDescriptionLengthMax = 1_000;
/** Members one page of a tier simulation or re-evaluation reads. */
export const tierWalkPageMax = 500;
/** Pages one walk over an org's members may take: 500 × 4,000 = two million members. */
export const tierWalkPagesMax = 4_000;

// Ledger-backed documents: purchases, refunds, redemptions, adjustments.

/** Longest idempotency key (POS transaction id, redemption or adjustment id) we accept. */
export const externalIdLengthMax = 128;
/** Largest purchase or refund amount in minor units; also keeps the spend within u64. */
export const amountMinorMax = 10n ** 12n;
/** Lines of one purchase. */
export const purchaseItemsMax = 200;
/** Units of one purchase line. */
export const itemQuantityMax = 10_000;
export const skuLengthMax = 64;
export const categoryLengthMax = 64;
/** A purchase dated further ahead than this is refused; POS clocks drift, but not by days. */
export const occurredAtFutureSkewMsMax = 24 * 60 * 60 * 1000;
/** Earliest `occurredAt` (Unix ms): the time is a purchase's UUIDv7 timestamp, never negative. */
export const occurredAtMsMin = 0;
/** Purchases in one offline-sync batch. */
export const purchaseBatchItemsMax = 1_000;
/** Points one redemption or adjustment may move (the ledger's per-transfer bound). */
export const documentPointsMax = 10n ** 15n;
export const adjustmentReasonLengthMax = 200;
export const stampProgramNameLengthMax = 100;
/** Stamp programs per org; a purchase reads all the active ones. */
export const stampProgramsPerOrgMax = 16;
export const stampsRequiredMax = 1_000;
/** A promo code's length after normalisation (upper-case NFKC, [A-Z0-9-]). */
export const codeLengthMin = 4;
export const codeLengthMax = 64;
/** Characters of a code kept in clear, to tell codes apart in a listing. */
export const codePrefixLength = 3;
/** Promo codes per org: the listing returns them all in one page. */
export const codesPerOrgMax = 1_000;
/** Rewards in an org's catalog: the listing returns them all in one page. */
export const rewardsPerOrgMax = 1_000;
export const rewardNameLengthMax = 100;
export const rewardDescriptionLengthMax = 1_000;
/** A reward's per-member limit, and its inventory, stay within this bound. */
export const rewardCountMax = 1_000_000_000;
/** Rules an org may have that are not deleted: a purchase evaluates every active one. */
export const earningRulesPerOrgMax = 100;
/** Versions of one earning rule (edits + 1); a rule past it is replaced by a new one. */
export const earningRuleVersionsMax = 1_000;
export const earningRuleNameLengthMax = 100;
/** Categories, skus or locations one earning rule may name. */
export const earningRuleValuesMax = 100;
/** Tiers a campaign may be limited to. */
export const earningRuleTiersMax = 32;
/** Largest multiplier of an earning rule: ×100, in basis points. */
export const earningMultiplierBpsMax = 1_000_000;
/** Campaign priorities lie in [0, this]; a larger number is taken first. */
export const earningRulePriorityMax = 1_000_000;
/** A page of `GET /v1/earning-rules`. */
export const earningRulesPageMax = 200;
/**
 * How long a process keeps an org's active earning rules: an edit made in another process applies
 * to purchases within this time (in the editing process at once).
 */
export const earningRulesCacheTtlMs = 5_000;
/** Rule versions one process remembers (read by refunds and history; immutable). */
export const earningRuleVersionCacheEntriesMax = 50_000;
/** Units of a reward one redemption may take. */
export const rewardQuantityMax = 100;
/** Categories, and skus, one stamp program's earn rule may name. */
export const stampEarnCategoriesMax = 50;
export const stampEarnSkusMax = 100;
/** Card completions one purchase may trigger per program; a bound on the completion loop. */
export const completionsPerPurchaseMax = 64;
/** Ledgers one org may have: points, inventory, and one per stamp program. */
export const ledgersPerOrgMax = 2 + stampProgramsPerOrgMax;
/** Attempts at allocating the next location number when concurrent inserts take it first. */
export const locationAllocationAttemptsMax = 8;
/** Wallet reads or single-event ledger requests in flight at once from one use case. */
export const ledgerRequestsInFlightMax = 32;
/** Intent rows one recovery pass may re-drive. */
export const recoveryBatchMax = 1_000;
/** Largest page of member history (the ledger's bound). */
export const historyPageMax = 200;
/** Expiry times listed in a member's balances (`expiring`): the soonest this many. */
export const expiringEntriesMax = 100;
/** Members one expiry job handles before it hands the rest of the org to the next job. */
export const expiryMembersPerJobMax = 500;

// Coalescing single purchases (purchases/batcher.ts) and the caches of the hot paths (caches.ts).

/** Purchases one coalesced batch carries at most: the batch route's own bound. */
export const coalescedPurchasesMax = purchaseBatchItemsMax;
/**
 * Coalesced batches in flight at once: one inserting its intents (the batcher never runs two of
 * those, so purchases that arrive meanwhile form one next batch rather than several small ones)
 * and one posting and marking. Measured with `npm run bench:http` at 50 connections on 2 cores.
 */
export const coalescedBatchesInFlightMax = 2;
/** Purchases waiting for a batch; beyond this `recordPurchase` refuses at once (overload). */
export const purchaseQueueMax = 20 * coalescedPurchasesMax;
/** How stale an org's settings and stamp programs may be in another process's cache. */
export const orgCacheTtlMs = 5_000;
/** Orgs whose settings, points ledger and stamp programs one process keeps. */
export const orgCacheEntriesMax = 10_000;
/** Members (existence, finished enrollment, opened stamp cards) one process remembers. */
export const memberCacheEntriesMax = 200_000;
/** Locations one process remembers. */
export const placeCacheEntriesMax = 50_000;
/**
 * Rounds a purchase batch may take to resolve a request whose member changed (suspended, new
 * tier) between being read and the intent insert, which re-checks it.
 */
export const memberResolveAttemptsMax = 3;

// The inbox of asynchronous events (POST /v1/events).

/** Events one `POST /v1/events` may carry; stored with one insert of 11 parameters per row. */
export const inboxEventsPerRequestMax = 1_000;
/** Queued events a worker reads (and processes) at once: one purchase batch's worth. */
export const inboxEventsPerReadMax = purchaseBatchItemsMax;
/** Orgs with a backlog one sweep announces; the next sweep, a second later, takes the rest. */
export const inboxSweepOrgsMax = 1_000;

// The ledger's bounds these mirror, checked once at module load.
assert.equal(documentPointsMax, pointsPerTransferMax, "document points bound is the ledger's");
assert.equal(historyPageMax, ledgerHistoryPageMax, "history page bound is the ledger's");
assert.ok(amountMinorMax < 2n ** 64n, "a purchase amount fits the transfer's user_data_64");
assert.ok(purchaseBatchItemsMax * (1 + stampProgramsPerOrgMax) <= 2 ** 31, "batch chains bounded");
assert.ok(coalescedPurchasesMax <= purchaseBatchItemsMax, "a coalesced batch is a valid batch");
assert.ok(purchaseQueueMax >= coalescedPurchasesMax, "the queue holds at least one full batch");
assert.ok(completionsPerPurchaseMax >= 1, "a full card can always complete once");
assert.ok(earningMultiplierBpsMax < 2 ** 31, "a multiplier in bps fits an int4");
assert.ok(earningRulesPageMax >= 1 && earningRulesPerOrgMax >= 1, "rule bounds are positive");
assert.ok(stampsRequiredMax < 2 ** 31, "stamps required fit an int4 column");
assert.ok(inboxEventsPerRequestMax * 11 < 65_535, "one insert of a full request fits the protocol");
assert.ok(inboxEventsPerReadMax <= purchaseBatchItemsMax, "a read's purchases form valid batches");

// Member imports (POST /v1/imports/members).

/** Characters of one CSV field kept; a longer one makes its row an error. */
export const importFieldLengthMax = 1_024;
/** Fields of one CSV record kept (the header has at most six). */
export const importFieldsPerRecordMax = 32;
/** Characters of one NDJSON line kept; a longer line is its row's error. */
export const importLineLengthMax = 8_192;
/** Row errors an import keeps (`errors`); beyond them only `error_count` grows. */
export const importErrorsStoredMax = 1_000;
/** Rows staged per insert statement while the body streams in (one JSON parameter). */
export const importStageRowsMax = 1_000;
/** Rows the worker enrolls per batch: one statement, then one ledger round, then one mark. */
export const importBatchRowsMax = 1_000;
/** Batches one job enrolls before it hands the rest to a new job (other imports get a turn). */
export const importBatchesPerJobMax = 200;
/** Largest opening balance of one member: the ledger's per-transfer bound. */
export const importOpeningPointsMax = pointsPerTransferMax;

// The mark of a batch names each member and row: one parameter each.
assert.ok(importBatchRowsMax < 65_535, "one mark statement fits the protocol");
assert.ok(importErrorsStoredMax <= importStageRowsMax * 1_000, "stored errors are bounded");

// Spending insights (GET /v1/members/{id}/insights).

/**
 * Purchases one insights answer reads, newest first, over its two periods; beyond them the
 * answer says `truncated`. One aggregate statement over at most this many rows and their lines.
 */
export const insightPurchasesMax = 10_000;
