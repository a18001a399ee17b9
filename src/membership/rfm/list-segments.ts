import assert from "node:assert/strict";
import { count, eq } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { memberRfm, members, rfmRuns } from "../store/schema.ts";
import { type RfmSegmentName, rfmSegmentNames } from "./segments.ts";

export interface SegmentCounts {
  /** The last rebuild's time; null when the org was never rebuilt. */
  computedAt: Date | null;
  /** Every segment, in the order of `rfmSegmentNames`, with its member count (0 included). */
  segments: Array<{ name: RfmSegmentName; members: number }>;
}

/**
 * Members per segment, as stored by the last rebuild and the re-scores since. `none` counts every
 * other member of the org: no counted purchase in the window, or never scored.
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
  const [all] = await deps.db
    .select({ members: count() })
    .from(members)
    .where(eq(members.orgId, input.orgId));
  const counts = new Map(rows.map((row) => [row.segment, row.members]));
  const scored = rows.reduce((sum, row) => sum + (row.segment === "none" ? 0 : row.members), 0);
  assert.ok(all !== undefined && all.members >= scored, "scored members are members");
  counts.set("none", all.members - scored);
  return {
    computedAt: run?.computedAt ?? null,
    segments: rfmSegmentNames.map((name) => ({ name, members: counts.get(name) ?? 0 })),
  };
}
