/**
 * Enrolling a staged import, in bounded batches, each through the intent protocol:
 *
 * 1. **Intent.** One statement per batch (a data-modifying CTE, so all of it or nothing): the
 *    batch's staged rows become members (`insert ... on conflict (org_id, external_ref) do
 *    nothing`: a ref the org already has is `skipped`, not an error), with their tier history
 *    row and `member.enrolled` event (`source: "import"`); the rows are marked `enrolled` or
 *    `skipped`; the import's counters move. Members are `ledger_status = 'pending'` and owe no
 *    welcome bonus: an import is not an enrollment campaign.
 * 2. **Post.** The batch's wallets are opened with one `createAccounts` per 8,189, and the
 *    opening balances (openingBalances → wallet, code `openingBalance`) go out as chains packed
 *    into as few requests as the batch limit allows. Ids derive from the member, so a re-post
 *    answers `exists`.
 * 3. **Mark.** The members and the import rows are set `posted`.
 *
 * A crash after 1 leaves rows `enrolled` with `ledger_status = 'pending'`: the next run of the
 * job posts them first (and a purchase meanwhile finishes the member's wallet itself, as for any
 * pending enrollment). A crash before 1 committed leaves the rows `staged`: the batch is simply
 * taken again. Batches of one import never run concurrently: each takes the import row's lock.
 */
import assert from "node:assert/strict";
import { and, eq, inArray, sql } from "drizzle-orm";
import {
  chainFailureReason,
  openingBalanceChain,
  openWallets,
  postChains,
  provisionLedger,
} from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { interrupt, pointsLedgersOf } from "../intents/support.ts";
import { importBatchesPerJobMax, importBatchRowsMax } from "../limits.ts";
import { memberKey } from "../store/caches.ts";
import { importRows, imports, members } from "../store/schema.ts";
import { earningEntryTier } from "../tiers/progression.ts";

export interface EnrollImportOptions {
  /** Rows per batch, 1..importBatchRowsMax. */
  batchRowsMax?: number;
  /** Batches this call takes before returning `more` (a job's share). */
  batchesMax?: number;
}

export interface EnrollImportResult {
  status: "pending" | "running" | "completed" | "failed";
  /** Staged rows are left: call again (the job re-enqueues itself). */
  more: boolean;
  batches: number;
}

interface EnrolledRow {
  memberId: string;
  openingPoints: bigint;
}

/**
 * Enrolls up to `batchesMax` batches of the import, finishing first whatever a crash left
 * between the ledger and Postgres. Idempotent: calling it again after it completed changes
 * nothing. Unknown import (or another org's): `not_found`.
 */
