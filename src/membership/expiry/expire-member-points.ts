/**
 * The daily expiry of members' points, through the intent protocol (intents/protocol.ts): record
 * each expiry document with its transfer id, post the balancing debits wallet → breakage, then
 * mark the documents posted with their `points.expired` events in one statement. A document's
 * key is (org, member, run date) and its transfer id is derived from that key, so a run repeated
 * the same day finds its documents and posts nothing new; recovery finishes a document a crash
 * left pending (`postExpiries`).
 *
 * The same run sends `points.expiring` notices for points expiring within `expiryNoticeDays`,
 * one per member and expiry day, remembered in `expiry_notices` in the statement that writes the
 * event.
 *
 * A batch of members costs a few statements and one ledger write request in all, whatever its
 * size (bounded by `expiryMembersPerJobMax`); the wallets' histories are read concurrently.
 */
import assert from "node:assert/strict";
import { and, eq, inArray, or } from "drizzle-orm";
import {
  LedgerRefusedError,
  reversalsPerRequestMax,
  reversalTransferId,
  reversePointsMany,
  uuidV7,
  walletsAvailable,
} from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { countFailed, markAfterPosting } from "../intents/protocol.ts";
import { idText, interrupt, mapBounded, nowOf, pointsLedgersOf } from "../intents/support.ts";
import { expiryMembersPerJobMax, ledgerRequestsInFlightMax } from "../limits.ts";
import { executeStatement } from "../store/db.ts";
import { expiries } from "../store/expiry-schema.ts";
import {
  type ExpiryPolicy,
  type ExpirySchedule,
  expiringWithin,
  pointsDue,
  utcDay,
} from "./lots.ts";
import { readExpirySchedule } from "./member-expiry.ts";

export type ExpiryRow = typeof expiries.$inferSelect;

/** Days ahead a member is told of points about to expire (`points.expiring`). */
export const expiryNoticeDays = 30;
/** Wallet histories read at once by one batch. */
const scheduleReadsInFlightMax = 8;
assert.ok(scheduleReadsInFlightMax <= ledgerRequestsInFlightMax, "within the ledger's bound");
assert.ok(expiryMembersPerJobMax <= reversalsPerRequestMax, "a batch posts in one request");

export interface ExpireMembersPointsInput {
  orgId: string;
  pointsLedger: number;
  /** Members of the org, at most `expiryMembersPerJobMax`, each once. */
  memberIds: readonly string[];
  policy: Exclude<ExpiryPolicy, { policy: "none" }>;
  /** The run's reference time: lots expiring at or before it are due. Its UTC day is the run date. */
  asOfMs: number;
}

export interface MemberExpiryOutcome {
  /** Points the ledger moved to breakage for this run date by this call. */
  expired: bigint;
  /** `points.expiring` notices written by this call. */
  notices: number;
}

/**
 * Expires what is due for each member as of `asOfMs` and sends the notices owed. Idempotent per
 * (member, run date): a second call the same day expires nothing more and sends no notice twice.
 * Never takes more than the available balance, and never touches points held by pending
 * redemptions (the schedule leaves them out; the balancing debit is bounded by the ledger too).
 */
