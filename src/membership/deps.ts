/**
 * What every membership use case receives first: the database (pool or transaction) and the
 * server secrets. Built once in `main` from configuration.
 */
import assert from "node:assert/strict";
import type { LedgerApi } from "../ledger/index.ts";
import type { PurchaseBatcher } from "./purchases/batcher.ts";
import type { MembershipCaches } from "./store/caches.ts";
import { fieldKeyBytes, hashKeyBytesMin } from "./store/crypto.ts";
import type { DbExecutor } from "./store/db.ts";

export interface MembershipSecrets {
  /** HMAC-SHA256 key for API key hashes; at least 32 bytes. */
  apiKeyHashKey: Buffer;
  /** AES-256-GCM key for member personal data; exactly 32 bytes. */
  piiEncryptionKey: Buffer;
  /** HMAC-SHA256 key for member lookup hashes (e-mail, phone); at least 32 bytes. */
  piiHashKey: Buffer;
}

export interface MembershipDeps {
  db: DbExecutor;
  secrets: MembershipSecrets;
}

/** Where an intent stands when `interrupt` is called. */
export type IntentStep = "after_intent" | "after_ledger";

/** The intent row an `interrupt` call is about: its table and id. */
export interface IntentRef {
  table:
    | "members"
    | "pos_transactions"
    | "redemptions"
    | "adjustments"
    | "expiries"
    | "code_redemptions"
    | "imports"
    | "referrals";
  id: string;
}

/** What the ledger-backed use cases receive: the membership deps, the ledger and a clock. */
export interface LedgerDeps extends MembershipDeps {
  /** TigerBeetle's client, or the embedded engine behind the same interface. */
  ledger: LedgerApi;
  /** The pool's caches (store/caches.ts), built once by the composition with the pool. */
  caches: MembershipCaches;
  /** Wall clock; `new Date()` when absent. */
  clock?: () => Date;
  /**
   * Test seam for crash simulation: called after an intent row is committed and again after the
   * ledger answered, before the row is marked posted. Throwing stops the use case there, exactly
   * as a crash would. Never set in production.
   */
  interrupt?: (step: IntentStep, intent: IntentRef) => Promise<void> | void;
  /**
   * Coalesces `recordPurchase` calls; built on these very deps by the composition (createApp).
   * Absent: each purchase is recorded on its own.
   */
  purchaseBatcher?: PurchaseBatcher;
  /** Counts what the intent protocol cannot show in a response; absent: nothing is counted. */
  intentMetrics?: IntentMetrics;
  /**
   * True when `db` is a transaction (recovery): a failed statement aborts it, so a posted mark
   * that fails is not answered as success there (see intents/protocol.ts).
   */
  inTransaction?: boolean;
}

/** The protocol's counters (intents/metrics.ts builds them on a prom-client registry). */
export interface IntentMetrics {
  /** A document the ledger refused for good moved to `failed`. */
  intentFailed(table: IntentRef["table"], reason: string): void;
  /** The ledger accepted a document whose posted mark could not be written; recovery will. */
  markDeferred(table: IntentRef["table"]): void;
}

/** The database and its caches: what the cached reads need. */
export type Store = Pick<LedgerDeps, "db" | "caches">;

/** Only the database: for use cases that touch no secret. */
export type DbDeps = Pick<MembershipDeps, "db">;

/** Checks key lengths at start-up, so a bad key fails there rather than on first use. */
export function assertMembershipSecrets(secrets: MembershipSecrets): void {
  assert.ok(secrets.apiKeyHashKey.length >= hashKeyBytesMin, "apiKeyHashKey must be >= 32 bytes");
  assert.equal(secrets.piiEncryptionKey.length, fieldKeyBytes, "piiEncryptionKey must be 32 bytes");
  assert.ok(secrets.piiHashKey.length >= hashKeyBytesMin, "piiHashKey must be >= 32 bytes");
  // One key per purpose: reusing a key across purposes would tie their compromise together.
  assert.ok(!secrets.apiKeyHashKey.equals(secrets.piiHashKey), "hash keys must differ");
  assert.ok(!secrets.piiEncryptionKey.equals(secrets.piiHashKey), "PII keys must differ");
}
