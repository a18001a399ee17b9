/**
 * Reconciliation runs as the domain sees them, and the one conversion from their stored rows.
 * The stored mismatch list is snake_case jsonb (like every payload kept in Postgres); the domain
 * value is camelCase with the transfer id as a bigint.
 */
import assert from "node:assert/strict";
import type { reconciliations, StoredMismatch } from "../store/schema.ts";

export type ReconciliationRow = typeof reconciliations.$inferSelect;
export type ReconciliationStatus = ReconciliationRow["status"];
export type ReconciliationTrigger = ReconciliationRow["trigger"];

/** Mismatches a run keeps (the first found); `mismatchCount` counts them all. */
export const reconciliationMismatchesStoredMax = 1_000;

/** What one kind of source document, or a member, is called in a mismatch. */
export interface MismatchDocument {
  kind: string;
  id: string;
  externalId: string | null;
  memberId: string | null;
}

/** A difference between what Postgres recorded and what the ledger holds. */
export interface ReconciliationMismatch {
  kind: string;
  document: MismatchDocument;
  /** The transfer concerned, when the mismatch is about one. */
  transferId: bigint | null;
  /** What Postgres recorded, as text (amounts in decimal); null: nothing. */
  expected: string | null;
  /** What the ledger holds, as text; null: nothing. */
  actual: string | null;
}

export interface ReconciliationCounts {
  /** Posted source documents compared (purchases, refunds, redemptions, adjustments, ...). */
  documents: number;
  /** Transfers looked up in the ledger. */
  transfers: number;
  /** Member wallets looked up in the ledger. */
  wallets: number;
}

export interface Reconciliation {
  id: string;
  orgId: string;
  status: ReconciliationStatus;
  trigger: ReconciliationTrigger;
  checked: ReconciliationCounts;
  mismatches: ReconciliationMismatch[];
  mismatchCount: number;
  error: string | null;
  attempts: number;
  startedAt: Date;
  finishedAt: Date | null;
}

export function toStoredMismatch(mismatch: ReconciliationMismatch): StoredMismatch {
  return {
    kind: mismatch.kind,
    document: {
      kind: mismatch.document.kind,
      id: mismatch.document.id,
      external_id: mismatch.document.externalId,
      member_id: mismatch.document.memberId,
    },
    transfer_id: mismatch.transferId === null ? null : mismatch.transferId.toString(),
    expected: mismatch.expected,
    actual: mismatch.actual,
  };
}

function fromStoredMismatch(stored: StoredMismatch): ReconciliationMismatch {
  return {
    kind: stored.kind,
    document: {
      kind: stored.document.kind,
      id: stored.document.id,
      externalId: stored.document.external_id,
      memberId: stored.document.member_id,
    },
    transferId: stored.transfer_id === null ? null : BigInt(stored.transfer_id),
    expected: stored.expected,
    actual: stored.actual,
  };
}

export function toReconciliation(row: ReconciliationRow): Reconciliation {
  // The negative space: a finished run has a finish time, a running one has none.
  assert.equal(row.status === "running", row.finishedAt === null, "running ⇔ not finished");
  assert.ok(row.mismatches.length <= row.mismatchCount, "stored mismatches are counted");
  assert.ok(row.mismatches.length <= reconciliationMismatchesStoredMax, "stored list bounded");
  assert.ok(row.status !== "clean" || row.mismatchCount === 0, "a clean run found nothing");
  return {
    id: row.id,
    orgId: row.orgId,
    status: row.status,
    trigger: row.trigger,
    checked: {
      documents: row.checkedDocuments,
      transfers: row.checkedTransfers,
      wallets: row.checkedWallets,
    },
    mismatches: row.mismatches.map(fromStoredMismatch),
    mismatchCount: row.mismatchCount,
    error: row.error,
    attempts: row.attempts,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
  };
}
