/**
 * Command-line tool for operators: `npm run cli -- org create --name … --slug … --currency …`
 * creates an org and prints it with its three API keys, so a first org needs no platform token;
 * `org list` lists the orgs; `keys create|list|revoke --org <slug>` manages an org's API keys
 * (a way back in for an org that lost its admin key). Key changes are audited with no actor
 * key (the platform acted).
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
import type { ApiKey, CreateOrgResult, Db, MembershipSecrets } from "./membership/index.ts";
import {
  checkSecretsBelong,
  createApiKey,
  createOrg,
  currencyPattern,
  getOrgBySlug,
  InstallationMismatchError,
  isDomainError,
  isTimeZone,
  listApiKeys,
  listOrgs,
  membershipLimits,
  openServiceDatabase,
  platformActor,
  redactedDatabaseUrl,
  revokeApiKey,
  SchemaOutOfDateError,
  slugPattern,
} from "./membership/index.ts";
import { resolveSecrets, SecretsError } from "./secrets.ts";

const usage = `Usage:
  npm run cli -- org create --name <name> --slug <slug> --currency <ISO 4217> [--timezone <IANA>]
  npm run cli -- org list
  npm run cli -- keys list --org <slug>
  npm run cli -- keys create --org <slug> --role admin|pos|finance --name <name> [--expires-at <RFC 3339>]
  npm run cli -- keys revoke --org <slug> --id <key id>

org create makes an org with default settings and tiers, and prints it with one API key per role
(admin, pos, finance). Keys (from org create and keys create) are shown once; store them now.
keys revoke refuses the org's last live admin key: create another admin key first.

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

/** Parses `args` as the string options `schema` names (as --kebab-case flags), or says why not. */
function parseOptions<T extends z.ZodObject>(args: string[], schema: T): z.infer<T> {
  const flags = Object.keys(schema.shape).map((key) =>
    key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: Object.fromEntries(flags.map((flag) => [flag, { type: "string" as const }])),
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const camel = Object.fromEntries(
    Object.entries(values).map(([flag, value]) => [
      flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
      value,
    ]),
  );
  const parsed = schema.safeParse(camel);
  if (!parsed.success) {
    throw new UsageError(
      parsed.error.issues
        .map(
          (issue) =>
            `--${issue.path.join(".").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`,
        )
        .join("\n"),
    );
  }
  return parsed.data;
}

const slugOption = z.string().regex(slugPattern, "an org's slug");
const keysListSchema = z.object({ org: slugOption }).strict();
const keysCreateSchema = z
  .object({
    org: slugOption,
    role: z.enum(["admin", "pos", "finance"]),
    name: z.string().min(1).max(membershipLimits.apiKeyNameLengthMax),
    expiresAt: z.iso
      .datetime({ offset: true })
      .refine((value) => Date.parse(value) > Date.now(), "must be in the future")
      .optional(),
  })
  .strict();
const keysRevokeSchema = z.object({ org: slugOption, id: z.string().min(1).max(64) }).strict();

function keyJson(key: ApiKey): Record<string, unknown> {
  return {
    id: key.id,
    role: key.role,
    name: key.name,
    prefix: key.prefix,
    created_at: key.createdAt.toISOString(),
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    expires_at: key.expiresAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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

/** Opens the service's database as the service would, checks the secrets belong, runs `work`. */
async function withDatabase(
  work: (deps: { db: Db; secrets: MembershipSecrets }) => Promise<void>,
): Promise<void> {
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
    await work({ db: database.db, secrets });
  } finally {
    await database.close();
  }
}

async function orgCreate(args: string[]): Promise<void> {
  const options = parseOptions(args, orgOptionsSchema);
  await withDatabase(async (deps) => {
    const created = await createOrg(deps, {
      name: options.name,
      slug: options.slug,
      currency: options.currency,
      ...(options.timezone === undefined ? {} : { timezone: options.timezone }),
    });
    process.stdout.write(output(created));
  });
}

async function orgList(args: string[]): Promise<void> {
  parseOptions(args, z.object({}).strict());
  await withDatabase(async (deps) => {
    const orgs = await listOrgs(deps);
    print({
      orgs: orgs.map((org) => ({
        id: org.id,
        name: org.name,
        slug: org.slug,
        currency: org.currency,
        timezone: org.timezone,
        created_at: org.createdAt.toISOString(),
      })),
    });
  });
}

async function keysCommand(action: string | undefined, args: string[]): Promise<void> {
  if (action === "list") {
    const options = parseOptions(args, keysListSchema);
    await withDatabase(async (deps) => {
      const org = await getOrgBySlug(deps, { slug: options.org });
      print({ api_keys: (await listApiKeys(deps, { orgId: org.id })).map(keyJson) });
    });
    return;
  }
  if (action === "create") {
    const options = parseOptions(args, keysCreateSchema);
    await withDatabase(async (deps) => {
      const org = await getOrgBySlug(deps, { slug: options.org });
      const key = await createApiKey(deps, {
        orgId: org.id,
        role: options.role,
        name: options.name,
        expiresAt: options.expiresAt === undefined ? null : new Date(options.expiresAt),
        actor: platformActor,
      });
      print({ api_key: { ...keyJson(key), token: key.token } });
    });
    return;
  }
  if (action === "revoke") {
    const options = parseOptions(args, keysRevokeSchema);
    await withDatabase(async (deps) => {
      const org = await getOrgBySlug(deps, { slug: options.org });
      const key = await revokeApiKey(deps, {
        orgId: org.id,
        keyId: options.id,
        actor: platformActor,
      });
      print({ api_key: keyJson(key) });
    });
    return;
  }
  throw new UsageError(`unknown keys command: ${action ?? "(none)"}`);
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
  if (resource === "org" && action === "list") {
    await orgList(rest);
    return;
  }
  if (resource === "keys") {
    await keysCommand(action, rest);
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
