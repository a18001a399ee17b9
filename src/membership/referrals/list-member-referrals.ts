/**
 * A member's referrals: the members they referred (newest first, bounded) with each one's status
 * and the points it credited, and the referral that brought the member in, if any.
 */
import { and, desc, eq } from "drizzle-orm";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { members, referrals } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

/** Referrals listed per member: a referrer rewarded beyond this many shows the newest. */
export const memberReferralsListMax = 500;

export type Referral = typeof referrals.$inferSelect;

export interface MemberReferrals {
  /** Referrals in which the member is the referrer, newest first, at most the list bound. */
  referred: Referral[];
  /** The referral in which the member is the referred one; null when no one referred them. */
  referredBy: Referral | null;
}

/** Errors: `not_found` (unknown member, also another org's). */
export async function listMemberReferrals(
  deps: Pick<MembershipDeps, "db">,
  input: { orgId: string; memberId: string },
): Promise<MemberReferrals> {
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId) || !isUuid(input.orgId)) {
    throw notFound;
  }
  const [member] = await deps.db
    .select({ id: members.id })
    .from(members)
    .where(and(eq(members.orgId, input.orgId), eq(members.id, input.memberId)))
    .limit(1);
  if (member === undefined) {
    throw notFound;
  }
  const referred = await deps.db
    .select()
    .from(referrals)
    .where(and(eq(referrals.orgId, input.orgId), eq(referrals.referrerMemberId, member.id)))
    .orderBy(desc(referrals.createdAt), desc(referrals.id))
    .limit(memberReferralsListMax);
  const [referredBy] = await deps.db
    .select()
    .from(referrals)
    .where(and(eq(referrals.orgId, input.orgId), eq(referrals.referredMemberId, member.id)))
    .limit(1);
  return { referred, referredBy: referredBy ?? null };
}
