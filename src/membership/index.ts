/**
 * The membership module: orgs, their ledger numbers and API keys, members (personal data
 * encrypted at rest), tiers and tier history, kept in Postgres with drizzle; and the use cases
 * that tie them to the ledger (purchases, refunds, redemptions, adjustments, balances), with
 * the intent/outbox protocol of docs/consistency.md.
 */

// Ledger-backed use cases.
export type { AdjustMemberPointsInput } from "./adjustments/adjust-member-points.ts";
export { adjustMemberPoints } from "./adjustments/adjust-member-points.ts";
export type { AuthenticateApiKeyInput } from "./api-keys/authenticate-api-key.ts";
export { authenticateApiKey } from "./api-keys/authenticate-api-key.ts";
export type { CreateApiKeyInput } from "./api-keys/create-api-key.ts";
export { createApiKey } from "./api-keys/create-api-key.ts";
export { listApiKeys } from "./api-keys/list-api-keys.ts";
export { revokeApiKey } from "./api-keys/revoke-api-key.ts";
export type {
  AuditAction,
  AuditActor,
  AuditEntry,
  ListAuditInput,
} from "./audit/audit.ts";
export { auditActions, auditPageMax, listAudit, platformActor } from "./audit/audit.ts";
export type {
  Benefit,
  BenefitFields,
  BenefitKind,
  BenefitPatch,
} from "./benefits/manage-benefits.ts";
export {
  benefitKinds,
  createBenefit,
  deleteBenefit,
  getBenefit,
  listBenefits,
  updateBenefit,
} from "./benefits/manage-benefits.ts";
export type { PromoCode } from "./codes/code-text.ts";
export type { CodePatch, CreateCodeInput } from "./codes/manage-codes.ts";
export { createCode, listCodes, updateCode } from "./codes/manage-codes.ts";
export type { CodeRedemptionResult, RedeemCodeInput } from "./codes/redeem-code.ts";
export { redeemCode } from "./codes/redeem-code.ts";
export type {
  DbDeps,
  IntentMetrics,
  IntentRef,
  IntentStep,
  LedgerDeps,
  MembershipDeps,
  MembershipSecrets,
} from "./deps.ts";
export { assertMembershipSecrets } from "./deps.ts";
export * from "./earning-rules/index.ts";
export type { DomainErrorCode, DomainErrorDetails } from "./errors.ts";
export { DomainError, domainErrorCodes, isDomainError } from "./errors.ts";
export type {
  ExpireMembersPointsInput,
  MemberExpiryOutcome,
} from "./expiry/expire-member-points.ts";
export { expireMembersPoints, expiryNoticeDays } from "./expiry/expire-member-points.ts";
export type { OrgExpiryBatchInput, OrgExpiryBatchResult } from "./expiry/run-org-expiry.ts";
export {
  expireOrgMembersBatch,
  expiryOrgsPageMax,
  listExpiryOrgs,
} from "./expiry/run-org-expiry.ts";
export type {
  CreateImportInput,
  CreateImportResult,
  ImportFormat,
} from "./imports/create-import.ts";
export { createImport } from "./imports/create-import.ts";
export type { EnrollImportOptions, EnrollImportResult } from "./imports/enroll-import.ts";
export { enrollImport } from "./imports/enroll-import.ts";
export type { MemberImport } from "./imports/get-import.ts";
export { failImport, getImport, listStalledImports } from "./imports/get-import.ts";
export { ImportFileError, importColumns } from "./imports/parse-file.ts";
export type { AcceptEventsInput } from "./inbox/accept-events.ts";
export { acceptEvents } from "./inbox/accept-events.ts";
export type { GetInboxEventInput } from "./inbox/get-inbox-event.ts";
export { getInboxEvent } from "./inbox/get-inbox-event.ts";
export type { InboxLockResult, ListQueuedEventsOptions } from "./inbox/processing.ts";
export {
  listOrgsWithQueuedEvents,
  listQueuedEvents,
  recordEventOutcomes,
  withInboxLock,
} from "./inbox/processing.ts";
export type * from "./inbox/types.ts";
export type {
  CampaignNow,
  CapCloseTo,
  CategoryInsight,
  InsightPeriod,
  MemberInsights,
  PeriodInsight,
} from "./insights/member-insights.ts";
export {
  closeToDenominator,
  closeToNumerator,
  getMemberInsights,
  insightPeriods,
  periodWindows,
} from "./insights/member-insights.ts";
export { createIntentMetrics } from "./intents/metrics.ts";
export type {
  ExportLedgerTransfersInput,
  LedgerTransfersExport,
} from "./ledger-export/export-ledger-transfers.ts";
export { exportLedgerTransfers } from "./ledger-export/export-ledger-transfers.ts";
export type { BalancesAtPage, MemberBalanceAt } from "./ledger-export/get-balances-at.ts";
export {
  balancesAtPageDefault,
  balancesAtPageMax,
  getBalancesAt,
} from "./ledger-export/get-balances-at.ts";
export type * from "./ledger-types.ts";
export * as membershipLimits from "./limits.ts";
export type { AssignTierInput, AssignTierResult } from "./members/assign-tier.ts";
export { assignTier } from "./members/assign-tier.ts";
export type { EnrollMemberInput } from "./members/enroll-member.ts";
export { enrollMember } from "./members/enroll-member.ts";
export type { EnrollMemberWithLedgerResult } from "./members/enroll-member-with-ledger.ts";
export { enrollMemberWithLedger } from "./members/enroll-member-with-ledger.ts";
export { eraseMember } from "./members/erase-member.ts";
export type { FindMemberByExternalRefInput } from "./members/find-member-by-external-ref.ts";
export { findMemberByExternalRef } from "./members/find-member-by-external-ref.ts";
export type { FindMembersByEmailInput } from "./members/find-members-by-email.ts";
export { findMembersByEmail } from "./members/find-members-by-email.ts";
export type { GetMemberInput } from "./members/get-member.ts";
export { getMember } from "./members/get-member.ts";
export type { GetMemberBalancesInput } from "./members/get-member-balances.ts";
export { getMemberBalances } from "./members/get-member-balances.ts";
export type { GetMemberHistoryInput } from "./members/get-member-history.ts";
export { getMemberHistory } from "./members/get-member-history.ts";
export type { ListMemberTiersInput } from "./members/list-member-tiers.ts";
export { listMemberTiers } from "./members/list-member-tiers.ts";
export {
  loginMemberWithPin,
  pinAttemptsMax,
  pinLockSeconds,
  pinPattern,
  setMemberPin,
} from "./members/member-pin.ts";
export type { MemberPatch, UpdateMemberInput } from "./members/update-member.ts";
export { updateMember } from "./members/update-member.ts";
export type { AllocateLedgerInput } from "./orgs/allocate-ledger.ts";
export { allocateLedger } from "./orgs/allocate-ledger.ts";
export type { CreateOrgInput, CreateOrgResult } from "./orgs/create-org.ts";
export { createOrg, defaultTiers } from "./orgs/create-org.ts";
export { getOrg, getOrgBySlug, listOrgs } from "./orgs/get-org.ts";
export type { GetTrialBalanceInput } from "./orgs/get-trial-balance.ts";
export { getTrialBalance } from "./orgs/get-trial-balance.ts";
export { listTiers } from "./orgs/list-tiers.ts";
export type { OrgSettings, ReferralSettings } from "./orgs/settings.ts";
export {
  defaultOrgSettings,
  type EarningCapsSettings,
  type ExpirySettings,
  earningCapsOf,
  expirySettingsSchema,
  orgSettingsSchema,
  type RfmSettings,
  referralOf,
  referralSettingsOf,
  referralsPerMonthMax,
  rfmSettingsSchema,
  type StampDefaultsSettings,
  settingsDaysMax,
  settingsMonthsMax,
  settingsPointsMax,
  stampDefaultsOf,
  type TierMetric,
  tierMetrics,
} from "./orgs/settings.ts";
export { updateOrgSettings } from "./orgs/update-org-settings.ts";
export type { PurchaseBatcher, PurchaseBatcherOptions } from "./purchases/batcher.ts";
export { createPurchaseBatcher } from "./purchases/batcher.ts";
export type { PurchaseInput, RecordPurchaseInput } from "./purchases/record-purchase.ts";
export { recordPurchase } from "./purchases/record-purchase.ts";
export type { RecordPurchasesInput } from "./purchases/record-purchases.ts";
export { recordPurchases } from "./purchases/record-purchases.ts";
export type {
  SimulatedPurchase,
  SimulatePurchaseInput,
} from "./purchases/simulate-purchase.ts";
export { simulatePurchase } from "./purchases/simulate-purchase.ts";
export type { GetReconciliationInput } from "./reconciliations/get-reconciliation.ts";
export { getReconciliation } from "./reconciliations/get-reconciliation.ts";
export type {
  FinishReconciliationInput,
  ReconciliationRef,
} from "./reconciliations/reconciliation-progress.ts";
export {
  abandonedReconciliationsPerSweepMax,
  beginReconciliationAttempt,
  failAbandonedReconciliations,
  failReconciliation,
  finishReconciliation,
} from "./reconciliations/reconciliation-progress.ts";
export type {
  MismatchDocument,
  Reconciliation,
  ReconciliationCounts,
  ReconciliationMismatch,
  ReconciliationStatus,
  ReconciliationTrigger,
} from "./reconciliations/reconciliation-records.ts";
export { reconciliationMismatchesStoredMax } from "./reconciliations/reconciliation-records.ts";
export type {
  ScheduledReconciliations,
  ScheduleReconciliationsInput,
  StartReconciliationInput,
} from "./reconciliations/start-reconciliation.ts";
export {
  scheduledOrgsPageMax,
  scheduleReconciliations,
  startReconciliation,
} from "./reconciliations/start-reconciliation.ts";
export type {
  RecoverPendingIntentsOptions,
  RecoveryReport,
} from "./recovery/recover-pending-intents.ts";
export { recoverPendingIntents } from "./recovery/recover-pending-intents.ts";
export type { AutoRedemption, AutoRedemptionRun } from "./redemptions/auto-redemption.ts";
export {
  clearAutoRedemption,
  getAutoRedemption,
  runAutoRedemption,
  setAutoRedemption,
} from "./redemptions/auto-redemption.ts";
export type { CancelRedemptionInput } from "./redemptions/cancel-redemption.ts";
export { cancelRedemption } from "./redemptions/cancel-redemption.ts";
export type { CreateRedemptionInput } from "./redemptions/create-redemption.ts";
export { createRedemption } from "./redemptions/create-redemption.ts";
export type { FulfilRedemptionInput } from "./redemptions/fulfil-redemption.ts";
export { fulfilRedemption } from "./redemptions/fulfil-redemption.ts";
export {
  listMemberRedemptions,
  memberRedemptionsPageMax,
} from "./redemptions/redemption-lookup.ts";
export type { ResolveLapsedResult } from "./redemptions/resolve-lapsed-redemptions.ts";
export {
  lapsedHoldGraceMs,
  resolveLapsedRedemptions,
} from "./redemptions/resolve-lapsed-redemptions.ts";
export type {
  MemberReferrals,
  Referral,
} from "./referrals/list-member-referrals.ts";
export { listMemberReferrals, memberReferralsListMax } from "./referrals/list-member-referrals.ts";
export { referralCodeInputLengthMax } from "./referrals/referral-code.ts";
export type {
  PostedPurchase,
  RewardReferralOutcome,
} from "./referrals/reward-referral.ts";
export { rewardReferral } from "./referrals/reward-referral.ts";
export type { RefundPurchaseInput } from "./refunds/refund-purchase.ts";
export { refundPurchase } from "./refunds/refund-purchase.ts";
export type { MemberReward, MemberRewardReason } from "./rewards/list-member-rewards.ts";
export { listMemberRewards, memberRewardReasons } from "./rewards/list-member-rewards.ts";
export type {
  CreateRewardInput,
  Reward,
  RewardKind,
  RewardPatch,
} from "./rewards/manage-rewards.ts";
export {
  createReward,
  getReward,
  listRewards,
  rewardKinds,
  updateReward,
} from "./rewards/manage-rewards.ts";
// RFM segmentation: stored by the rfm worker, read by the routes.
export type { GetMemberRfmInput } from "./rfm/get-member-rfm.ts";
export { getMemberRfm } from "./rfm/get-member-rfm.ts";
export type { ListSegmentMembersInput, SegmentMembersPage } from "./rfm/list-segment-members.ts";
export { listSegmentMembers, segmentMembersPageMax } from "./rfm/list-segment-members.ts";
export type { SegmentCounts } from "./rfm/list-segments.ts";
export { listSegments } from "./rfm/list-segments.ts";
export type { RfmScope } from "./rfm/load-rfm-scope.ts";
export {
  getRfmRun,
  listOrgIdsAfter,
  loadRfmMemberLedger,
  loadRfmScope,
  rfmOrgsPageMax,
} from "./rfm/load-rfm-scope.ts";
export type { ReplaceOrgRfmInput } from "./rfm/replace-org-rfm.ts";
export { replaceOrgRfm } from "./rfm/replace-org-rfm.ts";
export type { SaveMemberRfmInput } from "./rfm/save-member-rfm.ts";
export { saveMemberRfm } from "./rfm/save-member-rfm.ts";
export type { RfmBoundariesStored, RfmSegmentName } from "./rfm/segments.ts";
export { isRfmSegmentName, rfmSegmentNames } from "./rfm/segments.ts";
export type { MemberRfm, MemberRfmValues, RfmMethod, RfmRun } from "./rfm/types.ts";
export type { CreateStampProgramInput } from "./stamp-programs/create-stamp-program.ts";
export { createStampProgram } from "./stamp-programs/create-stamp-program.ts";
export { deactivateStampProgram } from "./stamp-programs/deactivate-stamp-program.ts";
export type { MemberStampCard } from "./stamp-programs/get-member-stamp-cards.ts";
export { getMemberStampCards } from "./stamp-programs/get-member-stamp-cards.ts";
export { getStampProgram } from "./stamp-programs/get-stamp-program.ts";
export { listStampPrograms } from "./stamp-programs/list-stamp-programs.ts";
export type { StampEarnRuleInput } from "./stamp-programs/program-rules.ts";
export type { StampProgramPatch } from "./stamp-programs/update-stamp-program.ts";
export { updateStampProgram } from "./stamp-programs/update-stamp-program.ts";
export type { MembershipCaches } from "./store/caches.ts";
export { createMembershipCaches } from "./store/caches.ts";
export type { FieldCipher } from "./store/crypto.ts";
export { createFieldCipher, keyedHash, normalizeEmail, normalizePhone } from "./store/crypto.ts";
export type { Database, Db, DbExecutor, OpenDatabaseOptions } from "./store/db.ts";
export { isPostgresError, openDatabase, openPool, redactedDatabaseUrl } from "./store/db.ts";
export type {
  InstallationCheck,
  InstallationDeps,
  InstallationLabels,
  InstallationPart,
} from "./store/installation.ts";
export {
  checkInstallation,
  checkSecretsBelong,
  InstallationMismatchError,
  secretFingerprint,
} from "./store/installation.ts";
export type { Migration, ServiceDatabase } from "./store/migrations.ts";
export {
  knownMigrations,
  migrateCommand,
  openServiceDatabase,
  pendingMigrations,
  SchemaOutOfDateError,
} from "./store/migrations.ts";
export type { OutboxTopic } from "./store/outbox.ts";
export { outboxTopicNames } from "./store/outbox.ts";
export * from "./tiers/index.ts";
export type {
  ApiKey,
  ApiKeyPrincipal,
  ApiKeyRole,
  CreatedApiKey,
  Member,
  MemberStatus,
  MemberTierEntry,
  Org,
  Tier,
} from "./types.ts";
export {
  currencyPattern,
  isTimeZone,
  isUuid,
  ledgerUnitPattern,
  slugPattern,
} from "./validation.ts";
export * from "./webhooks/index.ts";
