/**
 * Locations named by a purchase's `locationRef`, created on first use with the next per-org
 * number. The number rides on the earn transfer (`user_data_32`), so ledger history can say
 * where points were earned without reading Postgres.
 */
import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import { locationAllocationAttemptsMax } from "../limits.ts";
import type { DbExecutor } from "../store/db.ts";
import { locations } from "../store/schema.ts";

export interface LocationRef {
  id: string;
  number: number;
}

/**
 * The location with this external ref, created when missing. Two first uses at once race for
 * the same number; `on conflict do nothing` covers both unique keys, so the loser either finds
 * the winner's row (same ref) or tries the next number (same number, other ref). Bounded.
 */
export async function ensureLocation(
  db: DbExecutor,
  input: { orgId: string; externalRef: string },
): Promise<LocationRef> {
  for (let attempt = 0; attempt < locationAllocationAttemptsMax; attempt += 1) {
    const existing = await findLocation(db, input);
    if (existing !== null) {
      return existing;
    }
    const [inserted] = await db
      .insert(locations)
      .values({
        orgId: input.orgId,
        externalRef: input.externalRef,
        name: input.externalRef,
        number: sql`(select coalesce(max(${locations.number}), 0) + 1 from ${locations}
          where ${locations.orgId} = ${input.orgId})`,
      })
      .onConflictDoNothing()
      .returning({ id: locations.id, number: locations.number });
    if (inserted !== undefined) {
      assert.ok(inserted.number > 0, "location numbers start at 1");
      return inserted;
    }
  }
  assert.fail(`location numbering lost ${locationAllocationAttemptsMax} races in a row`);
}

async function findLocation(
  db: DbExecutor,
  input: { orgId: string; externalRef: string },
): Promise<LocationRef | null> {
  const [row] = await db
    .select({ id: locations.id, number: locations.number })
    .from(locations)
    .where(and(eq(locations.orgId, input.orgId), eq(locations.externalRef, input.externalRef)))
    .limit(1);
  return row ?? null;
}
