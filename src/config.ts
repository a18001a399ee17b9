/**
 * The one place that reads the environment. `loadConfig` parses it once at start-up with zod
 * and hands each factory the slice it needs; nothing else reads `process.env`.
 *
 * To add a component: declare its variables in `envSchema` (with a default when the service can
 * run without them), then add a slice to `Config` and build it in `toConfig`.
 */
import { isIPv4, isIPv6 } from "node:net";
import { dirname } from "node:path";
import { z } from "zod";
import type { LedgerConfig } from "./ledger/index.ts";
// The limits file is a leaf of constants; importing it directly keeps parsing the environment
// free of loading the ledger engine.
import { replicaAddressesMax } from "./ledger/limits.ts";

export type NodeEnv = "development" | "test" | "production";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  nodeEnv: NodeEnv;
  log: { level: LogLevel };
  ledger: LedgerConfig;
  http: HttpConfig;
  postgres: PostgresConfig;
  redis: RedisConfig;
  /**
   * Keys given in the environment, as bytes. A missing one is `undefined`: `resolveSecrets`
   * (src/secrets.ts) generates it in development and refuses to start in production.
   */
  secrets: SecretsConfig;
  /** Where generated development secrets are kept: `secrets.json` beside the ledger data file. */
  dataDirectory: string;
  workers: WorkersConfig;
}

export interface WorkersConfig {
  /** WEBHOOK_RETRY_DELAYS_MS: replaces the standard webhook retry schedule; null keeps it. */
  webhookRetryDelaysMs: number[] | null;
  /** WEBHOOK_ALLOW_PRIVATE: allow webhook URLs on loopback, private and link-local addresses. */
  webhookAllowPrivate: boolean;
}

export interface HttpConfig {
  host: string;
  port: number;
  /** Bearer token of `POST /v1/orgs`; unset disables that route. */
  platformToken: string | undefined;
  /** Requests one API key may make per window before it gets 429. */
  rateLimitRequests: number;
  rateLimitWindowSeconds: number;
  /** How long shutdown waits for requests in flight and clients to close. */
  shutdownGraceMs: number;
  /** Lifetime of a member app token (`POST /v1/members/{id}/sessions`). */
  memberTokenTtlSeconds: number;
}

export interface PostgresConfig {
  url: string;
  poolMax: number;
  statementTimeoutMs: number;
  /** Apply pending migrations at start; otherwise an out-of-date schema stops the service. */
  migrateOnStart: boolean;
}

export interface RedisConfig {
  url: string;
  /** Prepended to every key this service writes, so several deployments can share a server. */
  keyPrefix: string;
}

export interface SecretsConfig {
  piiEncryptionKey: Buffer | undefined;
  piiHashKey: Buffer | undefined;
  apiKeyHashKey: Buffer | undefined;
  /** HMAC-SHA256 key of member app tokens (JWT HS256). */
  memberTokenSecret: Buffer | undefined;
}

/** Raised with every invalid variable listed, one per line, so one restart fixes them all. */
export class ConfigError extends Error {
  readonly variables: string[];

  constructor(problems: Array<{ variable: string; message: string }>) {
    const lines = problems.map((problem) => `  ${problem.variable}: ${problem.message}`);
    super(`Invalid environment configuration:\n${lines.join("\n")}`);
    this.name = "ConfigError";
    this.variables = problems.map((problem) => problem.variable);
  }
}

const u128Max = 2n ** 128n - 1n;
const portMax = 65_535;
/** Every secret is 32 random bytes: AES-256 wants exactly that, HMAC-SHA256 no less. */
export const secretBytes = 32;
/** Shortest PLATFORM_TOKEN accepted: it creates orgs, so it must not be guessable. */
export const platformTokenLengthMin = 32;
export const platformTokenLengthMax = 256;
const poolMaxLimit = 100;
const statementTimeoutMsMin = 100;
const statementTimeoutMsMax = 10 * 60 * 1000;
const rateLimitRequestsMax = 10_000_000;
const rateLimitWindowSecondsMax = 24 * 60 * 60;
const shutdownGraceMsMin = 1_000;
const shutdownGraceMsMax = 10 * 60 * 1000;
/** A member token lives at least a minute (clock skew, a slow app start) and at most a day. */
export const memberTokenTtlSecondsMin = 60;
export const memberTokenTtlSecondsMax = 24 * 60 * 60;

