import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.ts";

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error;
    }
    throw error;
  }
  throw new Error("expected loadConfig to reject the environment");
}

describe("loadConfig", () => {
  it("uses the documented defaults for an empty environment", () => {
    const config = loadConfig({});
    expect(config.nodeEnv).toBe("development");
    expect(config.log.level).toBe("info");
    expect(config.ledger).toEqual({ clusterId: 0n, dataFile: "./data/ledger.tb" });
    expect(config.ledger.address).toBeUndefined();
  });

  it("treats empty variables as unset", () => {
    const config = loadConfig({ TB_ADDRESS: "", TB_CLUSTER_ID: "", LEDGER_DATA_FILE: "" });
    expect(config.ledger).toEqual({ clusterId: 0n, dataFile: "./data/ledger.tb" });
  });

  it("parses the cluster id as a u128 bigint, beyond Number's safe range", () => {
    const clusterId = 2n ** 128n - 1n;
    const config = loadConfig({ TB_CLUSTER_ID: clusterId.toString() });
    expect(config.ledger.clusterId).toBe(clusterId);
  });

  it("names a bad TB_CLUSTER_ID in the error", () => {
    for (const bad of ["-1", "1.5", "abc", "0x10", (2n ** 128n).toString()]) {
      const error = configError({ TB_CLUSTER_ID: bad });
      expect(error.variables).toEqual(["TB_CLUSTER_ID"]);
      expect(error.message).toContain("TB_CLUSTER_ID");
    }
  });

  it("splits TB_ADDRESS on commas and trims each address", () => {
    const config = loadConfig({ TB_ADDRESS: "3000, 127.0.0.1:3001 ,[::1]:3002,10.0.0.7" });
    expect(config.ledger.address).toEqual(["3000", "127.0.0.1:3001", "[::1]:3002", "10.0.0.7"]);
  });

  it("refuses host names and bad ports in TB_ADDRESS, naming the address", () => {
    for (const bad of ["tigerbeetle:3000", "127.0.0.1:0", "70000", "::1", "1,2,3,4,5,6,7"]) {
      const error = configError({ TB_ADDRESS: bad });
      expect(error.variables[0]).toBe("TB_ADDRESS");
    }
    expect(configError({ TB_ADDRESS: "3000,tigerbeetle:3000" }).message).toContain(
      "tigerbeetle:3000",
    );
  });

  it("reports every bad variable at once", () => {
    const error = configError({
      NODE_ENV: "staging",
      LOG_LEVEL: "verbose",
      TB_CLUSTER_ID: "x",
      TB_ADDRESS: "db:1",
    });
    expect([...error.variables].sort()).toEqual([
      "LOG_LEVEL",
      "NODE_ENV",
      "TB_ADDRESS",
      "TB_CLUSTER_ID",
    ]);
  });
});

