/**
 * The finance export of an org's transfers on one unit's ledger, over a half-open range of
 * ledger (commit) timestamps. The range is fixed before anything is read: its end is clamped to
 * the ledger's commit watermark + 1 ns (see the ledger's exports.ts), so the range is final and
 * `[a, b)` then `[b, c)` return every transfer exactly once, however the requests interleave
 * with postings. Rows are read lazily, one ledger page at a time.
 */
import assert from "node:assert/strict";
import {
  createExportRowDecoder,
  type LedgerExportRow,
  ledgerCommitWatermark,
  ledgerTimestampMax,
  scanLedgerRange,
} from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { requireUnitLedger } from "./unit-ledger.ts";

export interface ExportLedgerTransfersInput {
  orgId: string;
  /** "points" or "stamps:<program id>". */
  unit: string;
  /** Range start, ns since the Unix epoch (inclusive); absent: the ledger's first transfer. */
  fromTimestamp?: bigint;
  /** Range end, ns (exclusive); absent: now. Clamped to the commit watermark + 1 ns. */
  toTimestamp?: bigint;
  /** Transfers per ledger page (tests); 8,189 by default. */
  pageTransfersMax?: number;
}

export interface LedgerTransfersExport {
  unit: string;
  ledger: number;
  /** The exact range exported: `from <= timestamp < to`. */
  timestampFrom: bigint;
  timestampTo: bigint;
  /** True when `to` was cut back to the watermark (asked for later, or not given). */
  clamped: boolean;
  /** The rows, oldest first, in pages; nothing is read before the first `next()`. */
  pages: AsyncGenerator<LedgerExportRow[]>;
}

export async function exportLedgerTransfers(
  deps: Pick<LedgerDeps, "db" | "ledger">,
  input: ExportLedgerTransfersInput,
): Promise<LedgerTransfersExport> {
  const from = input.fromTimestamp ?? 0n;
  assert.ok(from >= 0n && from <= ledgerTimestampMax + 1n, "from is checked at the edge");
  assert.ok(
    input.toTimestamp === undefined || input.toTimestamp >= from,
    "to >= from is checked at the edge",
  );
  const ledger = await requireUnitLedger(deps, input);
  // Read before the range is scanned: everything at or below it is committed and visible.
  const watermark = await ledgerCommitWatermark(deps.ledger);
  const limit = watermark + 1n;
  const asked = input.toTimestamp ?? ledgerTimestampMax + 1n;
  // An empty range when the start lies past the watermark: [from, from), to be asked again.
  const to = asked <= limit ? asked : limit > from ? limit : from;
  assert.ok(to >= from, "the range is ordered");
  assert.ok(to <= limit || to === from, "the range ends at or before the watermark + 1");
  const scan = scanLedgerRange(deps.ledger, {
    ledger,
    timestampFrom: from,
    timestampTo: to,
    ...(input.pageTransfersMax === undefined ? {} : { pageTransfersMax: input.pageTransfersMax }),
  });
  const decode = createExportRowDecoder(deps.ledger, ledger);
  async function* pages(): AsyncGenerator<LedgerExportRow[]> {
    for await (const transfers of scan) {
      yield await decode(transfers);
    }
  }
  return {
    unit: input.unit,
    ledger,
    timestampFrom: from,
    timestampTo: to,
    clamped: to < asked,
    pages: pages(),
  };
}
