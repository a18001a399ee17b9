/**
 * The ledger steps of a redemption, shared by its use cases and by recovery. A redemption row
 * carries two intents: the hold (`hold_status`), and the resolution (`resolution`: fulfil or
 * cancel, written before the post or void is sent). Each step re-sends the same transfer id, so
 * driving a step twice, or from two places at once, posts it once.
 */
import assert from "node:assert/strict";
import { and, eq, isNull, sql } from "drizzle-orm";
import {
  holdRedemption,
  LedgerRefusedError,
  type RedemptionInventory,
  resolveRedemption,
} from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { countFailed, markAfterPosting, refusedForGood } from "../intents/protocol.ts";
import { dateOfLedgerTimestamp, interrupt, nowOf, pointsLedgersOf } from "../intents/support.ts";
import type { Redemption } from "../ledger-types.ts";
import { writeOutbox } from "../store/outbox.ts";
import { redemptions } from "../store/schema.ts";

export type RedemptionRow = typeof redemptions.$inferSelect;

export function toRedemption(row: RedemptionRow): Redemption {
  assert.ok(row.points > 0n, "a redemption holds a positive amount");
  // The negative space: only a failed hold leaves a redemption failed, and only a pending one
  // may still have its hold unconfirmed.
  assert.equal(row.status === "failed", row.holdStatus === "failed", "failed hold ⇔ failed");
  assert.ok(
    row.holdStatus !== "pending" || row.status === "pending",
    "unconfirmed hold is pending",
  );
  return {
    id: row.id,
    orgId: row.orgId,
    memberId: row.memberId,
    externalId: row.externalId,
    status: row.status,
    points: row.points,
    rewardId: row.rewardId,
    quantity: row.quantity,
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
    resolvedAt: row.resolvedAt,
  };
}

async function reload(deps: LedgerDeps, id: string): Promise<RedemptionRow> {
  const [row] = await deps.db.select().from(redemptions).where(eq(redemptions.id, id)).limit(1);
  assert.ok(row !== undefined, "a redemption is never deleted");
  return row;
}

async function pointsLedgerOf(deps: LedgerDeps, orgId: string): Promise<number> {
  const ledger = (await pointsLedgersOf(deps, [orgId])).get(orgId);
  assert.ok(ledger !== undefined, "every org has a points ledger");
  return ledger;
}

/** The units a reward redemption's hold takes with its points, as its row recorded them. */
function inventoryOf(row: RedemptionRow): { inventory?: RedemptionInventory } {
  if (row.inventoryLedger === null) {
    return {};
  }
  assert.ok(row.rewardId !== null && row.quantity !== null, "units are held for a reward");
  return {
    inventory: { ledger: row.inventoryLedger, rewardId: row.rewardId, units: BigInt(row.quantity) },
  };
}

/**
 * Places (or confirms) the hold of a redemption whose hold is unconfirmed, and records the
 * answer: posted with the ledger's expiry and a `redemption.created` event, or failed when the
 * points were not there. Returns the row as it now stands.
 */
export async function driveHold(deps: LedgerDeps, row: RedemptionRow): Promise<RedemptionRow> {
  assert.equal(row.holdStatus, "pending", "only an unconfirmed hold is driven");
  const ledger = await pointsLedgerOf(deps, row.orgId);
  let timestamp: bigint;
  try {
    ({ timestamp } = await holdRedemption(deps.ledger, {
      orgId: row.orgId,
      ledger,
      memberId: row.memberId,
      redemptionId: row.id,
      points: row.points,
      holdSeconds: row.holdSeconds,
      ...inventoryOf(row),
    }));
  } catch (error) {
    const short =
      error instanceof LedgerRefusedError &&
      (error.refusal === "insufficient_points" || error.refusal === "out_of_stock")
        ? error.refusal
        : null;
    const refused = refusedForGood(error);
    if (short === null && refused === null) {
      throw error;
    }
    const reason = short ?? refused?.reason;
    assert.ok(reason !== undefined, "a refused hold has a reason");
    await deps.db
      .update(redemptions)
      .set({
        status: "failed",
        holdStatus: "failed",
        failureReason: reason,
        resolvedAt: sql`now()`,
      })
      .where(and(eq(redemptions.id, row.id), eq(redemptions.holdStatus, "pending")));
    if (refused !== null) {
      countFailed(deps, { table: "redemptions", id: row.id }, reason);
    }
    return reload(deps, row.id);
  }
  // The ledger's clock decides expiry; Postgres keeps what the ledger will do.
  const expiresAt = new Date(dateOfLedgerTimestamp(timestamp).getTime() + row.holdSeconds * 1000);
  const held: RedemptionRow = { ...row, holdStatus: "posted", expiresAt };
  const ref = { table: "redemptions", id: row.id } as const;
  return markAfterPosting(deps, ref, held, () => confirmHold(deps, row, expiresAt));
}

