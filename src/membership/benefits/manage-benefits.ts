/**
 * Benefits: what an org gives its members beyond points, described once and attached to tiers
 * (a tier's `benefits`). An admin creates, lists, reads, changes and deletes them, each write with
 * its audit entry (`benefit.created`, `benefit.updated`, `benefit.deleted`) in its transaction.
 * Deleting one detaches it from every tier (the join rows cascade); no event is written for the
 * members who held it.
 *
 * A `points_multiplier` benefit carries its factor (basis points) but is descriptive only: the
 * earning function does not apply it yet.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { and, asc, eq, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput } from "../intents/support.ts";
import {
  benefitDescriptionLengthMax,
  benefitNameLengthMax,
  benefitsPerOrgMax,
  tierMultiplierBpsMax,
} from "../limits.ts";
import { lockOrgForCreation } from "../store/bounded-creation.ts";
import type { DbExecutor } from "../store/db.ts";
import { benefits, tierBenefits } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

export const benefitKinds = ["perk", "points_multiplier"] as const;
export type BenefitKind = (typeof benefitKinds)[number];

export interface Benefit {
  id: string;
  name: string;
  description: string | null;
  kind: BenefitKind;
  /** A points multiplier's factor in basis points; null for a perk. */
  valueBps: number | null;
  activeFrom: Date | null;
  activeUntil: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface BenefitFields {
  name: string;
  description: string | null;
  valueBps: number | null;
  activeFrom: Date | null;
  activeUntil: Date | null;
}

/** Absent fields are unchanged; null clears an optional one. `kind` never changes. */
export type BenefitPatch = Partial<BenefitFields>;

function refuse(field: string, message: string): DomainError {
  return invalidInput(`${field} ${message}`, { field, issues: [{ path: field, message }] });
}

function checkFields(kind: BenefitKind, fields: BenefitFields): void {
  if (fields.name.length === 0 || fields.name.length > benefitNameLengthMax) {
    throw refuse("name", `must be 1 to ${benefitNameLengthMax} characters`);
  }
  if (fields.description !== null && fields.description.length > benefitDescriptionLengthMax) {
    throw refuse("description", `must be at most ${benefitDescriptionLengthMax} characters`);
  }
  if (kind === "perk" && fields.valueBps !== null) {
    throw refuse("value", "is not allowed for a perk");
  }
  if (kind === "points_multiplier") {
    if (fields.valueBps === null) {
      throw refuse("value", "is required for a points_multiplier");
    }
    if (
      !Number.isSafeInteger(fields.valueBps) ||
      fields.valueBps < 1 ||
      fields.valueBps > tierMultiplierBpsMax
    ) {
      throw refuse("value", "must be a multiplier above 0 and at most 100");
    }
  }
  if (
    fields.activeFrom !== null &&
    fields.activeUntil !== null &&
    fields.activeFrom.getTime() >= fields.activeUntil.getTime()
  ) {
    throw refuse("active_until", "must be after active_from");
  }
}

export function toBenefit(row: typeof benefits.$inferSelect): Benefit {
  assert.equal(row.kind === "perk", row.valueBps === null, "a perk has no value, a multiplier one");
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    kind: row.kind,
    valueBps: row.valueBps,
    activeFrom: row.activeFrom,
    activeUntil: row.activeUntil,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function auditView(benefit: Benefit): Record<string, unknown> {
  return {
    name: benefit.name,
    description: benefit.description,
    kind: benefit.kind,
    value_bps: benefit.valueBps,
    active_from: benefit.activeFrom?.toISOString() ?? null,
    active_until: benefit.activeUntil?.toISOString() ?? null,
  };
}

/** Creates a benefit with its `benefit.created` entry. Errors: `invalid_input`, `not_found`. */
export async function createBenefit(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; kind: BenefitKind; actor: AuditActor } & BenefitFields,
): Promise<Benefit> {
  const fields: BenefitFields = {
    name: input.name,
    description: input.description,
    valueBps: input.valueBps,
    activeFrom: input.activeFrom,
    activeUntil: input.activeUntil,
  };
  checkFields(input.kind, fields);
  return deps.db.transaction(async (tx) => {
    await lockOrgForCreation(tx, {
      orgId: input.orgId,
      table: benefits,
      orgColumn: benefits.orgId,
      max: benefitsPerOrgMax,
      what: "benefits",
    });
    const org = { id: input.orgId };
    const [inserted] = await tx
      .insert(benefits)
      .values({ id: randomUUID(), orgId: org.id, kind: input.kind, ...fields })
      .returning();
    assert.ok(inserted !== undefined, "insert into benefits returned no row");
    const created = toBenefit(inserted);
    await writeAudit(tx, {
      orgId: org.id,
      actor: input.actor,
      action: "benefit.created",
      targetType: "benefit",
      targetId: created.id,
      before: null,
      after: auditView(created),
    });
    return created;
  });
}

