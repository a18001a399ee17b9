/**
 * A member's tier as the API shows it: the tier, where it comes from, any override, the
 * qualifying value now (read from the ledger), what the next tier needs, and any scheduled
 * downgrade; and the same value with every transfer it was computed from, to reproduce it in a
 * dispute.
 *
 * An override whose expiry has passed is shown as already ended (the earned tier from the value
 * read now, no override, `since` the expiry when the tier changes) even before the tiers worker
 * ends it on the member's row, which it does within about a minute (override.ts writes the same).
 * Until then the row still holds the override, so a purchase in that minute earns with its tier.
 */
import assert from "node:assert/strict";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { loadOrgLedger, nowOf } from "../intents/support.ts";
import type { Tier } from "../types.ts";
import {
  earnedSource,
  type MemberTierState,
  qualifiedTier,
  readTierContext,
  type TierOverride,
  type TierSource,
} from "./progression.ts";
import { type Qualifying, qualifyingValue } from "./qualifying.ts";

export interface MemberTierStatus {
  tier: Tier;
  since: Date;
  source: TierSource;
  /** The override holding the member in `tier`; null without one. */
  override: TierOverride | null;
  qualifying: Qualifying;
  /** The next tier up and what it still needs; null at the top, or when progression is off. */
  next: { tier: Tier; threshold: bigint; missing: bigint } | null;
  downgrade: { to: Tier; at: Date } | null;
}

async function load(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
  explain: boolean,
): Promise<{ state: MemberTierState; ladder: Tier[]; qualifying: Qualifying; now: Date }> {
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  const context = await readTierContext(deps.db, { orgId: org.id, memberId: input.memberId });
  if (context === null) {
    throw new DomainError("not_found", "member not found", { memberId: input.memberId });
  }
  const { state, ladder } = context;
  const now = nowOf(deps);
  const qualifying = await qualifyingValue(deps.ledger, {
    pointsLedger,
    memberId: state.memberId,
    metric: org.settings.tierMetric,
    windowMonths: org.settings.tierWindowMonths,
    now,
    explain,
  });
  return { state, ladder, qualifying, now };
}

/** Unknown or another org's member: `not_found`. */
export async function getMemberTier(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<MemberTierStatus> {
  const { state, ladder, qualifying, now } = await load(deps, input, false);
  const expiresAt = state.override?.expiresAt ?? null;
  if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) {
    // Expired, not yet ended on the row: what ending it will write (override.ts).
    const earned = qualifiedTier(ladder, qualifying.value);
    const since = earned.id === state.tierId ? state.since : expiresAt;
    return status(
      ladder,
      { ...state, tierId: earned.id, source: earnedSource(earned), since, override: null },
      qualifying,
    );
  }
  return status(ladder, state, qualifying);
}

function status(
  ladder: readonly Tier[],
  state: MemberTierState,
  qualifying: Qualifying,
): MemberTierStatus {
  const tier = ladder.find((candidate) => candidate.id === state.tierId);
  assert.ok(tier !== undefined, "a member's tier is one of its org's tiers");
  // The next tier evaluation can reach: one that is not climbable only an override gives.
  const above = ladder.find((candidate) => candidate.rank > tier.rank && candidate.climbable);
  const progresses = state.source !== "override" && !tier.immutable;
  const next =
    above === undefined || !progresses
      ? null
      : {
          tier: above,
          threshold: above.qualifyingPointsMin,
          missing:
            above.qualifyingPointsMin > qualifying.value
              ? above.qualifyingPointsMin - qualifying.value
              : 0n,
        };
  let downgrade: MemberTierStatus["downgrade"] = null;
  if (state.downgradeTierId !== null && state.downgradeAt !== null) {
    const to = ladder.find((candidate) => candidate.id === state.downgradeTierId);
    assert.ok(to !== undefined, "a scheduled downgrade names one of the org's tiers");
    downgrade = { to, at: state.downgradeAt };
  }
  return {
    tier,
    since: state.since,
    source: state.source,
    override: state.override,
    qualifying,
    next,
    downgrade,
  };
}

/** The qualifying value with its transfers, oldest first. Unknown member: `not_found`. */
export async function explainMemberTier(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<Qualifying & { transfers: NonNullable<Qualifying["transfers"]> }> {
  const { qualifying } = await load(deps, input, true);
  assert.ok(qualifying.transfers !== null, "explain lists the transfers");
  return { ...qualifying, transfers: qualifying.transfers };
}
