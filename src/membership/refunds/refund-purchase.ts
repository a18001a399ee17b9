import assert from "node:assert/strict";
import { and, eq, ne, sql } from "drizzle-orm";
import { reversalTransferId, reversePoints, uuidV7 } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import {
  failedIntentError,
  markAfterPosting,
  recordIntent,
  refusedForGood,
} from "../intents/protocol.ts";
import {
  idText,
  interrupt,
  invalidInput,
  loadOrgLedger,
  nowOf,
  requestHash,
} from "../intents/support.ts";
import type { RefundOutcome, RefundPurchaseResult } from "../ledger-types.ts";
import { amountMinorMax, externalIdLengthMax } from "../limits.ts";
import { failPosTransaction, type PosTransactionRow, postPurchases } from "../purchases/posting.ts";
import { writeOutbox } from "../store/outbox.ts";
import { posTransactions } from "../store/schema.ts";
import {
  parsePurchaseResponse,
  parseRefundResponse,
  refundResponse,
} from "../store/stored-responses.ts";

export interface RefundPurchaseInput {
  orgId: string;
  /** The refunded purchase, by the POS's id of it. */
  purchaseExternalId: string;
  /** The POS's id of the refund: the idempotency key. */
  externalId: string;
  /** Refunded amount in minor units of the purchase's currency. */
  amountMinor: bigint;
}

/**
 * Refunds all or part of a purchase and takes back its share of the points. The share is
 * computed on the cumulative refunded amount, floor(points × refunded so far / amount), minus what
 * earlier refunds already took, so partial refunds never drift from a single full one. The points
 * leave the wallet with a balancing debit: what the member already spent is not taken (the
 * wallet never goes negative) and is reported as `shortfall`. Stamps are not taken back.
 *
 * Errors: `not_found` (purchase unknown or another org's), `refund_exceeds_purchase`,
 * `invalid_input`, `conflict` (same external id, different request).
 */
export async function refundPurchase(
  deps: LedgerDeps,
  input: RefundPurchaseInput,
): Promise<RefundPurchaseResult> {
  for (const [field, value] of [
    ["externalId", input.externalId],
    ["purchaseExternalId", input.purchaseExternalId],
  ] as const) {
    if (value.length === 0 || value.length > externalIdLengthMax) {
      throw invalidInput(`${field} length out of range`, { field });
    }
  }
  if (typeof input.amountMinor !== "bigint" || input.amountMinor < 1n) {
    throw invalidInput("amount must be a positive integer", { field: "amountMinor" });
  }
  if (input.amountMinor > amountMinorMax) {
    throw invalidInput("amount too large", { field: "amountMinor" });
  }
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  const hash = requestHash({
    kind: "refund.v1",
    external_id: input.externalId,
    purchase_external_id: input.purchaseExternalId,
    amount_minor: input.amountMinor,
  });

  const { row, replayed } = await recordIntent({
    noun: "refund",
    externalId: input.externalId,
    hash,
    find: () => findRefund(deps, org.id, input.externalId),
    insert: () => insertRefund(deps, org.id, input, hash),
  });
  if (!replayed) {
    await interrupt(deps, "after_intent", { table: "pos_transactions", id: row.id });
  }
  let outcome: RefundOutcome;
  switch (row.status) {
    case "posted":
      outcome = parseRefundResponse(row.response);
      break;
    case "failed":
      throw failedIntentError("refund", row);
    case "pending":
      outcome = await postRefund(deps, pointsLedger, row);
      break;
  }
  return { ...outcome, replayed };
}

/**
 * Step 3 of the protocol for a refund: checks the purchase (posting it first when it is still
 * pending) and the cumulative amount, and inserts the pending refund with its reversal's id.
 * Null when a concurrent request with this external id committed first.
 */
