import { count, eq } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { memberRfm, rfmRuns } from "../store/schema.ts";
import { type RfmSegmentName, rfmSegmentNames } from "./segments.ts";

export interface SegmentCounts {
  /** The last rebuild's time; null when the org was never rebuilt. */
  computedAt: Date | null;
  /** Every segment, in the order of `rfmSegmentNames`, with its member count (0 included). */
  segments: Array<{ name: RfmSegmentName; members: number }>;
}

/**
 * Members per segment, as stored by the last rebuild and the re-scores since. Members enrolled
 * after the last rebuild who have not purchased yet are counted in `none` from the next one.
 */
export async function listSegments(deps: DbDeps, input: { orgId: string }): Promise<SegmentCounts> {
  const [run] = await deps.db
    .select({ computedAt: rfmRuns.computedAt })
    .from(rfmRuns)
    .where(eq(rfmRuns.orgId, input.orgId))
    .limit(1);
  const rows = await deps.db
    .select({ segment: memberRfm.segment, members: count() })
    .from(memberRfm)
    .where(eq(memberRfm.orgId, input.orgId))
    .groupBy(memberRfm.segment);
  const counts = new Map(rows.map((row) => [row.segment, row.members]));
  return {
    computedAt: run?.computedAt ?? null,
    segments: rfmSegmentNames.map((name) => ({ name, members: counts.get(name) ?? 0 })),
  };
}
