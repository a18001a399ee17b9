/** Tier progression from ledger history: evaluation, overrides, and the member's tier status. */
export type {
  DueDowngrade,
  MemberTierState,
  TierEvaluation,
  TierSource,
} from "./progression.ts";
export {
  downgradeDate,
  dueDowngrades,
  evaluateMemberTier,
  qualifiedTier,
  reviewDate,
  setTierOverride,
} from "./progression.ts";
export type { Qualifying, QualifyingTransfer } from "./qualifying.ts";
export { addMonthsUtc, qualifyingValue } from "./qualifying.ts";
export type { MemberTierStatus } from "./status.ts";
export { explainMemberTier, getMemberTier } from "./status.ts";
