/**
 * Deployment identity: the database, the ledger and the secrets must belong to one installation.
 *
 * A mix-up does not fail loudly by itself: a database pointed at an empty ledger answers zero
 * balances while `/ready` and the trial balance look healthy; a second database on one cluster
 * shares the first one's control accounts (ledger numbers start at 1 in each database, and
 * control-account ids derive from (ledger, code)); keys that are not this database's cannot read
 * its personal data nor recognise its API keys. So the service checks at start, before serving:
 *
 * - the database records an installation id (table `installation`, one row) and fingerprints of
 *   the secrets it was written with (HMAC-SHA256 of a constant under each key);
 * - the ledger carries the same id in its installation marker (ledger/installation.ts).
 *
 * The first start on an empty database and an empty ledger creates the identity. A database from
 * before identities existed is adopted once its ledger is shown to hold its accounts and its
 * personal data decrypts with the keys given. Anything else that does not match is refused with
 * an `InstallationMismatchError` naming the part that does not belong.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { and, eq, isNotNull, or } from "drizzle-orm";
import type { LedgerApi } from "../../ledger/index.ts";
import {
  accountsFound,
  readInstallationMarker,
  walletAccountId,
  writeInstallationMarker,
} from "../../ledger/index.ts";
import type { MembershipSecrets } from "../deps.ts";
import { keyedHash } from "./crypto.ts";
import type { DbExecutor } from "./db.ts";
import { emailLookupHash, memberCipher, toMember } from "./records.ts";
import { installation, members, orgLedgers } from "./schema.ts";

/** Which part of the deployment does not belong with the others. */
export type InstallationPart = "ledger" | "database" | "secrets";

/** Start-up must stop: the database, the ledger and the secrets are not one installation's. */
export class InstallationMismatchError extends Error {
  override readonly name = "InstallationMismatchError";
  readonly part: InstallationPart;

  constructor(part: InstallationPart, message: string) {
    super(message);
    this.part = part;
  }
}

export interface InstallationDeps {
  db: DbExecutor;
  ledger: LedgerApi;
  secrets: MembershipSecrets;
}

/** How the operator names each part, for messages: no password, no key. */
export interface InstallationLabels {
  /** e.g. the DATABASE_URL without its password. */
  database: string;
  /** e.g. `TB_ADDRESS=3000 (cluster 0)` or `LEDGER_DATA_FILE=./data/ledger.tb`. */
  ledger: string;
}

export interface InstallationCheck {
  installationId: string;
  /** `created`: first start; `adopted`: a database from before identities; else `verified`. */
  outcome: "created" | "adopted" | "verified";
}

/** The environment variable of each secret, as operators know them. */
const secretVariables: Record<keyof MembershipSecrets, string> = {
  piiEncryptionKey: "PII_ENCRYPTION_KEY",
  piiHashKey: "PII_HASH_KEY",
  apiKeyHashKey: "API_KEY_HASH_KEY",
};
const fingerprintColumn = {
  piiEncryptionKey: "piiEncryptionKeyFingerprint",
  piiHashKey: "piiHashKeyFingerprint",
  apiKeyHashKey: "apiKeyHashKeyFingerprint",
} as const satisfies Record<keyof MembershipSecrets, keyof typeof installation.$inferSelect>;
const secretNames = Object.keys(secretVariables) as Array<keyof MembershipSecrets>;

/** What each key's fingerprint is the HMAC of. Changing it orphans every recorded fingerprint. */
const fingerprintConstant = "loyalty-ledger installation fingerprint v1";
/** Members whose wallets are looked up to tell whether the ledger holds this database's data. */
const walletSampleSize = 8;

/** HMAC-SHA256 of a constant under `key`: says which key it is, and nothing about the key. */
export function secretFingerprint(key: Buffer): Buffer {
  return keyedHash(key, fingerprintConstant);
}

type InstallationRow = typeof installation.$inferSelect;

/**
 * Verifies that the database, the ledger and the secrets belong together, recording the
 * identity on the first start. Throws `InstallationMismatchError` naming what does not belong.
 *
 * @example
 * const { installationId } = await checkInstallation(
 *   { db, ledger, secrets },
 *   { database: redactedUrl, ledger: "LEDGER_DATA_FILE=./data/ledger.tb" },
 * );
 */
