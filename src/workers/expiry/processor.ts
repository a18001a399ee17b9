/**
 * The `expiry` queue: the daily points expiry (README "Points expiry"). Two kinds of job:
 *
 * - the scheduler's tick (`orgId: null`, job `expiry-tick`, 03:00 UTC) fixes the run's
 *   reference time and fans out one job per org whose policy is not `none`;
 * - an org job (`expiry-org`) expires one bounded batch of the org's members
 *   (`expiryMembersPerJobMax`), then enqueues the next batch with the cursor.
 *
 * - `redemption-holds` (`orgId: null`, every minute) resolves redemptions whose hold lapsed on
 *   the ledger with nobody fulfilling or cancelling it: `expired`, with `redemption.expired`
 *   (membership/redemptions/resolve-lapsed-redemptions.ts).
 *
 * Every job is idempotent: the work per member is keyed by (member, run date) in Postgres and on
 * the ledger, and job ids (run date, org, cursor) stop a retried job from enqueuing twice.
 */
import { AssertionError } from "node:assert";
import assert from "node:assert/strict";
import { type Job, UnrecoverableError } from "bullmq";
import {
  expireOrgMembersBatch,
  expiryOrgsPageMax,
  isDomainError,
  listExpiryOrgs,
  membershipLimits,
  resolveLapsedRedemptions,
} from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";
import type { QueueProcessor } from "../processors.ts";
import { addBulkMax } from "../producer.ts";
import { type JobData, jobSchemas } from "../queues.ts";

/** Pages of orgs one tick lists at most: 1,000 × 1,000 orgs. */
const orgPagesMax = 1_000;
assert.ok(expiryOrgsPageMax <= addBulkMax, "one page of orgs is one addBulk");

/** The job name of the lapsed-redemption sweep. */
export const redemptionHoldsJob = "redemption-holds";

type OrgJob = Extract<JobData<"expiry">, { orgId: string }>;

function runDateOf(asOfMs: number): string {
  return new Date(asOfMs).toISOString().slice(0, 10);
}

/** The org job's id: one per run date, org and cursor ("start" for the first batch). */
function orgJobId(job: OrgJob): string {
  return `expiry-${runDateOf(job.asOfMs)}-${job.orgId}-${job.afterMemberId ?? "start"}`;
}

async function fanOut(deps: WorkerDeps): Promise<{ asOfMs: number; orgs: number }> {
  const asOfMs = (deps.clock?.() ?? new Date()).getTime();
  let orgs = 0;
  let afterOrgId: string | null = null;
  for (let page = 0; page < orgPagesMax; page += 1) {
    const orgIds = await listExpiryOrgs(deps, { afterOrgId, limit: expiryOrgsPageMax });
    if (orgIds.length > 0) {
      await deps.producer.addBulk(
        "expiry",
        orgIds.map((orgId) => {
          const data: OrgJob = { orgId, asOfMs, afterMemberId: null };
          return { data, jobId: orgJobId(data), name: "expiry-org" };
        }),
      );
    }
    orgs += orgIds.length;
    afterOrgId = orgIds[orgIds.length - 1] ?? null;
    if (orgIds.length < expiryOrgsPageMax) {
      return { asOfMs, orgs };
    }
  }
  return assert.fail("more orgs than one tick lists");
}

async function runOrgBatch(deps: WorkerDeps, data: OrgJob) {
  const result = await expireOrgMembersBatch(deps, {
    orgId: data.orgId,
    asOfMs: data.asOfMs,
    afterMemberId: data.afterMemberId,
    limit: membershipLimits.expiryMembersPerJobMax,
  });
  if (result.nextAfterMemberId !== null) {
    const next: OrgJob = { ...data, afterMemberId: result.nextAfterMemberId };
    await deps.producer.add("expiry", next, { jobId: orgJobId(next), name: "expiry-org" });
  }
  return {
    members: result.members,
    expired: result.expired.toString(),
    notices: result.notices,
    next: result.nextAfterMemberId,
  };
}

export const expiryProcessor: QueueProcessor = {
  async process(job: Job, deps: WorkerDeps) {
    const data = jobSchemas.expiry.parse(job.data);
    try {
      if (job.name === redemptionHoldsJob) {
        assert.equal(data.orgId, null, "the lapsed-redemption sweep is platform-wide");
        return await resolveLapsedRedemptions(deps);
      }
      return data.orgId === null ? await fanOut(deps) : await runOrgBatch(deps, data);
    } catch (error) {
      // Retrying cannot fix a broken invariant or a business refusal (an unknown org).
      if (error instanceof AssertionError || isDomainError(error)) {
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
  },
};
