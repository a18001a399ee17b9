import { asc, eq } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { toOrg } from "../store/records.ts";
import { orgs } from "../store/schema.ts";
import type { Org } from "../types.ts";
import { isUuid } from "../validation.ts";

/** The org with its settings; `not_found` when it does not exist. */
export async function getOrg(deps: DbDeps, input: { orgId: string }): Promise<Org> {
  if (!isUuid(input.orgId)) {
    throw new DomainError("not_found", "org not found", { orgId: input.orgId });
  }
  const [row] = await deps.db.select().from(orgs).where(eq(orgs.id, input.orgId)).limit(1);
  if (row === undefined) {
    throw new DomainError("not_found", "org not found", { orgId: input.orgId });
  }
  return toOrg(row);
}

/** The org named by its slug (operators' handle on it); `not_found` when there is none. */
export async function getOrgBySlug(deps: DbDeps, input: { slug: string }): Promise<Org> {
  const [row] = await deps.db.select().from(orgs).where(eq(orgs.slug, input.slug)).limit(1);
  if (row === undefined) {
    throw new DomainError("not_found", "org not found", { slug: input.slug });
  }
  return toOrg(row);
}

/** Every org, by slug: for operators (the command-line tool), never for an org's keys. */
export async function listOrgs(deps: DbDeps): Promise<Org[]> {
  const rows = await deps.db.select().from(orgs).orderBy(asc(orgs.slug));
  return rows.map(toOrg);
}