describe("loadConfig: the service's variables", () => {
  it("uses the documented defaults for an empty environment", () => {
    const config = loadConfig({});
    expect(config.http).toEqual({
      host: "0.0.0.0",
      port: 3000,
      platformToken: undefined,
      rateLimitRequests: 6_000,
      rateLimitWindowSeconds: 60,
      shutdownGraceMs: 10_000,
      memberTokenTtlSeconds: 900,
    });
    expect(config.postgres).toEqual({
      url: "postgres://postgres@127.0.0.1:5432/loyalty",
      poolMax: 10,
      statementTimeoutMs: 5_000,
      migrateOnStart: true,
    });
    expect(config.redis).toEqual({ url: "redis://127.0.0.1:6379", keyPrefix: "loyalty:" });
    expect(config.secrets).toEqual({
      piiEncryptionKey: undefined,
      piiHashKey: undefined,
      apiKeyHashKey: undefined,
      memberTokenSecret: undefined,
    });
    expect(config.dataDirectory).toBe("./data");
  });

  it("bounds MEMBER_TOKEN_TTL_SECONDS to a minute..a day", () => {
    const ttl = (value: string) =>
      loadConfig({ MEMBER_TOKEN_TTL_SECONDS: value }).http.memberTokenTtlSeconds;
    expect(ttl("60")).toBe(60);
    expect(ttl("86400")).toBe(86_400);
    for (const value of ["59", "86401", "0", "1.5", "soon"]) {
      expect(configError({ MEMBER_TOKEN_TTL_SECONDS: value }).variables, value).toEqual([
        "MEMBER_TOKEN_TTL_SECONDS",
      ]);
    }
  });

  it("reads MEMBER_TOKEN_SECRET as a 32-byte key", () => {
    const bytes = Buffer.alloc(32, 9);
    const config = loadConfig({ MEMBER_TOKEN_SECRET: bytes.toString("hex") });
    expect(config.secrets.memberTokenSecret?.equals(bytes)).toBe(true);
    expect(configError({ MEMBER_TOKEN_SECRET: "short" }).variables).toEqual([
      "MEMBER_TOKEN_SECRET",
    ]);
  });

  it("migrates at start except in production, unless MIGRATE_ON_START says otherwise", () => {
    const migrates = (env: NodeJS.ProcessEnv) => loadConfig(env).postgres.migrateOnStart;
    expect(migrates({})).toBe(true);
    expect(migrates({ NODE_ENV: "test" })).toBe(true);
    expect(migrates({ NODE_ENV: "production" })).toBe(false);
    expect(migrates({ NODE_ENV: "production", MIGRATE_ON_START: "true" })).toBe(true);
    expect(migrates({ NODE_ENV: "development", MIGRATE_ON_START: "false" })).toBe(false);
    expect(configError({ MIGRATE_ON_START: "yes" }).variables).toEqual(["MIGRATE_ON_START"]);
  });

  it("reads secrets written as hex or base64, 32 bytes each", () => {
    const bytes = Buffer.alloc(32, 7);
    const config = loadConfig({
      PII_ENCRYPTION_KEY: bytes.toString("hex"),
      PII_HASH_KEY: bytes.toString("base64"),
      API_KEY_HASH_KEY: bytes.toString("base64url"),
    });
    expect(config.secrets.piiEncryptionKey?.equals(bytes)).toBe(true);
    expect(config.secrets.piiHashKey?.equals(bytes)).toBe(true);
    expect(config.secrets.apiKeyHashKey?.equals(bytes)).toBe(true);
  });

  it("names every bad service variable at once", () => {
    const error = configError({
      PORT: "70000",
      HOST: "localhost",
      DATABASE_URL: "mysql://x/y",
      DATABASE_POOL_MAX: "0",
      DATABASE_STATEMENT_TIMEOUT_MS: "abc",
      REDIS_URL: "http://127.0.0.1",
      REDIS_KEY_PREFIX: "has space",
      PLATFORM_TOKEN: "short",
      RATE_LIMIT_REQUESTS: "-1",
      RATE_LIMIT_WINDOW_SECONDS: "1.5",
      SHUTDOWN_GRACE_MS: "10",
      PII_ENCRYPTION_KEY: "abcd",
      PII_HASH_KEY: Buffer.alloc(16).toString("hex"),
      API_KEY_HASH_KEY: "not base64 at all!",
    });
    expect([...error.variables].sort()).toEqual([
      "API_KEY_HASH_KEY",
      "DATABASE_POOL_MAX",
      "DATABASE_STATEMENT_TIMEOUT_MS",
      "DATABASE_URL",
      "HOST",
      "PII_ENCRYPTION_KEY",
      "PII_HASH_KEY",
      "PLATFORM_TOKEN",
      "PORT",
      "RATE_LIMIT_REQUESTS",
      "RATE_LIMIT_WINDOW_SECONDS",
      "REDIS_KEY_PREFIX",
      "REDIS_URL",
      "SHUTDOWN_GRACE_MS",
    ]);
    expect(error.message).toContain("openssl rand -hex 32");
  });

  it("refuses a database URL that names no database", () => {
    expect(configError({ DATABASE_URL: "postgres://postgres@127.0.0.1:5432/" }).variables).toEqual([
      "DATABASE_URL",
    ]);
  });

  it("names DATABASE_URL and REDIS_URL when they are not URLs at all", () => {
    // `new URL("notaurl")` throws; that must become a line of the list, not a TypeError.
    for (const bad of ["notaurl", "postgres//x", "://", "postgres://h:99999/db", " "]) {
      const error = configError({ DATABASE_URL: bad });
      expect(error.variables, bad).toEqual(["DATABASE_URL"]);
      expect(error.message).toContain("DATABASE_URL: must be a URL like postgres://");
    }
    for (const bad of ["notaurl", "127.0.0.1:6379", "redis://[::1"]) {
      const error = configError({ REDIS_URL: bad });
      expect(error.variables, bad).toEqual(["REDIS_URL"]);
      expect(error.message).toContain("REDIS_URL: must be a URL like redis://");
    }
  });

  it("refuses URL parts the clients would throw on later", () => {
    expect(configError({ DATABASE_URL: "postgres://u:p%zz@127.0.0.1/loyalty" }).message).toContain(
      "DATABASE_URL: the password is not valid percent-encoding",
    );
    expect(configError({ DATABASE_URL: "postgres://u%@127.0.0.1/loyalty" }).message).toContain(
      "DATABASE_URL: the user name is not valid percent-encoding",
    );
    expect(configError({ DATABASE_URL: "postgres://127.0.0.1/loy%zzalty" }).message).toContain(
      "DATABASE_URL: the database name is not valid percent-encoding",
    );
    expect(configError({ REDIS_URL: "redis://:%zz@127.0.0.1:6379" }).message).toContain(
      "REDIS_URL: the password is not valid percent-encoding",
    );
    expect(configError({ REDIS_URL: "redis://127.0.0.1:6379/cache" }).message).toContain(
      "REDIS_URL: the path may only be a database number",
    );
    const config = loadConfig({
      DATABASE_URL: "postgresql://app:p%25ss@10.0.0.5:6432/loyalty%20prod?sslmode=require",
      REDIS_URL: "rediss://:secret@10.0.0.6:6380/2",
    });
    expect(config.postgres.url).toBe(
      "postgresql://app:p%25ss@10.0.0.5:6432/loyalty%20prod?sslmode=require",
    );
    expect(config.redis.url).toBe("rediss://:secret@10.0.0.6:6380/2");
  });

  it("names every kind of bad variable in one list, never throwing anything else", () => {
    const env = {
      NODE_ENV: "prod",
      LOG_LEVEL: "loud",
      TB_ADDRESS: "tigerbeetle",
      TB_CLUSTER_ID: "-1",
      HOST: "example.com",
      PORT: "0",
      DATABASE_URL: "notaurl",
      DATABASE_POOL_MAX: "many",
      DATABASE_STATEMENT_TIMEOUT_MS: "1e3",
      REDIS_URL: "notaurl",
      REDIS_KEY_PREFIX: "a b",
      PLATFORM_TOKEN: "x",
      RATE_LIMIT_REQUESTS: "0",
      RATE_LIMIT_WINDOW_SECONDS: "-5",
      SHUTDOWN_GRACE_MS: "forever",
      PII_ENCRYPTION_KEY: "x",
      PII_HASH_KEY: "x",
      API_KEY_HASH_KEY: "x",
    };
    const error = configError(env);
    expect([...error.variables].sort()).toEqual(Object.keys(env).sort());
    for (const variable of Object.keys(env)) {
      expect(error.message).toMatch(new RegExp(`^  ${variable}: .+$`, "m"));
    }
  });

  it("names the variable even when reading it throws", () => {
    // The safety net behind every check: whatever goes wrong with one variable is reported
    // against its name, never as a bare exception.
    const env = new Proxy({} as NodeJS.ProcessEnv, {
      get(_target, name) {
        if (name === "PORT") {
          throw new TypeError("unreadable");
        }
        return undefined;
      },
    });
    const error = configError(env);
    expect(error.variables).toEqual(["PORT"]);
    expect(error.message).toContain("PORT: could not be read (unreadable)");
  });
});

