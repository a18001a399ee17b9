/**
 * The reconciliation's jobs driven directly (the queue adds only delivery and retries): a run
 * records its outcome on its row; a run whose ledger is gone fails each attempt, stays running
 * until the last one and then ends failed; a run delivered again after it finished changes
 * nothing; the nightly fan-out records one scheduled run per org and day, enqueues the running
 * ones, adds none when retried, and fails runs abandoned long ago.
 */
import { and, eq } from "drizzle-orm";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg } from "../../../test/support/ledger.ts";
import { createEmbeddedClient } from "../../ledger/index.ts";
import { getReconciliation, startReconciliation } from "../../membership/index.ts";
import { reconciliations } from "../../membership/store/schema.ts";
import { fanOutReconciliations, type ReconcileJobDeps, runReconciliation } from "./jobs.ts";

const fixture = useLedgerFixture();
const logger = pino({ level: "silent" });

function jobDeps(): ReconcileJobDeps {
  const { deps } = fixture.environment;
  return { db: deps.db, ledger: deps.ledger, logger, clock: () => fixture.environment.now() };
}

describe("runReconciliation", () => {
  it("records a clean run with its counts", async () => {
    const deps = jobDeps();
    const { org } = await buildLedgerOrg(fixture.environment.deps);
    await buildLedgerMember(fixture.environment.deps, org.id, { points: 250n });
    const run = await startReconciliation(deps, { orgId: org.id });
    expect(run).toMatchObject({ status: "running", trigger: "manual", finishedAt: null });
    const ref = { orgId: org.id, reconciliationId: run.id };

    expect(await runReconciliation(deps, ref, { number: 1, max: 3 })).toBe("clean");
    const stored = await getReconciliation(deps, ref);
    expect(stored).toMatchObject({
      status: "clean",
      // The top-up adjustment; the welcome bonus and the adjustment; the wallet.
      checked: { documents: 1, transfers: 2, wallets: 1 },
      mismatches: [],
      mismatchCount: 0,
      attempts: 1,
      error: null,
    });
    expect(stored.finishedAt).toBeInstanceOf(Date);

    // Delivered again after it finished: nothing changes.
    expect(await runReconciliation(deps, ref, { number: 1, max: 3 })).toBe("not_running");
    expect((await getReconciliation(deps, ref)).attempts).toBe(1);
  });

  it("stays running through failed attempts and ends failed after the last", async () => {
    const { org } = await buildLedgerOrg(fixture.environment.deps);
    await buildLedgerMember(fixture.environment.deps, org.id);
    // A real engine, closed: every request to it fails, as a ledger gone mid-run would.
    const closed = createEmbeddedClient();
    await closed.close();
    const deps: ReconcileJobDeps = { ...jobDeps(), ledger: closed };
    const run = await startReconciliation(deps, { orgId: org.id });
    const ref = { orgId: org.id, reconciliationId: run.id };

    await expect(runReconciliation(deps, ref, { number: 1, max: 2 })).rejects.toThrow();
    expect(await getReconciliation(deps, ref)).toMatchObject({ status: "running", attempts: 1 });
    await expect(runReconciliation(deps, ref, { number: 2, max: 2 })).rejects.toThrow();
    const failed = await getReconciliation(deps, ref);
    expect(failed).toMatchObject({ status: "failed", attempts: 2 });
    expect(failed.error).toMatch(/\S/);
  });
});

describe("fanOutReconciliations", () => {
  it("records one scheduled run per org and day, enqueued until it finishes", async () => {
    const deps = jobDeps();
    const first = await buildLedgerOrg(fixture.environment.deps);
    const second = await buildLedgerOrg(fixture.environment.deps);
    const enqueued: Array<{ orgId: string; reconciliationId: string }> = [];
    const tickDeps = {
      ...deps,
      enqueue: async (runs: typeof enqueued) => void enqueued.push(...runs),
    };

    const tick = await fanOutReconciliations(tickDeps);
    const mine = enqueued.filter((run) => [first.org.id, second.org.id].includes(run.orgId));
    expect(mine).toHaveLength(2);
    expect(tick.enqueued).toBe(enqueued.length);

    // A retried tick adds no run; the runs still running are enqueued again (job ids dedupe).
    enqueued.length = 0;
    await fanOutReconciliations(tickDeps);
    const again = enqueued.filter((run) => [first.org.id, second.org.id].includes(run.orgId));
    expect(again.map((run) => run.reconciliationId).sort()).toEqual(
      mine.map((run) => run.reconciliationId).sort(),
    );
    const rows = await deps.db
      .select()
      .from(reconciliations)
      .where(eq(reconciliations.orgId, first.org.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      trigger: "scheduled",
      scheduledFor: fixture.environment.now().toISOString().slice(0, 10),
    });

    // Finished runs are not enqueued again.
    for (const run of again) {
      await runReconciliation(deps, run, { number: 1, max: 1 });
    }
    enqueued.length = 0;
    await fanOutReconciliations(tickDeps);
    expect(enqueued.filter((run) => run.orgId === first.org.id)).toEqual([]);
  });

  it("fails a run abandoned half a day ago", async () => {
    const deps = jobDeps();
    const { org } = await buildLedgerOrg(fixture.environment.deps);
    const run = await startReconciliation(deps, { orgId: org.id });
    await deps.db
      .update(reconciliations)
      .set({ startedAt: new Date(fixture.environment.now().getTime() - 13 * 60 * 60 * 1000) })
      .where(and(eq(reconciliations.orgId, org.id), eq(reconciliations.id, run.id)));
    const tick = await fanOutReconciliations({ ...deps, enqueue: async () => {} });
    expect(tick.abandoned).toBeGreaterThanOrEqual(1);
    expect(
      await getReconciliation(deps, { orgId: org.id, reconciliationId: run.id }),
    ).toMatchObject({ status: "failed", error: "abandoned: no job finished the run" });
  });
});