/** The org's benefits, oldest first: all of them (at most `benefitsPerOrgMax`). */
export async function listBenefits(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string },
): Promise<Benefit[]> {
  const rows = await deps.db
    .select()
    .from(benefits)
    .where(eq(benefits.orgId, input.orgId))
    .orderBy(asc(benefits.createdAt), asc(benefits.id))
    .limit(benefitsPerOrgMax);
  return rows.map(toBenefit);
}

async function readBenefitRow(
  db: DbExecutor,
  input: { orgId: string; benefitId: string; forUpdate?: boolean },
): Promise<typeof benefits.$inferSelect> {
  const notFound = new DomainError("not_found", "benefit not found", {
    benefitId: input.benefitId,
  });
  if (!isUuid(input.benefitId)) {
    throw notFound;
  }
  const query = db
    .select()
    .from(benefits)
    .where(and(eq(benefits.orgId, input.orgId), eq(benefits.id, input.benefitId)));
  const [row] = input.forUpdate === true ? await query.for("update") : await query;
  if (row === undefined) {
    throw notFound;
  }
  return row;
}

/** One of the org's benefits. Unknown and another org's ids are the same `not_found`. */
export async function getBenefit(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; benefitId: string },
): Promise<Benefit> {
  return toBenefit(await readBenefitRow(deps.db, input));
}

/** Applies the patch under the row lock, checks the merged benefit, writes `benefit.updated`. */
export async function updateBenefit(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; benefitId: string; patch: BenefitPatch; actor: AuditActor },
): Promise<Benefit> {
  const { patch } = input;
  return deps.db.transaction(async (tx) => {
    const before = toBenefit(await readBenefitRow(tx, { ...input, forUpdate: true }));
    const fields: BenefitFields = {
      name: patch.name ?? before.name,
      description: patch.description === undefined ? before.description : patch.description,
      valueBps: patch.valueBps === undefined ? before.valueBps : patch.valueBps,
      activeFrom: patch.activeFrom === undefined ? before.activeFrom : patch.activeFrom,
      activeUntil: patch.activeUntil === undefined ? before.activeUntil : patch.activeUntil,
    };
    checkFields(before.kind, fields);
    const [updated] = await tx
      .update(benefits)
      .set({ ...fields, updatedAt: sql`now()` })
      .where(and(eq(benefits.orgId, input.orgId), eq(benefits.id, before.id)))
      .returning();
    assert.ok(updated !== undefined, "a locked benefit is updated");
    const after = toBenefit(updated);
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "benefit.updated",
      targetType: "benefit",
      targetId: before.id,
      before: auditView(before),
      after: auditView(after),
    });
    return after;
  });
}

/** Deletes the benefit and its attachments to tiers, with `benefit.deleted`. */
export async function deleteBenefit(
  deps: Pick<LedgerDeps, "db">,
  input: { orgId: string; benefitId: string; actor: AuditActor },
): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const before = toBenefit(await readBenefitRow(tx, { ...input, forUpdate: true }));
    const detached = await tx
      .delete(tierBenefits)
      .where(and(eq(tierBenefits.orgId, input.orgId), eq(tierBenefits.benefitId, before.id)))
      .returning({ tierId: tierBenefits.tierId });
    await tx
      .delete(benefits)
      .where(and(eq(benefits.orgId, input.orgId), eq(benefits.id, before.id)));
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "benefit.deleted",
      targetType: "benefit",
      targetId: before.id,
      before: { ...auditView(before), tier_ids: detached.map((row) => row.tierId) },
      after: null,
    });
  });
}
