/**
 * Changing a stamp program: its name, earn rule, window and `active`. Stamps per card and the
 * reward are not in the patch on purpose: they are the amounts of the completion transfers, whose
 * ids are numbered per card (stamp-cards.ts). A completion retried, or raced by a process whose
 * cached program is older, would rebuild an id with another amount, which the ledger refuses
 * (`exists_with_different_amount`) and the completion treats as a broken invariant. A new program
 * is the way to change them.
 */
import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { invalidInput } from "../intents/support.ts";
import type { StampProgram } from "../ledger-types.ts";
import { stampProgramNameLengthMax } from "../limits.ts";
import { invalidateOrgCaches } from "../store/caches.ts";
import { stampPrograms } from "../store/schema.ts";
import { readStampProgramRow } from "./get-stamp-program.ts";
import {
  checkEarnRule,
  checkWindow,
  type StampEarnRuleInput,
  stampProgramAuditView,
} from "./program-rules.ts";
import { toStampProgram } from "./stamp-cards.ts";

/** Absent fields are unchanged; a null window bound opens that side; `earn` is replaced whole. */
export interface StampProgramPatch {
  name?: string;
  earn?: StampEarnRuleInput;
  activeFrom?: Date | null;
  activeUntil?: Date | null;
  active?: boolean;
}

/**
 * Applies the patch under a row lock, checks the merged program (a new `activeFrom` against the
 * stored `activeUntil`, say), and writes the `stamp_program.updated` entry with the program before
 * and after, in one transaction. This process forgets its cached programs at once; other
 * processes within `orgCacheTtlMs`. Unknown or another org's program: `not_found`.
 */
export async function updateStampProgram(
  deps: Pick<LedgerDeps, "db" | "caches">,
  input: { orgId: string; programId: string; patch: StampProgramPatch; actor: AuditActor },
): Promise<StampProgram> {
  const { patch } = input;
  if (
    patch.name !== undefined &&
    (patch.name.length === 0 || patch.name.length > stampProgramNameLengthMax)
  ) {
    throw invalidInput("program name length out of range", { field: "name" });
  }
  const earn = patch.earn === undefined ? undefined : checkEarnRule(patch.earn);
  const program = await deps.db.transaction(async (tx) => {
    const row = await readStampProgramRow(tx, { ...input, forUpdate: true });
    const before = toStampProgram(row);
    const window = {
      activeFrom: patch.activeFrom === undefined ? before.activeFrom : patch.activeFrom,
      activeUntil: patch.activeUntil === undefined ? before.activeUntil : patch.activeUntil,
    };
    checkWindow(window);
    const [updated] = await tx
      .update(stampPrograms)
      .set({
        ...(patch.name === undefined ? {} : { name: patch.name }),
        ...(earn === undefined
          ? {}
          : {
              earnPer: earn.per,
              earnAmountMinMinor: earn.amountMinMinor,
              earnCategories: [...earn.categories],
              earnSkus: [...earn.skus],
            }),
        activeFrom: window.activeFrom,
        activeUntil: window.activeUntil,
        ...(patch.active === undefined ? {} : { active: patch.active }),
        updatedAt: sql`now()`,
      })
      .where(and(eq(stampPrograms.orgId, input.orgId), eq(stampPrograms.id, row.id)))
      .returning();
    assert.ok(updated !== undefined, "a locked program is updated");
    assert.equal(updated.stampsRequired, row.stampsRequired, "stamps per card never change");
    assert.equal(updated.rewardPoints, row.rewardPoints, "the reward never changes");
    const after = toStampProgram(updated);
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "stamp_program.updated",
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
