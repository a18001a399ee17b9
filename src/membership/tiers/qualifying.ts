/**
 * A member's qualifying value for tiers, from their wallet history in the ledger and nothing
 * else: purchase earnings (`purchase_earn`) net of refund reversals (`refund_reversal`) whose
 * document time falls in the rolling window, in points (`points`) or in minor units of spend
 * (`spend`, the transfers' `user_data_64`). Welcome bonuses, adjustments and stamp rewards are
 * other codes and never count.
 *
 * A reversal carries its purchase's document id, so it counts in the window of its purchase:
 * refunding a purchase from before the window takes nothing off today's value.
 */
import assert from "node:assert/strict";
import {
  documentTimeMs,
  isUuidV7U128,
  type LedgerApi,
  type LedgerTransfer,
  operationName,
  purchaseCreditCodes,
  scanWalletTransfers,
  TransferCode,
  u128ToUuid,
} from "../../ledger/index.ts";
import { occurredAtFutureSkewMsMax } from "../limits.ts";
import type { TierMetric } from "../orgs/settings.ts";

/** A purchase's entries (base, rules, campaigns, tier) and refunds' reversals. */
export const qualifyingCodes = [...purchaseCreditCodes, TransferCode.refundReversal] as const;

export interface QualifyingTransfer {
  transferId: bigint;
  /** TigerBeetle's timestamp (ns): when it was posted. */
  timestamp: bigint;
  /** The document's time (ms): what the window is about. */
  documentTimeMs: number;
  /** The source document's UUID (a purchase, also for a reversal: the refunded one). */
  documentId: string;
  operation: string;
  /** What it adds to the value: positive for a purchase, negative (or 0) for a reversal. */
  counted: bigint;
}

export interface Qualifying {
  metric: TierMetric;
  value: bigint;
  /** Inclusive start and end of the window, by document time. */
  windowStart: Date;
  windowEnd: Date;
  /** The transfers counted, oldest first: only when asked (`explain`). */
  transfers: QualifyingTransfer[] | null;
}

/** `date` moved by whole calendar months (UTC), the day clamped to the target month's last. */
export function addMonthsUtc(date: Date, months: number): Date {
  assert.ok(Number.isSafeInteger(months), "whole months");
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(date.getUTCDate(), lastDay);
  return new Date(
    Date.UTC(
      year,
      month,
      day,
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
      date.getUTCMilliseconds(),
    ),
  );
}

/**
 * Document time of a transfer: the UUIDv7 timestamp of `user_data_128`, or for documents
 * recorded before that encoding (UUIDv4 ids), the time the transfer was posted.
 */
export function transferDocumentTimeMs(transfer: LedgerTransfer): number {
  if (isUuidV7U128(transfer.user_data_128)) {
    return documentTimeMs(transfer.user_data_128);
  }
  return Number(transfer.timestamp / 1_000_000n);
}

/**
 * Reads the wallet's purchase and refund transfers posted since the window could have started
 * (its start less the allowed POS clock skew: nothing in the window was posted earlier) and adds
 * up those whose document time is in the window.
 */
export async function qualifyingValue(
  ledger: LedgerApi,
  input: {
    pointsLedger: number;
    memberId: string;
    metric: TierMetric;
    windowMonths: number;
    now: Date;
    explain?: boolean;
  },
): Promise<Qualifying> {
  assert.ok(Number.isSafeInteger(input.windowMonths) && input.windowMonths >= 1, "window");
  const windowEnd = input.now;
  const windowStart = addMonthsUtc(windowEnd, -input.windowMonths);
  const startMs = windowStart.getTime();
  const scanFromMs = Math.max(0, startMs - occurredAtFutureSkewMsMax);
  const transfers: QualifyingTransfer[] | null = input.explain === true ? [] : null;
  const spend = input.metric === "spend";
  let value = 0n;
  for await (const page of scanWalletTransfers(ledger, {
    ledger: input.pointsLedger,
    memberId: input.memberId,
    codes: qualifyingCodes,
    timestampMin: BigInt(scanFromMs) * 1_000_000n,
  })) {
    for (const transfer of page) {
      const timeMs = transferDocumentTimeMs(transfer);
      if (timeMs < startMs) {
        continue;
      }
      const magnitude = spend ? transfer.user_data_64 : transfer.amount;
      // Only the base entry carries the spend (`user_data_64` of the others names their rule).
      const counted =
        transfer.code === TransferCode.refundReversal
          ? -magnitude
          : spend && transfer.code !== TransferCode.purchaseEarn
            ? 0n
            : magnitude;
      value += counted;
      transfers?.push({
        transferId: transfer.id,
        timestamp: transfer.timestamp,
        documentTimeMs: timeMs,
        documentId: u128ToUuid(transfer.user_data_128),
        operation: operationName(transfer.code, transfer.flags),
        counted,
      });
    }
  }
  // A reversal never takes more than its purchase gave, and both share the purchase's time;
  // only a reversal recorded before document times (dated by posting) could tip it below 0.
  return {
    metric: input.metric,
    value: value < 0n ? 0n : value,
    windowStart,
    windowEnd,
    transfers,
  };
}
