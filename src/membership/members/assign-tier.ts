import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { tierReasonLengthMax } from "../limits.ts";
import { toMemberTierEntry } from "../store/records.ts";
import { members, memberTiers, tiers } from "../store/schema.ts";
import type { MemberTierEntry } from "../types.ts";
import { isUuid } from "../validation.ts";

export interface AssignTierInput {
  orgId: string;
  memberId: string;
  tierId: string;
  /** Why, kept in the history: "qualification", "manual", ... */
  reason: string;
}

export interface AssignTierResult {
  previousTierId: string;
  tierId: string;
  /** False when the member already had this tier; nothing is written then. */
  changed: boolean;
  /** The history row written, when changed. */
  entry: MemberTierEntry | null;
}

/**
 * Moves a member to a tier of the same org and records it in the tier history, in one
 * transaction. Unknown or foreign member or tier: `not_found`. Closed member: `member_inactive`.
 * Assigning the current tier again is a no-op, so retries do not pad the history.
 */
export async function assignTier(deps: DbDeps, input: AssignTierInput): Promise<AssignTierResult> {
  const { orgId, memberId, tierId } = input;
  assert.ok(
    input.reason.length > 0 && input.reason.length <= tierReasonLengthMax,
    "bad tier reason",
  );
  if (!isUuid(memberId)) {
    throw new DomainError("not_found", "member not found", { memberId });
  }
  if (!isUuid(tierId)) {
    throw new DomainError("not_found", "tier not found", { tierId });
  }

  return deps.db.transaction(async (tx) => {
    // Locked so two concurrent assignments are recorded in the order they took effect.
    const [member] = await tx
      .select({ status: members.status, tierId: members.tierId })
      .from(members)
      .where(and(eq(members.orgId, orgId), eq(members.id, memberId)))
      .limit(1)
      .for("update");
    if (member === undefined) {
      throw new DomainError("not_found", "member not found", { memberId });
    }
    const [tier] = await tx
      .select({ id: tiers.id })
      .from(tiers)
      .where(and(eq(tiers.orgId, orgId), eq(tiers.id, tierId)))
      .limit(1);
    if (tier === undefined) {
      throw new DomainError("not_found", "tier not found", { tierId });
    }
    if (member.status === "closed") {
      throw new DomainError("member_inactive", "member is closed", { memberId });
    }
    if (member.tierId === tierId) {
      return { previousTierId: member.tierId, tierId, changed: false, entry: null };
    }

    await tx
      .update(members)
      .set({ tierId, updatedAt: sql`now()` })
      .where(and(eq(members.orgId, orgId), eq(members.id, memberId)));
    const [entry] = await tx
      .insert(memberTiers)
      .values({ orgId, memberId, tierId, reason: input.reason })
      .returning();
    assert.ok(entry, "insert into member_tiers returned no row");
    return {
      previousTierId: member.tierId,
      tierId,
      changed: true,
      entry: toMemberTierEntry(entry),
    };
  });
}
