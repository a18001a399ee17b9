/**
 * The server's keys: field encryption of member personal data, the keyed hash of e-mail and
 * phone lookups, the keyed hash of API keys, and the signing key of member app tokens.
 *
 * In production every key comes from the environment and a missing one stops start-up. In
 * development and test, keys the environment leaves unset come from `secrets.json` in the data
 * directory, which is generated once (mode 0600) so `npm start` works with no configuration and
 * keeps working across restarts: a new key would make every stored ciphertext and API key hash
 * unreadable. The file is created with link(2), which fails when the name exists, so two
 * processes starting at once (the server and the CLI) cannot end up with different keys.
 *
 * A file written before member app tokens existed lacks their key: it is added once, by
 * replacing the file atomically (rename). Two processes upgrading the same file at the same
 * instant may each keep their own member token key until restarted; the only effect is that a
 * member token signed by one is refused by the other (401), and the member signs in again.
 * The file's other keys are never rewritten with new values.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import type { NodeEnv, SecretsConfig } from "./config.ts";
import { secretBytes } from "./config.ts";
import type { MembershipSecrets } from "./membership/index.ts";
import { assertMembershipSecrets } from "./membership/index.ts";

export const secretsFileName = "secrets.json";

/**
 * Every key of the server: membership's, and the member token key, which only the HTTP edge
 * uses (it signs and verifies member app tokens; membership never sees it).
 */
export interface ServerSecrets extends MembershipSecrets {
  memberTokenSecret: Buffer;
}

/** The environment variable of each secret, for messages. */
const variableOf: Record<keyof ServerSecrets, string> = {
  piiEncryptionKey: "PII_ENCRYPTION_KEY",
  piiHashKey: "PII_HASH_KEY",
  apiKeyHashKey: "API_KEY_HASH_KEY",
  memberTokenSecret: "MEMBER_TOKEN_SECRET",
};
const secretNames = Object.keys(variableOf) as Array<keyof ServerSecrets>;

/** Start-up cannot go on: a secret is missing in production, or the secrets file is unusable. */
export class SecretsError extends Error {
  override readonly name = "SecretsError";
}

const hexKey = z.string().regex(new RegExp(`^[0-9a-f]{${secretBytes * 2}}$`));
const secretsFileSchema = z
  .object({
    version: z.literal(1),
    pii_encryption_key: hexKey,
    pii_hash_key: hexKey,
    api_key_hash_key: hexKey,
    // Absent in files written before member app tokens: added on first use (see the header).
    member_token_secret: hexKey.optional(),
  })
  .strict();
type SecretsFile = z.infer<typeof secretsFileSchema>;

export interface ResolveSecretsOptions {
  nodeEnv: NodeEnv;
  /** Where `secrets.json` lives (the ledger data file's directory). */
  dataDirectory: string;
  logger: Logger;
}

/**
 * The keys to run with: the environment's, else (outside production) the secrets file's,
 * generating that file on first use.
 *
 * @example
 * const secrets = resolveSecrets(config.secrets, { nodeEnv, dataDirectory, logger });
 */
export function resolveSecrets(
  configured: SecretsConfig,
  options: ResolveSecretsOptions,
): ServerSecrets {
  const missing = secretNames.filter((name) => configured[name] === undefined);
  let stored: ServerSecrets | undefined;
  if (missing.length > 0) {
    const variables = missing.map((name) => variableOf[name]).join(", ");
    if (options.nodeEnv === "production") {
      throw new SecretsError(
        `Missing secrets: ${variables}. In production every key must be set in the environment ` +
          `to ${secretBytes} random bytes, e.g. \`openssl rand -hex 32\`; generated keys are for ` +
          "development only.",
      );
    }
    const path = join(options.dataDirectory, secretsFileName);
    const { secrets, created } = loadOrCreateSecretsFile(path);
    stored = secrets;
    if (created) {
      options.logger.warn(
        { path, variables: missing.map((name) => variableOf[name]) },
        "generated development secrets; keep this file: without it stored personal data and " +
          "API keys cannot be read. Set the variables in production",
      );
    } else {
      options.logger.info(
        { path, variables: missing.map((name) => variableOf[name]) },
        "using development secrets from file",
      );
    }
  }
  const resolve = (name: keyof ServerSecrets): Buffer => {
    const value = configured[name] ?? stored?.[name];
    if (value === undefined) {
      throw new SecretsError(`${variableOf[name]} is not set`);
    }
    return value;
  };
  const secrets: ServerSecrets = {
    piiEncryptionKey: resolve("piiEncryptionKey"),
    piiHashKey: resolve("piiHashKey"),
    apiKeyHashKey: resolve("apiKeyHashKey"),
    memberTokenSecret: resolve("memberTokenSecret"),
  };
  for (const [first, second] of [
    ["piiEncryptionKey", "piiHashKey"],
    ["apiKeyHashKey", "piiHashKey"],
    ["piiEncryptionKey", "apiKeyHashKey"],
    ["memberTokenSecret", "piiEncryptionKey"],
    ["memberTokenSecret", "piiHashKey"],
    ["memberTokenSecret", "apiKeyHashKey"],
  ] as const) {
    if (secrets[first].equals(secrets[second])) {
      throw new SecretsError(
        `${variableOf[first]} and ${variableOf[second]} must differ: one key per purpose`,
      );
    }
  }
  assertMembershipSecrets(secrets);
  assert.equal(secrets.memberTokenSecret.length, secretBytes, "member token key is 32 bytes");
  return secrets;
}

