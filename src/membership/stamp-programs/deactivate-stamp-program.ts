import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import type { StampProgram } from "../ledger-types.ts";
import { invalidateOrgCaches } from "../store/caches.ts";
import { stampPrograms } from "../store/schema.ts";
import { readStampProgramRow } from "./get-stamp-program.ts";
import { stampProgramAuditView } from "./program-rules.ts";
import { toStampProgram } from "./stamp-cards.ts";

/**
 * Deactivates a program: no purchase earns stamps in it from now on (in other processes within
 * `orgCacheTtlMs`), while its cards, their stamps and its ledger stay as they are, readable. A
 * purchase already recorded with stamps here still posts them and completes a card it fills.
 * Writes `stamp_program.deactivated` in the same transaction; a program already inactive is
 * returned as it is, with no entry (nothing changed). Unknown or another org's: `not_found`.
 */
export async function deactivateStampProgram(
  deps: Pick<LedgerDeps, "db" | "caches">,
  input: { orgId: string; programId: string; actor: AuditActor },
): Promise<StampProgram> {
  const program = await deps.db.transaction(async (tx) => {
    const row = await readStampProgramRow(tx, { ...input, forUpdate: true });
    const before = toStampProgram(row);
    if (!before.active) {
      return before;
    }
    const [updated] = await tx
      .update(stampPrograms)
      .set({ active: false, updatedAt: sql`now()` })
      .where(and(eq(stampPrograms.orgId, input.orgId), eq(stampPrograms.id, row.id)))
      .returning();
    assert.ok(updated !== undefined, "a locked program is updated");
    const after = toStampProgram(updated);
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "stamp_program.deactivated",
      targetType: "stamp_program",
      targetId: row.id,
      before: stampProgramAuditView(before),
      after: stampProgramAuditView(after),
    });
    return after;
  });
  invalidateOrgCaches(deps.caches, input.orgId);
  return program;
}
