/**
 * Posting purchase intents: the second and third steps of the protocol in docs/consistency.md.
 * Given `pos_transactions` rows already committed as `pending`, post their chains (rebuilt from
 * the row alone when read back from Postgres; built from the same values by the same function
 * when this process just wrote the row, so recovery posts exactly what the live path did) in as
 * few ledger requests as possible, complete any stamp card they filled, then mark the rows posted
 * with their stored outcome and outbox events in one statement.
 */
import assert from "node:assert/strict";
import { and, eq, inArray } from "drizzle-orm";
import {
  type CapAccount,
  type ChainOutcome,
  capAccountId,
  chainFailureReason,
  ensureCapAccounts,
  type LedgerTransfer,
  postChains,
  reservationChain,
  reservedAmounts,
  stampEarnChain,
} from "../../ledger/index.ts";
import type { LedgerDeps, Store } from "../deps.ts";
import type { DomainError } from "../errors.ts";
import { countFailed, failedIntentError, markAfterPosting } from "../intents/protocol.ts";
import { idText, pointsLedgersOf } from "../intents/support.ts";
import type { PurchaseOutcome, StampProgram } from "../ledger-types.ts";
import { ensureEnrolled } from "../members/ledger-enrollment.ts";
import {
  cardKey,
  completeFullCards,
  ensureStampWallets,
  type FullCardCheck,
  stampProgramsOf,
  toStampProgram,
} from "../stamp-programs/stamp-cards.ts";
import { executeStatement } from "../store/db.ts";
import { locations, posTransactions, stampPrograms } from "../store/schema.ts";
import { parsePurchaseResponse, purchaseResponse } from "../store/stored-responses.ts";
import type { CappedEarning, EarningLine } from "./earning.ts";
import {
  type PurchaseEntriesInput,
  purchaseCaps,
  purchaseEntryChains,
  readEarning,
} from "./entries.ts";

export type PosTransactionRow = typeof posTransactions.$inferSelect;

/** What posting a purchase needs of its row: a stored row, or one this process just inserted. */
export type PurchaseIntent = Pick<
  PosTransactionRow,
  | "id"
  | "orgId"
  | "memberId"
  | "kind"
  | "externalId"
  | "amountMinor"
  | "currency"
  | "occurredAt"
  | "locationId"
  | "points"
  | "stamps"
  | "status"
  | "transferIds"
  | "earning"
> & {
  /**
   * The chains, when this process built them from the very values it wrote to the row (and took
   * `transferIds` from them); absent for a row read back from Postgres, whose chains are rebuilt.
   */
  chains?: readonly LedgerTransfer[][];
};

/** What a purchase's chains are built from: its row's values, and two numbers the row names. */
export interface PurchaseChainsInput {
  row: Pick<
    PurchaseIntent,
    "id" | "orgId" | "memberId" | "externalId" | "amountMinor" | "points" | "stamps" | "earning"
  >;
  pointsLedger: number;
  /** The location's per-org number, 0 for none. */
  locationNumber: number;
  /** What the ledger reserved of each cap (by reservation id), once it has. */
  reserved?: ReadonlyMap<bigint, bigint>;
}

export function purchaseEntriesInput(input: PurchaseChainsInput): PurchaseEntriesInput {
  const { row } = input;
  return {
    orgId: row.orgId,
    ledger: input.pointsLedger,
    memberId: row.memberId,
    externalId: row.externalId,
    documentId: row.id,
    spendMinor: row.amountMinor,
    locationNumber: input.locationNumber,
    earning: readEarning(row.earning, row.points),
  };
}

/**
 * A purchase's chains: its cap reservations (when capped), its entries with the cap posts
 * (always, also for 0 points: the purchase's time and spend are in the ledger), then one stamp
 * chain per grant, in that order. The one builder of both the live path and recovery, so both
 * post the same. Also what the entries come to after caps.
 */