function loadOrCreateSecretsFile(path: string): { secrets: ServerSecrets; created: boolean } {
  const directory = join(path, "..");
  const existing = readSecretsFile(path);
  if (existing !== undefined) {
    if (existing.member_token_secret !== undefined) {
      return { secrets: toSecrets(existing), created: false };
    }
    // Written before member app tokens: add their key, keep every other key as it is.
    const temporary = writeTemporary(path, {
      ...existing,
      member_token_secret: randomBytes(secretBytes).toString("hex"),
    });
    renameSync(temporary, path);
    fsyncDirectory(directory);
    return { secrets: toSecrets(requireSecretsFile(path)), created: false };
  }
  mkdirSync(directory, { recursive: true });
  const generated: SecretsFile = {
    version: 1,
    pii_encryption_key: randomBytes(secretBytes).toString("hex"),
    pii_hash_key: randomBytes(secretBytes).toString("hex"),
    api_key_hash_key: randomBytes(secretBytes).toString("hex"),
    member_token_secret: randomBytes(secretBytes).toString("hex"),
  };
  const temporary = writeTemporary(path, generated);
  try {
    linkSync(temporary, path);
  } catch (error) {
    // Another process created it first: theirs is the one every process must use.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
      throw error;
    }
  } finally {
    unlinkSync(temporary);
  }
  fsyncDirectory(directory);
  return { secrets: toSecrets(requireSecretsFile(path)), created: true };
}

/** Writes `content` to a new file (mode 0600) beside `path` and returns its name. */
function writeTemporary(path: string, content: SecretsFile): string {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const fd = openSync(temporary, "wx", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(content, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temporary;
}

function fsyncDirectory(directory: string): void {
  const directoryFd = openSync(directory, "r");
  try {
    fsyncSync(directoryFd);
  } finally {
    closeSync(directoryFd);
  }
}

function requireSecretsFile(path: string): SecretsFile {
  const file = readSecretsFile(path);
  if (file === undefined) {
    throw new SecretsError(`${path} vanished right after it was written`);
  }
  return file;
}

function toSecrets(file: SecretsFile): ServerSecrets {
  assert.ok(file.member_token_secret !== undefined, "the file was upgraded before use");
  return {
    piiEncryptionKey: Buffer.from(file.pii_encryption_key, "hex"),
    piiHashKey: Buffer.from(file.pii_hash_key, "hex"),
    apiKeyHashKey: Buffer.from(file.api_key_hash_key, "hex"),
    memberTokenSecret: Buffer.from(file.member_token_secret, "hex"),
  };
}

function readSecretsFile(path: string): SecretsFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return undefined;
    }
    throw error;
  }
  // Group or world access to the keys is a mistake worth refusing to run with.
  if ((statSync(path).mode & 0o077) !== 0) {
    throw new SecretsError(`${path} is readable by other users; run chmod 600 ${path}`);
  }
  try {
    return secretsFileSchema.parse(JSON.parse(text));
  } catch {
    throw new SecretsError(
      `${path} is not a valid secrets file; restore it from a backup (deleting it makes stored ` +
        "personal data and API keys unreadable)",
    );
  }
}
