/**
 * Redeeming a promo code for a member: once per (code, member), within the code's window, uses
 * and minimum tier, credited through the ledger's promotions account by the intent protocol of
 * docs/consistency.md (the redemption row first, then the posting, then the posted mark with its
 * outbox event).
 *
 * Concurrency: the code's row is locked (`SELECT … FOR UPDATE`) in the transaction that checks
 * it, raises `uses` and inserts the redemption row, so concurrent redemptions of one code run one
 * after the other and the last use goes to exactly one of them. A ledger limit account would keep
 * the count in TigerBeetle too, but the decision also needs the window, `active` and the member's
 * earlier redemption, all in Postgres; one lock there decides everything at once. The
 * `codes_uses_within_max_check` constraint and the unique (code, member) index back it up.
 */
import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import {
  codeRedemptionTransferId,
  creditCodeRedemption,
  uuidV7,
  type WalletBalance,
  walletBalance,
} from "../../ledger/index.ts";
import type { AuditActor } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import {
  countFailed,
  failedIntentError,
  markAfterPosting,
  refusedForGood,
} from "../intents/protocol.ts";
import { idText, interrupt, loadOrgLedger, nowOf, pointsLedgersOf } from "../intents/support.ts";
import { ensureEnrolled } from "../members/ledger-enrollment.ts";
import { writeOutbox } from "../store/outbox.ts";
import { codeRedemptions, codes, members, tiers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { codeHash, normalizeCode } from "./code-text.ts";

export interface RedeemCodeInput {
  orgId: string;
  memberId: string;
  /** As typed by the member; compared after normalisation (case-insensitive). */
  code: string;
  actor: AuditActor;
}

export interface CodeRedemptionResult {
  redemptionId: string;
  codeId: string;
  points: bigint;
  balance: WalletBalance;
}

export type CodeRedemptionRow = typeof codeRedemptions.$inferSelect;

/**
 * One answer for every code a member cannot redeem now, so that guessing learns nothing about
 * which codes exist: unknown, expired, not yet valid, inactive or used up.
 */
function codeNotFound(): DomainError {
  return new DomainError("code_not_found", "no redeemable code matches");
}

/**
 * Credits the code's points to the member, once. Errors: `not_found` (member, also another
 * org's), `member_inactive`, `code_not_found`, `tier_too_low`, `code_already_used` (the member
 * redeemed it before; a redemption left pending by a crash is finished first, so the first
 * redemption's points are always credited, and never twice: its transfer id derives from the
 * code and the member).
 */
export async function redeemCode(
  deps: LedgerDeps,
  input: RedeemCodeInput,
): Promise<CodeRedemptionResult> {
  const memberNotFound = new DomainError("not_found", "member not found", {
    memberId: input.memberId,
  });
  if (!isUuid(input.memberId)) {
    throw memberNotFound;
  }
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  const [member] = await deps.db
    .select({ id: members.id, status: members.status, tierRank: tiers.rank })
    .from(members)
    .innerJoin(tiers, and(eq(tiers.orgId, members.orgId), eq(tiers.id, members.tierId)))
    .where(and(eq(members.orgId, org.id), eq(members.id, input.memberId)))
    .limit(1);
  if (member === undefined) {
    throw memberNotFound;
  }
  if (member.status !== "active") {
    throw new DomainError("member_inactive", "the member is not active", {
      memberId: member.id,
      status: member.status,
    });
  }
  const normalized = normalizeCode(input.code);
  if (normalized === null) {
    throw codeNotFound();
  }
  const hash = codeHash(deps.secrets, org.id, normalized);
  await ensureEnrolled(deps, deps.db, [{ orgId: org.id, memberId: member.id }]);
  const now = nowOf(deps);

  const recorded = await deps.db.transaction(async (tx) => {
    const [code] = await tx
      .select()
      .from(codes)
      .where(and(eq(codes.orgId, org.id), eq(codes.codeHash, hash)))
      .limit(1)
      .for("update");
    if (code === undefined) {
      throw codeNotFound();
    }
    // Under the code's lock: a concurrent redemption by this member has committed or not begun.
    const [previous] = await tx
      .select()
      .from(codeRedemptions)
      .where(
        and(
          eq(codeRedemptions.orgId, org.id),
          eq(codeRedemptions.codeId, code.id),
          eq(codeRedemptions.memberId, member.id),
        ),
      )
      .limit(1);
    if (previous !== undefined) {
      return { row: previous, replayed: true };
    }
    const usedUp = code.maxUsesTotal !== null && code.uses >= code.maxUsesTotal;
    const early = code.validFrom !== null && now.getTime() < code.validFrom.getTime();
    const late = code.validUntil !== null && now.getTime() >= code.validUntil.getTime();
    if (!code.active || usedUp || early || late) {
      throw codeNotFound();
    }
    if (code.minTierId !== null) {
      const [minTier] = await tx
        .select({ rank: tiers.rank })
        .from(tiers)
        .where(and(eq(tiers.orgId, org.id), eq(tiers.id, code.minTierId)))
        .limit(1);
      assert.ok(minTier !== undefined, "a code's minimum tier exists (foreign key)");
      if (member.tierRank < minTier.rank) {
        throw new DomainError("tier_too_low", "the member's tier is below the code's minimum", {
          minTierId: code.minTierId,
        });
      }
    }
    const [counted] = await tx
      .update(codes)
      .set({ uses: sql`${codes.uses} + 1` })
      .where(
        and(
          eq(codes.id, code.id),
          sql`(${codes.maxUsesTotal} is null or ${codes.uses} < ${codes.maxUsesTotal})`,
        ),
      )
      .returning({ uses: codes.uses });
    assert.ok(counted !== undefined, "a locked code with a use left counts the use");
    assert.equal(counted.uses, code.uses + 1n, "the use counter moved by one");
    const id = uuidV7(now.getTime());
    const [inserted] = await tx
      .insert(codeRedemptions)
      .values({
        id,
        orgId: org.id,
        codeId: code.id,
        memberId: member.id,
        points: code.points,
        status: "pending",
        transferId: idText(
          codeRedemptionTransferId({ orgId: org.id, codeId: code.id, memberId: member.id }),
        ),
        actorKeyId: input.actor.keyId,
        requestId: input.actor.requestId,
      })
      .returning();
    assert.ok(inserted !== undefined, "insert into code_redemptions returned no row");
    return { row: inserted, replayed: false };
  });

  let { row } = recorded;
  if (!recorded.replayed) {
    await interrupt(deps, "after_intent", { table: "code_redemptions", id: row.id });
  }
  if (row.status === "pending") {
    row = await postCodeRedemption(deps, row);
  }
  if (recorded.replayed) {
    throw new DomainError("code_already_used", "the member redeemed this code before", {
      redemptionId: row.id,
    });
  }
  if (row.status === "failed") {
    throw failedIntentError("code redemption", { ...row, externalId: null });
  }
  const balance = await walletBalance(deps.ledger, { ledger: pointsLedger, memberId: member.id });
  assert.ok(balance !== null, "a credited member has a wallet");
  return { redemptionId: row.id, codeId: row.codeId, points: row.points, balance };
}

/**
 * Posts a pending code redemption (idempotent) and marks it posted with its `points.promotion`
 * event, or `failed` when the ledger refused it for good (counted). A promotions credit has no
 * business refusal: the control account has no balance limit. Returns the row as it now stands
 * (as posted, when the mark could not be written yet: recovery writes it).
 */
export async function postCodeRedemption(
  deps: LedgerDeps,
  row: CodeRedemptionRow,
): Promise<CodeRedemptionRow> {
  assert.equal(row.status, "pending", "only a pending code redemption is posted");
  const ledger = (await pointsLedgersOf(deps, [row.orgId])).get(row.orgId);
  assert.ok(ledger !== undefined, "every org has a points ledger");
  const ref = { table: "code_redemptions", id: row.id } as const;
  try {
    await creditCodeRedemption(deps.ledger, {
      orgId: row.orgId,
      ledger,
      memberId: row.memberId,
      points: row.points,
      documentId: row.id,
      transferId: BigInt(row.transferId),
    });
  } catch (error) {
    const refused = refusedForGood(error);
    if (refused === null) {
      throw error;
    }
    await deps.db
      .update(codeRedemptions)
      .set({ status: "failed", failureReason: refused.reason })
      .where(and(eq(codeRedemptions.id, row.id), eq(codeRedemptions.status, "pending")));
    countFailed(deps, ref, refused.reason);
    return reload(deps, row.id);
  }
  const posted: CodeRedemptionRow = { ...row, status: "posted" };
  return markAfterPosting(deps, ref, posted, async () => {
    await deps.db.transaction(async (tx) => {
      const [updated] = await tx
        .update(codeRedemptions)
        .set({ status: "posted", postedAt: sql`now()` })
        .where(and(eq(codeRedemptions.id, row.id), eq(codeRedemptions.status, "pending")))
        .returning({ id: codeRedemptions.id });
      if (updated !== undefined) {
        await writeOutbox(tx, [
          {
            orgId: row.orgId,
            topic: "points.promotion",
            payload: {
              member_id: row.memberId,
              code_redemption_id: row.id,
              code_id: row.codeId,
              points: row.points.toString(),
              transfer_id: row.transferId,
              document: { kind: "code", id: row.id, external_id: null },
            },
          },
        ]);
      }
    });
    return reload(deps, row.id);
  });
}

async function reload(deps: LedgerDeps, id: string): Promise<CodeRedemptionRow> {
  const [current] = await deps.db.select().from(codeRedemptions).where(eq(codeRedemptions.id, id));
  assert.ok(current !== undefined && current.status !== "pending", "the redemption is settled");
  return current;
}
