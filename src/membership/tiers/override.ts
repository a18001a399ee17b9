/**
 * Manual tier overrides: an admin holds a member in a tier, whatever their qualifying value,
 * until the override is cleared or its expiry passes. Evaluation leaves an overridden member
 * alone (progression.ts); ending the override returns the member at once to the tier their
 * ledger history earns, up or down, without the grace period a downgrade gets: the override's
 * tier was never earned, so there is nothing to be graceful about.
 *
 * Immutable tiers keep the rule evaluation follows: a member placed in an immutable tier is not
 * moved by anything automatic. An override would move them, and ending it could only return them
 * to an earned tier, losing the placement, so an override is refused for a member held in an
 * immutable tier by anything but an override (`invalid_state`). An override onto an immutable
 * tier is allowed: the override, not the tier's flag, holds the member there, and ending it
 * returns them to their earned tier like any other.
 *
 * Every set and every end writes a `member_tiers` row (the override's reason and expiry with it),
 * a `tier.changed` event when the tier changes, and an audit entry, in one transaction.
 */
import assert from "node:assert/strict";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { loadOrgLedger, nowOf } from "../intents/support.ts";
import { tierOverrideDaysMax, tierOverrideReasonLengthMax } from "../limits.ts";
import type { DbExecutor } from "../store/db.ts";
import { members } from "../store/schema.ts";
import type { Tier } from "../types.ts";
import {
  changeTier,
  type DueCursor,
  type DueMember,
  dueMembers,
  earnedSource,
  lockEarningSet,
  type MemberTierState,
  qualifiedTier,
  readTierContext,
  readTierState,
  sameState,
  type TierOverride,
  tierById,
  tiersOf,
} from "./progression.ts";
import { type Qualifying, qualifyingValue } from "./qualifying.ts";

/** Clears retried when the member's row changed between the ledger read and the write. */
const clearAttemptsMax = 3;

/** The member's tier as the audit log records it before and after an override changes it. */
function auditState(
  tier: Tier,
  source: MemberTierState["source"],
  override: TierOverride | null,
): Record<string, unknown> {
  return {
    tier: { id: tier.id, name: tier.name },
    source,
    override:
      override === null
        ? null
        : {
            reason: override.reason,
            set_at: override.setAt.toISOString(),
            expires_at: override.expiresAt?.toISOString() ?? null,
          },
  };
}

export interface SetTierOverrideInput {
  orgId: string;
  memberId: string;
  tierId: string;
  /** Why, 1 to 200 characters: kept on the member, in the history and the audit log. */
  reason: string;
  /** When the override ends by itself; in the future, at most ten years ahead. Null: never. */
  expiresAt: Date | null;
  actor: AuditActor;
}

/**
 * Holds the member in `tierId` at once (a `tier.changed` event with reason "override" when the
 * tier changes), replacing any override in place. Unknown or another org's member or tier:
 * `not_found`; a closed member: `member_inactive`; a member placed in an immutable tier:
 * `invalid_state`; a reason or expiry out of range: `invalid_input`.
 */
export async function setTierOverride(
  deps: LedgerDeps,
  input: SetTierOverrideInput,
): Promise<{ from: Tier; to: Tier; override: TierOverride }> {
  const now = nowOf(deps);
  if (input.reason.length < 1 || input.reason.length > tierOverrideReasonLengthMax) {
    throw new DomainError("invalid_input", "an override's reason is 1 to 200 characters", {
      field: "reason",
    });
  }
  if (input.expiresAt !== null) {
    if (input.expiresAt.getTime() <= now.getTime()) {
      throw new DomainError("invalid_input", "an override's expiry must be in the future", {
        field: "expiresAt",
      });
    }
    if (input.expiresAt.getTime() > now.getTime() + tierOverrideDaysMax * 86_400_000) {
      throw new DomainError("invalid_input", "an override's expiry is at most ten years ahead", {
        field: "expiresAt",
      });
    }
  }
  const override: TierOverride = { reason: input.reason, setAt: now, expiresAt: input.expiresAt };
  return deps.db.transaction(async (tx) => {
    // The earning set's row, key-share locked before the member's: a switch of the earning set
    // (which holds every set row, then every member row) cannot commit between the ladder read
    // here and the member's write, so the tier and the member's row are of one earning set.
    await lockEarningSet(tx, input.orgId);
    const ladder = await tiersOf(tx, input.orgId);
    const target = ladder.find((tier) => tier.id === input.tierId);
    if (target === undefined) {
      throw new DomainError("not_found", "tier not found", { tierId: input.tierId });
    }
    const state = await readTierState(tx, input, true);
    if (state === null) {
      throw new DomainError("not_found", "member not found", { memberId: input.memberId });
    }
    if (state.status === "closed") {
      throw new DomainError("member_inactive", "the member is closed", {
        memberId: input.memberId,
      });
    }
    const current = tierById(ladder, state.tierId);
    if (current.immutable && state.source !== "override") {
      throw new DomainError("invalid_state", "the member is placed in an immutable tier", {
        memberId: input.memberId,
        tierId: current.id,
      });
    }
    await changeTier(tx, {
      state,
      from: current,
      to: target,
      now,
      reason: "override",
      qualifying: null,
      override,
    });
    await writeAudit(tx, {
      orgId: state.orgId,
      actor: input.actor,
      action: "member.tier_overridden",
      targetType: "member",
      targetId: state.memberId,
      before: auditState(current, state.source, state.override),
      after: auditState(target, "override", override),
    });
    return { from: current, to: target, override };
  });
}