describe("loadConfig: the workers' variables", () => {
  it("keeps the standard webhook schedule and public-only URLs by default", () => {
    expect(loadConfig({}).workers).toEqual({
      webhookRetryDelaysMs: null,
      webhookAllowPrivate: false,
    });
  });

  it("reads WEBHOOK_RETRY_DELAYS_MS as whole milliseconds and WEBHOOK_ALLOW_PRIVATE as a boolean", () => {
    const config = loadConfig({
      WEBHOOK_RETRY_DELAYS_MS: "10,20,40",
      WEBHOOK_ALLOW_PRIVATE: "true",
    });
    expect(config.workers).toEqual({
      webhookRetryDelaysMs: [10, 20, 40],
      webhookAllowPrivate: true,
    });
  });

  it("names a bad schedule or flag", () => {
    for (const value of ["10,,20", "1.5", "-1", "0", "10, 20", String(25 * 60 * 60 * 1000)]) {
      expect(configError({ WEBHOOK_RETRY_DELAYS_MS: value }).variables).toEqual([
        "WEBHOOK_RETRY_DELAYS_MS",
      ]);
    }
    expect(configError({ WEBHOOK_ALLOW_PRIVATE: "yes" }).variables).toEqual([
      "WEBHOOK_ALLOW_PRIVATE",
    ]);
  });
});
