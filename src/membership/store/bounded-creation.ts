/**
 * The guard every per-org collection with a bound uses when it grows: lock the org's row (so
 * concurrent creations in one org queue, and the count cannot be raced past the bound), then
 * count and refuse at the bound. Call it inside the creating transaction, before the insert.
 */
import { and, count, eq, type SQL } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import { DomainError } from "../errors.ts";
import { invalidInput } from "../intents/support.ts";
import type { DbExecutor } from "./db.ts";
import { orgs } from "./schema.ts";

export async function lockOrgForCreation(
  tx: DbExecutor,
  input: {
    orgId: string;
    /** The collection, its org column and (optionally) which of its rows count. */
    table: PgTable;
    orgColumn: AnyPgColumn;
    counted?: SQL;
    max: number;
    /** Plural noun for the refusal, e.g. "rewards". */
    what: string;
  },
): Promise<void> {
  const [org] = await tx
    .select({ id: orgs.id })
    .from(orgs)
    .where(eq(orgs.id, input.orgId))
    .for("update");
  if (org === undefined) {
    throw new DomainError("not_found", "org not found", { orgId: input.orgId });
  }
  const [existing] = await tx
    .select({ n: count() })
    .from(input.table)
    .where(and(eq(input.orgColumn, input.orgId), input.counted));
  if ((existing?.n ?? 0) >= input.max) {
    throw invalidInput(`an org has at most ${input.max} ${input.what}`, { limit: input.max });
  }
}
