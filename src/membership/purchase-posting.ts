/**
 * Posting purchase intents: the second and third steps of the protocol in docs/consistency.md.
 * Given `pos_transactions` rows already committed as `pending`, rebuild their chains from the
 * rows alone (so recovery posts exactly what the live path would have), post them in as few
 * ledger requests as possible, complete any stamp card they filled, then mark the rows posted
 * with their stored outcome and outbox events in one transaction.
 */
import assert from "node:assert/strict";
import { inArray, sql } from "drizzle-orm";
import type { Transfer } from "tigerbeetle-node";
import { earnChain, postChains, stampEarnChain, transferId } from "../ledger/index.ts";
import type { LedgerDeps } from "./deps.ts";
import { ensureEnrolled } from "./ledger-enrollment.ts";
import { idText, interrupt, pointsLedgersOf } from "./ledger-support.ts";
import type { PurchaseOutcome, StampProgram } from "./ledger-types.ts";
import { type OutboxEvent, writeOutbox } from "./outbox.ts";
import { locations, posTransactions, type StoredStampGrant, stampPrograms } from "./schema.ts";
import {
  cardKey,
  completeFullCards,
  ensureStampWallets,
  type FullCardCheck,
  toStampProgram,
} from "./stamp-cards.ts";
import { parsePurchaseResponse, purchaseResponse } from "./stored-responses.ts";

export type PosTransactionRow = typeof posTransactions.$inferSelect;

/** The ids a purchase posts: its earn leg (when it earns points), then one per stamp grant. */
export function purchaseTransferIds(args: {
  orgId: string;
  externalId: string;
  points: bigint;
  stamps: readonly StoredStampGrant[];
}): string[] {
  const ids: string[] = [];
  const base = { orgId: args.orgId, source: "purchase", externalId: args.externalId };
  if (args.points > 0n) {
    ids.push(idText(transferId({ ...base, leg: "earn" })));
  }
  for (const grant of args.stamps) {
    ids.push(idText(transferId({ ...base, leg: `stamps:${grant.program_id}` })));
  }
  return ids;
}

/** The purchase's chains, rebuilt from its row; their ids must be the ones the row promised. */
function purchaseChains(
  row: PosTransactionRow,
  pointsLedger: number,
  locationNumber: number,
): Transfer[][] {
  const chains: Transfer[][] = [];
  const earn = earnChain({
    orgId: row.orgId,
    ledger: pointsLedger,
    memberId: row.memberId,
    externalId: row.externalId,
    points: row.points,
    spendMinor: row.amountMinor,
    locationNumber,
    documentId: row.id,
  });
  if (earn !== null) {
    chains.push(earn);
  }
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
  // Paired with purchaseTransferIds at intent time: the row says what will be posted.
  const ids = chains.flat().map((transfer) => idText(transfer.id));
  assert.deepEqual(ids, row.transferIds, "rebuilt chains post the ids the intent recorded");
  return chains;
}

/**
 * Posts pending purchase rows and marks them posted; returns each row's outcome by row id.
 * Rows another caller marked first keep that caller's stored outcome. Safe to call again with
 * the same rows: every transfer id answers `exists`.
 */