export function buildPurchaseChains(input: PurchaseChainsInput): {
  chains: LedgerTransfer[][];
  capped: CappedEarning;
} {
  const { row } = input;
  const { chains, capped } = purchaseEntryChains(purchaseEntriesInput(input), input.reserved);
  for (const grant of row.stamps) {
    const chain = stampEarnChain({
      orgId: row.orgId,
      ledger: grant.ledger,
      memberId: row.memberId,
      externalId: row.externalId,
      programId: grant.program_id,
      stamps: BigInt(grant.stamps),
      documentId: row.id,
    });
    assert.ok(chain !== null, "a stored stamp grant is positive");
    chains.push(chain);
  }
  return { chains, capped };
}

/** The ids the chains post, in order, as `transfer_ids` keeps them (decimal strings). */
export function transferIdsOf(chains: readonly LedgerTransfer[][]): string[] {
  const ids: string[] = [];
  for (const chain of chains) {
    for (const transfer of chain) {
      ids.push(idText(transfer.id));
    }
  }
  return ids;
}

/**
 * A 0-point purchase recorded before every purchase posted its earn transfer has no earn id in
 * `transfer_ids`: its rebuilt chains leave that earn out, so recovery posts what was recorded.
 */
function withoutUnrecordedZeroEarn(
  chains: LedgerTransfer[][],
  row: PurchaseIntent,
): LedgerTransfer[][] {
  const [earn] = chains;
  const earnId = earn?.[0]?.id;
  if (row.points !== 0n || earnId === undefined || row.transferIds.includes(idText(earnId))) {
    return chains;
  }
  return chains.slice(1);
}

/** The chains must post exactly the ids the intent recorded. */
function assertPostsRecordedIds(chains: readonly LedgerTransfer[][], row: PurchaseIntent): void {
  const ids = transferIdsOf(chains);
  assert.equal(ids.length, row.transferIds.length, "chains post as many ids as recorded");
  ids.forEach((id, index) => {
    assert.equal(id, row.transferIds[index], "chains post the ids the intent recorded");
  });
}

/** What posting a purchase came to: its outcome, or the refusal of a purchase now `failed`. */
export type PostedPurchase = PurchaseOutcome | DomainError;

/**
 * Posts pending purchase rows and marks them posted; returns each row's outcome by row id.
 * A row whose chain the ledger refused for good is marked `failed` with the ledger's reason
 * and answers a `conflict` (intents/protocol.ts); the other rows are posted as usual.
 * Rows another caller marked first keep that caller's stored outcome. Safe to call again with
 * the same rows: every transfer id answers `exists`.
 *
 * Warm caches (points ledgers, enrolled members, locations, opened cards) leave one Postgres
 * statement here: the mark with its outbox events. Recovery calls this on a transaction that
 * holds the rows' locks; every statement runs on `deps.db`, so that transaction marks them.
 */
