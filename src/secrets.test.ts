/**
 * Resolving the server's keys: environment first; in development the missing ones come from a
 * secrets file generated once (mode 0600) and reused; production refuses to start without them.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { SecretsConfig } from "./config.ts";
import { resolveSecrets, SecretsError, secretsFileName } from "./secrets.ts";

const logger = pino({ level: "silent" });
const none: SecretsConfig = {
  piiEncryptionKey: undefined,
  piiHashKey: undefined,
  apiKeyHashKey: undefined,
  memberTokenSecret: undefined,
};
const directories: string[] = [];

function dataDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), "loyalty-secrets-"));
  directories.push(directory);
  // A directory that does not exist yet, as on a fresh checkout.
  return join(directory, "data");
}

afterEach(() => {
  for (const directory of directories.splice(0)) {
    rmSync(directory, { recursive: true, force: true });
  }
});

describe("resolveSecrets", () => {
  it("generates the file once in development and reuses it", () => {
    const directory = dataDirectory();
    const first = resolveSecrets(none, {
      nodeEnv: "development",
      dataDirectory: directory,
      logger,
    });
    const path = join(directory, secretsFileName);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const second = resolveSecrets(none, { nodeEnv: "test", dataDirectory: directory, logger });
    expect(second).toEqual(first);
    expect(first.piiEncryptionKey).toHaveLength(32);
    expect(first.piiHashKey.equals(first.apiKeyHashKey)).toBe(false);
  });

  it("lets each environment variable override the file", () => {
    const directory = dataDirectory();
    const stored = resolveSecrets(none, {
      nodeEnv: "development",
      dataDirectory: directory,
      logger,
    });
    const piiHashKey = randomBytes(32);
    const mixed = resolveSecrets(
      { ...none, piiHashKey },
      { nodeEnv: "development", dataDirectory: directory, logger },
    );
    expect(mixed.piiHashKey.equals(piiHashKey)).toBe(true);
    expect(mixed.piiEncryptionKey.equals(stored.piiEncryptionKey)).toBe(true);
  });

  it("needs no file when the environment has every key", () => {
    const directory = dataDirectory();
    const configured = {
      piiEncryptionKey: randomBytes(32),
      piiHashKey: randomBytes(32),
      apiKeyHashKey: randomBytes(32),
      memberTokenSecret: randomBytes(32),
    };
    const secrets = resolveSecrets(configured, {
      nodeEnv: "production",
      dataDirectory: directory,
      logger,
    });
    expect(secrets).toEqual(configured);
    expect(() => statSync(join(directory, secretsFileName))).toThrow();
  });

  it("refuses to start in production without every key, naming the missing ones", () => {
    const directory = dataDirectory();
    const attempt = () =>
      resolveSecrets(
        { ...none, piiHashKey: randomBytes(32) },
        { nodeEnv: "production", dataDirectory: directory, logger },
      );
    expect(attempt).toThrow(SecretsError);
    expect(attempt).toThrow(/PII_ENCRYPTION_KEY, API_KEY_HASH_KEY, MEMBER_TOKEN_SECRET/);
    expect(() => statSync(join(directory, secretsFileName))).toThrow();
  });

  it("adds the member token key to a file written before it, keeping the other keys", () => {
    const directory = dataDirectory();
    const first = resolveSecrets(none, {
      nodeEnv: "development",
      dataDirectory: directory,
      logger,
    });
    const path = join(directory, secretsFileName);
    const { member_token_secret: _dropped, ...older } = JSON.parse(readFileSync(path, "utf8"));
    writeFileSync(path, JSON.stringify(older), { mode: 0o600 });
    const upgraded = resolveSecrets(none, {
      nodeEnv: "development",
      dataDirectory: directory,
      logger,
    });
    expect(upgraded.piiEncryptionKey.equals(first.piiEncryptionKey)).toBe(true);
    expect(upgraded.apiKeyHashKey.equals(first.apiKeyHashKey)).toBe(true);
    expect(upgraded.memberTokenSecret).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = resolveSecrets(none, { nodeEnv: "test", dataDirectory: directory, logger });
    expect(again).toEqual(upgraded);
  });

  it("refuses a file others can read, a corrupt file and one key used twice", () => {
    const directory = dataDirectory();
    resolveSecrets(none, { nodeEnv: "development", dataDirectory: directory, logger });
    const path = join(directory, secretsFileName);
    const options = { nodeEnv: "development" as const, dataDirectory: directory, logger };

    chmodSync(path, 0o644);
    expect(() => resolveSecrets(none, options)).toThrow(/chmod 600/);
    chmodSync(path, 0o600);

    const text = readFileSync(path, "utf8");
    writeFileSync(path, "{ not json", { mode: 0o600 });
    expect(() => resolveSecrets(none, options)).toThrow(/not a valid secrets file/);
    writeFileSync(path, text, { mode: 0o600 });

    const key = randomBytes(32);
    expect(() => resolveSecrets({ ...none, piiHashKey: key, apiKeyHashKey: key }, options)).toThrow(
      /must differ/,
    );
  });
});
