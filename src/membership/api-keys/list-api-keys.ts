import { asc, eq } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { toApiKey } from "../store/records.ts";
import { apiKeys } from "../store/schema.ts";
import type { ApiKey } from "../types.ts";

/** Lists the org's API keys, revoked ones included, oldest first. Tokens are never returned. */
export async function listApiKeys(deps: DbDeps, input: { orgId: string }): Promise<ApiKey[]> {
  const rows = await deps.db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.orgId, input.orgId))
    .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
  return rows.map(toApiKey);
}