export async function checkInstallation(
  deps: InstallationDeps,
  labels: InstallationLabels,
): Promise<InstallationCheck> {
  const recorded = await readInstallation(deps.db);
  const marker = await readInstallationMarker(deps.ledger);

  if (recorded !== null) {
    if (marker !== null && marker !== recorded.id) {
      throw new InstallationMismatchError(
        "ledger",
        `The ledger (${labels.ledger}) belongs to installation ${marker}, but the database ` +
          `(${labels.database}) belongs to installation ${recorded.id}. The ledger settings ` +
          "(TB_ADDRESS and TB_CLUSTER_ID, or LEDGER_DATA_FILE) name another installation's " +
          "ledger, or DATABASE_URL another installation's database. Refusing to start.",
      );
    }
    assertSecretsMatch(recorded, deps.secrets, labels);
    if (marker === null) {
      // A ledger without the marker: a new one. Only acceptable while nothing of this database
      // lives on a ledger yet (the first start stopped between the two writes, say).
      await assertLedgerHoldsDatabaseAccounts(deps, labels, recorded.id);
      await markLedger(deps, labels, recorded.id);
    }
    return { installationId: recorded.id, outcome: "verified" };
  }

  if (marker !== null) {
    throw new InstallationMismatchError(
      "database",
      `The ledger (${labels.ledger}) already serves installation ${marker}, but the database ` +
        `(${labels.database}) has no installation recorded: DATABASE_URL names a new or another ` +
        "database. One ledger serves one database: a second database on the same cluster " +
        "would share the first one's control accounts (ledger numbers start at 1 in each " +
        "database). Point DATABASE_URL at this installation's database, or give the new " +
        "database its own TigerBeetle cluster (or LEDGER_DATA_FILE). Refusing to start.",
    );
  }

  // Neither part has an identity: a first start, or a database from before identities existed.
  const adopted = await assertLedgerHoldsDatabaseAccounts(deps, labels, null);
  await assertSecretsDecryptData(deps, labels);
  const winner = await recordInstallation(deps, randomUUID());
  await markLedger(deps, labels, winner.id);
  // A concurrent first start may have won the row; its keys must be ours as well.
  assertSecretsMatch(winner, deps.secrets, labels);
  return { installationId: winner.id, outcome: adopted ? "adopted" : "created" };
}

/**
 * The secrets half alone, for tools that open the database but not the ledger (the CLI): keys
 * that are not this installation's would write data the server cannot read.
 */
export async function checkSecretsBelong(
  deps: Pick<InstallationDeps, "db" | "secrets">,
  labels: Pick<InstallationLabels, "database">,
): Promise<void> {
  const recorded = await readInstallation(deps.db);
  if (recorded !== null) {
    assertSecretsMatch(recorded, deps.secrets, labels);
  }
}

async function readInstallation(db: DbExecutor): Promise<InstallationRow | null> {
  const [row] = await db.select().from(installation).limit(1);
  return row ?? null;
}

/** Inserts the row unless another process did first; answers the row that stands. */
async function recordInstallation(
  deps: InstallationDeps,
  installationId: string,
): Promise<InstallationRow> {
  await deps.db
    .insert(installation)
    .values({
      id: installationId,
      piiEncryptionKeyFingerprint: secretFingerprint(deps.secrets.piiEncryptionKey),
      piiHashKeyFingerprint: secretFingerprint(deps.secrets.piiHashKey),
      apiKeyHashKeyFingerprint: secretFingerprint(deps.secrets.apiKeyHashKey),
    })
    .onConflictDoNothing({ target: installation.singleton });
  const row = await readInstallation(deps.db);
  assert.ok(row !== null, "the installation row exists once inserted");
  return row;
}

