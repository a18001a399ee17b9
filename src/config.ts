/**
 * The one place that reads the environment. `loadConfig` parses it once at start-up with zod
 * and hands each factory the slice it needs; nothing else reads `process.env`.
 *
 * To add a component: declare its variables in `envSchema` (with a default when the service can
 * run without them), then add a slice to `Config` and build it in `toConfig`.
 */
import { isIPv4, isIPv6 } from "node:net";
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

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  TB_ADDRESS: z.preprocess(emptyAsUnset, addressSchema.optional()),
  TB_CLUSTER_ID: z.preprocess(emptyAsUnset, clusterIdSchema.default(0n)),
  LEDGER_DATA_FILE: z.preprocess(emptyAsUnset, z.string().default("./data/ledger.tb")),
});

type Env = z.output<typeof envSchema>;

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
  const result = envSchema.safeParse(env);
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