/** Step 5 of a hold: confirmed with its `redemption.created` event (first confirmer wins). */
async function confirmHold(
  deps: LedgerDeps,
  row: RedemptionRow,
  expiresAt: Date,
): Promise<RedemptionRow> {
  const confirmed = await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(redemptions)
      .set({ holdStatus: "posted", expiresAt })
      .where(and(eq(redemptions.id, row.id), eq(redemptions.holdStatus, "pending")))
      .returning();
    if (updated !== undefined) {
      await writeOutbox(tx, [
        {
          orgId: row.orgId,
          topic: "redemption.created",
          payload: {
            redemption_id: row.id,
            member_id: row.memberId,
            external_id: row.externalId,
            points: row.points.toString(),
            expires_at: expiresAt.toISOString(),
          },
        },
      ]);
    }
    return updated;
  });
  // The row as this transaction left it; when another driver confirmed it first, as it stands.
  return confirmed ?? reload(deps, row.id);
}

/**
 * Records the wish to fulfil or cancel a pending redemption, first writer wins: returns the row
 * with the resolution that now stands (which may be the other one, asked for earlier).
 */
export async function requestResolution(
  deps: LedgerDeps,
  row: RedemptionRow,
  resolution: "fulfil" | "cancel",
): Promise<RedemptionRow> {
  await deps.db
    .update(redemptions)
    .set({ resolution, resolutionRequestedAt: sql`now()` })
    .where(
      and(
        eq(redemptions.id, row.id),
        eq(redemptions.status, "pending"),
        isNull(redemptions.resolution),
      ),
    );
  return reload(deps, row.id);
}

/**
 * Sends the recorded resolution (post or void of the hold) and records the ledger's answer: the
 * redemption becomes fulfilled, cancelled, or expired when the hold lapsed first.
 */
export async function driveResolution(
  deps: LedgerDeps,
  row: RedemptionRow,
): Promise<RedemptionRow> {
  assert.equal(row.status, "pending", "only a pending redemption is resolved");
  assert.equal(row.holdStatus, "posted", "a hold is confirmed before it is resolved");
  assert.ok(row.resolution !== null, "the resolution is recorded before it is sent");
  const ledger = await pointsLedgerOf(deps, row.orgId);
  let status: "fulfilled" | "cancelled" | "expired";
  try {
    await resolveRedemption(deps.ledger, {
      orgId: row.orgId,
      ledger,
      redemptionId: row.id,
      resolution: row.resolution,
      inventoryLedger: row.inventoryLedger,
    });
    status = row.resolution === "fulfil" ? "fulfilled" : "cancelled";
  } catch (error) {
    if (!(error instanceof LedgerRefusedError)) {
      throw error;
    }
    switch (error.refusal) {
      case "hold_expired":
        status = "expired";
        break;
      case "hold_already_fulfilled":
        status = "fulfilled";
        break;
      case "hold_already_cancelled":
        status = "cancelled";
        break;
      default:
        // A confirmed hold exists on the ledger; anything else is a broken invariant.
        assert.fail(`resolving redemption ${row.id}: ${error.refusal}`);
    }
  }
  const resolved: RedemptionRow = { ...row, status, resolvedAt: nowOf(deps) };
  const ref = { table: "redemptions", id: row.id } as const;
  return markAfterPosting(deps, ref, resolved, () => markResolved(deps, row, status));
}

/**
 * Step 5 of a resolution: the terminal status with its event (first marker wins). A hold the
 * ledger let lapse is noticed here, when a resolution finds it expired: `redemption.expired`.
 */
async function markResolved(
  deps: LedgerDeps,
  row: RedemptionRow,
  status: "fulfilled" | "cancelled" | "expired",
): Promise<RedemptionRow> {
  await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(redemptions)
      .set({ status, resolvedAt: sql`now()` })
      .where(and(eq(redemptions.id, row.id), eq(redemptions.status, "pending")))
      .returning({ id: redemptions.id });
    if (updated !== undefined) {
      await writeOutbox(tx, [
        {
          orgId: row.orgId,
          topic: `redemption.${status}`,
          payload: {
            redemption_id: row.id,
            member_id: row.memberId,
            external_id: row.externalId,
            points: row.points.toString(),
          },
        },
      ]);
    }
  });
  return reload(deps, row.id);
}

/**
 * Takes a redemption to the terminal state `resolution` asks for, or says why it cannot:
 * already there is success (idempotent), any other terminal state is `invalid_state`.
 */
export async function resolveRedemptionRow(
  deps: LedgerDeps,
  initial: RedemptionRow,
  resolution: "fulfil" | "cancel",
): Promise<Redemption> {
  const wanted = resolution === "fulfil" ? "fulfilled" : "cancelled";
  let row = initial;
  if (row.status === "pending" && row.holdStatus === "pending") {
    row = await driveHold(deps, row);
  }
  if (row.status === "pending") {
    row = await requestResolution(deps, row, resolution);
    if (row.status === "pending") {
      assert.ok(row.resolution !== null, "a resolution stands after the request");
      await interrupt(deps, "after_intent", { table: "redemptions", id: row.id });
      row = await driveResolution(deps, row);
    }
  }
  assert.notEqual(row.status, "pending", "a resolved redemption is no longer pending");
  if (row.status !== wanted) {
    throw new DomainError("invalid_state", `redemption is ${row.status}`, {
      redemptionId: row.id,
      status: row.status,
    });
  }
  return toRedemption(row);
}