export async function enrollImport(
  deps: LedgerDeps,
  input: { orgId: string; importId: string },
  options: EnrollImportOptions = {},
): Promise<EnrollImportResult> {
  const batchRowsMax = options.batchRowsMax ?? importBatchRowsMax;
  const batchesMax = options.batchesMax ?? importBatchesPerJobMax;
  assert.ok(batchRowsMax >= 1 && batchRowsMax <= importBatchRowsMax, "batch size within bounds");
  assert.ok(batchesMax >= 1, "at least one batch");
  const { orgId, importId } = input;

  const [found] = await deps.db
    .select({ status: imports.status })
    .from(imports)
    .where(and(eq(imports.orgId, orgId), eq(imports.id, importId)));
  if (found === undefined) {
    throw new DomainError("not_found", "import not found", { importId });
  }
  if (found.status === "completed" || found.status === "failed") {
    return { status: found.status, more: false, batches: 0 };
  }
  await deps.db
    .update(imports)
    .set({ status: "running", updatedAt: sql`now()` })
    .where(and(eq(imports.id, importId), eq(imports.status, "pending")));

  const ledgers = await pointsLedgersOf(deps, [orgId]);
  const ledger = ledgers.get(orgId);
  assert.ok(ledger !== undefined, "every org has a points ledger");
  // Once per run: creates the openingBalances control account on ledgers older than it.
  await provisionLedger(deps.ledger, ledger);

  // What a crash left: rows enrolled in Postgres whose ledger half is not marked.
  for (let round = 0; round < batchesMax; round++) {
    const unposted = await deps.db
      .select({
        line: importRows.line,
        memberId: importRows.memberId,
        openingPoints: importRows.openingPoints,
      })
      .from(importRows)
      .where(
        and(
          eq(importRows.importId, importId),
          eq(importRows.status, "enrolled"),
          eq(importRows.ledgerStatus, "pending"),
        ),
      )
      .orderBy(importRows.line)
      .limit(batchRowsMax);
    if (unposted.length === 0) {
      break;
    }
    await postEnrolled(deps, { orgId, importId, ledger }, unposted);
  }

  let batches = 0;
  let more = false;
  // The ledger half of one batch overlaps the intent of the next: at most one batch is being
  // posted while the next is written. Each batch's intent commits before its post starts, so a
  // crash anywhere leaves only what the first loop above finishes.
  let posting: Promise<void> = Promise.resolve();
  for (;;) {
    if (batches === batchesMax) {
      more = true;
      break;
    }
    const enrolled = await enrollBatch(deps, { orgId, importId, batchRowsMax });
    if (enrolled === null) {
      break;
    }
    batches += 1;
    await interrupt(deps, "after_intent", { table: "imports", id: importId });
    await posting;
    posting = postEnrolled(deps, { orgId, importId, ledger }, enrolled);
    // Awaited below or at the next batch; a rejection meanwhile is not unhandled.
    posting.catch(() => undefined);
  }
  await posting;
  if (more) {
    return { status: "running", more, batches };
  }
  // Completed only when nothing is left, ledger halves included: another run of the same import
  // (a duplicate job) may still be posting its last batch; if it dies, the sweep brings the
  // import back, and the next run finishes that batch.
  const [completed] = await deps.db
    .update(imports)
    .set({ status: "completed", completedAt: sql`now()`, updatedAt: sql`now()` })
    .where(
      and(
        eq(imports.id, importId),
        eq(imports.status, "running"),
        sql`not exists (select 1 from import_rows r where r.import_id = ${importId}
          and (r.status = 'staged' or (r.status = 'enrolled' and r.ledger_status = 'pending')))`,
      ),
    )
    .returning({
      rows: imports.rows,
      enrolled: imports.enrolled,
      skipped: imports.skipped,
      errorCount: imports.errorCount,
    });
  if (completed === undefined) {
    return { status: "running", more: false, batches };
  }
  assert.equal(
    completed.enrolled + completed.skipped + completed.errorCount,
    completed.rows,
    "a completed import accounts for every row",
  );
  return { status: "completed", more: false, batches };
}

/**
 * The intent of one batch: the next staged rows (by line) become members or are skipped, in one
 * statement under the import row's lock. Returns the rows enrolled, or null when none was staged.
 */
