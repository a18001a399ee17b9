/**
 * The rfm queue's processor and the re-score event handler.
 *
 * - `rfm-nightly` (job scheduler, orgId null): one `rfm-rebuild` job per org, with a job id per
 *   org and day, so a tick run twice (a retry, a second process) adds each org's rebuild once.
 * - `rfm-rebuild`: rebuilds one org (nightly, or POST /v1/rfm/rebuild); progress in percent,
 *   result `{population, changed, transfers_read, computed_at}`.
 * - `points.earned` / `points.reversed`: the member is re-scored against the last rebuild's
 *   boundaries, inside the events job (idempotent: a second run finds the segment unchanged).
 */
import assert from "node:assert/strict";
import type { Job } from "bullmq";
import { listOrgIdsAfter, rfmOrgsPageMax } from "../../membership/index.ts";
import type { WorkerDeps } from "../deps.ts";
import type { EventHandler } from "../events/handlers.ts";
import type { QueueProcessor } from "../processors.ts";
import { jobSchemas, rfmJobNames } from "../queues.ts";
import { rebuildOrgRfm, rescoreMember } from "./rebuild.ts";

/** Pages of orgs one tick may read: 1,000 × 10,000 orgs. */
const fanOutPagesMax = 10_000;

async function fanOut(deps: WorkerDeps, day: string): Promise<{ orgs: number }> {
  let after: string | null = null;
  let orgs = 0;
  for (let page = 0; page < fanOutPagesMax; page++) {
    const ids = await listOrgIdsAfter(deps, { after, limit: rfmOrgsPageMax });
    if (ids.length > 0) {
      await deps.producer.addBulk(
        "rfm",
        ids.map((orgId) => ({
          name: rfmJobNames.rebuild,
          // One per org and day: adding it again while it is kept changes nothing.
          jobId: `rfm-nightly-${day}-${orgId}`,
          data: { orgId, reason: "nightly" as const },
        })),
      );
      orgs += ids.length;
    }
    const last = ids[ids.length - 1];
    if (ids.length < rfmOrgsPageMax || last === undefined) {
      return { orgs };
    }
    after = last;
  }
  assert.fail("the nightly fan-out read every org within its page bound");
}

export const rfmProcessor: QueueProcessor = {
  async process(job: Job, deps: WorkerDeps) {
    const data = jobSchemas.rfm.parse(job.data);
    if (job.name === rfmJobNames.nightly) {
      assert.equal(data.orgId, null, "the nightly tick names no org");
      const day = (deps.clock?.() ?? new Date()).toISOString().slice(0, 10).replaceAll("-", "");
      return fanOut(deps, day);
    }
    assert.equal(job.name, rfmJobNames.rebuild, `unknown rfm job ${job.name}`);
    assert.ok(data.orgId !== null, "a rebuild names its org");
    const result = await rebuildOrgRfm(deps, { orgId: data.orgId }, (percent) =>
      job.updateProgress(percent),
    );
    deps.logger.info({ orgId: data.orgId, reason: data.reason, ...result }, "rfm rebuilt");
    return {
      population: result.population,
      changed: result.changed,
      transfers_read: result.transfersRead,
      computed_at: result.computedAt.toISOString(),
    };
  },
};

export const rfmRescoreHandler: EventHandler = {
  name: "rfm-rescore",
  topics: ["points.earned", "points.reversed"],
  async handle(deps, event) {
    if (event.memberId === null) {
      return;
    }
    const outcome = await rescoreMember(deps, { orgId: event.orgId, memberId: event.memberId });
    if (outcome.kind === "rescored" && outcome.from !== outcome.to) {
      deps.logger.debug({ memberId: event.memberId, ...outcome }, "rfm segment changed");
    }
  },
};
