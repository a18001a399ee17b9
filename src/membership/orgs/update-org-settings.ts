/**
 * Changes some of an org's settings. The patch is merged into the stored settings and the result
 * validated whole (a field may be valid alone and not with the others), under a row lock so two
 * concurrent patches of different fields both land, with its audit entry (before and after) in
 * the same transaction. This process forgets its cached org at once;
 * other processes see the change within the org cache's TTL (store/caches.ts).
 */
import { and, eq, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidateOrgCaches } from "../store/caches.ts";
import { toOrg } from "../store/records.ts";
import { orgs, tierSets } from "../store/schema.ts";
import type { Org } from "../types.ts";
import { isTimeZone } from "../validation.ts";
import { type OrgSettings, orgSettingsSchema } from "./settings.ts";

export async function updateOrgSettings(
  deps: Pick<LedgerDeps, "db" | "caches">,
  input: { orgId: string; patch: Partial<OrgSettings>; timezone?: string; actor: AuditActor },
): Promise<Org> {
  const org = await deps.db.transaction(async (tx) => {
    const [row] = await tx.select().from(orgs).where(eq(orgs.id, input.orgId)).for("update");
    if (row === undefined) {
      throw new DomainError("not_found", "org not found", { orgId: input.orgId });
    }
    if (input.timezone !== undefined && !isTimeZone(input.timezone)) {
      throw new DomainError("invalid_input", "not an IANA time zone", { field: "timezone" });
    }
    const merged = orgSettingsSchema.safeParse({ ...toOrg(row).settings, ...input.patch });
    if (!merged.success) {
      throw new DomainError("invalid_input", "the settings are not valid together", {
        issues: merged.error.issues.map((issue) => ({
          path: issue.path.join("."),
          message: issue.message,
        })),
      });
    }
    const [updated] = await tx
      .update(orgs)
      .set({ settings: merged.data, timezone: input.timezone ?? row.timezone })
      .where(eq(orgs.id, input.orgId))
      .returning();
    if (updated === undefined) {
      throw new DomainError("not_found", "org not found", { orgId: input.orgId });
    }
    // The earning tier set mirrors the org's tier settings (manage-tier-sets.ts keeps the other
    // way).
    await tx
      .update(tierSets)
      .set({
        metric: merged.data.tierMetric,
        windowMonths: merged.data.tierWindowMonths,
        graceDays: merged.data.tierDowngradeGraceDays,
        updatedAt: sql`now()`,
      })
      .where(and(eq(tierSets.orgId, input.orgId), eq(tierSets.earning, true)));
    const before = toOrg(row).settings;
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "settings.updated",
      targetType: "settings",
      targetId: input.orgId,
      before: { ...before, timezone: row.timezone },
      after: { ...merged.data, timezone: updated.timezone },
    });
    return toOrg(updated);
  });
  invalidateOrgCaches(deps.caches, org.id);
  return org;
}
