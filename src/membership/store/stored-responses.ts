/**
 * Outcomes stored on their source document (`pos_transactions.response`) and replayed to a
 * retry. Stored snake_case with amounts as decimal strings (jsonb has no bigint); parsed back
 * with the same strictness as any other input, because a row is only as good as its last write.
 */
import { z } from "zod";
import type { PurchaseOutcome, RefundOutcome } from "../ledger-types.ts";

const amountText = z.string().regex(/^(0|[1-9][0-9]{0,30})$/);

const storedPurchase = z
  .object({
    transaction_id: z.uuid(),
    points_earned: amountText,
    stamps_earned: z.array(
      z.object({ program_id: z.uuid(), stamps: amountText, completed: z.boolean() }).strict(),
    ),
  })
  .strict();

const storedRefund = z
  .object({
    transaction_id: z.uuid(),
    purchase_id: z.uuid(),
    points_to_reverse: amountText,
    points_reversed: amountText,
    shortfall: amountText,
  })
  .strict();

export function purchaseResponse(outcome: PurchaseOutcome): z.infer<typeof storedPurchase> {
  return {
    transaction_id: outcome.transactionId,
    points_earned: outcome.pointsEarned.toString(),
    stamps_earned: outcome.stampsEarned.map((earned) => ({
      program_id: earned.programId,
      stamps: earned.stamps.toString(),
      completed: earned.completed,
    })),
  };
}

export function parsePurchaseResponse(stored: unknown): PurchaseOutcome {
  const parsed = storedPurchase.parse(stored);
  return {
    transactionId: parsed.transaction_id,
    pointsEarned: BigInt(parsed.points_earned),
    stampsEarned: parsed.stamps_earned.map((earned) => ({
      programId: earned.program_id,
      stamps: BigInt(earned.stamps),
      completed: earned.completed,
    })),
  };
}

export function refundResponse(outcome: RefundOutcome): z.infer<typeof storedRefund> {
  return {
    transaction_id: outcome.transactionId,
    purchase_id: outcome.purchaseId,
    points_to_reverse: outcome.pointsToReverse.toString(),
    points_reversed: outcome.pointsReversed.toString(),
    shortfall: outcome.shortfall.toString(),
  };
}

export function parseRefundResponse(stored: unknown): RefundOutcome {
  const parsed = storedRefund.parse(stored);
  return {
    transactionId: parsed.transaction_id,
    purchaseId: parsed.purchase_id,
    pointsToReverse: BigInt(parsed.points_to_reverse),
    pointsReversed: BigInt(parsed.points_reversed),
    shortfall: BigInt(parsed.shortfall),
  };
}
