import { and, asc, eq } from "drizzle-orm";
import type { MembershipDeps } from "../deps.ts";
import { membersByEmailMax } from "../limits.ts";
import { emailLookupHash, memberCipher, toMember } from "../store/records.ts";
import { members } from "../store/schema.ts";
import type { Member } from "../types.ts";

export interface FindMembersByEmailInput {
  orgId: string;
  email: string;
}

/**
 * The org's members whose e-mail matches after normalisation (case and surrounding spaces do
 * not matter), oldest first, at most `membersByEmailMax`. E-mails are not unique: a household
 * may share one. Found through the keyed hash; the ciphertexts are never scanned.
 */
export async function findMembersByEmail(
  deps: MembershipDeps,
  input: FindMembersByEmailInput,
): Promise<Member[]> {
  const hash = emailLookupHash(deps.secrets, input.orgId, input.email);
  const rows = await deps.db
    .select()
    .from(members)
    .where(and(eq(members.orgId, input.orgId), eq(members.emailHash, hash)))
    .orderBy(asc(members.createdAt), asc(members.id))
    .limit(membersByEmailMax);
  const cipher = memberCipher(deps.secrets);
  return rows.map((row) => toMember(cipher, row));
}