export type ClearTierOverrideResult =
  /** No override was in place (or, for an expiry, it has not expired): nothing written. */
  { action: "none" } | { action: "cleared"; from: Tier; to: Tier; qualifying: Qualifying };

/**
 * Ends the member's override: they return at once to the tier their ledger history earns (up or
 * down, no grace), with `tier.changed` (reason "override_cleared", or "override_expired" for
 * `cause: "expired"`) when the tier changes. Idempotent: without an override, and for an expiry
 * while the override has not expired (or was replaced by one that has not), nothing happens.
 * Unknown or another org's member: `not_found`.
 */
export async function clearTierOverride(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string; actor: AuditActor; cause: "cleared" | "expired" },
): Promise<ClearTierOverrideResult> {
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  for (let attempt = 1; ; attempt++) {
    const context = await readTierContext(deps.db, { orgId: org.id, memberId: input.memberId });
    if (context === null) {
      throw new DomainError("not_found", "member not found", { memberId: input.memberId });
    }
    const { state, ladder } = context;
    const now = nowOf(deps);
    if (!ends(state, input.cause, now)) {
      return { action: "none" };
    }
    const qualifying = await qualifyingValue(deps.ledger, {
      pointsLedger,
      memberId: state.memberId,
      metric: org.settings.tierMetric,
      windowMonths: org.settings.tierWindowMonths,
      now,
    });
    const done = await deps.db.transaction(async (tx) => {
      const locked = await readTierState(tx, state, true);
      if (locked === null || !sameState(locked, state)) {
        return null;
      }
      return endOverride(tx, { state, ladder, qualifying, now, ...input });
    });
    if (done !== null) {
      return done;
    }
    // The row changed under us (a new override, another clear, the sweep): read it again.
    assert.ok(attempt < clearAttemptsMax, "clearing an override settles within its attempts");
  }
}

/** True when the override in `state` is to end now for `cause`. */
function ends(state: MemberTierState, cause: "cleared" | "expired", now: Date): boolean {
  if (state.override === null) {
    return false;
  }
  if (cause === "cleared") {
    return true;
  }
  return state.override.expiresAt !== null && state.override.expiresAt.getTime() <= now.getTime();
}

async function endOverride(
  tx: DbExecutor,
  args: {
    state: MemberTierState;
    ladder: readonly Tier[];
    qualifying: Qualifying;
    now: Date;
    actor: AuditActor;
    cause: "cleared" | "expired";
  },
): Promise<ClearTierOverrideResult> {
  const { state, ladder, qualifying, now } = args;
  assert.equal(state.source, "override", "only an override ends");
  const current = tierById(ladder, state.tierId);
  const earned = qualifiedTier(ladder, qualifying.value);
  // An expired override ended at its expiry, whenever the worker gets to it: the earned tier
  // (and its review date) takes effect then, as GET /v1/members/{id}/tier already showed.
  const expiresAt = state.override?.expiresAt ?? null;
  const effectiveAt = args.cause === "expired" && expiresAt !== null ? expiresAt : now;
  assert.ok(effectiveAt.getTime() <= now.getTime(), "an override ends no later than now");
  await changeTier(tx, {
    state,
    from: current,
    to: earned,
    now: effectiveAt,
    reason: args.cause === "cleared" ? "override_cleared" : "override_expired",
    qualifying,
  });
  await writeAudit(tx, {
    orgId: state.orgId,
    actor: args.actor,
    action: "member.tier_override_cleared",
    targetType: "member",
    targetId: state.memberId,
    before: auditState(current, state.source, state.override),
    after: auditState(earned, earnedSource(earned), null),
  });
  return { action: "cleared", from: current, to: earned, qualifying };
}

export type DueOverrideExpiry = DueMember;

/** Overrides whose expiry has passed: a page of the index on `tier_override_expires_at`. */
export function dueOverrideExpiries(
  deps: Pick<LedgerDeps, "db" | "clock">,
  input: { after: DueCursor; limit: number },
): Promise<DueOverrideExpiry[]> {
  return dueMembers(deps, members.tierOverrideExpiresAt, input);
}