export async function postPurchases(
  deps: LedgerDeps,
  rows: readonly PurchaseIntent[],
): Promise<Map<string, PostedPurchase>> {
  if (rows.length === 0) {
    return new Map();
  }
  for (const row of rows) {
    assert.equal(row.kind, "purchase", "only purchases are posted here");
    assert.notEqual(row.status, "failed", "purchases are never refused by the ledger");
  }
  const { db } = deps;
  const pointsLedgers = await pointsLedgersOf(
    deps,
    rows.map((row) => row.orgId),
  );
  await ensureEnrolled(
    deps,
    db,
    rows.map((row) => ({ orgId: row.orgId, memberId: row.memberId })),
  );
  // Rows read back from Postgres get their chains rebuilt from the row alone, which needs the
  // location's number; fresh rows carry the chains they were written from, unless capped: what
  // a capped purchase posts depends on what the ledger reserves of its caps.
  const rebuilt = rows.filter((row) => row.chains === undefined || isCapped(row));
  const locationNumbers = await locationNumbersOf(deps, rebuilt);
  const programs = await programsOf(deps, rows);
  await ensureStampWallets(
    deps,
    db,
    rows.flatMap((row) =>
      row.stamps.map((grant) => ({
        orgId: row.orgId,
        memberId: row.memberId,
        programId: grant.program_id,
        ledger: grant.ledger,
      })),
    ),
  );
  const locationOf = (row: PurchaseIntent): number => {
    const number =
      row.locationId === null ? 0 : locationNumbers.get(`${row.orgId}:${row.locationId}`);
    assert.ok(number !== undefined, "a purchase's location exists");
    return number;
  };
  const ledgerOf = (row: PurchaseIntent): number => {
    const pointsLedger = pointsLedgers.get(row.orgId);
    assert.ok(pointsLedger !== undefined, "points ledger read for every org");
    return pointsLedger;
  };
  const { reserved, refusals: reservationRefusals } = await reserveCaps(
    deps,
    rows.filter(isCapped),
    (row) => ({ row, pointsLedger: ledgerOf(row), locationNumber: locationOf(row) }),
  );
  const live = rows.filter((row) => !reservationRefusals.has(row.id));
  const results = new Map<string, PostedEarning>();
  const chainsOfRows = live.map((row) => {
    if (row.chains !== undefined && !isCapped(row)) {
      // `transferIds` was taken from these very chains when the row was written.
      results.set(row.id, uncappedEarning(row));
      return row.chains;
    }
    const built = buildPurchaseChains({
      row,
      pointsLedger: ledgerOf(row),
      locationNumber: locationOf(row),
      reserved,
    });
    results.set(row.id, { points: built.capped.total, breakdown: built.capped.breakdown });
    const chains = withoutUnrecordedZeroEarn(built.chains, row);
    assertPostsRecordedIds(chains, row);
    return chains;
  });
  // One call: postChains packs every chain into as few requests as the batch limit allows.
  const chainOutcomes = await postChains(deps.ledger, chainsOfRows.flat());
  const refusals = await failRefusedPurchases(deps, live, chainsOfRows, chainOutcomes);
  for (const [id, refusal] of reservationRefusals) {
    refusals.set(id, refusal);
  }
  const posted = rows.filter((row) => !refusals.has(row.id));
  const outcomes: Map<string, PostedPurchase> = await completePurchases(
    deps,
    posted,
    programs,
    pointsLedgers,
    results,
  );
  for (const [id, refusal] of refusals) {
    outcomes.set(id, refusal);
  }
  return outcomes;
}

/** What a posted purchase earned: after caps, with its breakdown. */
interface PostedEarning {
  points: bigint;
  breakdown: EarningLine[];
}

/** Whether the row's purchase falls under any cap (then it reserves before it posts). */
function isCapped(row: PurchaseIntent): boolean {
  const earning = row.earning;
  return (
    earning !== null &&
    (earning.overall_caps.length > 0 || earning.entries.some((entry) => entry.caps.length > 0))
  );
}

/** An uncapped purchase earns what its entries ask. */
function uncappedEarning(row: PurchaseIntent): PostedEarning {
  const earning = readEarning(row.earning, row.points);
  return {
    points: row.points,
    breakdown: earning.entries
      .filter((entry) => entry.points > 0n)
      .map((entry) => {
        const line: EarningLine = { kind: entry.kind, points: entry.points };
        if (entry.ruleId !== null) {
          line.ruleId = entry.ruleId;
        }
        if (entry.ruleVersion !== null) {
          line.ruleVersion = entry.ruleVersion;
        }
        return line;
      }),
  };
}

/**
 * Opens the caps the rows touch and reserves from them (one chain per purchase; a retry's
 * chain answers `exists` and keeps what was reserved the first time), then reads what the ledger
 * reserved. A purchase whose reservations the ledger refused for good is marked failed.
 */
