/**
 * What a posted document says the ledger holds, and the pure comparison of that with what the
 * ledger answered. No I/O here: documents.ts reads the expectations from Postgres, and
 * reconcile-org.ts looks the ids up in the ledger.
 *
 * Mismatch kinds (README, "Reconciliation"):
 * - `missing_transfer`: a recorded transfer id is not in the ledger.
 * - `amount_mismatch`: the transfer moved another amount than the document records.
 * - `spend_mismatch`: the spend (`user_data_64`, minor units) differs from the document's amount.
 * - `wallet_mismatch`: the transfer's wallet side is not the document's member's wallet, or a
 *   wallet names another member.
 * - `code_mismatch`: the transfer is another operation (code or two-phase step) than recorded.
 * - `document_mismatch`: the transfer names another source document (`user_data_128`).
 * - `missing_wallet`: a member enrolled on the ledger has no wallet.
 * - `recorded_ids_mismatch`: a document records another number of transfer ids than it posts.
 * - `stale_intent`: a document still pending 5 minutes after it was written.
 */
import assert from "node:assert/strict";
import type { LedgerTransfer, TransferPhase } from "../../ledger/index.ts";
import { transferPhase, u128ToUuid } from "../../ledger/index.ts";
import type { MismatchDocument, ReconciliationMismatch } from "../../membership/index.ts";

export const mismatchKinds = [
  "missing_transfer",
  "amount_mismatch",
  "spend_mismatch",
  "wallet_mismatch",
  "code_mismatch",
  "document_mismatch",
  "missing_wallet",
  "recorded_ids_mismatch",
  "stale_intent",
] as const;
export type MismatchKind = (typeof mismatchKinds)[number];

/** One transfer a posted document recorded, and what it must hold. */
export interface ExpectedTransfer {
  id: bigint;
  /** The transfer code (operation) and the step of a two-phase transfer. */
  code: number;
  phase: TransferPhase;
  amount: bigint;
  /** Which side the member's wallet is on, and that wallet's account id. */
  walletSide: "debit" | "credit";
  walletAccountId: bigint;
  /** `user_data_64`: the spend in minor units; undefined where the encoding keeps none. */
  spendMinor?: bigint;
  /** `user_data_128`: the source document it names; undefined where not compared. */
  documentU128?: bigint;
  /** Posts and voids: the hold they resolve. */
  pendingId?: bigint;
}

/** A member's wallet that must exist, naming the member. */
export interface ExpectedWallet {
  accountId: bigint;
  memberU128: bigint;
}

/** A posted document's expectations, or a defect found in Postgres alone. */
export interface ExpectedDocument {
  document: MismatchDocument;
  transfers: ExpectedTransfer[];
  wallets: ExpectedWallet[];
  /** Mismatches visible without the ledger (e.g. `recorded_ids_mismatch`). */
  defects: ReconciliationMismatch[];
}

function mismatch(
  kind: MismatchKind,
  document: MismatchDocument,
  transferId: bigint | null,
  expected: string | null,
  actual: string | null,
): ReconciliationMismatch {
  return { kind, document, transferId, expected, actual };
}

/**
 * The mismatches between one recorded transfer and the ledger's transfer with its id (undefined:
 * the ledger has none). A missing transfer is one mismatch; otherwise every field that differs
 * is one.
 */
export function compareTransfer(
  document: MismatchDocument,
  expected: ExpectedTransfer,
  actual: LedgerTransfer | undefined,
): ReconciliationMismatch[] {
  if (actual === undefined) {
    return [mismatch("missing_transfer", document, expected.id, expected.id.toString(), null)];
  }
  assert.equal(actual.id, expected.id, "the ledger's transfer has the id looked up");
  const found: ReconciliationMismatch[] = [];
  const add = (kind: MismatchKind, wanted: string, held: string) => {
    found.push(mismatch(kind, document, expected.id, wanted, held));
  };
  const phase = transferPhase(actual.flags);
  if (actual.code !== expected.code || phase !== expected.phase) {
    add("code_mismatch", `${expected.code}/${expected.phase}`, `${actual.code}/${phase}`);
  }
  if (actual.amount !== expected.amount) {
    add("amount_mismatch", expected.amount.toString(), actual.amount.toString());
  }
  if (expected.spendMinor !== undefined && actual.user_data_64 !== expected.spendMinor) {
    add("spend_mismatch", expected.spendMinor.toString(), actual.user_data_64.toString());
  }
  const wallet =
    expected.walletSide === "credit" ? actual.credit_account_id : actual.debit_account_id;
  if (wallet !== expected.walletAccountId) {
    add("wallet_mismatch", expected.walletAccountId.toString(), wallet.toString());
  }
  if (expected.documentU128 !== undefined && actual.user_data_128 !== expected.documentU128) {
    add("document_mismatch", u128Text(expected.documentU128), u128Text(actual.user_data_128));
  }
  if (expected.pendingId !== undefined && actual.pending_id !== expected.pendingId) {
    add("code_mismatch", `pending ${expected.pendingId}`, `pending ${actual.pending_id}`);
  }
  return found;
}

/** A u128 that holds a UUID, as the UUID (0 as "0"). */
function u128Text(value: bigint): string {
  return value === 0n ? "0" : u128ToUuid(value);
}

/** The mismatches between a wallet a member must have and the ledger's account (undefined: none). */
export function compareWallet(
  document: MismatchDocument,
  expected: ExpectedWallet,
  actual: { id: bigint; user_data_128: bigint } | undefined,
): ReconciliationMismatch[] {
  if (actual === undefined) {
    return [
      mismatch("missing_wallet", document, null, `wallet ${expected.accountId.toString()}`, null),
    ];
  }
  assert.equal(actual.id, expected.accountId, "the ledger's account has the id looked up");
  if (actual.user_data_128 !== expected.memberU128) {
    return [
      mismatch(
        "wallet_mismatch",
        document,
        null,
        u128Text(expected.memberU128),
        u128Text(actual.user_data_128),
      ),
    ];
  }
  return [];
}

/** A document still pending after `staleIntentSecondsMin`. */
export function staleIntent(
  document: MismatchDocument,
  pendingSince: Date,
): ReconciliationMismatch {
  return mismatch(
    "stale_intent",
    document,
    null,
    "posted",
    `pending since ${pendingSince.toISOString()}`,
  );
}

/** A document whose recorded ids do not match what it posts. */
export function recordedIdsMismatch(
  document: MismatchDocument,
  expectedCount: number,
  recordedCount: number,
): ReconciliationMismatch {
  return mismatch(
    "recorded_ids_mismatch",
    document,
    null,
    `${expectedCount} transfer ids`,
    `${recordedCount} transfer ids`,
  );
}