async function insertRefund(
  deps: LedgerDeps,
  orgId: string,
  input: RefundPurchaseInput,
  hash: string,
): Promise<PosTransactionRow | null> {
  const [purchase] = await deps.db
    .select()
    .from(posTransactions)
    .where(
      and(
        eq(posTransactions.orgId, orgId),
        eq(posTransactions.kind, "purchase"),
        eq(posTransactions.externalId, input.purchaseExternalId),
      ),
    )
    .limit(1);
  if (purchase === undefined) {
    throw new DomainError("not_found", "purchase not found", {
      purchaseExternalId: input.purchaseExternalId,
    });
  }
  if (purchase.status === "failed") {
    throw failedIntentError("purchase", purchase);
  }
  if (purchase.status === "pending") {
    // Its points must be in the wallet before any of them can be taken back.
    const posted = (await postPurchases(deps, [purchase])).get(purchase.id);
    if (posted instanceof DomainError) {
      throw posted;
    }
  }
  return deps.db.transaction(async (tx) => {
    // Locks the purchase so concurrent refunds of it are checked against each other's amounts.
    const [locked] = await tx
      .select({
        amountMinor: posTransactions.amountMinor,
        points: posTransactions.points,
        response: posTransactions.response,
      })
      .from(posTransactions)
      .where(and(eq(posTransactions.orgId, orgId), eq(posTransactions.id, purchase.id)))
      .for("update");
    assert.ok(locked !== undefined, "the purchase still exists");
    const [before] = await tx
      .select({
        refundedMinor: sql<string>`coalesce(sum(${posTransactions.amountMinor}), 0)::text`,
        reversedPoints: sql<string>`coalesce(sum(${posTransactions.points}), 0)::text`,
      })
      .from(posTransactions)
      .where(
        and(
          eq(posTransactions.orgId, orgId),
          eq(posTransactions.purchaseId, purchase.id),
          eq(posTransactions.kind, "refund"),
          ne(posTransactions.status, "failed"),
        ),
      );
    const refundedBefore = BigInt(before?.refundedMinor ?? "0");
    const reversedBefore = BigInt(before?.reversedPoints ?? "0");
    const refundedAfter = refundedBefore + input.amountMinor;
    if (refundedAfter > locked.amountMinor) {
      throw new DomainError("refund_exceeds_purchase", "refunds would exceed the purchase", {
        purchaseAmountMinor: locked.amountMinor.toString(),
        refundedMinor: refundedBefore.toString(),
        requestedMinor: input.amountMinor.toString(),
      });
    }
    // Each entry (base, every rule, campaign and the tier) gives back its own share: what the
    // purchase earned from a rule is reversed as that rule's points, whatever the rule says now.
    const entries = parsePurchaseResponse(locked.response).breakdown.map((line) => line.points);
    const shareOf = (refunded: bigint): bigint =>
      entries.reduce((sum, points) => sum + (points * refunded) / locked.amountMinor, 0n);
    const pointsToReverse = shareOf(refundedAfter) - reversedBefore;
    assert.ok(pointsToReverse >= 0n, "cumulative reversal never shrinks");
    assert.ok(reversedBefore + pointsToReverse <= locked.points, "never reverse more than earned");
    const reversalId = reversalTransferId({
      orgId,
      reason: "refund",
      externalId: input.externalId,
    });
    const recordedAt = nowOf(deps);
    const [inserted] = await tx
      .insert(posTransactions)
      .values({
        id: uuidV7(recordedAt.getTime()),
        orgId,
        memberId: purchase.memberId,
        kind: "refund",
        externalId: input.externalId,
        purchaseId: purchase.id,
        requestHash: hash,
        amountMinor: input.amountMinor,
        currency: purchase.currency,
        occurredAt: recordedAt,
        locationId: purchase.locationId,
        points: pointsToReverse,
        status: "pending",
        // Posted also when it reverses 0 points: the refunded spend is in the ledger.
        transferIds: [idText(reversalId)],
      })
      .onConflictDoNothing({
        target: [posTransactions.orgId, posTransactions.kind, posTransactions.externalId],
      })
      .returning();
    return inserted ?? null;
  });
}

