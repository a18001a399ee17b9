/**
 * Deployment identity: the database, the ledger and the secrets of one installation start
 * together; any of them from elsewhere is refused with a message naming the part that does not
 * belong. Real Postgres databases (two where a case needs two) and embedded ledgers on
 * temporary data files, reopened as a restart would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../test/support/db.ts";
import { createTestDatabase } from "../../../test/support/db.ts";
import { buildLedgerOrg, cardNumber } from "../../../test/support/ledger.ts";
import { createTestSecrets } from "../../../test/support/membership.ts";
import type { EmbeddedClient } from "../../ledger/index.ts";
import { createEmbeddedClient, readInstallationMarker } from "../../ledger/index.ts";
import type { MembershipSecrets } from "../deps.ts";
import { enrollMemberWithLedger } from "../members/enroll-member-with-ledger.ts";
import { createMembershipCaches } from "./caches.ts";
import type { InstallationLabels } from "./installation.ts";
import {
  checkInstallation,
  checkSecretsBelong,
  InstallationMismatchError,
} from "./installation.ts";
import { installation } from "./schema.ts";

let directory: string;
const databases: TestDatabase[] = [];
const ledgers: EmbeddedClient[] = [];

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "installation-"));
});
afterAll(async () => {
  for (const ledger of ledgers) {
    await ledger.close();
  }
  for (const database of databases) {
    await database.close();
  }
  rmSync(directory, { recursive: true, force: true });
});

async function database(): Promise<TestDatabase> {
  const created = await createTestDatabase();
  databases.push(created);
  return created;
}

let files = 0;
function ledgerFile(): string {
  files += 1;
  return join(directory, `ledger-${files}.tb`);
}

/** Opens (or reopens, as a restart does) the embedded ledger on `file`. */
function openLedger(file: string): EmbeddedClient {
  const ledger = createEmbeddedClient({ dataFile: file });
  ledgers.push(ledger);
  return ledger;
}

async function restart(ledger: EmbeddedClient, file: string): Promise<EmbeddedClient> {
  await ledger.close();
  return openLedger(file);
}

const labels = (file: string): InstallationLabels => ({
  database: "postgres://postgres@127.0.0.1:5432/under-test",
  ledger: `LEDGER_DATA_FILE=${file}`,
});

/** An org with a member whose wallet and welcome bonus are on `ledger`. */
async function populate(
  db: TestDatabase,
  ledger: EmbeddedClient,
  secrets: MembershipSecrets,
): Promise<void> {
  const deps = { db: db.db, ledger, secrets, caches: createMembershipCaches() };
  const { org } = await buildLedgerOrg(deps);
  await enrollMemberWithLedger(deps, {
    orgId: org.id,
    externalRef: cardNumber(),
    email: "ada@example.com",
  });
}

async function refusal(promise: Promise<unknown>): Promise<InstallationMismatchError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(InstallationMismatchError);
  return error as InstallationMismatchError;
}