export async function expireMembersPoints(
  deps: LedgerDeps,
  input: ExpireMembersPointsInput,
): Promise<MemberExpiryOutcome> {
  assert.ok(Number.isSafeInteger(input.asOfMs) && input.asOfMs > 0, "asOfMs is a time");
  assert.ok(input.memberIds.length <= expiryMembersPerJobMax, "members within the batch bound");
  assert.equal(new Set(input.memberIds).size, input.memberIds.length, "each member once");
  if (input.memberIds.length === 0) {
    return { expired: 0n, notices: 0 };
  }
  const runDate = utcDay(input.asOfMs);
  // Documents of this run date, and any left pending by an earlier day: those are finished
  // first, because the schedule must see them.
  const existing = await deps.db
    .select()
    .from(expiries)
    .where(
      and(
        eq(expiries.orgId, input.orgId),
        inArray(expiries.memberId, [...input.memberIds]),
        or(eq(expiries.status, "pending"), eq(expiries.runDate, runDate)),
      ),
    );
  let expired = 0n;
  const finished = await postExpiries(
    deps,
    existing.filter((row) => row.status === "pending"),
  );
  for (const row of finished) {
    expired += row.runDate === runDate ? (row.expiredPoints ?? 0n) : 0n;
  }
  const doneToday = new Set(
    existing.filter((row) => row.runDate === runDate).map((row) => row.memberId),
  );

  const schedules = await mapBounded(input.memberIds, scheduleReadsInFlightMax, (memberId) =>
    readExpirySchedule(deps.ledger, {
      ledger: input.pointsLedger,
      memberId,
      policy: input.policy,
    }),
  );
  const due: Array<{ memberId: string; points: bigint }> = [];
  input.memberIds.forEach((memberId, index) => {
    const schedule = schedules[index];
    if (schedule === null || schedule === undefined || doneToday.has(memberId)) {
      return;
    }
    const points = pointsDue(schedule, input.asOfMs);
    if (points > 0n) {
      due.push({ memberId, points });
    }
  });
  const recorded = await recordExpiries(deps, input, runDate, due);
  const posted = await postExpiries(
    deps,
    recorded.filter((row) => row.status === "pending"),
  );
  // What this call moved after the schedules were read: the notices' balances leave it out.
  const expiredAfterRead = new Map<string, bigint>();
  for (const row of posted) {
    expiredAfterRead.set(row.memberId, row.expiredPoints ?? 0n);
    expired += row.expiredPoints ?? 0n;
  }
  const notices = await sendExpiringNotices(deps, input, schedules, expiredAfterRead);
  return { expired, notices };
}

/** `expireMembersPoints` for one member. */
export async function expireMemberPoints(
  deps: LedgerDeps,
  input: Omit<ExpireMembersPointsInput, "memberIds"> & { memberId: string },
): Promise<MemberExpiryOutcome> {
  const { memberId, ...rest } = input;
  return expireMembersPoints(deps, { ...rest, memberIds: [memberId] });
}

/** The expiry's transfer id: derived from (org, member, run date), one per member and day. */
export function expiryTransferId(input: {
  orgId: string;
  memberId: string;
  runDate: string;
}): bigint {
  return reversalTransferId({
    orgId: input.orgId,
    reason: "expiry",
    externalId: `${input.memberId}:${input.runDate}`,
  });
}

/**
 * Inserts the pending expiry documents in one statement. A member whose document of this run
 * date a concurrent run inserted first gets that one back instead (posted or not).
 */
async function recordExpiries(
  deps: LedgerDeps,
  input: ExpireMembersPointsInput,
  runDate: string,
  due: ReadonlyArray<{ memberId: string; points: bigint }>,
): Promise<ExpiryRow[]> {
  if (due.length === 0) {
    return [];
  }
  const recordedAtMs = nowOf(deps).getTime();
  const inserted = await deps.db
    .insert(expiries)
    .values(
      due.map(({ memberId, points }) => {
        assert.ok(points > 0n, "an expiry takes a positive amount");
        return {
          id: uuidV7(recordedAtMs),
          orgId: input.orgId,
          memberId,
          runDate,
          policy: input.policy.policy,
          points,
          status: "pending" as const,
          transferId: idText(expiryTransferId({ orgId: input.orgId, memberId, runDate })),
        };
      }),
    )
    .onConflictDoNothing({ target: [expiries.orgId, expiries.memberId, expiries.runDate] })
    .returning();
  for (const row of inserted) {
    await interrupt(deps, "after_intent", { table: "expiries", id: row.id });
  }
  if (inserted.length === due.length) {
    return inserted;
  }
  const mine = new Set(inserted.map((row) => row.memberId));
  const lost = due.filter((entry) => !mine.has(entry.memberId)).map((entry) => entry.memberId);
  const winners = await deps.db
    .select()
    .from(expiries)
    .where(
      and(
        eq(expiries.orgId, input.orgId),
        inArray(expiries.memberId, lost),
        eq(expiries.runDate, runDate),
      ),
    );
  assert.equal(winners.length, lost.length, "every lost insert has a winner");
  return [...inserted, ...winners];
}

