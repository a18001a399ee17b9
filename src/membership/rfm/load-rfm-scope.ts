import { asc, eq } from "drizzle-orm";
import type { Store } from "../deps.ts";
import { loadOrgLedger } from "../intents/support.ts";
import { members, rfmRuns } from "../store/schema.ts";
import type { Org } from "../types.ts";
import type { RfmRun } from "./types.ts";

/** Members one org may have for a rebuild: the bound of the rebuild's memory and its writes. */
export const rfmMembersPerOrgMax = 10_000_000;

export interface RfmScope {
  org: Org;
  pointsLedger: number;
  /** Every member of the org, by id; members without a counted purchase are segment `none`. */
  memberIds: string[];
}

/** What a rebuild needs from Postgres: the org's settings, its points ledger and its members. */
export async function loadRfmScope(store: Store, orgId: string): Promise<RfmScope> {
  const { org, pointsLedger } = await loadOrgLedger(store, orgId);
  const rows = await store.db
    .select({ id: members.id })
    .from(members)
    .where(eq(members.orgId, org.id))
    .orderBy(asc(members.id))
    .limit(rfmMembersPerOrgMax + 1);
  if (rows.length > rfmMembersPerOrgMax) {
    throw new Error(`org ${org.id} has more than ${rfmMembersPerOrgMax} members`);
  }
  return { org, pointsLedger, memberIds: rows.map((row) => row.id) };
}

/** The org's last rebuild, or null when it never had one. */
export async function getRfmRun(store: Pick<Store, "db">, orgId: string): Promise<RfmRun | null> {
  const [row] = await store.db.select().from(rfmRuns).where(eq(rfmRuns.orgId, orgId)).limit(1);
  return row ?? null;
}
