/**
 * Stamp cards: opening a member's stamp wallet on a program's ledger the first time they earn
 * there, and completing full cards (N stamps out, reward points in, one linked chain).
 *
 * Completion ids are numbered by `stamp_cards.completions`. The count is read *before* the
 * wallet, and raised only after the ledger answered, so completion k is only ever attempted once
 * k − 1 is on the ledger and the card still holds N stamps: two purchases racing on one card
 * build the same ids, and the loser is told `exists` rather than refused. A refused completion
 * would burn its id for good, so a refusal here is a broken invariant, not a business outcome.
 */
import assert from "node:assert/strict";
import { and, asc, eq, inArray } from "drizzle-orm";
import {
  completeStampCard,
  LedgerRefusedError,
  ledgerLimits,
  openWallet,
  provisionLedger,
  walletAccountId,
  walletBalance,
} from "../../ledger/index.ts";
import type { LedgerDeps, Store } from "../deps.ts";
import { mapBounded } from "../intents/support.ts";
import type { StampProgram } from "../ledger-types.ts";
import {
  completionsPerPurchaseMax,
  ledgerRequestsInFlightMax,
  stampProgramsPerOrgMax,
} from "../limits.ts";
import type { DbExecutor } from "../store/db.ts";
import { writeOutbox } from "../store/outbox.ts";
import { stampCards, stampPrograms } from "../store/schema.ts";

