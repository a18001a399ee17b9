/**
 * The RFM of an org rebuilt from its ledger history, and one member re-scored after a purchase
 * or refund against the boundaries of the last rebuild.
 *
 * A rebuild reads the org's whole window once, by transfer code (refunds, then purchases), in
 * pages of up to 8,189 transfers: never one query per member. The wallets met are mapped back to
 * their members by the wallet accounts (their `user_data_128`), 8,189 per lookup. Members with
 * no counted purchase are `none` without a row of their own.
 */
import assert from "node:assert/strict";
import {
  type LedgerApi,
  scanLedgerTransfers,
  scanWalletTransfers,
  TransferCode,
  walletMemberIds,
} from "../../ledger/index.ts";
import {
  getRfmRun,
  type LedgerDeps,
  loadRfmMemberLedger,
  loadRfmScope,
  type MemberRfmValues,
  membershipLimits,
  type RfmSegmentName,
  replaceOrgRfm,
  saveMemberRfm,
} from "../../membership/index.ts";
import {
  boundariesFromStored,
  quintileBoundaries,
  type RfmBoundaries,
  type RfmMetrics,
  RfmMetricsBuilder,
  scoreMetrics,
  storedBoundaries,
  thresholdBoundaries,
} from "./scoring.ts";

/** What a rebuild and a re-score need: the store, its caches, the ledger and the clock. */
export type RfmDeps = Pick<LedgerDeps, "db" | "caches" | "ledger" | "clock">;

export interface RebuildResult {
  /** Members with at least one counted purchase in the window. */
  population: number;
  /** Members whose segment changed (each announced by `rfm.segment_changed`). */
  changed: number;
  /** Purchase and refund transfers read from the ledger. */
  transfersRead: number;
  computedAt: Date;
}

/** The earliest ledger timestamp (ns) that can carry a document of the window (see below). */
function scanTimestampMin(windowStartMs: number): bigint {
  // A document is never posted before it occurred, except by a till's clock running ahead
  // (bounded by the intake check): anything posted earlier than this occurred before the window.
  const ms = windowStartMs - membershipLimits.occurredAtFutureSkewMsMax;
  return ms <= 0 ? 0n : BigInt(ms) * 1_000_000n;
}

/** Reads the org's refunds, then purchases, into per-wallet metrics. */
async function scanOrgMetrics(
  ledger: LedgerApi,
  args: { ledger: number; nowMs: number; windowDays: number },
): Promise<{ metrics: Map<bigint, RfmMetrics>; transfersRead: number }> {
  const builder = new RfmMetricsBuilder<bigint>({ nowMs: args.nowMs, windowDays: args.windowDays });
  const timestampMin = scanTimestampMin(builder.windowStartMs);
  let transfersRead = 0;
  const refunds = scanLedgerTransfers(ledger, {
    ledger: args.ledger,
    codes: [TransferCode.refundReversal],
    timestampMin,
  });
  for await (const page of refunds) {
    for (const transfer of page) {
      assert.equal(transfer.code, TransferCode.refundReversal, "the scan returns refunds only");
      builder.addRefund(transfer.user_data_128, transfer.user_data_64);
    }
    transfersRead += page.length;
  }
  const purchases = scanLedgerTransfers(ledger, {
    ledger: args.ledger,
    codes: [TransferCode.purchaseEarn],
    timestampMin,
  });
  for await (const page of purchases) {
    for (const transfer of page) {
      assert.equal(transfer.code, TransferCode.purchaseEarn, "the scan returns purchases only");
      // issuance → wallet: the credit side is the member's wallet.
      builder.addPurchase(
        transfer.credit_account_id,
        transfer.user_data_128,
        transfer.user_data_64,
      );
    }
    transfersRead += page.length;
  }
  return { metrics: builder.result(), transfersRead };
}

function valuesOf(metrics: RfmMetrics | undefined, boundaries: RfmBoundaries): MemberRfmValues {
  if (metrics === undefined) {
    return {
      recencyDays: null,
      frequency: 0,
      monetaryMinor: 0n,
      r: null,
      f: null,
      m: null,
      segment: "none",
    };
  }
  return { ...metrics, ...scoreMetrics(metrics, boundaries) };
}

