/**
 * The ledger module's public surface. Other modules import from here, never from the files
 * behind it.
 */

/**
 * The ledger's interface and its transfers, for code that holds them without speaking
 * TigerBeetle: only this module imports tigerbeetle-node (test/tidy.test.ts).
 */
export type { Client as LedgerApi, Transfer as LedgerTransfer } from "tigerbeetle-node";
export type { WalletBalancePoint } from "./balance-after.ts";
export {
  walletBalanceAfter,
  walletBalancesSince,
  walletLatestBalance,
} from "./balance-after.ts";
export type { LedgerClient, LedgerClientOptions, LedgerConfig } from "./client.ts";
export { createLedgerClient, ledgerLabel } from "./client.ts";
export * from "./codes.ts";
export type { DeadlineOptions } from "./deadline.ts";
export { isLedgerUnavailable, LedgerUnavailableError, withDeadline } from "./deadline.ts";
export * from "./earning-caps.ts";
export type { EmbeddedClient } from "./embedded/index.ts";
export { createEmbeddedClient } from "./embedded/index.ts";
export type { LedgerExportRow, LedgerRange, WalletBalanceAt } from "./exports.ts";
export {
  createExportRowDecoder,
  exportPageTransfersMax,
  ledgerCommitWatermark,
  ledgerTimestampMax,
  scanLedgerRange,
  walletBalanceAt,
} from "./exports.ts";
export {
  controlAccountId,
  decodeControlAccountId,
  documentTimeMs,
  inventoryControlAccountId,
  isUuidV7U128,
  rewardInventoryAccountId,
  transferId,
  u128ToUuid,
  uuidToU128,
  uuidV7,
  walletAccountId,
} from "./ids.ts";
export type { WriteMarkerOutcome } from "./installation.ts";
export {
  accountsFound,
  installationLedger,
  installationMarkerId,
  readInstallationMarker,
  writeInstallationMarker,
} from "./installation.ts";
export type { RewardStockMove } from "./inventory.ts";
export {
  moveRewardStock,
  openRewardInventory,
  rewardStockLookupsMax,
  rewardStockOnHand,
  rewardStockTransferId,
} from "./inventory.ts";
export * as ledgerLimits from "./limits.ts";
export type { TransferPhase } from "./lookups.ts";
export {
  lookupAccountsById,
  lookupIdsMax,
  lookupTransfersById,
  transferPhase,
} from "./lookups.ts";
export * from "./loyalty.ts";
export type { LedgerMetrics } from "./metrics.ts";
export { countPostedTransfers, createLedgerMetrics } from "./metrics.ts";
export {
  type ChainOutcome,
  chainLegsMax,
  link as linkTransfers,
  pointsPerTransferMax,
  transfer as ledgerTransfer,
} from "./postings.ts";
export * from "./reads.ts";
export type { LedgerScanOptions, WalletScanOptions } from "./scans.ts";
export { scanLedgerTransfers, scanPageTransfersMax, scanWalletTransfers } from "./scans.ts";
export { walletMemberIds } from "./wallet-members.ts";