/**
 * Posts pending expiries (idempotent: the same id and amount again is `exists`), in one ledger
 * request per `reversalsPerRequestMax`, and marks them posted with what the ledger moved and,
 * when it moved any, a `points.expired` event. A refusal for good marks that one failed
 * (counted). Returns the rows as they now stand (as posted when the mark could not be written
 * yet: recovery writes it).
 */
export async function postExpiries(
  deps: LedgerDeps,
  rows: readonly ExpiryRow[],
): Promise<ExpiryRow[]> {
  const settled: ExpiryRow[] = [];
  for (let start = 0; start < rows.length; start += reversalsPerRequestMax) {
    settled.push(
      ...(await postExpiriesRequest(deps, rows.slice(start, start + reversalsPerRequestMax))),
    );
  }
  return settled;
}

async function postExpiriesRequest(
  deps: LedgerDeps,
  rows: readonly ExpiryRow[],
): Promise<ExpiryRow[]> {
  if (rows.length === 0) {
    return [];
  }
  const ledgers = await pointsLedgersOf(
    deps,
    rows.map((row) => row.orgId),
  );
  const ledgerOf = (row: ExpiryRow): number => {
    const ledger = ledgers.get(row.orgId);
    assert.ok(ledger !== undefined, "every org has a points ledger");
    return ledger;
  };
  const outcomes = await reversePointsMany(
    deps.ledger,
    rows.map((row) => {
      assert.equal(row.status, "pending", "only a pending expiry is posted");
      return {
        orgId: row.orgId,
        ledger: ledgerOf(row),
        memberId: row.memberId,
        reason: "expiry" as const,
        points: row.points,
        documentId: row.id,
        transferId: BigInt(row.transferId),
      };
    }),
  );
  const settled: ExpiryRow[] = [];
  const accepted: ExpiryRow[] = [];
  for (const [index, row] of rows.entries()) {
    const outcome = outcomes[index];
    assert.ok(outcome !== undefined, "one outcome per expiry");
    if (outcome instanceof LedgerRefusedError) {
      await deps.db
        .update(expiries)
        .set({ status: "failed", failureReason: outcome.reason })
        .where(and(eq(expiries.id, row.id), eq(expiries.status, "pending")));
      countFailed(deps, { table: "expiries", id: row.id }, outcome.reason);
      settled.push({ ...row, status: "failed", failureReason: outcome.reason });
      continue;
    }
    assert.ok(outcome.reversed <= row.points, "never more than the document asked");
    accepted.push({ ...row, status: "posted", expiredPoints: outcome.reversed });
  }
  const refs = accepted.map((row) => ({ table: "expiries" as const, id: row.id }));
  const marked = await markAfterPosting(deps, refs, accepted, async () => {
    await markExpiriesPosted(deps, accepted, ledgerOf);
    return accepted;
  });
  return [...settled, ...marked];
}

/**
 * Marks the rows of `$1` (a JSON array of {n, id, expired_points, balance}) posted where still
 * pending, and writes the `points.expired` event of each row it marked that moved points, in the
 * array's order, in one statement (atomic without BEGIN/COMMIT). `status = 'pending'` makes
 * concurrent markers (a run and recovery) mark each row once: only the one that marks it writes
 * its event. Returns the ids it marked.
 */
const markPosted = `
  with v as (
    select * from jsonb_to_recordset($1::jsonb)
      as v(n int, id uuid, expired_points bigint, balance text)
  ),
  marked as (
    update expiries as e
    set status = 'posted', expired_points = v.expired_points, posted_at = now()
    from v
    where e.id = v.id and e.status = 'pending'
    returning e.id, e.org_id, e.member_id, e.run_date, e.policy, e.expired_points
  ),
  events as (
    insert into outbox (org_id, topic, payload)
    select m.org_id, 'points.expired'::outbox_topic, jsonb_build_object(
      'member_id', m.member_id,
      'points', m.expired_points::text,
      'balance', v.balance,
      'document', jsonb_build_object('kind', 'expiry', 'id', m.id, 'external_id', null),
      'expiry_id', m.id,
      'run_date', m.run_date::text,
      'policy', m.policy)
    from marked m join v on v.id = m.id
    where m.expired_points > 0
    order by v.n
  )
  select id from marked`;

