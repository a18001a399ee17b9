import { asc } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { tiersPerOrgMax } from "../limits.ts";
import { toTier } from "../store/records.ts";
import { tiers } from "../store/schema.ts";
import { inEarningLadder } from "../tiers/progression.ts";
import type { Tier } from "../types.ts";

/** The org's earning ladder, entry tier (rank 0) first. Few per org (bounded), so unpaged. */
export async function listTiers(deps: DbDeps, input: { orgId: string }): Promise<Tier[]> {
  const rows = await deps.db
    .select()
    .from(tiers)
    .where(inEarningLadder(input.orgId))
    .orderBy(asc(tiers.rank))
    .limit(tiersPerOrgMax);
  return rows.map(toTier);
}
