import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { provisionLedger } from "../../ledger/index.ts";
import { type AuditActor, platformActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { invalidInput, loadOrgLedger } from "../intents/support.ts";
import type { StampProgram } from "../ledger-types.ts";
import {
  documentPointsMax,
  stampProgramNameLengthMax,
  stampProgramsPerOrgMax,
  stampsRequiredMax,
} from "../limits.ts";
import { allocateLedger } from "../orgs/allocate-ledger.ts";
import { lockOrgForCreation } from "../store/bounded-creation.ts";
import { invalidateOrgCaches } from "../store/caches.ts";
import { stampPrograms } from "../store/schema.ts";
import {
  checkEarnRule,
  checkWindow,
  type StampEarnRuleInput,
  stampProgramAuditView,
} from "./program-rules.ts";
import { toStampProgram } from "./stamp-cards.ts";

export interface CreateStampProgramInput {
  orgId: string;
  name: string;
  /** Stamps that fill a card, 1..stampsRequiredMax. Fixed once created. */
  stampsRequired: bigint;
  /** Points credited when a card completes; may be 0. Fixed once created. */
  rewardPoints: bigint;
  /** Absent: one stamp per purchase, any purchase. */
  earn?: StampEarnRuleInput;
  /** Purchases earn when their time is in [activeFrom, activeUntil); absent or null: open. */
  activeFrom?: Date | null;
  activeUntil?: Date | null;
  /** Who asks, for the audit log; the platform itself when absent (tests, the command line). */
  actor?: AuditActor;
}

/**
 * Creates a stamp-card program with its own ledger (unit "stamps:<id>") and its audit entry in one
 * transaction, then provisions that ledger's control accounts. Provisioning is idempotent and
 * repeated when a member's first card is opened, so a crash between the two steps leaves nothing
 * to repair by hand.
 */
export async function createStampProgram(
  deps: LedgerDeps,
  input: CreateStampProgramInput,
): Promise<StampProgram> {
  if (input.name.length === 0 || input.name.length > stampProgramNameLengthMax) {
    throw invalidInput("program name length out of range", { field: "name" });
  }
  if (input.stampsRequired < 1n || input.stampsRequired > BigInt(stampsRequiredMax)) {
    throw invalidInput("stamps required out of range", { field: "stampsRequired" });
  }
  if (input.rewardPoints < 0n || input.rewardPoints > documentPointsMax) {
    throw invalidInput("reward points out of range", { field: "rewardPoints" });
  }
  const earn = checkEarnRule(input.earn ?? { per: "purchase" });
  const window = { activeFrom: input.activeFrom ?? null, activeUntil: input.activeUntil ?? null };
  checkWindow(window);
  const { org } = await loadOrgLedger(deps, input.orgId);
  const id = randomUUID();

  const program = await deps.db.transaction(async (tx) => {
    await lockOrgForCreation(tx, {
      orgId: org.id,
      table: stampPrograms,
      orgColumn: stampPrograms.orgId,
      max: stampProgramsPerOrgMax,
      what: "stamp programs",
    });
    const ledger = await allocateLedger({ db: tx }, { orgId: org.id, unit: `stamps:${id}` });
    const [inserted] = await tx
      .insert(stampPrograms)
      .values({
        id,
        orgId: org.id,
        name: input.name,
        ledger,
        stampsRequired: Number(input.stampsRequired),
        rewardPoints: input.rewardPoints,
        earnPer: earn.per,
        earnAmountMinMinor: earn.amountMinMinor,
        earnCategories: [...earn.categories],
        earnSkus: [...earn.skus],
        activeFrom: window.activeFrom,
        activeUntil: window.activeUntil,
      })
      .returning();
    assert.ok(inserted !== undefined, "insert into stamp_programs returned no row");
    const created = toStampProgram(inserted);
    await writeAudit(tx, {
      orgId: org.id,
      actor: input.actor ?? platformActor,
      action: "stamp_program.created",
      targetType: "stamp_program",
      targetId: id,
      before: null,
      after: stampProgramAuditView(created),
    });
    return created;
  });
  // Purchases in this process see the new program from now on; other processes within
  // orgCacheTtlMs. A purchase that stamps it before the ledger below is provisioned provisions
  // it itself (ensureStampWallets), so the order does not matter.
  invalidateOrgCaches(deps.caches, org.id);
  await provisionLedger(deps.ledger, program.ledger);
  return program;
}