async function reserveCaps(
  deps: LedgerDeps,
  rows: readonly PurchaseIntent[],
  chainsInput: (row: PurchaseIntent) => PurchaseChainsInput,
): Promise<{ reserved: Map<bigint, bigint>; refusals: Map<string, DomainError> }> {
  const refusals = new Map<string, DomainError>();
  if (rows.length === 0) {
    return { reserved: new Map(), refusals };
  }
  const caps = rows.map((row) => purchaseCaps(purchaseEntriesInput(chainsInput(row))));
  const accounts = new Map<bigint, CapAccount>();
  for (const purchase of caps) {
    for (const reservation of purchase.reservations) {
      accounts.set(capAccountId(reservation.account), reservation.account);
    }
  }
  await ensureCapAccounts(deps.ledger, [...accounts.values()]);
  const outcomes = await postChains(
    deps.ledger,
    caps.map((purchase) => reservationChain(purchase.reservations)),
  );
  const ids: bigint[] = [];
  for (const [index, row] of rows.entries()) {
    const outcome = outcomes[index];
    assert.ok(outcome !== undefined, "one outcome per reservation chain");
    if (outcome.kind === "failed") {
      const reason = chainFailureReason(outcome);
      await failPosTransaction(deps, row, reason);
      refusals.set(row.id, failedIntentError("purchase", { ...row, failureReason: reason }));
      continue;
    }
    for (const reservation of caps[index]?.reservations ?? []) {
      ids.push(reservation.id);
    }
  }
  return { reserved: await reservedAmounts(deps.ledger, ids), refusals };
}

/**
 * Marks a `pos_transactions` intent (a purchase or a refund) still pending `failed` with the
 * ledger's reason, and counts it. For a chain the ledger refused for good.
 */
export async function failPosTransaction(
  deps: LedgerDeps,
  row: { orgId: string; id: string },
  reason: string,
): Promise<void> {
  await deps.db
    .update(posTransactions)
    .set({ status: "failed", failureReason: reason })
    .where(
      and(
        eq(posTransactions.orgId, row.orgId),
        eq(posTransactions.id, row.id),
        eq(posTransactions.status, "pending"),
      ),
    );
  countFailed(deps, { table: "pos_transactions", id: row.id }, reason);
}

/**
 * Marks failed, with the ledger's reason, every row one of whose chains the ledger refused for
 * good (TigerBeetle never accepts that id later), and counts it. Returns each one's refusal.
 */
async function failRefusedPurchases(
  deps: LedgerDeps,
  rows: readonly PurchaseIntent[],
  chainsOfRows: readonly (readonly LedgerTransfer[][])[],
  outcomes: readonly ChainOutcome[],
): Promise<Map<string, DomainError>> {
  const refusals = new Map<string, DomainError>();
  let next = 0;
  for (const [index, row] of rows.entries()) {
    const count = chainsOfRows[index]?.length ?? 0;
    let failed: Extract<ChainOutcome, { kind: "failed" }> | undefined;
    // Indexes, not a slice per row: this runs for every purchase of every batch.
    for (let chain = next; chain < next + count && failed === undefined; chain += 1) {
      const outcome = outcomes[chain];
      if (outcome?.kind === "failed") {
        failed = outcome;
      }
    }
    next += count;
    if (failed === undefined) {
      continue;
    }
    const reason = chainFailureReason(failed);
    await failPosTransaction(deps, row, reason);
    refusals.set(row.id, failedIntentError("purchase", { ...row, failureReason: reason }));
  }
  assert.equal(next, outcomes.length, "one outcome per chain");
  return refusals;
}

/** Completes the cards the posted rows filled and marks the rows posted (step 5). */
async function completePurchases(
  deps: LedgerDeps,
  rows: readonly PurchaseIntent[],
  programs: ReadonlyMap<string, StampProgram>,
  pointsLedgers: ReadonlyMap<string, number>,
  earned: ReadonlyMap<string, PostedEarning>,
): Promise<Map<string, PurchaseOutcome>> {
  const { db } = deps;

  // The last purchase of a batch to touch a card is the one that gets credit for completing it.
  const lastRowOfCard = new Map<string, { row: PurchaseIntent; check: FullCardCheck }>();
  for (const row of rows) {
    for (const grant of row.stamps) {
      const program = programs.get(grant.program_id);
      assert.ok(program !== undefined, "a stamp grant names an existing program");
      assert.equal(program.orgId, row.orgId, "a grant's program belongs to the purchase's org");
      assert.equal(program.ledger, grant.ledger, "a grant posts on its program's ledger");
      const pointsLedger = pointsLedgers.get(row.orgId);
      assert.ok(pointsLedger !== undefined, "points ledger read for every org");
      lastRowOfCard.set(cardKey({ memberId: row.memberId, programId: program.id }), {
        row,
        check: { orgId: row.orgId, memberId: row.memberId, program, pointsLedger },
      });
    }
  }
  const completed = await completeFullCards(
    deps,
    db,
    [...lastRowOfCard.values()].map((entry) => entry.check),
  );

  const outcomes = new Map<string, PurchaseOutcome>();
  for (const row of rows) {
    const earning = earned.get(row.id);
    assert.ok(earning !== undefined, "what every posted row earned is known");
    outcomes.set(row.id, {
      transactionId: row.id,
      pointsEarned: earning.points,
      breakdown: earning.breakdown,
      stampsEarned: row.stamps.map((grant) => {
        const key = cardKey({ memberId: row.memberId, programId: grant.program_id });
        return {
          programId: grant.program_id,
          stamps: BigInt(grant.stamps),
          completed: completed.has(key) && lastRowOfCard.get(key)?.row === row,
        };
      }),
    });
  }
  const refs = rows.map((row) => ({ table: "pos_transactions", id: row.id }) as const);
  return markAfterPosting(deps, refs, outcomes, () => markPurchasesPosted(deps, rows, outcomes));
}

