/** Tier progression from ledger history: evaluation, manual overrides, and the member's tier status. */
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
export type { MemberTierStatus } from "./status.ts";
export { explainMemberTier, getMemberTier } from "./status.ts";
