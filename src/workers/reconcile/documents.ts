/**
 * The kinds of ledger-backed rows a reconciliation walks, one entry each in `reconciledKinds`:
 * how to read a keyset page of an org's posted rows and what each row says the ledger holds, and
 * how to find the rows still pending too long. A new kind of document (expiries, say) is one
 * more entry: its page reader, its stale-intent reader.
 *
 * Only posted rows are compared: the intent protocol posts to the ledger before it marks a row
 * posted (docs/consistency.md), so a posted row whose transfer is missing is a real defect, never
 * a race with a request in flight.
 */
import assert from "node:assert/strict";
import { and, asc, eq, gt, isNotNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import {
  earnEntryCodes,
  openingBalanceTransferId,
  resolutionTransferId,
  TransferCode,
  uuidToU128,
  walletAccountId,
  welcomeBonusChain,
} from "../../ledger/index.ts";
import type { DbDeps, MismatchDocument, ReconciliationMismatch } from "../../membership/index.ts";
import { buildPurchaseChains } from "../../membership/purchases/posting.ts";
import { expiries } from "../../membership/store/expiry-schema.ts";
import {
  adjustments,
  codeRedemptions,
  importRows,
  imports,
  members,
  posTransactions,
  redemptions,
} from "../../membership/store/schema.ts";
import { parsePurchaseResponse } from "../../membership/store/stored-responses.ts";
import {
  type ExpectedDocument,
  type ExpectedTransfer,
  recordedIdsMismatch,
  staleIntent,
} from "./compare.ts";
import { staleIntentsPerKindMax, transfersPerDocumentMax } from "./limits.ts";

/** The org being reconciled and its points ledger. */
export interface ReconciledOrg {
  orgId: string;
  pointsLedger: number;
}

export interface DocumentsPage {
  documents: ExpectedDocument[];
  /** The keyset cursor after this page; null when it was the last. */
  next: string | null;
}

export interface ReconciledKind {
  /** The table walked, for logs. */
  table: string;
  /** Whether its rows count among `checked.documents` (members count as wallets instead). */
  countsAsDocuments: boolean;
  /** Posted rows with id > `after`, in id order, at most `limit`. */
  page(
    deps: DbDeps,
    org: ReconciledOrg,
    after: string | null,
    limit: number,
  ): Promise<DocumentsPage>;
  /** Rows pending since before `cutoff`, oldest first, at most `staleIntentsPerKindMax`. */
  stale(deps: DbDeps, org: ReconciledOrg, cutoff: Date): Promise<ReconciliationMismatch[]>;
}

/** A page of rows as documents; the cursor is the last row's key (its id unless `keyOf` says). */
function pageOf<Row extends { id: string }>(
  rows: Row[],
  limit: number,
  expect: (row: Row) => ExpectedDocument,
  keyOf: (row: Row) => string = (row) => row.id,
): DocumentsPage {
  assert.ok(rows.length <= limit, "a page holds at most its limit");
  const documents = rows.map(expect);
  for (const document of documents) {
    assert.ok(document.transfers.length <= transfersPerDocumentMax, "transfers per document");
  }
  const last = rows[rows.length - 1];
  return { documents, next: rows.length < limit || last === undefined ? null : keyOf(last) };
}

/**
 * The org's rows after the keyset cursor `after` (null: from the first), by `key`: a column that
 * an index on (org_id, key) orders, so each page is one index range whatever other orgs hold.
 */
function inOrgAfter(
  orgColumn: AnyPgColumn,
  key: AnyPgColumn,
  org: ReconciledOrg,
  after: string | null,
): SQL | undefined {
  return and(eq(orgColumn, org.orgId), after === null ? undefined : gt(key, after));
}

/** The org's rows still `pending` (as `pending` says) and written before `cutoff`. */
function inOrgPendingBefore(
  table: { orgId: AnyPgColumn; createdAt: AnyPgColumn },
  pending: SQL,
  org: ReconciledOrg,
  cutoff: Date,
): SQL | undefined {
  return and(eq(table.orgId, org.orgId), pending, lt(table.createdAt, cutoff));
}

type PosTransactionRow = typeof posTransactions.$inferSelect;

function posDocument(row: Pick<PosTransactionRow, "kind" | "id" | "externalId" | "memberId">) {
  return { kind: row.kind, id: row.id, externalId: row.externalId, memberId: row.memberId };
}

/**
 * A purchase records its earn transfer (every purchase posts one, 0 points included), then one
 * stamp grant per program, in that order (purchases/posting.ts). The earn carries the spend and
 * names the purchase; stamps go to the member's wallet on each program's ledger.
 */
function expectPurchase(org: ReconciledOrg, row: PosTransactionRow): ExpectedDocument {
  if (row.earning !== null) {
    return expectPurchaseEntries(org, row);
  }
  const document = posDocument(row);
  const expected: ExpectedDocument = { document, transfers: [], wallets: [], defects: [] };
  const ids = row.transferIds.map((id) => BigInt(id));
  if (ids.length !== row.stamps.length + 1) {
    expected.defects.push(recordedIdsMismatch(document, row.stamps.length + 1, ids.length));
    return expected;
  }
  const [earnId, ...stampIds] = ids;
  assert.ok(earnId !== undefined, "a purchase records its earn first");
  expected.transfers.push({
    id: earnId,
    code: TransferCode.purchaseEarn,
    phase: "single",
    amount: row.points,
    walletSide: "credit",
    walletAccountId: walletAccountId(org.pointsLedger, row.memberId),
    spendMinor: row.amountMinor,
    documentU128: uuidToU128(row.id),
  });
  row.stamps.forEach((grant, index) => {
    const id = stampIds[index];
    assert.ok(id !== undefined, "one id per stamp grant");
    expected.transfers.push({
      id,
      code: TransferCode.stampEarn,
      phase: "single",
      amount: BigInt(grant.stamps),
      walletSide: "credit",
      walletAccountId: walletAccountId(grant.ledger, row.memberId),
      documentU128: uuidToU128(row.id),
    });
  });
  return expected;
}

/**
 * A purchase with entries (rules, campaigns, tier, caps) records, after any cap reservations,
 * one transfer per entry (the base with the spend), then its stamp grants. Each entry credits
 * what the stored breakdown says it earned (after caps). Cap reservations and their posts move
 * allowance, not points: they are not compared here.
 */
function expectPurchaseEntries(org: ReconciledOrg, row: PosTransactionRow): ExpectedDocument {
  const document = posDocument(row);
  const expected: ExpectedDocument = { document, transfers: [], wallets: [], defects: [] };
  const { chains } = buildPurchaseChains({
    row,
    pointsLedger: org.pointsLedger,
    locationNumber: 0,
  });
  const legs = chains.flat();
  const ids = row.transferIds.map((id) => BigInt(id));
  if (ids.length !== legs.length) {
    expected.defects.push(recordedIdsMismatch(document, legs.length, ids.length));
    return expected;
  }
  const earned = row.status === "posted" ? parsePurchaseResponse(row.response).breakdown : [];
  const finalOf = (kind: string, ruleTag: bigint): bigint => {
    const line = earned.find(
      (candidate) =>
        candidate.kind === kind &&
        (candidate.ruleId === undefined ? 0n : uuidToU128(candidate.ruleId) >> 64n) === ruleTag,
    );
    return line?.points ?? 0n;
  };
  legs.forEach((leg, index) => {
    const id = ids[index];
    assert.ok(id !== undefined, "one recorded id per leg");
    if (leg.code === TransferCode.capReservation) {
      return;
    }
    const kind = Object.entries(earnEntryCodes).find(([, code]) => code === leg.code)?.[0];
    const base = leg.code === TransferCode.purchaseEarn;
    expected.transfers.push({
      id,
      code: leg.code,
      phase: "single",
      amount: kind !== undefined ? finalOf(kind, base ? 0n : leg.user_data_64) : leg.amount,
      walletSide: "credit",
      walletAccountId: leg.credit_account_id,
      ...(base ? { spendMinor: row.amountMinor } : {}),
      documentU128: uuidToU128(row.id),
    });
  });
  return expected;
}

/**
 * A refund records its reversal: wallet → issuance, a balancing debit that moves what the wallet
 * held (`points − shortfall`), carrying the refunded amount and naming the refunded purchase.
 */
function expectRefund(org: ReconciledOrg, row: PosTransactionRow): ExpectedDocument {
  const document = posDocument(row);
  const expected: ExpectedDocument = { document, transfers: [], wallets: [], defects: [] };
  assert.ok(row.purchaseId !== null, "a refund names its purchase");
  const [id, ...others] = row.transferIds.map((text) => BigInt(text));
  if (id === undefined || others.length > 0) {
    expected.defects.push(recordedIdsMismatch(document, 1, row.transferIds.length));
    return expected;
  }
  const shortfall = row.shortfall ?? 0n;
  assert.ok(shortfall >= 0n && shortfall <= row.points, "a shortfall is part of the points");
  expected.transfers.push({
    id,
    code: TransferCode.refundReversal,
    phase: "single",
    amount: row.points - shortfall,
    walletSide: "debit",
    walletAccountId: walletAccountId(org.pointsLedger, row.memberId),
    spendMinor: row.amountMinor,
    documentU128: uuidToU128(row.purchaseId),
  });
  return expected;
}

const posTransactionsKind: ReconciledKind = {
  table: "pos_transactions",
  countsAsDocuments: true,
  async page(deps, org, after, limit) {
    const rows = await deps.db
      .select()
      .from(posTransactions)
      .where(
        and(
          inOrgAfter(posTransactions.orgId, posTransactions.id, org, after),
          eq(posTransactions.status, "posted"),
        ),
      )
      .orderBy(asc(posTransactions.id))
      .limit(limit);
    return pageOf(rows, limit, (row) =>
      row.kind === "purchase" ? expectPurchase(org, row) : expectRefund(org, row),
    );
  },
  async stale(deps, org, cutoff) {
    const rows = await deps.db
      .select({
        kind: posTransactions.kind,
        id: posTransactions.id,
        externalId: posTransactions.externalId,
        memberId: posTransactions.memberId,
        createdAt: posTransactions.createdAt,
      })
      .from(posTransactions)
      .where(
        inOrgPendingBefore(posTransactions, eq(posTransactions.status, "pending"), org, cutoff),
      )
      .orderBy(asc(posTransactions.createdAt))
      .limit(staleIntentsPerKindMax);
    return rows.map((row) => staleIntent(posDocument(row), row.createdAt));
  },
};

type RedemptionRow = typeof redemptions.$inferSelect;

function redemptionDocument(row: Pick<RedemptionRow, "id" | "externalId" | "memberId">) {
  return { kind: "redemption", id: row.id, externalId: row.externalId, memberId: row.memberId };
}

/**
 * A redemption whose hold the ledger accepted records the hold (a pending transfer of the
 * points); fulfilled or cancelled, also the post or void of that hold, which the ledger stores
 * with the hold's amount and accounts. An expired hold has nothing more to show.
 */
function expectRedemption(org: ReconciledOrg, row: RedemptionRow): ExpectedDocument {
  const document: MismatchDocument = redemptionDocument(row);
  const wallet = walletAccountId(org.pointsLedger, row.memberId);
  const holdId = BigInt(row.holdTransferId);
  const transfers: ExpectedTransfer[] = [
    {
      id: holdId,
      code: TransferCode.redemption,
      phase: "pending",
      amount: row.points,
      walletSide: "debit",
      walletAccountId: wallet,
      documentU128: uuidToU128(row.id),
    },
  ];
  if (row.status === "fulfilled" || row.status === "cancelled") {
    const resolution = row.status === "fulfilled" ? "fulfil" : "cancel";
    transfers.push({
      id: resolutionTransferId({ orgId: org.orgId, redemptionId: row.id, resolution }),
      code: TransferCode.redemption,
      phase: resolution === "fulfil" ? "post" : "void",
      amount: row.points,
      walletSide: "debit",
      walletAccountId: wallet,
      pendingId: holdId,
    });
  }
  return { document, transfers, wallets: [], defects: [] };
}

const redemptionsKind: ReconciledKind = {
  table: "redemptions",
  countsAsDocuments: true,
  async page(deps, org, after, limit) {
    const rows = await deps.db
      .select()
      .from(redemptions)
      .where(
        and(
          inOrgAfter(redemptions.orgId, redemptions.id, org, after),
          eq(redemptions.holdStatus, "posted"),
        ),
      )
      .orderBy(asc(redemptions.id))
      .limit(limit);
    return pageOf(rows, limit, (row) => expectRedemption(org, row));
  },
  async stale(deps, org, cutoff) {
    // Two intents live on a redemption: the hold, and a resolution asked for but not confirmed.
    const rows = await deps.db
      .select({
        id: redemptions.id,
        externalId: redemptions.externalId,
        memberId: redemptions.memberId,
        holdStatus: redemptions.holdStatus,
        createdAt: redemptions.createdAt,
        resolutionRequestedAt: redemptions.resolutionRequestedAt,
      })
      .from(redemptions)
      .where(
        and(
          eq(redemptions.orgId, org.orgId),
          or(
            and(eq(redemptions.holdStatus, "pending"), lt(redemptions.createdAt, cutoff)),
            and(
              eq(redemptions.status, "pending"),
              isNotNull(redemptions.resolution),
              lt(redemptions.resolutionRequestedAt, cutoff),
            ),
          ),
        ),
      )
      .orderBy(asc(redemptions.createdAt))
      .limit(staleIntentsPerKindMax);
    return rows.map((row) => {
      const since = row.holdStatus === "pending" ? row.createdAt : row.resolutionRequestedAt;
      assert.ok(since !== null, "a pending resolution has its request time");
      return staleIntent(redemptionDocument(row), since);
    });
  },
};

type AdjustmentRow = typeof adjustments.$inferSelect;

function adjustmentDocument(row: Pick<AdjustmentRow, "id" | "externalId" | "memberId">) {
  return { kind: "adjustment", id: row.id, externalId: row.externalId, memberId: row.memberId };
}

/** An adjustment records one transfer between the adjustments account and the wallet. */
function expectAdjustment(org: ReconciledOrg, row: AdjustmentRow): ExpectedDocument {
  const credit = row.direction === "credit";
  return {
    document: adjustmentDocument(row),
    transfers: [
      {
        id: BigInt(row.transferId),
        code: credit ? TransferCode.adjustmentCredit : TransferCode.adjustmentDebit,
        phase: "single",
        amount: row.points,
        walletSide: credit ? "credit" : "debit",
        walletAccountId: walletAccountId(org.pointsLedger, row.memberId),
        documentU128: uuidToU128(row.id),
      },
    ],
    wallets: [],
    defects: [],
  };
}

const adjustmentsKind: ReconciledKind = {
  table: "adjustments",
  countsAsDocuments: true,
  async page(deps, org, after, limit) {
    const rows = await deps.db
      .select()
      .from(adjustments)
      .where(
        and(
          inOrgAfter(adjustments.orgId, adjustments.externalId, org, after),
          eq(adjustments.status, "posted"),
        ),
      )
      .orderBy(asc(adjustments.externalId))
      .limit(limit);
    // Keyed by external id: the unique index (org_id, external_id) orders the org's rows.
    return pageOf(
      rows,
      limit,
      (row) => expectAdjustment(org, row),
      (row) => row.externalId,
    );
  },
  async stale(deps, org, cutoff) {
    const rows = await deps.db
      .select({
        id: adjustments.id,
        externalId: adjustments.externalId,
        memberId: adjustments.memberId,
        createdAt: adjustments.createdAt,
      })
      .from(adjustments)
      .where(inOrgPendingBefore(adjustments, eq(adjustments.status, "pending"), org, cutoff))
      .orderBy(asc(adjustments.createdAt))
      .limit(staleIntentsPerKindMax);
    return rows.map((row) => staleIntent(adjustmentDocument(row), row.createdAt));
  },
};

type CodeRedemptionRow = typeof codeRedemptions.$inferSelect;

function codeRedemptionDocument(row: Pick<CodeRedemptionRow, "id" | "memberId">) {
  return { kind: "code_redemption", id: row.id, externalId: null, memberId: row.memberId };
}

/** A promo code's redemption records one transfer, promotions → wallet. */
function expectCodeRedemption(org: ReconciledOrg, row: CodeRedemptionRow): ExpectedDocument {
  return {
    document: codeRedemptionDocument(row),
    transfers: [
      {
        id: BigInt(row.transferId),
        code: TransferCode.codeRedemption,
        phase: "single",
        amount: row.points,
        walletSide: "credit",
        walletAccountId: walletAccountId(org.pointsLedger, row.memberId),
        documentU128: uuidToU128(row.id),
      },
    ],
    wallets: [],
    defects: [],
  };
}

const codeRedemptionsKind: ReconciledKind = {
  table: "code_redemptions",
  countsAsDocuments: true,
  async page(deps, org, after, limit) {
    const rows = await deps.db
      .select()
      .from(codeRedemptions)
      .where(
        and(
          inOrgAfter(codeRedemptions.orgId, codeRedemptions.id, org, after),
          eq(codeRedemptions.status, "posted"),
        ),
      )
      .orderBy(asc(codeRedemptions.id))
      .limit(limit);
    return pageOf(
      rows,
      limit,
      (row) => expectCodeRedemption(org, row),
      (row) => row.id,
    );
  },
  async stale(deps, org, cutoff) {
    const rows = await deps.db
      .select({
        id: codeRedemptions.id,
        memberId: codeRedemptions.memberId,
        createdAt: codeRedemptions.createdAt,
      })
      .from(codeRedemptions)
      .where(
        inOrgPendingBefore(codeRedemptions, eq(codeRedemptions.status, "pending"), org, cutoff),
      )
      .orderBy(asc(codeRedemptions.createdAt))
      .limit(staleIntentsPerKindMax);
    return rows.map((row) => staleIntent(codeRedemptionDocument(row), row.createdAt));
  },
};

type MemberRow = Pick<
  typeof members.$inferSelect,
  "id" | "externalRef" | "welcomeBonusPoints" | "createdAt"
>;

function memberDocument(row: Pick<MemberRow, "id" | "externalRef">): MismatchDocument {
  return { kind: "member", id: row.id, externalId: row.externalRef, memberId: row.id };
}

/**
 * A member enrolled on the ledger has a wallet on the points ledger naming them, and, when
 * enrollment granted one, the welcome bonus transfer (built by the very function that posts it).
 */
function expectMember(org: ReconciledOrg, row: MemberRow): ExpectedDocument {
  const wallet = walletAccountId(org.pointsLedger, row.id);
  const expected: ExpectedDocument = {
    document: memberDocument(row),
    transfers: [],
    wallets: [{ accountId: wallet, memberU128: uuidToU128(row.id) }],
    defects: [],
  };
  if (row.welcomeBonusPoints > 0n) {
    const [bonus] = welcomeBonusChain({
      orgId: org.orgId,
      ledger: org.pointsLedger,
      memberId: row.id,
      welcomeBonusPoints: row.welcomeBonusPoints,
    });
    assert.ok(bonus !== undefined, "a welcome bonus is one transfer");
    expected.transfers.push({
      id: bonus.id,
      code: TransferCode.welcomeBonus,
      phase: "single",
      amount: row.welcomeBonusPoints,
      walletSide: "credit",
      walletAccountId: wallet,
      documentU128: bonus.user_data_128,
    });
  }
  return expected;
}

const membersKind: ReconciledKind = {
  table: "members",
  countsAsDocuments: false,
  async page(deps, org, after, limit) {
    const rows = await deps.db
      .select({
        id: members.id,
        externalRef: members.externalRef,
        welcomeBonusPoints: members.welcomeBonusPoints,
        createdAt: members.createdAt,
      })
      .from(members)
      .where(
        and(inOrgAfter(members.orgId, members.id, org, after), eq(members.ledgerStatus, "posted")),
      )
      .orderBy(asc(members.id))
      .limit(limit);
    return pageOf(rows, limit, (row) => expectMember(org, row));
  },
  async stale(deps, org, cutoff) {
    const rows = await deps.db
      .select({ id: members.id, externalRef: members.externalRef, createdAt: members.createdAt })
      .from(members)
      .where(inOrgPendingBefore(members, eq(members.ledgerStatus, "pending"), org, cutoff))
      .orderBy(asc(members.createdAt))
      .limit(staleIntentsPerKindMax);
    return rows.map((row) => staleIntent(memberDocument(row), row.createdAt));
  },
};

type ExpiryRow = typeof expiries.$inferSelect;

function expiryDocument(row: Pick<ExpiryRow, "id" | "runDate" | "memberId">): MismatchDocument {
  return { kind: "expiry", id: row.id, externalId: row.runDate, memberId: row.memberId };
}

/**
 * An expiry records its balancing debit wallet → breakage, which moved what the wallet held
 * (`expired_points`, at most the points due) and names the expiry.
 */
function expectExpiry(org: ReconciledOrg, row: ExpiryRow): ExpectedDocument {
  assert.ok(row.expiredPoints !== null, "a posted expiry records what it moved");
  return {
    document: expiryDocument(row),
    transfers: [
      {
        id: BigInt(row.transferId),
        code: TransferCode.expiry,
        phase: "single",
        amount: row.expiredPoints,
        walletSide: "debit",
        walletAccountId: walletAccountId(org.pointsLedger, row.memberId),
        documentU128: uuidToU128(row.id),
      },
    ],
    wallets: [],
    defects: [],
  };
}

/** The cursor of the expiries' keyset: their unique key within the org, (member, run date). */
function expiryKey(row: Pick<ExpiryRow, "memberId" | "runDate">): string {
  return `${row.memberId}/${row.runDate}`;
}

function afterExpiryKey(after: string | null): SQL | undefined {
  if (after === null) {
    return undefined;
  }
  const [memberId, runDate] = after.split("/");
  assert.ok(memberId !== undefined && runDate !== undefined, "an expiry cursor names both");
  return sql`(${expiries.memberId}, ${expiries.runDate}) > (${memberId}::uuid, ${runDate}::date)`;
}

const expiriesKind: ReconciledKind = {
  table: "expiries",
  countsAsDocuments: true,
  async page(deps, org, after, limit) {
    // Keyed by (member, run date): the unique index (org_id, member_id, run_date) orders them.
    const rows = await deps.db
      .select()
      .from(expiries)
      .where(
        and(eq(expiries.orgId, org.orgId), afterExpiryKey(after), eq(expiries.status, "posted")),
      )
      .orderBy(asc(expiries.memberId), asc(expiries.runDate))
      .limit(limit);
    return pageOf(rows, limit, (row) => expectExpiry(org, row), expiryKey);
  },
  async stale(deps, org, cutoff) {
    const rows = await deps.db
      .select({
        id: expiries.id,
        runDate: expiries.runDate,
        memberId: expiries.memberId,
        createdAt: expiries.createdAt,
      })
      .from(expiries)
      .where(inOrgPendingBefore(expiries, eq(expiries.status, "pending"), org, cutoff))
      .orderBy(asc(expiries.createdAt))
      .limit(staleIntentsPerKindMax);
    return rows.map((row) => staleIntent(expiryDocument(row), row.createdAt));
  },
};

type OpeningBalanceRow = Pick<
  typeof importRows.$inferSelect,
  "importId" | "memberId" | "externalRef" | "openingPoints"
>;

function openingBalanceDocument(
  row: Pick<OpeningBalanceRow, "importId" | "memberId" | "externalRef">,
) {
  return {
    kind: "import_row",
    id: row.importId,
    externalId: row.externalRef,
    memberId: row.memberId,
  };
}

/**
 * An imported member's opening balance: one transfer openingBalances → wallet, its id derived
 * from the member, its document the import.
 */
function expectOpeningBalance(org: ReconciledOrg, row: OpeningBalanceRow): ExpectedDocument {
  return {
    document: openingBalanceDocument(row),
    transfers: [
      {
        id: openingBalanceTransferId({ orgId: org.orgId, memberId: row.memberId }),
        code: TransferCode.openingBalance,
        phase: "single",
        amount: row.openingPoints,
        walletSide: "credit",
        walletAccountId: walletAccountId(org.pointsLedger, row.memberId),
        documentU128: uuidToU128(row.importId),
      },
    ],
    wallets: [],
    defects: [],
  };
}

const openingBalancesKind: ReconciledKind = {
  table: "import_rows",
  countsAsDocuments: true,
  async page(deps, org, after, limit) {
    const rows = await deps.db
      .select({
        id: importRows.memberId,
        importId: importRows.importId,
        memberId: importRows.memberId,
        externalRef: importRows.externalRef,
        openingPoints: importRows.openingPoints,
      })
      .from(importRows)
      .where(
        and(
          inOrgAfter(importRows.orgId, importRows.memberId, org, after),
          eq(importRows.ledgerStatus, "posted"),
          gt(importRows.openingPoints, 0n),
        ),
      )
      .orderBy(asc(importRows.memberId))
      .limit(limit);
    // Keyed by member: a member has at most one opening balance.
    return pageOf(rows, limit, (row) => expectOpeningBalance(org, row));
  },
  async stale(deps, org, cutoff) {
    const rows = await deps.db
      .select({
        importId: importRows.importId,
        memberId: importRows.memberId,
        externalRef: importRows.externalRef,
        updatedAt: imports.updatedAt,
      })
      .from(importRows)
      .innerJoin(imports, eq(imports.id, importRows.importId))
      .where(
        and(
          eq(importRows.orgId, org.orgId),
          eq(importRows.status, "enrolled"),
          eq(importRows.ledgerStatus, "pending"),
          lt(imports.updatedAt, cutoff),
        ),
      )
      .orderBy(asc(imports.updatedAt))
      .limit(staleIntentsPerKindMax);
    return rows.map((row) => staleIntent(openingBalanceDocument(row), row.updatedAt));
  },
};

/** Everything a reconciliation walks, in order. Add a kind of document here. */
export const reconciledKinds: readonly ReconciledKind[] = [
  membersKind,
  posTransactionsKind,
  redemptionsKind,
  adjustmentsKind,
  expiriesKind,
  codeRedemptionsKind,
  openingBalancesKind,
];
