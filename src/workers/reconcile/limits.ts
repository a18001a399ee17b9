/**
 * Every bound the reconciliation relies on, named once.
 */
import assert from "node:assert/strict";
import { ledgerLimits, lookupIdsMax } from "../../ledger/index.ts";
import { membershipLimits, reconciliationMismatchesStoredMax } from "../../membership/index.ts";

/**
 * Rows one keyset page reads: a run holds one page, its transfers and its wallets in memory at a
 * time, and looks their ids up in requests of up to `batchEventsMax`.
 */
export const documentsPageMax = 4_096;
/** Transfers one document records: a purchase's earn and a stamp grant per program. */
export const transfersPerDocumentMax = 1 + membershipLimits.stampProgramsPerOrgMax;
/** Pages one kind of document may take before the run gives up: 400 million rows. */
export const documentsPagesMax = 100_000;
/** An intent still pending this long after it was written is flagged. */
export const staleIntentSecondsMin = 5 * 60;
/** Stale intents listed per kind of document and run (each one is a mismatch). */
export const staleIntentsPerKindMax = reconciliationMismatchesStoredMax;

assert.ok(documentsPageMax * transfersPerDocumentMax <= lookupIdsMax, "a page fits one lookup");
assert.ok(documentsPageMax >= ledgerLimits.batchEventsMax / 2, "pages fill ledger requests");
assert.ok(staleIntentSecondsMin > 0, "stale means older than a positive age");

/**
 * A run still `running` this long after it started has lost its job (its process died on the
 * last attempt): the nightly tick fails it. Far longer than any attempt with its retries takes.
 */
export const reconciliationAbandonedAfterMs = 12 * 60 * 60 * 1000;
/** Pages of orgs one nightly tick may fan out to: 500 × 10,000 orgs. */
export const scheduledOrgPagesMax = 10_000;
