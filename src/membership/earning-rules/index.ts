/**
 * Earning rules: the shared domain types, their storage with versions, and the wire body's
 * conversion to the domain (also used by the simulation route, without storing anything).
 */

export { earningSettingsOf } from "./earning-settings.ts";
export { localTimeToInstant } from "./local-time.ts";
export type { ListEarningRulesInput, StoredEarningRule } from "./manage-earning-rules.ts";
export {
  activeEarningRules,
  createEarningRule,
  deleteEarningRule,
  earningRuleVersion,
  getEarningRule,
  listEarningRules,
  updateEarningRule,
} from "./manage-earning-rules.ts";
export type {
  BodyIssue,
  EarningRuleBody,
  EarningRuleFields,
  EarningRulePatchBody,
  MergeResult,
  ToRuleResult,
} from "./rule-body.ts";
export {
  bpsToMultiplier,
  earningRuleBody,
  earningRuleBodySchema,
  earningRuleKindFields,
  earningRuleKinds,
  earningRulePatchSchema,
  mergeRulePatch,
  multiplierToBps,
  parseEarningRuleBody,
  toEarningRule,
} from "./rule-body.ts";
export * from "./types.ts";
