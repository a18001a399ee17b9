/**
 * Command-line tool for operators: `npm run cli -- org create --name … --slug … --currency …`
 * creates an org and prints it with its three API keys, so a first org needs no platform token.
 *
 * It reads the same configuration as the server (DATABASE_URL, the secrets, and the generated
 * development secrets file) and talks to Postgres only. The org's ledger accounts are created on
 * first use (the first enrolment), so the CLI never opens the ledger, and can run while the
 * server holds the embedded engine's data file.
 *
 * Output: JSON on stdout (the same shape as `POST /v1/orgs`); logs and errors on stderr.
 * Exit status: 0 done, 1 failed, 2 usage.
 */
import { parseArgs } from "node:util";
import { pino } from "pino";
import { z } from "zod";
import { ConfigError, loadConfig } from "./config.ts";
import type { CreateOrgResult } from "./membership/index.ts";
import {
  checkSecretsBelong,
  createOrg,
  currencyPattern,
  InstallationMismatchError,
  isDomainError,
  isTimeZone,
  membershipLimits,
  openServiceDatabase,
  redactedDatabaseUrl,
  SchemaOutOfDateError,
  slugPattern,
} from "./membership/index.ts";
import { resolveSecrets, SecretsError } from "./secrets.ts";

const usage = `Usage:
  npm run cli -- org create --name <name> --slug <slug> --currency <ISO 4217> [--timezone <IANA>]

Creates an org with default settings and tiers, and prints it with one API key per role
(admin, pos, finance). The keys are shown once; store them now.

Example:
  npm run cli -- org create --name "Corner Coffee" --slug corner-coffee --currency EUR
`;

const orgOptionsSchema = z
  .object({
    name: z.string().min(1).max(membershipLimits.orgNameLengthMax),
    slug: z.string().regex(slugPattern, "lower-case letters, digits and inner hyphens"),
    currency: z.string().regex(currencyPattern, "an ISO 4217 code such as EUR"),
    timezone: z.string().refine(isTimeZone, "an IANA time zone such as Europe/Paris").optional(),
  })
  .strict();

class UsageError extends Error {}

function fail(message: string, status: 1 | 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(status);
}

function parseOrgCreate(args: string[]): z.infer<typeof orgOptionsSchema> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        name: { type: "string" },
        slug: { type: "string" },
        currency: { type: "string" },
        timezone: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const parsed = orgOptionsSchema.safeParse(values);
  if (!parsed.success) {
    throw new UsageError(
      parsed.error.issues.map((issue) => `--${issue.path.join(".")}: ${issue.message}`).join("\n"),
    );
  }
  return parsed.data;
}

function output(created: CreateOrgResult): string {
  const { org, apiKeys } = created;
  return `${JSON.stringify(
    {
      org: {
        id: org.id,
        name: org.name,
        slug: org.slug,
        currency: org.currency,
        timezone: org.timezone,
        created_at: org.createdAt.toISOString(),
      },
      api_keys: {
        admin: apiKeys.admin.token,
        pos: apiKeys.pos.token,
        finance: apiKeys.finance.token,
      },
    },
    null,
    2,
  )}\n`;
}

async function orgCreate(args: string[]): Promise<void> {
  const options = parseOrgCreate(args);
  const config = loadConfig();
  // Logs go to stderr so stdout stays machine-readable.
  const logger = pino({ level: config.log.level }, pino.destination(2));
  const secrets = resolveSecrets(config.secrets, {
    nodeEnv: config.nodeEnv,
    dataDirectory: config.dataDirectory,
    logger,
  });
  // The service's schema rule: in production an out-of-date schema is refused, not migrated,
  // unless MIGRATE_ON_START=true (`npm run migrate` is the deployment step).
  const { database } = await openServiceDatabase(
    {
      url: config.postgres.url,
      poolMax: 1,
      statementTimeoutMs: config.postgres.statementTimeoutMs,
      applicationName: "loyalty-ledger-cli",
    },
    { migrate: config.postgres.migrateOnStart },
  );
  try {
    // Keys that are not this database's would write API keys the server cannot recognise.
    await checkSecretsBelong(
      { db: database.db, secrets },
      { database: redactedDatabaseUrl(config.postgres.url) },
    );
    const created = await createOrg(
      { db: database.db, secrets },
      {
        name: options.name,
        slug: options.slug,
        currency: options.currency,
        ...(options.timezone === undefined ? {} : { timezone: options.timezone }),
      },
    );
    process.stdout.write(output(created));
  } finally {
    await database.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [resource, action, ...rest] = argv;
  if (resource === undefined || resource === "--help" || resource === "help") {
    process.stdout.write(usage);
    return;
  }
  if (resource === "org" && action === "create") {
    await orgCreate(rest);
    return;
  }
  throw new UsageError(`unknown command: ${argv.join(" ")}`);
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    fail(`${error.message}\n\n${usage}`, 2);
  }
  if (
    error instanceof ConfigError ||
    error instanceof SecretsError ||
    error instanceof InstallationMismatchError ||
    error instanceof SchemaOutOfDateError
  ) {
    fail(error.message, 1);
  }
  if (isDomainError(error)) {
    fail(`${error.code}: ${error.message}`, 1);
  }
  fail(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, 1);
}
