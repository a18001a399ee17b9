import assert from "node:assert/strict";
import { and, asc, eq, gt, inArray } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { orgs, reconciliations } from "../store/schema.ts";
import { type Reconciliation, toReconciliation } from "./reconciliation-records.ts";

export interface StartReconciliationInput {
  orgId: string;
}

/**
 * Records a manual reconciliation of the org, `running`; the caller then enqueues its job. The
 * run exists before its job does, so the id it answers can always be read back.
 */
export async function startReconciliation(
  deps: DbDeps,
  input: StartReconciliationInput,
): Promise<Reconciliation> {
  const [row] = await deps.db
    .insert(reconciliations)
    .values({ orgId: input.orgId, trigger: "manual" })
    .returning();
  assert.ok(row !== undefined, "an insert without conflict target returns its row");
  assert.equal(row.status, "running", "a run starts running");
  return toReconciliation(row);
}

/** Orgs one page of the nightly fan-out covers. */
export const scheduledOrgsPageMax = 500;

export interface ScheduleReconciliationsInput {
  /** The UTC day the runs are for, `YYYY-MM-DD`: one run per org and day. */
  scheduledFor: string;
  /** Keyset cursor: the last org id of the previous page; null for the first page. */
  afterOrgId: string | null;
  limit: number;
}

export interface ScheduledReconciliations {
  /** The day's runs of this page's orgs that are still running (new, or left by a retried tick). */
  runs: Array<{ orgId: string; reconciliationId: string }>;
  /** The cursor of the next page, or null after the last. */
  nextAfterOrgId: string | null;
}

/**
 * The nightly fan-out's Postgres step for one page of orgs: records a scheduled run per org for
 * the day (an org that has one already keeps it, so a retried tick adds none), and returns the
 * day's runs still running, whose jobs the caller enqueues (again: job ids de-duplicate them).
 */
export async function scheduleReconciliations(
  deps: DbDeps,
  input: ScheduleReconciliationsInput,
): Promise<ScheduledReconciliations> {
  assert.match(input.scheduledFor, /^\d{4}-\d{2}-\d{2}$/, "a day is YYYY-MM-DD");
  assert.ok(Number.isInteger(input.limit) && input.limit > 0, "a page holds orgs");
  assert.ok(input.limit <= scheduledOrgsPageMax, "pages are bounded");
  const page = await deps.db
    .select({ id: orgs.id })
    .from(orgs)
    .where(input.afterOrgId === null ? undefined : gt(orgs.id, input.afterOrgId))
    .orderBy(asc(orgs.id))
    .limit(input.limit);
  if (page.length === 0) {
    return { runs: [], nextAfterOrgId: null };
  }
  const orgIds = page.map((org) => org.id);
  await deps.db
    .insert(reconciliations)
    .values(
      orgIds.map((orgId) => ({
        orgId,
        trigger: "scheduled" as const,
        scheduledFor: input.scheduledFor,
      })),
    )
    .onConflictDoNothing({ target: [reconciliations.orgId, reconciliations.scheduledFor] });
  const running = await deps.db
    .select({ orgId: reconciliations.orgId, reconciliationId: reconciliations.id })
    .from(reconciliations)
    .where(
      and(
        inArray(reconciliations.orgId, orgIds),
        eq(reconciliations.scheduledFor, input.scheduledFor),
        eq(reconciliations.status, "running"),
      ),
    );
  assert.ok(running.length <= orgIds.length, "one run per org and day");
  const last = orgIds[orgIds.length - 1];
  return {
    runs: running,
    nextAfterOrgId: page.length < input.limit || last === undefined ? null : last,
  };
}
