/**
 * The membership module: orgs, their ledger numbers and API keys, members (personal data
 * encrypted at rest), tiers and tier history, kept in Postgres with drizzle; and the use cases
 * that tie them to the ledger (purchases, refunds, redemptions, adjustments, balances), with
 * the intent/outbox protocol of docs/consistency.md.
 */

// Ledger-backed use cases.
export type { AdjustMemberPointsInput } from "./adjust-member-points.ts";
export { adjustMemberPoints } from "./adjust-member-points.ts";
export type { AllocateLedgerInput } from "./allocate-ledger.ts";
export { allocateLedger } from "./allocate-ledger.ts";
export type { AssignTierInput, AssignTierResult } from "./assign-tier.ts";
export { assignTier } from "./assign-tier.ts";
export type { AuthenticateApiKeyInput } from "./authenticate-api-key.ts";
export { authenticateApiKey } from "./authenticate-api-key.ts";
export type { CancelRedemptionInput } from "./cancel-redemption.ts";
export { cancelRedemption } from "./cancel-redemption.ts";
export type { CreateApiKeyInput } from "./create-api-key.ts";
export { createApiKey } from "./create-api-key.ts";
export type { CreateOrgInput, CreateOrgResult } from "./create-org.ts";
export { createOrg, defaultTiers } from "./create-org.ts";
export type { CreateRedemptionInput } from "./create-redemption.ts";
export { createRedemption } from "./create-redemption.ts";
export type { CreateStampProgramInput } from "./create-stamp-program.ts";
export { createStampProgram } from "./create-stamp-program.ts";
export type { FieldCipher } from "./crypto.ts";
export { createFieldCipher, keyedHash, normalizeEmail, normalizePhone } from "./crypto.ts";
export type { Database, Db, DbExecutor, OpenDatabaseOptions } from "./db.ts";
export { isPostgresError, openDatabase, openPool, redactedDatabaseUrl } from "./db.ts";
export type {
  DbDeps,
  IntentRef,
  IntentStep,
  LedgerDeps,
  MembershipDeps,
  MembershipSecrets,
} from "./deps.ts";
export { assertMembershipSecrets } from "./deps.ts";
export type { EnrollMemberInput } from "./enroll-member.ts";
export { enrollMember } from "./enroll-member.ts";
export type { EnrollMemberWithLedgerResult } from "./enroll-member-with-ledger.ts";
export { enrollMemberWithLedger } from "./enroll-member-with-ledger.ts";
export type { DomainErrorCode, DomainErrorDetails } from "./errors.ts";
export { DomainError, domainErrorCodes, isDomainError } from "./errors.ts";
export type { FindMemberByExternalRefInput } from "./find-member-by-external-ref.ts";
export { findMemberByExternalRef } from "./find-member-by-external-ref.ts";
export type { FindMembersByEmailInput } from "./find-members-by-email.ts";
export { findMembersByEmail } from "./find-members-by-email.ts";
export type { FulfilRedemptionInput } from "./fulfil-redemption.ts";
export { fulfilRedemption } from "./fulfil-redemption.ts";
export type { GetMemberInput } from "./get-member.ts";
export { getMember } from "./get-member.ts";
export type { GetMemberBalancesInput } from "./get-member-balances.ts";
export { getMemberBalances } from "./get-member-balances.ts";
export type { GetMemberHistoryInput } from "./get-member-history.ts";
export { getMemberHistory } from "./get-member-history.ts";
export { getOrg } from "./get-org.ts";
export type { GetTrialBalanceInput } from "./get-trial-balance.ts";
export { getTrialBalance } from "./get-trial-balance.ts";
export type {
  InstallationCheck,
  InstallationDeps,
  InstallationLabels,
  InstallationPart,
} from "./installation.ts";
export {
  checkInstallation,
  checkSecretsBelong,
  InstallationMismatchError,
  secretFingerprint,
} from "./installation.ts";
export type * from "./ledger-types.ts";
export * as membershipLimits from "./limits.ts";
export { listApiKeys } from "./list-api-keys.ts";
export type { ListMemberTiersInput } from "./list-member-tiers.ts";
export { listMemberTiers } from "./list-member-tiers.ts";
export { listTiers } from "./list-tiers.ts";
export type { Migration, ServiceDatabase } from "./migrations.ts";
export {
  knownMigrations,
  migrateCommand,
  openServiceDatabase,
  pendingMigrations,
  SchemaOutOfDateError,
} from "./migrations.ts";
export type { OutboxTopic } from "./outbox.ts";
export type { PurchaseInput, RecordPurchaseInput } from "./record-purchase.ts";
export { recordPurchase } from "./record-purchase.ts";
export type { RecordPurchasesInput } from "./record-purchases.ts";
export { recordPurchases } from "./record-purchases.ts";
export type { RecoverPendingIntentsOptions, RecoveryReport } from "./recover-pending-intents.ts";
export { recoverPendingIntents } from "./recover-pending-intents.ts";
export type { RefundPurchaseInput } from "./refund-purchase.ts";
export { refundPurchase } from "./refund-purchase.ts";
export type { OrgSettings } from "./settings.ts";
export { defaultOrgSettings, orgSettingsSchema } from "./settings.ts";
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
export type { MemberPatch, UpdateMemberInput } from "./update-member.ts";
export { updateMember } from "./update-member.ts";
export {
  currencyPattern,
  isTimeZone,
  isUuid,
  ledgerUnitPattern,
  slugPattern,
} from "./validation.ts";