/**
 * Rebuilds the org's RFM: scans the window, scores every member (quintiles of this population,
 * or the org's thresholds), stores rows and boundaries, announces changed segments.
 * `progress` is told a percentage at each phase.
 */
export async function rebuildOrgRfm(
  deps: RfmDeps,
  input: { orgId: string },
  progress: (percent: number) => Promise<void> | void = () => {},
): Promise<RebuildResult> {
  const computedAt = deps.clock?.() ?? new Date();
  const scope = await loadRfmScope(deps, input.orgId);
  const settings = scope.org.settings.rfm;
  await progress(5);
  const { metrics, transfersRead } = await scanOrgMetrics(deps.ledger, {
    ledger: scope.pointsLedger,
    nowMs: computedAt.getTime(),
    windowDays: settings.windowDays,
  });
  await progress(60);
  // Wallets back to members: one lookup per 8,189 wallets.
  const members = await walletMemberIds(deps.ledger, {
    ledger: scope.pointsLedger,
    walletIds: [...metrics.keys()],
  });
  const population = [...metrics.values()];
  const boundaries =
    settings.method === "quintiles"
      ? quintileBoundaries(population)
      : thresholdBoundaries(settings.thresholds);
  const rows: Array<MemberRfmValues & { memberId: string }> = [];
  for (const [wallet, values] of metrics) {
    const memberId = members.get(wallet);
    assert.ok(memberId !== undefined, "every wallet has its member");
    const scores = scoreMetrics(values, boundaries);
    rows.push({
      memberId,
      recencyDays: values.recencyDays,
      frequency: values.frequency,
      monetaryMinor: values.monetaryMinor,
      r: scores.r,
      f: scores.f,
      m: scores.m,
      segment: scores.segment,
    });
  }
  await progress(75);
  const { changed } = await replaceOrgRfm(deps, {
    orgId: scope.org.id,
    method: settings.method,
    windowDays: settings.windowDays,
    boundaries: storedBoundaries(boundaries),
    computedAt,
    rows,
  });
  await progress(100);
  return { population: rows.length, changed, transfersRead, computedAt };
}

export type RescoreResult =
  | { kind: "rescored"; from: RfmSegmentName; to: RfmSegmentName }
  /** The org was never rebuilt: there are no boundaries to score against yet. */
  | { kind: "no_rebuild" };

/**
 * Re-scores one member from its wallet's history against the last rebuild's boundaries (and
 * window), so the population's scores stay as they were until the next rebuild.
 */
export async function rescoreMember(
  deps: RfmDeps,
  input: { orgId: string; memberId: string },
): Promise<RescoreResult> {
  const run = await getRfmRun(deps, input.orgId);
  if (run === null) {
    return { kind: "no_rebuild" };
  }
  const pointsLedger = await loadRfmMemberLedger(deps, input);
  const computedAt = deps.clock?.() ?? new Date();
  const builder = new RfmMetricsBuilder<string>({
    nowMs: computedAt.getTime(),
    windowDays: run.windowDays,
  });
  const purchases: Array<{ documentId: bigint; spendMinor: bigint }> = [];
  const history = scanWalletTransfers(deps.ledger, {
    ledger: pointsLedger,
    memberId: input.memberId,
    codes: [TransferCode.purchaseEarn, TransferCode.refundReversal],
    timestampMin: scanTimestampMin(builder.windowStartMs),
  });
  for await (const page of history) {
    for (const transfer of page) {
      if (transfer.code === TransferCode.refundReversal) {
        builder.addRefund(transfer.user_data_128, transfer.user_data_64);
      } else if (transfer.code === TransferCode.purchaseEarn) {
        purchases.push({ documentId: transfer.user_data_128, spendMinor: transfer.user_data_64 });
      }
    }
  }
  // Refunds follow their purchases in the wallet's history: purchases are judged after all.
  for (const purchase of purchases) {
    builder.addPurchase(input.memberId, purchase.documentId, purchase.spendMinor);
  }
  const values = valuesOf(
    builder.result().get(input.memberId),
    boundariesFromStored(run.boundaries),
  );
  const saved = await saveMemberRfm(deps, {
    orgId: input.orgId,
    memberId: input.memberId,
    values,
    computedAt,
  });
  return { kind: "rescored", from: saved.from, to: saved.to };
}