/** "org:location id" → number, for every location the rows name; cached per pool. */
async function locationNumbersOf(
  store: Store,
  rows: readonly PurchaseIntent[],
): Promise<Map<string, number>> {
  const { db } = store;
  const { locationNumbers: cached } = store.caches;
  const numbers = new Map<string, number>();
  const missing = new Map<string, { orgId: string; id: string }>();
  for (const row of rows) {
    if (row.locationId === null) {
      continue;
    }
    const key = `${row.orgId}:${row.locationId}`;
    const number = cached.get(key);
    if (number === undefined) {
      missing.set(key, { orgId: row.orgId, id: row.locationId });
    } else {
      numbers.set(key, number);
    }
  }
  if (missing.size > 0) {
    const wanted = [...missing.values()];
    const found = await db
      .select({ id: locations.id, orgId: locations.orgId, number: locations.number })
      .from(locations)
      .where(
        and(
          inArray(locations.orgId, [...new Set(wanted.map((location) => location.orgId))]),
          inArray(
            locations.id,
            wanted.map((location) => location.id),
          ),
        ),
      );
    for (const location of found) {
      const key = `${location.orgId}:${location.id}`;
      assert.ok(location.number > 0, "location numbers start at 1");
      cached.set(key, location.number);
      numbers.set(key, location.number);
    }
  }
  return numbers;
}

/** The stamp programs the rows' grants name, by id: from the cached lists, else read. */
async function programsOf(
  store: Store,
  rows: readonly PurchaseIntent[],
): Promise<Map<string, StampProgram>> {
  const { db } = store;
  const programs = new Map<string, StampProgram>();
  const orgIds = new Set(rows.flatMap((row) => (row.stamps.length > 0 ? [row.orgId] : [])));
  for (const orgId of orgIds) {
    for (const program of await stampProgramsOf(store, orgId)) {
      programs.set(program.id, program);
    }
  }
  const missing = [
    ...new Set(
      rows.flatMap((row) =>
        row.stamps.flatMap((grant) => (programs.has(grant.program_id) ? [] : [grant.program_id])),
      ),
    ),
  ];
  if (missing.length > 0) {
    // A program younger than this pool's cached list (created by another process).
    const found = await db
      .select()
      .from(stampPrograms)
      .where(and(inArray(stampPrograms.orgId, [...orgIds]), inArray(stampPrograms.id, missing)));
    for (const program of found) {
      programs.set(program.id, toStampProgram(program));
    }
  }
  return programs;
}

/**
 * Marks the rows of `$1` (a JSON array of {n, id, org_id, stamps_earned}) posted where still
 * pending, stores each one's outcome, and writes the `points.earned` event of each row it marked
 * (also one that earned nothing: its spend still counts for tiers and RFM), in the array's
 * order. Returns the ids it marked.
 *
 * The outcome and the event are built here from the row itself, so only what the row does not
 * hold travels: `stamps_earned` (with which cards the purchase completed) for a purchase that
 * earned stamps, null otherwise. The stored outcome is what `purchaseResponse` makes of it, and
 * the event's fields are the row's (amounts as strings, `occurred_at` as ISO 8601 UTC with
 * milliseconds); a test pins both.
 *
 * "Still pending" is written `<> 'posted'` (a purchase is never `failed`; asserted before) so
 * that the planner finds the rows by primary key: `= 'pending'` matches the predicate of
 * `pos_transactions_pending_idx`, and the planner then scans that index, whose dead entries
 * (rows marked since the last vacuum) grow with every batch.
 */