describe("checkInstallation", () => {
  it("creates the identity on an empty database and ledger, and accepts every restart", async () => {
    const db = await database();
    const file = ledgerFile();
    let ledger = openLedger(file);
    const secrets = createTestSecrets();

    const first = await checkInstallation({ db: db.db, ledger, secrets }, labels(file));
    expect(first.outcome).toBe("created");
    const rows = await db.db.select().from(installation);
    expect(rows.map((row) => row.id)).toEqual([first.installationId]);
    expect(await readInstallationMarker(ledger)).toBe(first.installationId);
    // Fingerprints, never the keys.
    const stored = rows[0];
    expect(stored?.piiEncryptionKeyFingerprint.equals(secrets.piiEncryptionKey)).toBe(false);

    await populate(db, ledger, secrets);
    ledger = await restart(ledger, file);
    const second = await checkInstallation({ db: db.db, ledger, secrets }, labels(file));
    expect(second).toEqual({ installationId: first.installationId, outcome: "verified" });
  });

  it("refuses a database pointed at another installation's ledger file", async () => {
    const secrets = createTestSecrets();
    const ours = await database();
    const ourFile = ledgerFile();
    const ourLedger = openLedger(ourFile);
    const created = await checkInstallation(
      { db: ours.db, ledger: ourLedger, secrets },
      labels(ourFile),
    );

    const theirs = await database();
    const theirFile = ledgerFile();
    const theirLedger = openLedger(theirFile);
    const other = await checkInstallation(
      { db: theirs.db, ledger: theirLedger, secrets: createTestSecrets() },
      labels(theirFile),
    );

    const error = await refusal(
      checkInstallation({ db: ours.db, ledger: theirLedger, secrets }, labels(theirFile)),
    );
    expect(error.part).toBe("ledger");
    expect(error.message).toContain(`The ledger (LEDGER_DATA_FILE=${theirFile}) belongs to`);
    expect(error.message).toContain(other.installationId);
    expect(error.message).toContain(created.installationId);
  });

  it("refuses an empty ledger under a populated database", async () => {
    const secrets = createTestSecrets();
    const db = await database();
    const file = ledgerFile();
    const ledger = openLedger(file);
    await checkInstallation({ db: db.db, ledger, secrets }, labels(file));
    await populate(db, ledger, secrets);

    const emptyFile = ledgerFile();
    const empty = openLedger(emptyFile);
    const error = await refusal(
      checkInstallation({ db: db.db, ledger: empty, secrets }, labels(emptyFile)),
    );
    expect(error.part).toBe("ledger");
    expect(error.message).toContain(
      `The ledger (LEDGER_DATA_FILE=${emptyFile}) holds none of the accounts of the database`,
    );
    // Refused, not adopted: the empty ledger stays unmarked.
    expect(await readInstallationMarker(empty)).toBeNull();
  });

  it("refuses a second database on a ledger that already serves another installation", async () => {
    const file = ledgerFile();
    const ledger = openLedger(file);
    const first = await database();
    const firstSecrets = createTestSecrets();
    const created = await checkInstallation(
      { db: first.db, ledger, secrets: firstSecrets },
      labels(file),
    );
    await populate(first, ledger, firstSecrets);

    // A new, empty database on the same ledger: its first org would get ledger number 1 and
    // share the first installation's control accounts.
    const second = await database();
    const error = await refusal(
      checkInstallation({ db: second.db, ledger, secrets: createTestSecrets() }, labels(file)),
    );
    expect(error.part).toBe("database");
    expect(error.message).toContain(`already serves installation ${created.installationId}`);
    expect(await second.db.select().from(installation)).toEqual([]);
  });

  it("refuses secrets that are not the database's, naming each key that differs", async () => {
    const db = await database();
    const file = ledgerFile();
    const ledger = openLedger(file);
    const secrets = createTestSecrets();
    await checkInstallation({ db: db.db, ledger, secrets }, labels(file));

    const others = createTestSecrets();
    const oneWrong = { ...secrets, piiEncryptionKey: others.piiEncryptionKey };
    const error = await refusal(
      checkInstallation({ db: db.db, ledger, secrets: oneWrong }, labels(file)),
    );
    expect(error.part).toBe("secrets");
    expect(error.message).toContain("PII_ENCRYPTION_KEY is not the key");
    expect(error.message).not.toContain("API_KEY_HASH_KEY");

    const twoWrong = {
      ...secrets,
      piiHashKey: others.piiHashKey,
      apiKeyHashKey: others.apiKeyHashKey,
    };
    const both = await refusal(
      checkInstallation({ db: db.db, ledger, secrets: twoWrong }, labels(file)),
    );
    expect(both.message).toContain("PII_HASH_KEY, API_KEY_HASH_KEY are not the key");

    // The CLI opens the database only, and checks the same fingerprints.
    const cli = await refusal(checkSecretsBelong({ db: db.db, secrets: oneWrong }, labels(file)));
    expect(cli.part).toBe("secrets");
    await expect(checkSecretsBelong({ db: db.db, secrets }, labels(file))).resolves.toBeUndefined();
  });

  it("adopts a database and ledger from before identities existed, refusing foreign keys", async () => {
    const db = await database();
    const file = ledgerFile();
    const ledger = openLedger(file);
    const secrets = createTestSecrets();
    // As such an installation is: data in both stores, no identity in either.
    await populate(db, ledger, secrets);

    const foreign = await refusal(
      checkInstallation(
        {
          db: db.db,
          ledger,
          secrets: { ...secrets, piiEncryptionKey: createTestSecrets().piiEncryptionKey },
        },
        labels(file),
      ),
    );
    expect(foreign.part).toBe("secrets");
    expect(foreign.message).toContain("PII_ENCRYPTION_KEY does not decrypt");
    expect(await db.db.select().from(installation)).toEqual([]);

    const emptyFile = ledgerFile();
    const empty = await refusal(
      checkInstallation({ db: db.db, ledger: openLedger(emptyFile), secrets }, labels(emptyFile)),
    );
    expect(empty.part).toBe("ledger");

    const adopted = await checkInstallation({ db: db.db, ledger, secrets }, labels(file));
    expect(adopted.outcome).toBe("adopted");
    expect(await readInstallationMarker(ledger)).toBe(adopted.installationId);
  });

  it("two processes starting at once on an empty database and ledger agree on one identity", async () => {
    const db = await database();
    const file = ledgerFile();
    const ledger = openLedger(file);
    const secrets = createTestSecrets();
    const [one, two] = await Promise.all([
      checkInstallation({ db: db.db, ledger, secrets }, labels(file)),
      checkInstallation({ db: db.db, ledger, secrets }, labels(file)),
    ]);
    expect(one.installationId).toBe(two.installationId);
    expect(await db.db.select().from(installation)).toHaveLength(1);
  });
});
