import { and, desc, eq, lt } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import type { Redemption } from "../ledger-types.ts";
import { members, redemptions } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { type RedemptionRow, toRedemption } from "./redemption-ledger.ts";

/** The org's redemption; unknown and another org's are the same `not_found`. */
export async function findRedemption(
  deps: LedgerDeps,
  input: { orgId: string; redemptionId: string },
): Promise<RedemptionRow> {
  const notFound = new DomainError("not_found", "redemption not found", {
    redemptionId: input.redemptionId,
  });
  if (!isUuid(input.redemptionId) || !isUuid(input.orgId)) {
    throw notFound;
  }
  const [row] = await deps.db
    .select()
    .from(redemptions)
    .where(and(eq(redemptions.orgId, input.orgId), eq(redemptions.id, input.redemptionId)))
    .limit(1);
  if (row === undefined) {
    throw notFound;
  }
  return row;
}

/** Redemptions one page lists at most. */
export const memberRedemptionsPageMax = 100;

export interface ListMemberRedemptionsInput {
  orgId: string;
  memberId: string;
  status?: Redemption["status"];
  limit: number;
  /** The id of the last redemption of the previous page (ids are UUIDv7: time-ordered). */
  before?: string;
}

/**
 * A member's redemptions, newest first, optionally of one status; one page and whether more
 * follow. Unknown and another org's member are the same `not_found`.
 */
export async function listMemberRedemptions(
  deps: LedgerDeps,
  input: ListMemberRedemptionsInput,
): Promise<{ redemptions: Redemption[]; more: boolean }> {
  if (
    !Number.isSafeInteger(input.limit) ||
    input.limit < 1 ||
    input.limit > memberRedemptionsPageMax
  ) {
    throw new DomainError("invalid_input", "limit out of range", { field: "limit" });
  }
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
  if (input.before !== undefined && !isUuid(input.before)) {
    throw new DomainError("invalid_input", "not a cursor this route returned", { field: "cursor" });
  }
  const rows = await deps.db
    .select()
    .from(redemptions)
    .where(
      and(
        eq(redemptions.orgId, input.orgId),
        eq(redemptions.memberId, input.memberId),
        input.status === undefined ? undefined : eq(redemptions.status, input.status),
        input.before === undefined ? undefined : lt(redemptions.id, input.before),
      ),
    )
    .orderBy(desc(redemptions.id))
    .limit(input.limit + 1);
  return {
    redemptions: rows.slice(0, input.limit).map(toRedemption),
    more: rows.length > input.limit,
  };
}
