/**
 * One org's reconciliation: walks every kind of ledger-backed row (documents.ts) by keyset pages,
 * looks each page's recorded transfers and wallets up in the ledger in batched requests, compares
 * (compare.ts), then lists the intents pending too long. Memory holds one page and the first
 * mismatches, whatever the org's size.
 */
import assert from "node:assert/strict";
import { and, eq } from "drizzle-orm";
import { type LedgerApi, lookupAccountsById, lookupTransfersById } from "../../ledger/index.ts";
import type {
  DbDeps,
  ReconciliationCounts,
  ReconciliationMismatch,
} from "../../membership/index.ts";
import { reconciliationMismatchesStoredMax } from "../../membership/index.ts";
import { orgLedgers } from "../../membership/store/schema.ts";
import { compareTransfer, compareWallet, type ExpectedDocument } from "./compare.ts";
import { type ReconciledOrg, reconciledKinds } from "./documents.ts";
import { documentsPageMax, documentsPagesMax, staleIntentSecondsMin } from "./limits.ts";

export interface ReconcileOrgDeps extends DbDeps {
  ledger: LedgerApi;
}

export interface ReconcileOrgInput {
  orgId: string;
  /** Now, by the caller's clock: intents written before now − 5 min are stale. */
  now: Date;
  /** Rows per page (tests use small pages to cross page boundaries); default `documentsPageMax`. */
  pageSize?: number;
}

export interface ReconcileOrgResult {
  checked: ReconciliationCounts;
  /** The first mismatches found, at most `reconciliationMismatchesStoredMax`. */
  mismatches: ReconciliationMismatch[];
  mismatchCount: number;
}

/** Keeps the first mismatches and counts them all. */
class MismatchList {
  readonly kept: ReconciliationMismatch[] = [];
  count = 0;

  add(found: readonly ReconciliationMismatch[]): void {
    for (const mismatch of found) {
      this.count += 1;
      if (this.kept.length < reconciliationMismatchesStoredMax) {
        this.kept.push(mismatch);
      }
    }
  }
}

/** The org's points ledger; an org without one has nothing on the ledger to reconcile. */
async function pointsLedgerOf(deps: DbDeps, orgId: string): Promise<number | null> {
  const [row] = await deps.db
    .select({ ledger: orgLedgers.ledger })
    .from(orgLedgers)
    .where(and(eq(orgLedgers.orgId, orgId), eq(orgLedgers.unit, "points")))
    .limit(1);
  return row?.ledger ?? null;
}

/** Looks up one page's transfers and wallets and compares them with the page's documents. */
async function comparePage(
  ledger: LedgerApi,
  documents: readonly ExpectedDocument[],
  found: MismatchList,
): Promise<{ transfers: number; wallets: number }> {
  const transferIds = documents.flatMap((document) => document.transfers.map((t) => t.id));
  const walletIds = documents.flatMap((document) => document.wallets.map((w) => w.accountId));
  // An empty list costs no request: the lookups send one per batch of ids.
  const transfers = await lookupTransfersById(ledger, transferIds);
  const accounts = await lookupAccountsById(ledger, walletIds);
  for (const expected of documents) {
    found.add(expected.defects);
    for (const transfer of expected.transfers) {
      found.add(compareTransfer(expected.document, transfer, transfers.get(transfer.id)));
    }
    for (const wallet of expected.wallets) {
      found.add(compareWallet(expected.document, wallet, accounts.get(wallet.accountId)));
    }
  }
  return { transfers: transferIds.length, wallets: walletIds.length };
}

/**
 * Compares everything the org's posted rows say the ledger holds with what it holds.
 *
 * @example
 * const { checked, mismatches } = await reconcileOrg(deps, { orgId, now: new Date() });
 */
export async function reconcileOrg(
  deps: ReconcileOrgDeps,
  input: ReconcileOrgInput,
): Promise<ReconcileOrgResult> {
  const pageSize = input.pageSize ?? documentsPageMax;
  assert.ok(Number.isInteger(pageSize) && pageSize > 0, "a page holds rows");
  assert.ok(pageSize <= documentsPageMax, "pages are bounded");
  const checked: ReconciliationCounts = { documents: 0, transfers: 0, wallets: 0 };
  const found = new MismatchList();
  const pointsLedger = await pointsLedgerOf(deps, input.orgId);
  if (pointsLedger === null) {
    return { checked, mismatches: [], mismatchCount: 0 };
  }
  const org: ReconciledOrg = { orgId: input.orgId, pointsLedger };
  for (const kind of reconciledKinds) {
    let after: string | null = null;
    let complete = false;
    for (let page = 0; page < documentsPagesMax; page += 1) {
      const { documents, next } = await kind.page(deps, org, after, pageSize);
      const looked = await comparePage(deps.ledger, documents, found);
      checked.documents += kind.countsAsDocuments ? documents.length : 0;
      checked.transfers += looked.transfers;
      checked.wallets += looked.wallets;
      if (next === null) {
        complete = true;
        break;
      }
      // Keys compare in the database's collation (text keys), so only "moved" is checked here.
      assert.notEqual(next, after, "keyset pages move forward");
      after = next;
    }
    assert.ok(complete, `${kind.table}: more pages than documentsPagesMax`);
  }
  const cutoff = new Date(input.now.getTime() - staleIntentSecondsMin * 1000);
  for (const kind of reconciledKinds) {
    found.add(await kind.stale(deps, org, cutoff));
  }
  assert.ok(found.kept.length <= found.count, "every kept mismatch is counted");
  return { checked, mismatches: found.kept, mismatchCount: found.count };
}