export function toStampProgram(row: typeof stampPrograms.$inferSelect): StampProgram {
  assert.ok(row.stampsRequired > 0, "a card needs stamps");
  assert.ok(row.rewardPoints >= 0n, "a reward is not negative");
  assert.ok(row.ledger > 0, "a program has a ledger");
  assert.ok(row.earnAmountMinMinor === null || row.earnAmountMinMinor > 0n, "a positive minimum");
  return {
    id: row.id,
    orgId: row.orgId,
    name: row.name,
    ledger: row.ledger,
    stampsRequired: BigInt(row.stampsRequired),
    rewardPoints: row.rewardPoints,
    // Frozen: the cached list is shared by every purchase of the org.
    earn: Object.freeze({
      per: row.earnPer,
      amountMinMinor: row.earnAmountMinMinor,
      categories: Object.freeze([...row.earnCategories]),
      skus: Object.freeze([...row.earnSkus]),
    }),
    activeFrom: row.activeFrom,
    activeUntil: row.activeUntil,
    active: row.active,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * Every stamp program of the org, active or not, oldest first (at most `stampProgramsPerOrgMax`,
 * which createStampProgram enforces). Cached per pool for `orgCacheTtlMs`; creating, changing or
 * deactivating a program drops the entry in this process. The list is frozen: callers share it.
 */
export function stampProgramsOf(store: Store, orgId: string): Promise<readonly StampProgram[]> {
  const { db } = store;
  return store.caches.stampPrograms.load(orgId, async () => {
    const rows = await db
      .select()
      .from(stampPrograms)
      .where(eq(stampPrograms.orgId, orgId))
      .orderBy(asc(stampPrograms.createdAt), asc(stampPrograms.id))
      .limit(stampProgramsPerOrgMax + 1);
    assert.ok(rows.length <= stampProgramsPerOrgMax, "stamp programs within their bound");
    return Object.freeze(rows.map((row) => Object.freeze(toStampProgram(row))));
  });
}

/** A member's card in one program. */
export interface CardRef {
  orgId: string;
  memberId: string;
  programId: string;
  /** The program's ledger. */
  ledger: number;
}

/** Identifies a member's card in a program within one call ("program:member"). */
export function cardKey(card: { memberId: string; programId: string }): string {
  return `${card.programId}:${card.memberId}`;
}

/**
 * Opens the stamp wallets of cards that have none yet (provisioning the program's ledger first,
 * idempotently) and records them in `stamp_cards`. Cards already recorded cost one read.
 */
export async function ensureStampWallets(
  deps: LedgerDeps,
  db: DbExecutor,
  cards: readonly CardRef[],
): Promise<void> {
  const { stampCards: opened } = deps.caches;
  const unique = new Map(cards.map((card) => [cardKey(card), card]));
  for (const [key, card] of unique) {
    if (opened.has(openedKey(card))) {
      unique.delete(key);
    }
  }
  if (unique.size === 0) {
    return;
  }
  const all = [...unique.values()];
  const open = await db
    .select({ memberId: stampCards.memberId, programId: stampCards.programId })
    .from(stampCards)
    .where(
      and(
        inArray(stampCards.orgId, [...new Set(all.map((card) => card.orgId))]),
        inArray(stampCards.memberId, [...new Set(all.map((card) => card.memberId))]),
        inArray(stampCards.programId, [...new Set(all.map((card) => card.programId))]),
      ),
    );
  const recorded = new Set(open.map(cardKey));
  const missing = all.filter((card) => !recorded.has(cardKey(card)));
  if (missing.length > 0) {
    const ledgers = [...new Set(missing.map((card) => card.ledger))];
    await mapBounded(ledgers, ledgerRequestsInFlightMax, (ledger) =>
      provisionLedger(deps.ledger, ledger),
    );
    await mapBounded(missing, ledgerRequestsInFlightMax, (card) =>
      openWallet(deps.ledger, { ledger: card.ledger, memberId: card.memberId }),
    );
    await db
      .insert(stampCards)
      .values(
        missing.map((card) => ({
          orgId: card.orgId,
          programId: card.programId,
          memberId: card.memberId,
        })),
      )
      .onConflictDoNothing();
  }
  // Cards are never deleted: once recorded (and their wallet open), always so.
  for (const card of all) {
    opened.set(openedKey(card), true);
  }
}

/** "org:program:member": an opened card in the pool's cache. */
function openedKey(card: { orgId: string; programId: string; memberId: string }): string {
  return `${card.orgId}:${card.programId}:${card.memberId}`;
}

export interface FullCardCheck {
  orgId: string;
  memberId: string;
  program: StampProgram;
  pointsLedger: number;
}

/**
 * Completes every full card among `checks`, as many times as the stamps allow (bounded), and
 * returns the keys ("program:member") of cards this call completed.
 */
export async function completeFullCards(
  deps: LedgerDeps,
  db: DbExecutor,
  checks: readonly FullCardCheck[],
): Promise<Set<string>> {
  const completed = new Set<string>();
  // Most cards are not full: one ledger lookup for all of them finds those that may be, and
  // only those run the completion loop (which reads the count, then the wallet, in that order).
  // Skipping a card not full here is what the loop's first round would do.
  const full = await mayBeFull(deps, checks);
  await mapBounded(full, ledgerRequestsInFlightMax, async (check) => {
    const created = await completeCard(deps, db, check);
    if (created > 0) {
      completed.add(cardKey({ memberId: check.memberId, programId: check.program.id }));
    }
  });
  return completed;
}

/** The checks whose stamp wallet holds at least a card's worth now (or could not be read). */
async function mayBeFull(
  deps: LedgerDeps,
  checks: readonly FullCardCheck[],
): Promise<FullCardCheck[]> {
  const walletIds = checks.map((check) => walletAccountId(check.program.ledger, check.memberId));
  const available = new Map<bigint, bigint>();
  for (let start = 0; start < walletIds.length; start += ledgerLimits.batchEventsMax) {
    const accounts = await deps.ledger.lookupAccounts(
      walletIds.slice(start, start + ledgerLimits.batchEventsMax),
    );
    for (const account of accounts) {
      available.set(
        account.id,
        account.credits_posted - account.debits_posted - account.debits_pending,
      );
    }
  }
  return checks.filter((check, index) => {
    const stamps = available.get(walletIds[index] ?? 0n);
    return stamps === undefined || stamps >= check.program.stampsRequired;
  });
}

/** Returns how many completions this call posted. */
async function completeCard(
  deps: LedgerDeps,
  db: DbExecutor,
  check: FullCardCheck,
): Promise<number> {
  const { program } = check;
  assert.equal(program.orgId, check.orgId, "a program belongs to the card's org");
  const where = and(
    eq(stampCards.orgId, check.orgId),
    eq(stampCards.programId, program.id),
    eq(stampCards.memberId, check.memberId),
  );
  let created = 0;
  // Bounded: a purchase earns a bounded number of stamps, so it fills a bounded number of cards;
  // anything left over is completed by the member's next purchase.
  for (let round = 0; round < completionsPerPurchaseMax; round += 1) {
    const [card] = await db
      .select({ completions: stampCards.completions })
      .from(stampCards)
      .where(where)
      .limit(1);
    assert.ok(card !== undefined, "a card is recorded before stamps are posted to it");
    const balance = await walletBalance(deps.ledger, {
      ledger: program.ledger,
      memberId: check.memberId,
    });
    assert.ok(balance !== null, "a recorded card has a stamp wallet");
    if (balance.available < program.stampsRequired) {
      break;
    }
    const completionNumber = card.completions + 1;
    let outcome: Awaited<ReturnType<typeof completeStampCard>>;
    try {
      outcome = await completeStampCard(deps.ledger, {
        orgId: check.orgId,
        memberId: check.memberId,
        programId: program.id,
        completionNumber,
        stampsLedger: program.ledger,
        stampsRequired: program.stampsRequired,
        pointsLedger: check.pointsLedger,
        rewardPoints: program.rewardPoints,
      });
    } catch (error) {
      if (error instanceof LedgerRefusedError) {
        assert.fail(`stamp card completion ${completionNumber} refused: ${error.refusal}`);
      }
      throw error;
    }
    if (outcome.kind === "created") {
      created += 1;
    }
    // Raised only from the number we used: a concurrent completer may have raised it already.
    // Whoever raises it writes the completion's event, in the same transaction: exactly once.
    await db.transaction(async (tx) => {
      const [raised] = await tx
        .update(stampCards)
        .set({ completions: completionNumber })
        .where(and(where, eq(stampCards.completions, card.completions)))
        .returning({ completions: stampCards.completions });
      if (raised !== undefined) {
        await writeOutbox(tx, [
          {
            orgId: check.orgId,
            topic: "stamp_card.completed",
            payload: {
              member_id: check.memberId,
              program_id: program.id,
              completion: completionNumber,
              stamps_required: program.stampsRequired.toString(),
              reward_points: program.rewardPoints.toString(),
            },
          },
        ]);
      }
    });
  }
  return created;
}
