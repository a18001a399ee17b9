import { and, eq } from "drizzle-orm";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { memberCipher, toMember } from "../store/records.ts";
import { members } from "../store/schema.ts";
import type { Member } from "../types.ts";
import { isUuid } from "../validation.ts";

export interface GetMemberInput {
  orgId: string;
  memberId: string;
}

/**
 * The member, decrypted. An unknown id and another org's id are the same `not_found`: a caller
 * must not learn that a member exists elsewhere.
 */
export async function getMember(deps: MembershipDeps, input: GetMemberInput): Promise<Member> {
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId)) {
    throw notFound;
  }
  const [row] = await deps.db
    .select()
    .from(members)
    .where(and(eq(members.orgId, input.orgId), eq(members.id, input.memberId)))
    .limit(1);
  if (row === undefined) {
    throw notFound;
  }
  return toMember(memberCipher(deps.secrets), row);
}