async function findRefund(
  deps: LedgerDeps,
  orgId: string,
  externalId: string,
): Promise<PosTransactionRow | null> {
  const [row] = await deps.db
    .select()
    .from(posTransactions)
    .where(
      and(
        eq(posTransactions.orgId, orgId),
        eq(posTransactions.kind, "refund"),
        eq(posTransactions.externalId, externalId),
      ),
    )
    .limit(1);
  return row ?? null;
}

/**
 * Posts a pending refund row (idempotent: the balancing debit's id answers `exists` and its
 * stored amount is what was moved) and marks it posted with its outbox event.
 */
export async function postRefund(
  deps: LedgerDeps,
  pointsLedger: number,
  row: PosTransactionRow,
): Promise<RefundOutcome> {
  assert.equal(row.kind, "refund", "only refunds are posted here");
  assert.ok(row.purchaseId !== null, "a refund names its purchase");
  const purchaseId = row.purchaseId;
  let pointsReversed = 0n;
  // A refund of 0 points recorded before every refund posted its reversal recorded no id.
  if (row.transferIds.length > 0) {
    const [recorded] = row.transferIds;
    assert.ok(recorded !== undefined && row.transferIds.length === 1, "one reversal recorded");
    let reversal: { reversed: bigint; shortfall: bigint };
    try {
      reversal = await reversePoints(deps.ledger, {
        orgId: row.orgId,
        ledger: pointsLedger,
        memberId: row.memberId,
        reason: "refund",
        points: row.points,
        // The purchase's document id: the reversal carries the purchase's time.
        documentId: purchaseId,
        spendMinor: row.amountMinor,
        transferId: BigInt(recorded),
      });
    } catch (error) {
      const refused = refusedForGood(error);
      if (refused === null) {
        throw error;
      }
      await failPosTransaction(deps, row, refused.reason);
      throw failedIntentError("refund", { ...row, failureReason: refused.reason });
    }
    assert.equal(reversal.reversed + reversal.shortfall, row.points, "reversal adds up");
    pointsReversed = reversal.reversed;
  }
  const outcome: RefundOutcome = {
    transactionId: row.id,
    purchaseId: row.purchaseId,
    pointsToReverse: row.points,
    pointsReversed,
    shortfall: row.points - pointsReversed,
  };
  const ref = { table: "pos_transactions", id: row.id } as const;
  return markAfterPosting(deps, ref, outcome, () => markRefundPosted(deps, row, outcome));
}

/** Step 5: the posted mark with its `points.reversed` event; the stored outcome if marked first. */
async function markRefundPosted(
  deps: LedgerDeps,
  row: PosTransactionRow,
  outcome: RefundOutcome,
): Promise<RefundOutcome> {
  assert.ok(row.purchaseId !== null, "a refund names its purchase");
  const purchaseId = row.purchaseId;
  const marked = await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(posTransactions)
      .set({
        status: "posted",
        postedAt: sql`now()`,
        shortfall: outcome.shortfall,
        response: refundResponse(outcome),
      })
      .where(
        and(
          eq(posTransactions.orgId, row.orgId),
          eq(posTransactions.id, row.id),
          eq(posTransactions.status, "pending"),
        ),
      )
      .returning({ id: posTransactions.id });
    if (updated === undefined) {
      return false;
    }
    await writeOutbox(tx, [
      {
        orgId: row.orgId,
        topic: "points.reversed",
        payload: {
          transaction_id: row.id,
          purchase_id: purchaseId,
          member_id: row.memberId,
          external_id: row.externalId,
          amount_minor: row.amountMinor.toString(),
          points_to_reverse: outcome.pointsToReverse.toString(),
          points_reversed: outcome.pointsReversed.toString(),
          shortfall: outcome.shortfall.toString(),
        },
      },
    ]);
    return true;
  });
  if (marked) {
    return outcome;
  }
  const [stored] = await deps.db
    .select({ response: posTransactions.response })
    .from(posTransactions)
    .where(and(eq(posTransactions.orgId, row.orgId), eq(posTransactions.id, row.id)));
  return parseRefundResponse(stored?.response);
}
