/**
 * The `reconcile` queue on the real Redis, Postgres and embedded ledger, through BullMQ workers
 * in this process: the nightly tick fans out one run per org, each ending clean with its counts;
 * a run whose ledger fails mid-run is retried by the queue (bounded) and its row ends failed
 * after the last attempt, with the job in the failed set.
 */
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedClient, type EmbeddedClient } from "../../src/ledger/index.ts";
import { getReconciliation, startReconciliation } from "../../src/membership/index.ts";
import { reconciliations } from "../../src/membership/store/schema.ts";
import { reconcileRunJobId } from "../../src/workers/reconcile/jobs.ts";
import { reconcileProcessor } from "../../src/workers/reconcile/processor.ts";
import { buildLedgerMember, buildLedgerOrg } from "../support/ledger.ts";
import { useWorkerFixture, waitFor } from "../support/workers.ts";

/** Orgs whose runs meet a ledger that is gone (a real engine, closed). */
const ledgerGone = new Set<string>();
let closedLedger: EmbeddedClient;

const fixture = useWorkerFixture({
  queues: ["reconcile"],
  processors: {
    reconcile: {
      process: (job, deps) =>
        reconcileProcessor.process(
          job,
          ledgerGone.has((job.data as { orgId: string | null }).orgId ?? "")
            ? { ...deps, ledger: closedLedger }
            : deps,
        ),
    },
  },
});

beforeAll(async () => {
  closedLedger = createEmbeddedClient();
  await closedLedger.close();
});

describe("reconcile queue", () => {
  it("fans the nightly tick out to one clean run per org", async () => {
    const { deps, producer } = fixture;
    const orgs = [await buildLedgerOrg(deps), await buildLedgerOrg(deps)];
    for (const { org } of orgs) {
      await buildLedgerMember(deps, org.id, { points: 300n });
    }
    await producer.add("reconcile", { orgId: null }, { name: "reconcile-tick" });

    const today = fixture.environment.now().toISOString().slice(0, 10);
    for (const { org } of orgs) {
      const runOf = async () => {
        const [row] = await deps.db
          .select({ id: reconciliations.id, status: reconciliations.status })
          .from(reconciliations)
          .where(and(eq(reconciliations.orgId, org.id), eq(reconciliations.scheduledFor, today)));
        return row;
      };
      await waitFor(async () => (await runOf())?.status === "clean", { what: "a clean run" });
      const run = await runOf();
      const stored = await getReconciliation(deps, {
        orgId: org.id,
        reconciliationId: run?.id ?? "",
      });
      expect(stored).toMatchObject({
        trigger: "scheduled",
        checked: { documents: 1, transfers: 2, wallets: 1 },
        mismatchCount: 0,
      });
    }
  });

  it("retries a run that fails mid-run and records it failed after the last attempt", async () => {
    const { deps, producer } = fixture;
    const { org } = await buildLedgerOrg(deps);
    await buildLedgerMember(deps, org.id);
    ledgerGone.add(org.id);
    const run = await startReconciliation(deps, { orgId: org.id });
    const ref = { orgId: org.id, reconciliationId: run.id };
    const jobId = reconcileRunJobId(run.id);
    await producer.add("reconcile", ref, {
      name: "reconcile-run",
      jobId,
      // The queue's own backoff is minutes; the same bounded retries, in milliseconds.
      options: { attempts: 3, backoff: { type: "fixed", delay: 10 } },
    });

    await waitFor(async () => (await getReconciliation(deps, ref)).status === "failed", {
      what: "the run to fail",
    });
    const failed = await getReconciliation(deps, ref);
    expect(failed.attempts).toBe(3);
    expect(failed.error).toMatch(/\S/);
    // The row is written failed inside the last attempt; the queue then moves the job.
    await waitFor(
      async () => (await (await producer.getJob("reconcile", jobId))?.getState()) === "failed",
      { what: "the job in the failed set" },
    );
    const job = await producer.getJob("reconcile", jobId);
    expect(job?.attemptsMade).toBe(3);
  });
});
