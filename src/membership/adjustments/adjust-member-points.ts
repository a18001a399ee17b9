import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import {
  adjustmentTransferId,
  adjustPoints,
  LedgerRefusedError,
  uuidV7,
  walletBalance,
} from "../../ledger/index.ts";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import {
  countFailed,
  failedIntentError,
  markAfterPosting,
  recordIntent,
  refusedForGood,
} from "../intents/protocol.ts";
import {
  idText,
  interrupt,
  invalidInput,
  loadOrgLedger,
  nowOf,
  pointsLedgersOf,
  requestHash,
} from "../intents/support.ts";
import type { AdjustmentResult } from "../ledger-types.ts";
import { adjustmentReasonLengthMax, documentPointsMax, externalIdLengthMax } from "../limits.ts";
import { ensureEnrolled } from "../members/ledger-enrollment.ts";
import { writeOutbox } from "../store/outbox.ts";
import { adjustments, members } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

export interface AdjustMemberPointsInput {
  orgId: string;
  memberId: string;
  /** Credit adds points to the wallet; debit takes them (refused beyond the balance). */
  direction: "credit" | "debit";
  points: bigint;
  /** Why, kept on the document and in the event, e.g. "goodwill: late delivery". */
  reason: string;
  /** The caller's idempotency key. */
  externalId: string;
  /** Kept on the document; its audit entry is written when it posts. */
  actor: AuditActor;
}

export type AdjustmentRow = typeof adjustments.$inferSelect;

/**
 * A manual correction by the org's staff, against the ledger's adjustments account. Any member
 * status is accepted: corrections are how staff fix a suspended or closed member's account.
 * Idempotent by external id; a different request under the same id is a `conflict`.
 * Errors: `not_found`, `insufficient_points` (debit beyond the available balance; the same on
 * every retry), `invalid_input`, `conflict`.
 */
export async function adjustMemberPoints(
  deps: LedgerDeps,
  input: AdjustMemberPointsInput,
): Promise<AdjustmentResult> {
  if (input.direction !== "credit" && input.direction !== "debit") {
    throw invalidInput("direction is credit or debit", { field: "direction" });
  }
  if (typeof input.points !== "bigint" || input.points < 1n || input.points > documentPointsMax) {
    throw invalidInput("points out of range", { field: "points" });
  }
  if (input.reason.length === 0 || input.reason.length > adjustmentReasonLengthMax) {
    throw invalidInput("reason length out of range", { field: "reason" });
  }
  if (input.externalId.length === 0 || input.externalId.length > externalIdLengthMax) {
    throw invalidInput("external id length out of range", { field: "externalId" });
  }
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId)) {
    throw notFound;
  }
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  const hash = requestHash({
    kind: "adjustment.v1",
    external_id: input.externalId,
    member_id: input.memberId,
    direction: input.direction,
    points: input.points,
    reason: input.reason,
  });

  const recorded = await recordIntent({
    noun: "adjustment",
    externalId: input.externalId,
    hash,
    find: () => findByExternalId(deps, org.id, input.externalId),
    insert: async () => {
      const [member] = await deps.db
        .select({ id: members.id })
        .from(members)
        .where(and(eq(members.orgId, org.id), eq(members.id, input.memberId)))
        .limit(1);
      if (member === undefined) {
        throw notFound;
      }
      await ensureEnrolled(deps, deps.db, [{ orgId: org.id, memberId: member.id }]);
      const [inserted] = await deps.db
        .insert(adjustments)
        .values({
          id: uuidV7(nowOf(deps).getTime()),
          orgId: org.id,
          memberId: member.id,
          externalId: input.externalId,
          requestHash: hash,
          direction: input.direction,
          points: input.points,
          reason: input.reason,
          status: "pending",
          transferId: idText(
            adjustmentTransferId({
              orgId: org.id,
              externalId: input.externalId,
              direction: input.direction,
            }),
          ),
          actorKeyId: input.actor.keyId,
          requestId: input.actor.requestId,
        })
        .onConflictDoNothing({ target: [adjustments.orgId, adjustments.externalId] })
        .returning();
      return inserted ?? null;
    },
  });
  const { replayed } = recorded;
  let { row } = recorded;
  if (!replayed) {
    await interrupt(deps, "after_intent", { table: "adjustments", id: row.id });
  }
  if (row.status === "pending") {
    row = await postAdjustment(deps, row);
  }
  if (row.status === "failed") {
    if (row.failureReason === insufficientPoints) {
      throw new DomainError("insufficient_points", "not enough points for this debit", {
        adjustmentId: row.id,
        points: row.points.toString(),
      });
    }
    throw failedIntentError("adjustment", row);
  }
  const balance = await walletBalance(deps.ledger, {
    ledger: pointsLedger,
    memberId: row.memberId,
  });
  assert.ok(balance !== null, "an adjusted member has a wallet");
  return {
    adjustmentId: row.id,
    direction: row.direction,
    points: row.points,
    replayed,
    balance,
  };
}

