/** Tier progression from ledger history: evaluation, manual overrides, and the member's tier status. */

export type { BenefitChanges } from "./benefit-events.ts";
export type { LadderIssue, LadderRung } from "./ladder.ts";
export { ladderIssues, multiplierBpsOf } from "./ladder.ts";
export type { TierSet, TierSetPatch } from "./manage-tier-sets.ts";
export {
  createTierSet,
  deleteTierSet,
  getTierSet,
  listTierSets,
  updateTierSet,
} from "./manage-tier-sets.ts";
export type { ConfiguredTier, TierFields, TierPatch } from "./manage-tiers.ts";
export {
  createTier,
  deleteTier,
  getConfiguredTier,
  listConfiguredTiers,
  updateTier,
} from "./manage-tiers.ts";
export type {
  ClearTierOverrideResult,
  DueOverrideExpiry,
  SetTierOverrideInput,
} from "./override.ts";
export { clearTierOverride, dueOverrideExpiries, setTierOverride } from "./override.ts";
export type {
  DueDowngrade,
  DueMember,
  MemberTierState,
  TierChangeReason,
  TierEvaluation,
  TierOverride,
  TierSource,
} from "./progression.ts";
export {
  downgradeDate,
  dueDowngrades,
  evaluateMemberTier,
  qualifiedTier,
  reviewDate,
} from "./progression.ts";
export type { Qualifying, QualifyingTransfer } from "./qualifying.ts";
export { addMonthsUtc, qualifyingValue } from "./qualifying.ts";
export type { MemberBenefit, SetEvaluation, SimulatedTier, TierSimulation } from "./set-tiers.ts";
export {
  evaluateMemberOtherTiers,
  evaluateMemberSetTier,
  listMemberBenefits,
  otherTierSets,
  simulateTiers,
  walkMembers,
} from "./set-tiers.ts";
export type { MemberTierStatus } from "./status.ts";
export { explainMemberTier, getMemberTier } from "./status.ts";
