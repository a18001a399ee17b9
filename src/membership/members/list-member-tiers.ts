import { and, desc, eq } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { tierHistoryMax } from "../limits.ts";
import { toMemberTierEntry } from "../store/records.ts";
import { members, memberTiers } from "../store/schema.ts";
import type { MemberTierEntry } from "../types.ts";
import { isUuid } from "../validation.ts";

export interface ListMemberTiersInput {
  orgId: string;
  memberId: string;
}

/**
 * A member's tier history, oldest first; the last entry is the current tier. At most the latest
 * `tierHistoryMax` entries. Unknown or foreign member: `not_found`.
 */
export async function listMemberTiers(
  deps: DbDeps,
  input: ListMemberTiersInput,
): Promise<MemberTierEntry[]> {
  const { orgId, memberId } = input;
  const notFound = new DomainError("not_found", "member not found", { memberId });
  if (!isUuid(memberId)) {
    throw notFound;
  }
  const [member] = await deps.db
    .select({ id: members.id })
    .from(members)
    .where(and(eq(members.orgId, orgId), eq(members.id, memberId)))
    .limit(1);
  if (member === undefined) {
    throw notFound;
  }
  const rows = await deps.db
    .select()
    .from(memberTiers)
    .where(and(eq(memberTiers.orgId, orgId), eq(memberTiers.memberId, memberId)))
    .orderBy(desc(memberTiers.id))
    .limit(tierHistoryMax);
  return rows.reverse().map(toMemberTierEntry);
}
