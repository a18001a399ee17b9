/**
 * The admin side of promo codes: create, list and change one. Every change writes its audit
 * entry (`code.created`, `code.updated`) in its own transaction, showing the prefix only.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { and, asc, eq, sql } from "drizzle-orm";
import { type AuditActor, platformActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput, loadOrgLedger } from "../intents/support.ts";
import { codesPerOrgMax, documentPointsMax } from "../limits.ts";
import { lockOrgForCreation } from "../store/bounded-creation.ts";
import type { DbExecutor } from "../store/db.ts";
import { codes, tiers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import {
  codeAuditView,
  codeHash,
  codePrefix,
  normalizeCode,
  type PromoCode,
  toPromoCode,
} from "./code-text.ts";

export interface CreateCodeInput {
  orgId: string;
  /** As typed; normalised (upper-case NFKC) to 4–64 characters of [A-Z0-9-]. */
  code: string;
  points: bigint;
  /** Redemptions allowed across all members; absent or null: unlimited. */
  maxUsesTotal?: bigint | null;
  /** Must be true: the only mode offered. */
  oncePerMember: true;
  validFrom?: Date | null;
  validUntil?: Date | null;
  minTierId?: string | null;
  actor?: AuditActor;
}

function checkWindow(window: { validFrom: Date | null; validUntil: Date | null }): void {
  const { validFrom, validUntil } = window;
  if (validFrom !== null && validUntil !== null && validFrom.getTime() >= validUntil.getTime()) {
    throw invalidInput("valid_from must be before valid_until", { field: "validUntil" });
  }
}

function checkMaxUses(maxUsesTotal: bigint | null): void {
  if (maxUsesTotal !== null && (maxUsesTotal < 1n || maxUsesTotal > documentPointsMax)) {
    throw invalidInput("max uses out of range", { field: "maxUsesTotal" });
  }
}

async function checkTier(db: DbExecutor, orgId: string, tierId: string | null): Promise<void> {
  if (tierId === null) {
    return;
  }
  const unknown = invalidInput("min_tier_id is not a tier of this org", { field: "minTierId" });
  if (!isUuid(tierId)) {
    throw unknown;
  }
  const [tier] = await db
    .select({ id: tiers.id })
    .from(tiers)
    .where(and(eq(tiers.orgId, orgId), eq(tiers.id, tierId)))
    .limit(1);
  if (tier === undefined) {
    throw unknown;
  }
}

/**
 * Creates a code. The same code (after normalisation) twice in one org is a `conflict`; in two
 * orgs it is two codes. Errors: `invalid_input`, `conflict`, `not_found` (org).
 */
export async function createCode(deps: LedgerDeps, input: CreateCodeInput): Promise<PromoCode> {
  const normalized = normalizeCode(input.code);
  if (normalized === null) {
    throw invalidInput("a code is 4 to 64 characters of A-Z, 0-9 and -", { field: "code" });
  }
  if (input.oncePerMember !== true) {
    throw invalidInput("only once-per-member codes are offered", { field: "oncePerMember" });
  }
  if (input.points < 1n || input.points > documentPointsMax) {
    throw invalidInput("points out of range", { field: "points" });
  }
  const maxUsesTotal = input.maxUsesTotal ?? null;
  checkMaxUses(maxUsesTotal);
  const window = { validFrom: input.validFrom ?? null, validUntil: input.validUntil ?? null };
  checkWindow(window);
  const { org } = await loadOrgLedger(deps, input.orgId);
  const minTierId = input.minTierId ?? null;
  await checkTier(deps.db, org.id, minTierId);
  return deps.db.transaction(async (tx) => {
    await lockOrgForCreation(tx, {
      orgId: org.id,
      table: codes,
      orgColumn: codes.orgId,
      max: codesPerOrgMax,
      what: "codes",
    });
    const [inserted] = await tx
      .insert(codes)
      .values({
        id: randomUUID(),
        orgId: org.id,
        codeHash: codeHash(deps.secrets, org.id, normalized),
        prefix: codePrefix(normalized),
        points: input.points,
        maxUsesTotal,
        oncePerMember: true,
        validFrom: window.validFrom,
        validUntil: window.validUntil,
        minTierId,
      })
      .onConflictDoNothing({ target: [codes.orgId, codes.codeHash] })
      .returning();
    if (inserted === undefined) {
      throw new DomainError("conflict", "this code exists in the org", {
        prefix: codePrefix(normalized),
      });
    }
    const created = toPromoCode(inserted);
    await writeAudit(tx, {
      orgId: org.id,
      actor: input.actor ?? platformActor,
      action: "code.created",
      targetType: "code",
      targetId: created.id,
      before: null,
      after: codeAuditView(created),
    });
    return created;
  });
}

/** The org's codes, oldest first: all of them (at most `codesPerOrgMax`). */
export async function listCodes(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string },
): Promise<PromoCode[]> {
  if (!isUuid(input.orgId)) {
    return [];
  }
  const rows = await deps.db
    .select()
    .from(codes)
    .where(eq(codes.orgId, input.orgId))
    .orderBy(asc(codes.createdAt), asc(codes.id))
    .limit(codesPerOrgMax);
  return rows.map(toPromoCode);
}

/** Absent fields are unchanged; a null window bound opens that side, a null max unlimits. */
export interface CodePatch {
  validFrom?: Date | null;
  validUntil?: Date | null;
  maxUsesTotal?: bigint | null;
  active?: boolean;
}

/**
 * Changes a code's window, total uses or `active` under its row lock (the lock redemptions take),
 * checking the merged code: a max below the uses so far is `invalid_input`. Writes
 * `code.updated` with the code before and after. Unknown or another org's code: `not_found`.
 */
export async function updateCode(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; codeId: string; patch: CodePatch; actor: AuditActor },
): Promise<PromoCode> {
  const { patch } = input;
  const notFound = new DomainError("not_found", "code not found", { codeId: input.codeId });
  if (!isUuid(input.codeId) || !isUuid(input.orgId)) {
    throw notFound;
  }
  if (patch.maxUsesTotal !== undefined) {
    checkMaxUses(patch.maxUsesTotal);
  }
  return deps.db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(codes)
      .where(and(eq(codes.orgId, input.orgId), eq(codes.id, input.codeId)))
      .for("update");
    if (row === undefined) {
      throw notFound;
    }
    const before = toPromoCode(row);
    const window = {
      validFrom: patch.validFrom === undefined ? before.validFrom : patch.validFrom,
      validUntil: patch.validUntil === undefined ? before.validUntil : patch.validUntil,
    };
    checkWindow(window);
    const maxUsesTotal =
      patch.maxUsesTotal === undefined ? before.maxUsesTotal : patch.maxUsesTotal;
    if (maxUsesTotal !== null && maxUsesTotal < before.uses) {
      throw invalidInput("max_uses_total is below the uses so far", {
        field: "maxUsesTotal",
        uses: before.uses.toString(),
      });
    }
    const [updated] = await tx
      .update(codes)
      .set({
        validFrom: window.validFrom,
        validUntil: window.validUntil,
        maxUsesTotal,
        ...(patch.active === undefined ? {} : { active: patch.active }),
        updatedAt: sql`now()`,
      })
      .where(and(eq(codes.orgId, input.orgId), eq(codes.id, row.id)))
      .returning();
    assert.ok(updated !== undefined, "a locked code is updated");
    const after = toPromoCode(updated);
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "code.updated",
      targetType: "code",
      targetId: row.id,
      before: codeAuditView(before),
      after: codeAuditView(after),
    });
    return after;
  });
}
