/**
 * The intent protocol of docs/consistency.md, written once. Every ledger-backed document
 * (purchase, refund, redemption hold, adjustment) goes through the same five steps:
 *
 * 1. find the document by its external id;
 * 2. a stored one is a retry when its request hash matches, otherwise a `conflict`;
 * 3. insert the intent row with the ids of the transfers it will post (the ledger module derives
 *    them, once: the row and the posting use the same values);
 * 4. post the chain (re-sending the same ids is safe: the ledger answers `exists`);
 * 5. mark it posted together with its outbox row.
 *
 * Failure rules, also stated in README ("Failure behaviour"):
 * - Once the ledger accepted the chain, the caller is told so even when the mark of step 5 cannot
 *   be written: the document stays `pending` and recovery writes the mark later. An error (503)
 *   therefore means "outcome unknown", and a retry under the same external id converges on the
 *   one recording.
 * - A chain the ledger refuses for good (`LedgerRefusedError`, e.g. `id_already_failed`) moves
 *   its document to the terminal `failed` state with the ledger's reason, is counted, and never
 *   blocks other documents; a retry of that request is a `conflict` naming the reason.
 *
 * Purchases run steps 1–3 and 5 in bulk SQL (purchases/intake.ts, purchases/posting.ts) and use
 * the rules here for what those statements cannot decide.
 */
import { AssertionError } from "node:assert";
import assert from "node:assert/strict";
import { LedgerRefusedError } from "../../ledger/index.ts";
import type { IntentRef, LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { interrupt } from "./support.ts";

/** What the protocol needs of every intent row. */
export interface IntentRow {
  requestHash: string;
}

/** Step 2: a stored document under this external id is a retry only with the same request. */
export function matchRetry<Row extends IntentRow>(
  row: Row,
  hash: string,
  noun: string,
  externalId: string | null,
): Row {
  if (row.requestHash !== hash) {
    throw new DomainError("conflict", `this external id was used for a different ${noun}`, {
      externalId,
    });
  }
  return row;
}

export interface RecordIntentArgs<Row extends IntentRow> {
  /** "purchase", "refund", ...: named in the conflict's message. */
  noun: string;
  /** The caller's idempotency key; null: every call is a new document (never a retry). */
  externalId: string | null;
  hash: string;
  /** Step 1: the org's document with this external id, or null. */
  find: () => Promise<Row | null>;
  /**
   * Step 3: checks the document's preconditions (throwing `DomainError`s) and inserts its
   * pending intent row; null when the unique external id lost to a concurrent insert.
   */
  insert: () => Promise<Row | null>;
}

/**
 * Steps 1–3: the stored document when this request is a retry (`replayed`), otherwise the newly
 * inserted intent. A lost race on the external id is answered like any retry.
 */
export async function recordIntent<Row extends IntentRow>(
  args: RecordIntentArgs<Row>,
): Promise<{ row: Row; replayed: boolean }> {
  const { externalId, hash, noun } = args;
  if (externalId !== null) {
    const existing = await args.find();
    if (existing !== null) {
      return { row: matchRetry(existing, hash, noun, externalId), replayed: true };
    }
  }
  const inserted = await args.insert();
  if (inserted !== null) {
    return { row: inserted, replayed: false };
  }
  assert.ok(externalId !== null, "only an external id can collide");
  const winner = await args.find();
  assert.ok(winner !== null, "a lost insert has a winner");
  return { row: matchRetry(winner, hash, noun, externalId), replayed: true };
}

/**
 * Steps 4–5 after the ledger accepted: runs `mark` (the posted mark with its outbox row) and
 * returns what it returns. The ledger's acceptance is the outcome, so when the mark cannot be
 * written (Postgres down, a statement timeout) the caller still gets `posted`, the success it
 * has, and the row stays pending for recovery. A broken invariant is never swallowed, and on a
 * transaction (recovery) the error stands: that transaction is aborted either way.
 */
export async function markAfterPosting<T>(
  deps: LedgerDeps,
  refs: IntentRef | readonly IntentRef[],
  posted: T,
  mark: () => Promise<T>,
): Promise<T> {
  const all: readonly IntentRef[] = Array.isArray(refs) ? refs : [refs as IntentRef];
  for (const ref of all) {
    await interrupt(deps, "after_ledger", ref);
  }
  if (deps.inTransaction === true) {
    return mark();
  }
  try {
    return await mark();
  } catch (error) {
    if (error instanceof AssertionError) {
      throw error;
    }
    for (const ref of all) {
      deps.intentMetrics?.markDeferred(ref.table);
    }
    return posted;
  }
}

/** The refusal when the ledger refused a chain for good (not a business refusal); else null. */
export function refusedForGood(error: unknown): LedgerRefusedError | null {
  return error instanceof LedgerRefusedError && error.refusal === "rejected" ? error : null;
}

/** Counts a document moved to `failed` (after its row was written so). */
export function countFailed(deps: LedgerDeps, ref: IntentRef, reason: string): void {
  deps.intentMetrics?.intentFailed(ref.table, reason);
}

/**
 * What a retry of a document the ledger refused for good answers: a `conflict` (409) naming the
 * ledger's reason. The external id is spent; a new attempt needs a new one.
 */
export function failedIntentError(
  noun: string,
  row: { id: string; externalId: string | null; failureReason: string | null },
): DomainError {
  return new DomainError(
    "conflict",
    `the ledger refused this ${noun} for good (${row.failureReason ?? "unknown"}); ` +
      "send it again under a new external id",
    { externalId: row.externalId, id: row.id, reason: row.failureReason },
  );
}
