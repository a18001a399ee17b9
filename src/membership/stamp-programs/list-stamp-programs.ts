import assert from "node:assert/strict";
import { asc, eq } from "drizzle-orm";
import type { Store } from "../deps.ts";
import type { StampProgram } from "../ledger-types.ts";
import { stampProgramsPerOrgMax } from "../limits.ts";
import { stampPrograms } from "../store/schema.ts";
import { toStampProgram } from "./stamp-cards.ts";

/**
 * Every stamp program of the org, active or not, oldest first, read from Postgres so an admin sees
 * a change at once (purchases read the cached list, `stampProgramsOf`). Bounded by
 * `stampProgramsPerOrgMax`, which creation enforces: no pages.
 */
export async function listStampPrograms(
  store: Pick<Store, "db">,
  input: { orgId: string },
): Promise<StampProgram[]> {
  const rows = await store.db
    .select()
    .from(stampPrograms)
    .where(eq(stampPrograms.orgId, input.orgId))
    .orderBy(asc(stampPrograms.createdAt), asc(stampPrograms.id))
    .limit(stampProgramsPerOrgMax + 1);
  assert.ok(rows.length <= stampProgramsPerOrgMax, "stamp programs within their bound");
  return rows.map(toStampProgram);
}