const markPosted = `
  with v as (
    select * from jsonb_to_recordset($1::jsonb)
      as v(n int, id uuid, org_id uuid, points bigint, breakdown jsonb, stamps_earned jsonb)
  ),
  marked as (
    update pos_transactions as p
    set status = 'posted', posted_at = now(), points = v.points,
      response = jsonb_build_object('transaction_id', p.id, 'points_earned', v.points::text,
        'breakdown', v.breakdown, 'stamps_earned', coalesce(v.stamps_earned, '[]'::jsonb))
    from v
    where p.id = v.id and p.org_id = v.org_id and p.status <> 'posted'
    returning p.id, p.org_id, p.member_id, p.external_id, p.points, p.stamps, p.amount_minor,
      p.currency, p.occurred_at, p.location_id
  ),
  events as (
    insert into outbox (org_id, topic, payload)
    select m.org_id, 'points.earned'::outbox_topic, jsonb_build_object(
      'transaction_id', m.id,
      'member_id', m.member_id,
      'external_id', m.external_id,
      'points', m.points::text,
      'stamps', (
        select coalesce(jsonb_agg(jsonb_build_object(
            'program_id', g.item -> 'program_id', 'stamps', g.item -> 'stamps')
          order by g.position), '[]'::jsonb)
        from jsonb_array_elements(m.stamps) with ordinality as g(item, position)
      ),
      'amount_minor', m.amount_minor::text,
      'currency', m.currency,
      'occurred_at', to_char(m.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'location_id', m.location_id)
    from marked m join v on v.id = m.id
    order by v.n
  )
  select id from marked`;

/**
 * Marks the rows posted with their stored outcome and writes their `points.earned` events, in
 * one statement (so atomically, without BEGIN/COMMIT). `status <> 'posted'` makes concurrent
 * markers (a retry, recovery) mark each row once, and only the one that marks it writes its
 * event.
 */
async function markPurchasesPosted(
  deps: LedgerDeps,
  rows: readonly PurchaseIntent[],
  outcomes: Map<string, PurchaseOutcome>,
): Promise<Map<string, PurchaseOutcome>> {
  const updates = rows.map((row, n) => {
    const outcome = outcomes.get(row.id);
    assert.ok(outcome !== undefined, "an outcome for every row");
    assert.equal(outcome.transactionId, row.id, "the outcome is the row's");
    assert.ok(outcome.pointsEarned <= row.points, "caps never add to what the row asked");
    const stored = purchaseResponse(outcome);
    return {
      n,
      id: row.id,
      org_id: row.orgId,
      points: outcome.pointsEarned.toString(),
      breakdown: stored.breakdown,
      stamps_earned: row.stamps.length === 0 ? null : stored.stamps_earned,
    };
  });
  const updated = await executeStatement<{ id: string }>(
    deps.db,
    markPosted,
    JSON.stringify(updates),
  );
  const marked = new Set(updated.map((row) => row.id));

  const others = rows.filter((row) => !marked.has(row.id)).map((row) => row.id);
  if (others.length > 0) {
    const orgIds = [...new Set(rows.map((row) => row.orgId))];
    const stored = await deps.db
      .select({
        id: posTransactions.id,
        status: posTransactions.status,
        response: posTransactions.response,
      })
      .from(posTransactions)
      .where(and(inArray(posTransactions.orgId, orgIds), inArray(posTransactions.id, others)));
    assert.equal(stored.length, others.length, "rows marked elsewhere still exist");
    for (const row of stored) {
      assert.equal(row.status, "posted", "a row not marked here was marked posted elsewhere");
      outcomes.set(row.id, parsePurchaseResponse(row.response));
    }
  }
  return outcomes;
}