/** An unset and an empty variable mean the same: `TB_ADDRESS=` in a .env file is "not set". */
function emptyAsUnset(value: unknown): unknown {
  return value === "" ? undefined : value;
}

const clusterIdSchema = z
  .string()
  .trim()
  .regex(/^[0-9]+$/, "must be a decimal integer (a u128), e.g. 0")
  .transform((value, ctx) => {
    const clusterId = BigInt(value);
    if (clusterId > u128Max) {
      ctx.addIssue("must fit in 128 bits (at most 2^128 - 1)");
      return z.NEVER;
    }
    return clusterId;
  });

/**
 * TigerBeetle clients accept a port (`3000`, meaning 127.0.0.1), an IPv4 address with or without
 * a port, or a bracketed IPv6 address with a port. They do not resolve host names, so a name is
 * refused here rather than by the native client later.
 */
function addressProblem(address: string): string | undefined {
  if (/^[0-9]+$/.test(address)) {
    return portProblem(address);
  }
  const ipv6 = /^\[([^\]]+)\]:([0-9]+)$/.exec(address);
  if (ipv6 !== null) {
    const [, host = "", port = ""] = ipv6;
    return isIPv6(host) ? portProblem(port) : `"${address}" is not a valid IPv6 address`;
  }
  const [host = "", port, ...rest] = address.split(":");
  if (rest.length > 0) {
    return `"${address}": write IPv6 addresses as [address]:port`;
  }
  if (!isIPv4(host)) {
    return `"${address}" is not an IP address (TigerBeetle clients do not resolve host names)`;
  }
  return port === undefined ? undefined : portProblem(port);
}

function portProblem(port: string): string | undefined {
  const value = /^[0-9]{1,5}$/.test(port) ? Number(port) : 0;
  return value >= 1 && value <= portMax ? undefined : `port "${port}" is not in 1..${portMax}`;
}

const addressSchema = z
  .string()
  .transform((value) =>
    value
      .split(",")
      .map((address) => address.trim())
      .filter((address) => address.length > 0),
  )
  .check((payload) => {
    const addresses = payload.value;
    if (addresses.length === 0) {
      payload.issues.push({ code: "custom", message: "lists no address", input: addresses });
    }
    if (addresses.length > replicaAddressesMax) {
      payload.issues.push({
        code: "custom",
        message: `lists ${addresses.length} addresses; a cluster has at most ${replicaAddressesMax}`,
        input: addresses,
      });
    }
    for (const address of addresses) {
      const problem = addressProblem(address);
      if (problem !== undefined) {
        payload.issues.push({ code: "custom", message: problem, input: address });
      }
    }
  });

/** A decimal integer variable within [min, max]. */
function integerSchema(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^[0-9]+$/, "must be a decimal integer")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/**
 * A 32-byte key written as 64 hex digits or as base64 (padded or not, standard or URL-safe).
 * Generate one with `openssl rand -hex 32`.
 */
const secretSchema = z
  .string()
  .trim()
  .transform((value, ctx) => {
    const bytes = /^[0-9a-fA-F]{64}$/.test(value)
      ? Buffer.from(value, "hex")
      : /^[A-Za-z0-9+/_-]+={0,2}$/.test(value)
        ? Buffer.from(value, "base64")
        : undefined;
    if (bytes === undefined || bytes.length !== secretBytes) {
      ctx.addIssue(
        `must be ${secretBytes} bytes written as 64 hex digits or base64 (openssl rand -hex 32)`,
      );
      return z.NEVER;
    }
    return bytes;
  });

/** `new URL` throws on what is not a URL; here that is an answer, not an exception. */
function parsedUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/**
 * A URL with one of `protocols`, checked by `extra` once it is known to be one. The URL is parsed
 * once, in this one check: zod runs every refinement even after one fails, so a second
 * `new URL` in a later refinement would throw on a non-URL (`DATABASE_URL=notaurl`) and the
 * variable's name would be lost in a `TypeError`.
 */
const urlSchema = (
  protocols: readonly string[],
  example: string,
  extra?: (url: URL) => string | undefined,
) =>
  z
    .string()
    .trim()
    .check((payload) => {
      const url = parsedUrl(payload.value);
      const problem =
        url === undefined || !protocols.includes(url.protocol)
          ? `must be a URL like ${example}`
          : extra?.(url);
      if (problem !== undefined) {
        payload.issues.push({ code: "custom", message: problem, input: payload.value });
      }
    });