async function markLedger(
  deps: InstallationDeps,
  labels: InstallationLabels,
  installationId: string,
): Promise<void> {
  const outcome = await writeInstallationMarker(deps.ledger, installationId);
  if (outcome.status === "other") {
    // Another database marked this ledger between our read and our write.
    throw new InstallationMismatchError(
      "database",
      `The ledger (${labels.ledger}) was just claimed by installation ${outcome.installationId}, ` +
        `while the database (${labels.database}) records installation ${installationId}: two ` +
        "databases are starting on one ledger. Refusing to start.",
    );
  }
}

function assertSecretsMatch(
  recorded: InstallationRow,
  secrets: MembershipSecrets,
  labels: Pick<InstallationLabels, "database">,
): void {
  const differing = secretNames.filter(
    (name) => !secretFingerprint(secrets[name]).equals(recorded[fingerprintColumn[name]]),
  );
  if (differing.length === 0) {
    return;
  }
  const variables = differing.map((name) => secretVariables[name]).join(", ");
  throw new InstallationMismatchError(
    "secrets",
    `The secrets do not belong to the database (${labels.database}, installation ` +
      `${recorded.id}): ${variables} ${differing.length === 1 ? "is" : "are"} not the key ` +
      `${differing.length === 1 ? "its" : "their"} data was written with (the fingerprints ` +
      "differ). With these keys stored personal data and API keys cannot be read. Set this " +
      "installation's keys (in development: secrets.json in the data directory). Refusing to start.",
  );
}

/**
 * The ledger must hold the wallets of members this database says are on the ledger. Answers
 * whether there were any (a populated database), and refuses when the ledger lacks them all.
 */
async function assertLedgerHoldsDatabaseAccounts(
  deps: InstallationDeps,
  labels: InstallationLabels,
  installationId: string | null,
): Promise<boolean> {
  const posted = await deps.db
    .select({ memberId: members.id, ledger: orgLedgers.ledger })
    .from(members)
    .innerJoin(orgLedgers, and(eq(orgLedgers.orgId, members.orgId), eq(orgLedgers.unit, "points")))
    .where(eq(members.ledgerStatus, "posted"))
    .limit(walletSampleSize);
  if (posted.length === 0) {
    return false;
  }
  const wallets = posted.map((row) => walletAccountId(row.ledger, row.memberId));
  const found = await accountsFound(deps.ledger, wallets);
  if (found.size > 0) {
    return true;
  }
  const whose = installationId === null ? "" : ` of installation ${installationId}`;
  throw new InstallationMismatchError(
    "ledger",
    `The ledger (${labels.ledger}) holds none of the accounts of the database ` +
      `(${labels.database})${whose}, which has members on the ledger: the ledger settings ` +
      "(TB_ADDRESS and TB_CLUSTER_ID, or LEDGER_DATA_FILE) name an empty or another ledger. " +
      "Serving would answer zero balances. Refusing to start.",
  );
}

/**
 * For a database from before identities: its personal data must decrypt with the keys given
 * (and its lookup hash must match), or the keys are another installation's.
 */
async function assertSecretsDecryptData(
  deps: InstallationDeps,
  labels: InstallationLabels,
): Promise<void> {
  const [row] = await deps.db
    .select()
    .from(members)
    .where(
      or(
        isNotNull(members.emailEncrypted),
        isNotNull(members.phoneEncrypted),
        isNotNull(members.firstNameEncrypted),
        isNotNull(members.lastNameEncrypted),
      ),
    )
    .limit(1);
  if (row === undefined) {
    return;
  }
  let email: string | null;
  try {
    email = toMember(memberCipher(deps.secrets), row).email;
  } catch {
    throw new InstallationMismatchError(
      "secrets",
      `PII_ENCRYPTION_KEY does not decrypt the personal data of the database ` +
        `(${labels.database}): it is not the key this database was written with. Refusing to start.`,
    );
  }
  if (email !== null && row.emailHash !== null) {
    if (!emailLookupHash(deps.secrets, row.orgId, email).equals(row.emailHash)) {
      throw new InstallationMismatchError(
        "secrets",
        `PII_HASH_KEY does not reproduce the lookup hashes of the database ` +
          `(${labels.database}): it is not the key this database was written with. Refusing to start.`,
      );
    }
  }
}
