/**
 * The daily expiry run over an org's members, in bounded batches: the expiry worker calls
 * `expireOrgMembersBatch` once per job and hands the cursor to the next job, so no job runs
 * unbounded and a crash loses at most one batch's progress (the work itself is idempotent).
 */
import assert from "node:assert/strict";
import { and, asc, eq, gt, inArray, sql } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { loadOrgLedger } from "../intents/support.ts";
import { expiryMembersPerJobMax } from "../limits.ts";
import { members, orgs } from "../store/schema.ts";
import { expireMembersPoints } from "./expire-member-points.ts";

/** Orgs one listing returns at most; the scheduler tick pages through them. */
export const expiryOrgsPageMax = 1_000;

/**
 * Orgs whose expiry policy is not `none`, by id after `afterOrgId`, at most `limit`. Settings
 * rows written before the policy existed have no `expiry` key and read as `none`.
 */
export async function listExpiryOrgs(
  deps: Pick<LedgerDeps, "db">,
  args: { afterOrgId: string | null; limit: number },
): Promise<string[]> {
  assert.ok(Number.isInteger(args.limit) && args.limit >= 1, "limit is positive");
  assert.ok(args.limit <= expiryOrgsPageMax, "limit within expiryOrgsPageMax");
  const rows = await deps.db
    .select({ id: orgs.id })
    .from(orgs)
    .where(
      and(
        inArray(sql`${orgs.settings} -> 'expiry' ->> 'policy'`, ["inactivity", "lots"]),
        args.afterOrgId === null ? undefined : gt(orgs.id, args.afterOrgId),
      ),
    )
    .orderBy(asc(orgs.id))
    .limit(args.limit);
  return rows.map((row) => row.id);
}

export interface OrgExpiryBatchInput {
  orgId: string;
  /** The run's reference time (the scheduler tick's): the same for every batch of the run. */
  asOfMs: number;
  /** The last member of the previous batch; null for the first batch. */
  afterMemberId: string | null;
  /** Members in this batch, 1..expiryMembersPerJobMax. */
  limit: number;
}

export interface OrgExpiryBatchResult {
  members: number;
  /** Points moved to breakage by this batch. */
  expired: bigint;
  notices: number;
  /** Where the next batch starts; null when this was the last. */
  nextAfterMemberId: string | null;
}

/**
 * Runs the expiry of one batch of the org's enrolled members (by id), under the org's current
 * policy; a policy changed to `none` meanwhile ends the run. Idempotent per member and run date.
 */
export async function expireOrgMembersBatch(
  deps: LedgerDeps,
  input: OrgExpiryBatchInput,
): Promise<OrgExpiryBatchResult> {
  assert.ok(Number.isInteger(input.limit) && input.limit >= 1, "limit is positive");
  assert.ok(input.limit <= expiryMembersPerJobMax, "limit within expiryMembersPerJobMax");
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  const policy = org.settings.expiry;
  const none = { members: 0, expired: 0n, notices: 0, nextAfterMemberId: null };
  if (policy.policy === "none") {
    return none;
  }
  const batch = await deps.db
    .select({ id: members.id })
    .from(members)
    .where(
      and(
        eq(members.orgId, org.id),
        // A member whose enrollment is unfinished has no wallet yet, so nothing to expire.
        eq(members.ledgerStatus, "posted"),
        input.afterMemberId === null ? undefined : gt(members.id, input.afterMemberId),
      ),
    )
    .orderBy(asc(members.id))
    .limit(input.limit);
  const outcome = await expireMembersPoints(deps, {
    orgId: org.id,
    pointsLedger,
    memberIds: batch.map((member) => member.id),
    policy,
    asOfMs: input.asOfMs,
  });
  const last = batch[batch.length - 1];
  return {
    members: batch.length,
    expired: outcome.expired,
    notices: outcome.notices,
    nextAfterMemberId: batch.length === input.limit && last !== undefined ? last.id : null,
  };
}
