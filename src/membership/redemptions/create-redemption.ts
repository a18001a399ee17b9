import assert from "node:assert/strict";
import { and, eq } from "drizzle-orm";
import { holdSecondsMax, holdTransferId, uuidV7 } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { failedIntentError, recordIntent } from "../intents/protocol.ts";
import {
  idText,
  interrupt,
  invalidInput,
  loadOrgLedger,
  nowOf,
  requestHash,
} from "../intents/support.ts";
import type { Redemption } from "../ledger-types.ts";
import { documentPointsMax, externalIdLengthMax } from "../limits.ts";
import { ensureEnrolled } from "../members/ledger-enrollment.ts";
import { members, redemptions } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { driveHold, type RedemptionRow, toRedemption } from "./redemption-ledger.ts";

export interface CreateRedemptionInput {
  orgId: string;
  memberId: string;
  points: bigint;
  /** The caller's idempotency key; without one every call is a new redemption. */
  externalId?: string;
  /** How long the hold lives; the org's `holdSecondsDefault` when absent; at most 7 days. */
  holdSeconds?: number;
}

/**
 * Holds `points` of a member's wallet for a redemption: a pending transfer that the ledger
 * refuses when the points are not available (the wallet's flag forbids overdrawing, so
 * concurrent redemptions can never spend the same points) and expires on its own unless
 * fulfilled or cancelled. The intent row is written first, then the hold is posted, then the row
 * is confirmed with a `redemption.created` event.
 *
 * With `externalId`, a retry returns the same redemption as it stands now; a different request
 * under the same id is a `conflict`. A refusal (`insufficient_points`, `member_inactive`) is
 * final for its external id: every retry answers the same refusal. Errors: `not_found`, `member_inactive`,
 * `insufficient_points`, `invalid_input`, `conflict`.
 */
export async function createRedemption(
  deps: LedgerDeps,
  input: CreateRedemptionInput,
): Promise<Redemption> {
  if (typeof input.points !== "bigint" || input.points < 1n || input.points > documentPointsMax) {
    throw invalidInput("points out of range", { field: "points" });
  }
  const externalId = input.externalId ?? null;
  if (externalId !== null && (externalId.length === 0 || externalId.length > externalIdLengthMax)) {
    throw invalidInput("external id length out of range", { field: "externalId" });
  }
  const requested = input.holdSeconds ?? null;
  if (
    requested !== null &&
    (!Number.isSafeInteger(requested) || requested < 1 || requested > holdSecondsMax)
  ) {
    throw invalidInput("hold seconds out of range", { field: "holdSeconds", max: holdSecondsMax });
  }
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId)) {
    throw notFound;
  }
  const { org } = await loadOrgLedger(deps, input.orgId);
  const hash = requestHash({
    kind: "redemption.v1",
    member_id: input.memberId,
    points: input.points,
    hold_seconds: requested,
    external_id: externalId,
  });
  const { row, replayed } = await recordIntent({
    noun: "redemption",
    externalId,
    hash,
    find: () => findByExternalId(deps, org.id, externalId ?? ""),
    insert: async () => {
      const [member] = await deps.db
        .select({ status: members.status })
        .from(members)
        .where(and(eq(members.orgId, org.id), eq(members.id, input.memberId)))
        .limit(1);
      if (member === undefined) {
        throw notFound;
      }
      const active = member.status === "active";
      if (!active && externalId === null) {
        throw memberInactive(input.memberId, member.status);
      }
      if (active) {
        await ensureEnrolled(deps, deps.db, [{ orgId: org.id, memberId: input.memberId }]);
      }
      // An org default above the ledger's ceiling is clamped rather than refused: settings allow
      // any u32, the ledger allows 7 days.
      const holdSeconds = requested ?? Math.min(org.settings.holdSecondsDefault, holdSecondsMax);
      assert.ok(
        holdSeconds >= 1 && holdSeconds <= holdSecondsMax,
        "hold within the ledger's bounds",
      );
      const now = nowOf(deps);
      const id = uuidV7(now.getTime());
      const [inserted] = await deps.db
        .insert(redemptions)
        .values({
          id,
          orgId: org.id,
          memberId: input.memberId,
          externalId,
          requestHash: hash,
          points: input.points,
          holdSeconds,
          // An inactive member's redemption is refused like one without the points: recorded
          // as failed under its external id, so every retry answers the same refusal.
          status: active ? "pending" : "failed",
          holdStatus: active ? "pending" : "failed",
          failureReason: active ? null : memberInactiveReason,
          resolvedAt: active ? null : now,
          holdTransferId: idText(holdTransferId({ orgId: org.id, redemptionId: id })),
          // An estimate until the ledger answers with the hold's own timestamp.
          expiresAt: new Date(now.getTime() + holdSeconds * 1000),
        })
        .onConflictDoNothing({ target: [redemptions.orgId, redemptions.externalId] })
        .returning();
      return inserted ?? null;
    },
  });
  if (!replayed && row.holdStatus === "pending") {
    await interrupt(deps, "after_intent", { table: "redemptions", id: row.id });
  }
  return settled(row.holdStatus === "pending" ? await driveHold(deps, row) : row);
}

async function findByExternalId(
  deps: LedgerDeps,
  orgId: string,
  externalId: string,
): Promise<RedemptionRow | null> {
  const [row] = await deps.db
    .select()
    .from(redemptions)
    .where(and(eq(redemptions.orgId, orgId), eq(redemptions.externalId, externalId)))
    .limit(1);
  return row ?? null;
}

const memberInactiveReason = "member_inactive";

function memberInactive(memberId: string, status: string): DomainError {
  return new DomainError("member_inactive", "member is not active", { memberId, status });
}

/**
 * A refused redemption is final for its external id: `insufficient_points` and
 * `member_inactive` alike answer the same refusal on every retry (send a new external id once
 * the points are there or the member is active again). Any other refusal of the ledger is a
 * `conflict` naming its reason.
 */
function settled(row: RedemptionRow): Redemption {
  if (row.status === "failed") {
    switch (row.failureReason) {
      case memberInactiveReason:
        throw memberInactive(row.memberId, "inactive");
      case "insufficient_points":
        throw new DomainError("insufficient_points", "not enough points for this redemption", {
          redemptionId: row.id,
          points: row.points.toString(),
        });
      default:
        throw failedIntentError("redemption", row);
    }
  }
  return toRedemption(row);
}