/** The clients percent-decode these parts and throw `URIError` on a stray `%`. */
function credentialsProblem(url: URL): string | undefined {
  for (const [part, value] of [
    ["user name", url.username],
    ["password", url.password],
  ] as const) {
    try {
      decodeURIComponent(value);
    } catch {
      return `the ${part} is not valid percent-encoding (write % as %25)`;
    }
  }
  return undefined;
}

const databaseUrlSchema = urlSchema(
  ["postgres:", "postgresql:"],
  "postgres://user@host:5432/database",
  (url) => {
    const database = url.pathname.replace(/^\//, "");
    if (database.length === 0) {
      return "must name a database, e.g. postgres://postgres@127.0.0.1:5432/loyalty";
    }
    try {
      decodeURIComponent(database);
    } catch {
      return "the database name is not valid percent-encoding (write % as %25)";
    }
    return credentialsProblem(url);
  },
);

const redisUrlSchema = urlSchema(["redis:", "rediss:"], "redis://127.0.0.1:6379", (url) =>
  /^\/?([0-9]{1,5})?$/.test(url.pathname)
    ? credentialsProblem(url)
    : "the path may only be a database number, e.g. redis://127.0.0.1:6379/0",
);

/** Longest single webhook retry delay: a day (the whole schedule ends 24 h after the first try). */
const retryDelayMsMax = 24 * 60 * 60 * 1000;
/** Entries of a retry schedule. */
const retryDelaysMax = 100;
const retryDelaysSchema = z
  .string()
  .regex(/^[0-9]+(,[0-9]+)*$/, "comma-separated whole milliseconds, e.g. 10,20,40")
  .transform((text) => text.split(",").map(Number))
  .pipe(z.array(z.number().int().min(1).max(retryDelayMsMax)).min(1).max(retryDelaysMax));

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  TB_ADDRESS: z.preprocess(emptyAsUnset, addressSchema.optional()),
  TB_CLUSTER_ID: z.preprocess(emptyAsUnset, clusterIdSchema.default(0n)),
  LEDGER_DATA_FILE: z.preprocess(emptyAsUnset, z.string().default("./data/ledger.tb")),
  HOST: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .refine((value) => isIPv4(value) || isIPv6(value), "must be an IP address, e.g. 0.0.0.0")
      .default("0.0.0.0"),
  ),
  PORT: z.preprocess(emptyAsUnset, integerSchema(1, portMax).default(3000)),
  DATABASE_URL: z.preprocess(
    emptyAsUnset,
    databaseUrlSchema.default("postgres://postgres@127.0.0.1:5432/loyalty"),
  ),
  DATABASE_POOL_MAX: z.preprocess(emptyAsUnset, integerSchema(1, poolMaxLimit).default(10)),
  DATABASE_STATEMENT_TIMEOUT_MS: z.preprocess(
    emptyAsUnset,
    integerSchema(statementTimeoutMsMin, statementTimeoutMsMax).default(5_000),
  ),
  // Unset: migrate at start except in production, where `npm run migrate` is a deployment step.
  MIGRATE_ON_START: z.preprocess(
    emptyAsUnset,
    z.enum(["true", "false"], { error: 'must be "true" or "false"' }).optional(),
  ),
  REDIS_URL: z.preprocess(emptyAsUnset, redisUrlSchema.default("redis://127.0.0.1:6379")),
  REDIS_KEY_PREFIX: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,64}$/, "letters, digits, ':', '_' or '-', at most 64")
      .default("loyalty:"),
  ),
  PLATFORM_TOKEN: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .min(platformTokenLengthMin, `must be at least ${platformTokenLengthMin} characters`)
      .max(platformTokenLengthMax, `must be at most ${platformTokenLengthMax} characters`)
      .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces")
      .optional(),
  ),
  RATE_LIMIT_REQUESTS: z.preprocess(
    emptyAsUnset,
    integerSchema(1, rateLimitRequestsMax).default(6_000),
  ),
  RATE_LIMIT_WINDOW_SECONDS: z.preprocess(
    emptyAsUnset,
    integerSchema(1, rateLimitWindowSecondsMax).default(60),
  ),
  SHUTDOWN_GRACE_MS: z.preprocess(
    emptyAsUnset,
    integerSchema(shutdownGraceMsMin, shutdownGraceMsMax).default(10_000),
  ),
  MEMBER_TOKEN_TTL_SECONDS: z.preprocess(
    emptyAsUnset,
    integerSchema(memberTokenTtlSecondsMin, memberTokenTtlSecondsMax).default(900),
  ),
  WEBHOOK_RETRY_DELAYS_MS: z.preprocess(emptyAsUnset, retryDelaysSchema.optional()),
  WEBHOOK_ALLOW_PRIVATE: z.preprocess(
    emptyAsUnset,
    z.enum(["true", "false"], { error: 'must be "true" or "false"' }).default("false"),
  ),
  PII_ENCRYPTION_KEY: z.preprocess(emptyAsUnset, secretSchema.optional()),
  PII_HASH_KEY: z.preprocess(emptyAsUnset, secretSchema.optional()),
  API_KEY_HASH_KEY: z.preprocess(emptyAsUnset, secretSchema.optional()),
  MEMBER_TOKEN_SECRET: z.preprocess(emptyAsUnset, secretSchema.optional()),
});