async function markExpiriesPosted(
  deps: LedgerDeps,
  rows: readonly ExpiryRow[],
  ledgerOf: (row: ExpiryRow) => number,
): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  // The balances after the expiries, for the events: one lookup per ledger.
  const balances = new Map<string, bigint>();
  const byLedger = new Map<number, ExpiryRow[]>();
  for (const row of rows) {
    const group = byLedger.get(ledgerOf(row)) ?? [];
    group.push(row);
    byLedger.set(ledgerOf(row), group);
  }
  for (const [ledger, group] of byLedger) {
    const available = await walletsAvailable(deps.ledger, {
      ledger,
      memberIds: group.map((row) => row.memberId),
    });
    for (const row of group) {
      const balance = available.get(row.memberId);
      assert.ok(balance !== undefined, "an expired member has a wallet");
      balances.set(row.id, balance);
    }
  }
  const updates = rows.map((row, n) => ({
    n,
    id: row.id,
    expired_points: (row.expiredPoints ?? 0n).toString(),
    balance: (balances.get(row.id) ?? 0n).toString(),
  }));
  await executeStatement<{ id: string }>(deps.db, markPosted, JSON.stringify(updates));
}

/**
 * Inserts the notices of `$1` (a JSON array of {n, org_id, member_id, expires_on, points,
 * balance, expires_at, policy}) not sent before, and a `points.expiring` event for each one it
 * inserted, in one statement. Returns how many it sent.
 */
const sendNotices = `
  with v as (
    select * from jsonb_to_recordset($1::jsonb)
      as v(n int, org_id uuid, member_id uuid, expires_on date, points bigint, balance text,
        expires_at text, policy text)
  ),
  sent as (
    insert into expiry_notices (org_id, member_id, expires_on, points)
    select org_id, member_id, expires_on, points from v order by n
    on conflict do nothing
    returning org_id, member_id, expires_on
  ),
  events as (
    insert into outbox (org_id, topic, payload)
    select v.org_id, 'points.expiring'::outbox_topic, jsonb_build_object(
      'member_id', v.member_id,
      'points', v.points::text,
      'balance', v.balance,
      'document', null,
      'expires_at', v.expires_at,
      'policy', v.policy)
    from sent s join v
      on v.org_id = s.org_id and v.member_id = s.member_id and v.expires_on = s.expires_on
    order by v.n
  )
  select count(*)::int as sent from sent`;

/** Notices per statement: 8 fields each, far below any parameter or JSON size concern. */
const noticesPerStatementMax = 1_000;

async function sendExpiringNotices(
  deps: LedgerDeps,
  input: ExpireMembersPointsInput,
  schedules: ReadonlyArray<ExpirySchedule | null>,
  expiredAfterRead: ReadonlyMap<string, bigint>,
): Promise<number> {
  const notices: Array<Record<string, string | number>> = [];
  input.memberIds.forEach((memberId, index) => {
    const schedule = schedules[index];
    if (schedule === null || schedule === undefined) {
      return;
    }
    const balance = schedule.available - (expiredAfterRead.get(memberId) ?? 0n);
    assert.ok(balance >= 0n, "a balance is never negative");
    for (const notice of expiringWithin(schedule, input.asOfMs, expiryNoticeDays)) {
      notices.push({
        n: notices.length,
        org_id: input.orgId,
        member_id: memberId,
        expires_on: notice.day,
        points: notice.points.toString(),
        balance: balance.toString(),
        expires_at: new Date(notice.atMs).toISOString(),
        policy: input.policy.policy,
      });
    }
  });
  let sent = 0;
  for (let start = 0; start < notices.length; start += noticesPerStatementMax) {
    const slice = notices.slice(start, start + noticesPerStatementMax);
    const [row] = await executeStatement<{ sent: number }>(
      deps.db,
      sendNotices,
      JSON.stringify(slice),
    );
    sent += row?.sent ?? 0;
  }
  return sent;
}