async function findByExternalId(
  deps: LedgerDeps,
  orgId: string,
  externalId: string,
): Promise<AdjustmentRow | null> {
  const [row] = await deps.db
    .select()
    .from(adjustments)
    .where(and(eq(adjustments.orgId, orgId), eq(adjustments.externalId, externalId)))
    .limit(1);
  return row ?? null;
}

/** A debit refused for want of points: a business outcome, the same on every retry. */
const insufficientPoints = "insufficient_points";

/**
 * Posts a pending adjustment (idempotent) and marks it posted with a `points.adjusted` event, or
 * failed when the ledger refused it for good: a debit beyond the balance (the ledger burnt the
 * id: a retry is refused alike), or any other final refusal (counted). Returns the row as it
 * now stands (as posted, when the mark could not be written yet).
 */
export async function postAdjustment(deps: LedgerDeps, row: AdjustmentRow): Promise<AdjustmentRow> {
  assert.equal(row.status, "pending", "only a pending adjustment is posted");
  const ledger = (await pointsLedgersOf(deps, [row.orgId])).get(row.orgId);
  assert.ok(ledger !== undefined, "every org has a points ledger");
  const ref = { table: "adjustments", id: row.id } as const;
  try {
    await adjustPoints(deps.ledger, {
      orgId: row.orgId,
      ledger,
      memberId: row.memberId,
      direction: row.direction,
      points: row.points,
      documentId: row.id,
      transferId: BigInt(row.transferId),
    });
  } catch (error) {
    const insufficient =
      error instanceof LedgerRefusedError && error.refusal === "insufficient_points";
    const refused = refusedForGood(error);
    if (!insufficient && refused === null) {
      throw error;
    }
    const reason = refused === null ? insufficientPoints : refused.reason;
    await deps.db
      .update(adjustments)
      .set({ status: "failed", failureReason: reason })
      .where(and(eq(adjustments.id, row.id), eq(adjustments.status, "pending")));
    if (refused !== null) {
      countFailed(deps, ref, reason);
    }
    return reload(deps, row.id);
  }
  const posted: AdjustmentRow = { ...row, status: "posted" };
  return markAfterPosting(deps, ref, posted, async () => {
    await deps.db.transaction(async (tx) => {
      const [updated] = await tx
        .update(adjustments)
        .set({ status: "posted", postedAt: sql`now()` })
        .where(and(eq(adjustments.id, row.id), eq(adjustments.status, "pending")))
        .returning({ id: adjustments.id });
      if (updated !== undefined) {
        await writeAudit(tx, {
          orgId: row.orgId,
          actor: { keyId: row.actorKeyId, requestId: row.requestId },
          action: "member.points_adjusted",
          targetType: "member",
          targetId: row.memberId,
          before: null,
          after: {
            adjustment_id: row.id,
            external_id: row.externalId,
            direction: row.direction,
            points: row.points.toString(),
            reason: row.reason,
          },
        });
        await writeOutbox(tx, [
          {
            orgId: row.orgId,
            topic: "points.adjusted",
            payload: {
              adjustment_id: row.id,
              member_id: row.memberId,
              external_id: row.externalId,
              direction: row.direction,
              points: row.points.toString(),
              reason: row.reason,
            },
          },
        ]);
      }
    });
    return reload(deps, row.id);
  });
}

async function reload(deps: LedgerDeps, id: string): Promise<AdjustmentRow> {
  const [current] = await deps.db.select().from(adjustments).where(eq(adjustments.id, id));
  assert.ok(current !== undefined && current.status !== "pending", "the adjustment is settled");
  return current;
}
