/**
 * Outcomes stored on their source document (`pos_transactions.response`) and replayed to a
 * retry. Stored snake_case with amounts as decimal strings (jsonb has no bigint); parsed back
 * with the same strictness as any other input, because a row is only as good as its last write.
 */
import { z } from "zod";
import type { PurchaseOutcome, RefundOutcome } from "../ledger-types.ts";
import type { EarningLine } from "../purchases/earning.ts";

const amountText = z.string().regex(/^(0|[1-9][0-9]{0,30})$/);

const storedLine = z
  .object({
    kind: z.enum(["base", "category_multiplier", "sku_bonus", "campaign", "tier"]),
    rule_id: z.uuid().optional(),
    rule_version: z.number().int().positive().optional(),
    points: amountText,
    capped_by: z
      .object({ scope: z.enum(["rule", "overall"]), period: z.enum(["day", "week", "month"]) })
      .strict()
      .optional(),
  })
  .strict();

const storedPurchase = z
  .object({
    transaction_id: z.uuid(),
    points_earned: amountText,
    /** Absent on purchases stored before breakdowns were: they earned their points as base. */
    breakdown: z.array(storedLine).optional(),
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
    breakdown: storeBreakdown(outcome.breakdown),
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
    breakdown: readBreakdown(parsed.breakdown, BigInt(parsed.points_earned)),
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

/** A breakdown as stored (snake_case, points as strings). */
export function storeBreakdown(lines: readonly EarningLine[]): z.infer<typeof storedLine>[] {
  return lines.map((line) => ({
    kind: line.kind,
    ...(line.ruleId === undefined ? {} : { rule_id: line.ruleId }),
    ...(line.ruleVersion === undefined ? {} : { rule_version: line.ruleVersion }),
    points: line.points.toString(),
    ...(line.cappedBy === undefined ? {} : { capped_by: line.cappedBy }),
  }));
}

/** A stored breakdown; a purchase stored without one earned all its points as base. */
export function readBreakdown(
  stored: z.infer<typeof storedLine>[] | undefined,
  points: bigint,
): EarningLine[] {
  if (stored === undefined) {
    return points > 0n ? [{ kind: "base", points }] : [];
  }
  return stored.map((line) => ({
    kind: line.kind,
    ...(line.rule_id === undefined ? {} : { ruleId: line.rule_id }),
    ...(line.rule_version === undefined ? {} : { ruleVersion: line.rule_version }),
    points: BigInt(line.points),
    ...(line.capped_by === undefined ? {} : { cappedBy: line.capped_by }),
  }));
}

export const storedBreakdownSchema = z.array(storedLine);