type Env = z.output<typeof envSchema>;

/** Every variable the service reads, for checks of deployment files (docker-compose*.yml). */
export const configVariables: readonly string[] = Object.keys(envSchema.shape);

function toConfig(env: Env): Config {
  const ledger: LedgerConfig = {
    clusterId: env.TB_CLUSTER_ID,
    dataFile: env.LEDGER_DATA_FILE,
  };
  if (env.TB_ADDRESS !== undefined) {
    ledger.address = env.TB_ADDRESS;
  }
  return {
    nodeEnv: env.NODE_ENV,
    log: { level: env.LOG_LEVEL },
    ledger,
    http: {
      host: env.HOST,
      port: env.PORT,
      platformToken: env.PLATFORM_TOKEN,
      rateLimitRequests: env.RATE_LIMIT_REQUESTS,
      rateLimitWindowSeconds: env.RATE_LIMIT_WINDOW_SECONDS,
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
      memberTokenTtlSeconds: env.MEMBER_TOKEN_TTL_SECONDS,
    },
    postgres: {
      url: env.DATABASE_URL,
      poolMax: env.DATABASE_POOL_MAX,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
      migrateOnStart:
        env.MIGRATE_ON_START === undefined
          ? env.NODE_ENV !== "production"
          : env.MIGRATE_ON_START === "true",
    },
    redis: { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX },
    secrets: {
      piiEncryptionKey: env.PII_ENCRYPTION_KEY,
      piiHashKey: env.PII_HASH_KEY,
      apiKeyHashKey: env.API_KEY_HASH_KEY,
      memberTokenSecret: env.MEMBER_TOKEN_SECRET,
    },
    dataDirectory: dirname(env.LEDGER_DATA_FILE),
    workers: {
      webhookRetryDelaysMs: env.WEBHOOK_RETRY_DELAYS_MS ?? null,
      webhookAllowPrivate: env.WEBHOOK_ALLOW_PRIVATE === "true",
    },
  };
}

/**
 * Parses the environment once. Throws a `ConfigError` naming every bad variable.
 *
 * @example
 * const config = loadConfig(); // at start-up, in main.ts only
 * const ledger = await createLedgerClient(config.ledger, logger);
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let result: ReturnType<typeof envSchema.safeParse>;
  try {
    result = envSchema.safeParse(env);
  } catch (error) {
    // A check that throws instead of reporting is a bug here, but the operator must still be
    // told which variable to fix, not shown a stack.
    throw new ConfigError(variablesThatThrow(env, error));
  }
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? "(environment)"),
        message: issue.message,
      })),
    );
  }
  return toConfig(result.data);
}

/** Parses each variable alone to find the one whose check threw. */
function variablesThatThrow(
  env: NodeJS.ProcessEnv,
  error: unknown,
): Array<{ variable: string; message: string }> {
  const problems: Array<{ variable: string; message: string }> = [];
  for (const [variable, schema] of Object.entries(envSchema.shape)) {
    try {
      schema.safeParse(env[variable]);
    } catch (thrown) {
      const reason = thrown instanceof Error ? thrown.message : String(thrown);
      problems.push({ variable, message: `could not be read (${reason})` });
    }
  }
  if (problems.length === 0) {
    const reason = error instanceof Error ? error.message : String(error);
    problems.push({ variable: "(environment)", message: `could not be read (${reason})` });
  }
  return problems;
}
