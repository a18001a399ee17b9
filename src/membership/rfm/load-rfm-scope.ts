import assert from "node:assert/strict";
import { asc, eq, gt } from "drizzle-orm";
import type { Store } from "../deps.ts";
import { loadOrgLedger, requireMemberInOrg } from "../intents/support.ts";
import { orgs, rfmRuns } from "../store/schema.ts";
import type { Org } from "../types.ts";
import type { RfmRun } from "./types.ts";

export interface RfmScope {
  /** The org, with its `rfm` settings. */
  org: Org;
  /** The ledger whose purchases and refunds RFM is computed from. */
  pointsLedger: number;
}

/** What a rebuild needs from Postgres: the org's settings and its points ledger. */
export async function loadRfmScope(store: Store, orgId: string): Promise<RfmScope> {
  const { org, pointsLedger } = await loadOrgLedger(store, orgId);
  return { org, pointsLedger };
}

/** The points ledger a member's re-score reads; unknown or another org's member: `not_found`. */
export async function loadRfmMemberLedger(
  store: Store,
  input: { orgId: string; memberId: string },
): Promise<number> {
  const { pointsLedger } = await loadOrgLedger(store, input.orgId);
  await requireMemberInOrg(store, input);
  return pointsLedger;
}

/** The org's last rebuild, or null when it never had one. */
export async function getRfmRun(store: Pick<Store, "db">, orgId: string): Promise<RfmRun | null> {
  const [row] = await store.db.select().from(rfmRuns).where(eq(rfmRuns.orgId, orgId)).limit(1);
  return row ?? null;
}

/** Orgs read per page by the nightly fan-out. */
export const rfmOrgsPageMax = 1_000;

/** Org ids in id order after `after` (exclusive), at most `limit`: the nightly fan-out's pages. */
export async function listOrgIdsAfter(
  store: Pick<Store, "db">,
  input: { after: string | null; limit: number },
): Promise<string[]> {
  assert.ok(Number.isSafeInteger(input.limit) && input.limit >= 1, "a page has a size");
  assert.ok(input.limit <= rfmOrgsPageMax, "pages are bounded");
  const rows = await store.db
    .select({ id: orgs.id })
    .from(orgs)
    .where(input.after === null ? undefined : gt(orgs.id, input.after))
    .orderBy(asc(orgs.id))
    .limit(input.limit);
  return rows.map((row) => row.id);
}