async function enrollBatch(
  deps: LedgerDeps,
  args: { orgId: string; importId: string; batchRowsMax: number },
): Promise<(EnrolledRow & { line: number })[] | null> {
  const { orgId, importId, batchRowsMax } = args;
  return deps.db.transaction(async (tx) => {
    // Serializes the batches of one import (two jobs for it, a retry racing a stalled run).
    await tx.execute(sql`select 1 from imports where id = ${importId} for update`);
    // The earning set's base tier, read under its lock in this batch's transaction (another
    // set's base tier is not a tier `members.tier_id` may hold; the earning set may move).
    const entryTierId = await earningEntryTier(tx, orgId);
    assert.ok(entryTierId !== null, "every org has an entry tier");
    const rows = (await tx.execute(sql`
      with batch as (
        select line from import_rows
        where import_id = ${importId} and status = 'staged'
        order by line
        limit ${batchRowsMax}
      ),
      inserted as (
        insert into members (id, org_id, external_ref, tier_id, status, email_encrypted,
          phone_encrypted, first_name_encrypted, last_name_encrypted, email_hash, phone_hash,
          welcome_bonus_points)
        select r.member_id, r.org_id, r.external_ref, ${entryTierId}::uuid, 'active',
          r.email_encrypted, r.phone_encrypted, r.first_name_encrypted, r.last_name_encrypted,
          r.email_hash, r.phone_hash, 0
        from import_rows r join batch b on b.line = r.line
        where r.import_id = ${importId} and r.org_id = ${orgId}
        order by r.external_ref
        on conflict (org_id, external_ref) do nothing
        returning id, external_ref
      ),
      history as (
        insert into member_tiers (org_id, member_id, tier_id, reason)
        select ${orgId}::uuid, i.id, ${entryTierId}::uuid, 'enrollment' from inserted i
      ),
      marked as (
        update import_rows r
        set status = (case when r.member_id in (select id from inserted)
          then 'enrolled' else 'skipped' end)::import_row_status
        from batch b
        where r.import_id = ${importId} and r.line = b.line
        returning r.line, r.member_id, r.external_ref, r.opening_points, r.status
      ),
      events as (
        insert into outbox (org_id, topic, payload)
        select ${orgId}::uuid, 'member.enrolled', jsonb_build_object(
          'member_id', m.member_id, 'external_ref', m.external_ref,
          'tier_id', ${entryTierId}::text, 'welcome_bonus_points', '0', 'source', 'import',
          'import_id', ${importId}::text, 'opening_points', m.opening_points::text)
        from marked m where m.status = 'enrolled'
        order by m.line
      ),
      counted as (
        update imports set
          enrolled = enrolled + (select count(*) from marked where status = 'enrolled'),
          skipped = skipped + (select count(*) from marked where status = 'skipped'),
          updated_at = now()
        where id = ${importId}
        returning id
      )
      select m.line, m.member_id, m.opening_points::text as opening_points, m.status,
        (select count(*) from batch)::int as batch_size
      from marked m, counted
      order by m.line
    `)) as unknown as Array<{
      line: number;
      member_id: string;
      opening_points: string;
      status: "enrolled" | "skipped";
      batch_size: number;
    }>;
    if (rows.length === 0) {
      return null;
    }
    assert.equal(rows.length, rows[0]?.batch_size, "every row of the batch is enrolled or skipped");
    return rows
      .filter((row) => row.status === "enrolled")
      .map((row) => ({
        line: row.line,
        memberId: row.member_id,
        openingPoints: BigInt(row.opening_points),
      }));
  });
}

/** Post and mark: wallets, opening balances, then the members and rows `posted`. */
async function postEnrolled(
  deps: LedgerDeps,
  args: { orgId: string; importId: string; ledger: number },
  rows: ReadonlyArray<EnrolledRow & { line: number }>,
): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  const { orgId, importId, ledger } = args;
  const memberIds = rows.map((row) => row.memberId);
  await openWallets(deps.ledger, { ledger, memberIds });
  const credited = rows.filter((row) => row.openingPoints > 0n);
  const chains = credited.map((row) =>
    openingBalanceChain({
      orgId,
      ledger,
      memberId: row.memberId,
      points: row.openingPoints,
      importId,
    }),
  );
  const outcomes = await postChains(deps.ledger, chains);
  outcomes.forEach((outcome, index) => {
    // A new wallet credited from a control account without limits: nothing may refuse it.
    assert.ok(
      outcome.kind !== "failed",
      `opening balance of member ${credited[index]?.memberId}: ${
        outcome.kind === "failed" ? chainFailureReason(outcome) : ""
      }`,
    );
  });
  await interrupt(deps, "after_ledger", { table: "imports", id: importId });
  await deps.db.transaction(async (tx) => {
    await tx
      .update(members)
      .set({ ledgerStatus: "posted", ledgerPostedAt: sql`now()` })
      .where(
        and(
          eq(members.orgId, orgId),
          inArray(members.id, memberIds),
          eq(members.ledgerStatus, "pending"),
        ),
      );
    await tx
      .update(importRows)
      .set({ ledgerStatus: "posted" })
      .where(
        and(
          eq(importRows.importId, importId),
          inArray(
            importRows.line,
            rows.map((row) => row.line),
          ),
        ),
      );
  });
  for (const memberId of memberIds) {
    deps.caches.enrolled.set(memberKey(orgId, memberId), true);
  }
}