export async function postPurchases(
  deps: LedgerDeps,
  rows: readonly PosTransactionRow[],
): Promise<Map<string, PurchaseOutcome>> {
  if (rows.length === 0) {
    return new Map();
  }
  for (const row of rows) {
    assert.equal(row.kind, "purchase", "only purchases are posted here");
    assert.notEqual(row.status, "failed", "purchases are never refused by the ledger");
  }
  const { db } = deps;
  const pointsLedgers = await pointsLedgersOf(
    db,
    rows.map((row) => row.orgId),
  );
  await ensureEnrolled(
    deps,
    db,
    rows.map((row) => row.memberId),
  );

  const locationIds = [...new Set(rows.flatMap((row) => (row.locationId ? [row.locationId] : [])))];
  const locationNumbers = new Map<string, number>();
  if (locationIds.length > 0) {
    const found = await db
      .select({ id: locations.id, number: locations.number })
      .from(locations)
      .where(inArray(locations.id, locationIds));
    for (const location of found) {
      locationNumbers.set(location.id, location.number);
    }
  }

  const programIds = [...new Set(rows.flatMap((row) => row.stamps.map((g) => g.program_id)))];
  const programs = new Map<string, StampProgram>();
  if (programIds.length > 0) {
    const found = await db
      .select()
      .from(stampPrograms)
      .where(inArray(stampPrograms.id, programIds));
    for (const program of found) {
      programs.set(program.id, toStampProgram(program));
    }
  }
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

  const chains = rows.flatMap((row) => {
    const pointsLedger = pointsLedgers.get(row.orgId);
    assert.ok(pointsLedger !== undefined, "points ledger read for every org");
    const locationNumber = row.locationId === null ? 0 : locationNumbers.get(row.locationId);
    assert.ok(locationNumber !== undefined, "a purchase's location exists");
    return purchaseChains(row, pointsLedger, locationNumber);
  });
  // One call: postChains packs every chain into as few requests as the batch limit allows.
  await postChains(deps.ledger, chains);

  // The last purchase of a batch to touch a card is the one that gets credit for completing it.
  const lastRowOfCard = new Map<string, { row: PosTransactionRow; check: FullCardCheck }>();
  for (const row of rows) {
    for (const grant of row.stamps) {
      const program = programs.get(grant.program_id);
      assert.ok(program !== undefined, "a stamp grant names an existing program");
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
    outcomes.set(row.id, {
      transactionId: row.id,
      pointsEarned: row.points,
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
  for (const row of rows) {
    await interrupt(deps, "after_ledger", { table: "pos_transactions", id: row.id });
  }
  return markPurchasesPosted(deps, rows, outcomes);
}

async function markPurchasesPosted(
  deps: LedgerDeps,
  rows: readonly PosTransactionRow[],
  outcomes: Map<string, PurchaseOutcome>,
): Promise<Map<string, PurchaseOutcome>> {
  const updates = rows.map((row) => {
    const outcome = outcomes.get(row.id);
    assert.ok(outcome !== undefined, "an outcome for every row");
    return { id: row.id, response: purchaseResponse(outcome) };
  });
  const marked = await deps.db.transaction(async (tx) => {
    // `status = 'pending'` makes concurrent markers (a retry, recovery) mark each row once, and
    // only the one that marks it writes its events.
    const updated = await tx.execute<{ id: string }>(sql`
      update ${posTransactions} as p
      set status = 'posted', posted_at = now(), response = v.response
      from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) as v(id uuid, response jsonb)
      where p.id = v.id and p.status = 'pending'
      returning p.id`);
    const ids = new Set(updated.map((row) => row.id));
    const events: OutboxEvent[] = rows
      .filter((row) => ids.has(row.id) && (row.points > 0n || row.stamps.length > 0))
      .map((row) => ({
        orgId: row.orgId,
        topic: "points.earned",
        payload: {
          transaction_id: row.id,
          member_id: row.memberId,
          external_id: row.externalId,
          points: row.points.toString(),
          stamps: row.stamps.map((grant) => ({
            program_id: grant.program_id,
            stamps: grant.stamps,
          })),
          amount_minor: row.amountMinor.toString(),
          currency: row.currency,
          occurred_at: row.occurredAt.toISOString(),
          location_id: row.locationId,
        },
      }));
    await writeOutbox(tx, events);
    return ids;
  });

  const others = rows.filter((row) => !marked.has(row.id)).map((row) => row.id);
  if (others.length > 0) {
    const stored = await deps.db
      .select({
        id: posTransactions.id,
        status: posTransactions.status,
        response: posTransactions.response,
      })
      .from(posTransactions)
      .where(inArray(posTransactions.id, others));
    assert.equal(stored.length, others.length, "rows marked elsewhere still exist");
    for (const row of stored) {
      assert.equal(row.status, "posted", "a row not marked here was marked posted elsewhere");
      outcomes.set(row.id, parsePurchaseResponse(row.response));
    }
  }
  return outcomes;
}
