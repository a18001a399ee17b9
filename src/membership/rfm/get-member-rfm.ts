import { and, eq } from "drizzle-orm";
import type { Store } from "../deps.ts";
import { requireMemberInOrg } from "../intents/support.ts";
import { memberRfm } from "../store/schema.ts";
import { type MemberRfm, rfmNone } from "./types.ts";

export interface GetMemberRfmInput {
  orgId: string;
  memberId: string;
}

/**
 * The member's RFM as of its last rebuild or re-score; `none` (no scores) when the member was
 * never scored. Unknown or another org's member: `not_found`.
 */
export async function getMemberRfm(store: Store, input: GetMemberRfmInput): Promise<MemberRfm> {
  await requireMemberInOrg(store, input);
  const [row] = await store.db
    .select()
    .from(memberRfm)
    .where(and(eq(memberRfm.orgId, input.orgId), eq(memberRfm.memberId, input.memberId)))
    .limit(1);
  if (row === undefined) {
    return { memberId: input.memberId, ...rfmNone, computedAt: null };
  }
  return {
    memberId: row.memberId,
    recencyDays: row.recencyDays,
    frequency: row.frequency,
    monetaryMinor: row.monetaryMinor,
    r: row.r,
    f: row.f,
    m: row.m,
    segment: row.segment,
    computedAt: row.computedAt,
  };
}
