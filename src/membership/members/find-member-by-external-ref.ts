import { and, eq } from "drizzle-orm";
import type { MembershipDeps } from "../deps.ts";
import { memberCipher, toMember } from "../store/records.ts";
import { members } from "../store/schema.ts";
import type { Member } from "../types.ts";

export interface FindMemberByExternalRefInput {
  orgId: string;
  externalRef: string;
}

/** The org's member with this external ref (e.g. a scanned card number), or null. */
export async function findMemberByExternalRef(
  deps: MembershipDeps,
  input: FindMemberByExternalRefInput,
): Promise<Member | null> {
  const [row] = await deps.db
    .select()
    .from(members)
    .where(and(eq(members.orgId, input.orgId), eq(members.externalRef, input.externalRef)))
    .limit(1);
  return row === undefined ? null : toMember(memberCipher(deps.secrets), row);
}
