import assert from "node:assert/strict";
import { createApiKey } from "../api-keys/create-api-key.ts";
import { platformActor } from "../audit/audit.ts";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { orgNameLengthMax } from "../limits.ts";
import { toOrg, toTier } from "../store/records.ts";
import { orgs, tierSets, tiers } from "../store/schema.ts";
import type { CreatedApiKey, Org, Tier } from "../types.ts";
import { currencyPattern, isTimeZone, slugPattern } from "../validation.ts";
import { allocateLedger } from "./allocate-ledger.ts";
import { defaultOrgSettings, orgSettingsSchema } from "./settings.ts";

export interface CreateOrgInput {
  name: string;
  slug: string;
  /** ISO 4217, e.g. "EUR". */
  currency: string;
  /** IANA zone; "UTC" when absent. */
  timezone?: string;
}

export interface CreateOrgResult {
  org: Org;
  /** The TigerBeetle ledger number of the org's points. */
  pointsLedger: number;
  /** The default tiers, by rank. */
  tiers: Tier[];
  /** One key per role, in plaintext: shown once, never retrievable again. */
  apiKeys: { admin: CreatedApiKey; pos: CreatedApiKey; finance: CreatedApiKey };
}

/** The name of the set every org starts with. */
export const defaultTierSetName = "Default";

/** Every org starts with this ladder; rank 0 is where members enrol. */
export const defaultTiers = [
  { name: "Bronze", rank: 0, qualifyingPointsMin: 0n, multiplierBps: 10_000 },
  { name: "Silver", rank: 1, qualifyingPointsMin: 1_000n, multiplierBps: 12_500 },
  { name: "Gold", rank: 2, qualifyingPointsMin: 5_000n, multiplierBps: 15_000 },
  { name: "Platinum", rank: 3, qualifyingPointsMin: 15_000n, multiplierBps: 20_000 },
] as const;

/**
 * Creates an org ready to use, in one transaction: the org with default settings, its points
 * ledger number, the default tiers and an admin, a pos and a finance key. Either all of it
 * exists afterwards or none of it does. A taken slug is a `conflict`.
 *
 * Inputs are validated at the edge against `validation.ts`; here a bad one is a bug.
 */
export async function createOrg(
  deps: MembershipDeps,
  input: CreateOrgInput,
): Promise<CreateOrgResult> {
  const timezone = input.timezone ?? "UTC";
  assert.ok(input.name.length > 0 && input.name.length <= orgNameLengthMax, "bad org name");
  assert.match(input.slug, slugPattern, "bad org slug");
  assert.match(input.currency, currencyPattern, "bad currency");
  assert.ok(isTimeZone(timezone), "bad time zone");
  const settings = orgSettingsSchema.parse(defaultOrgSettings);

  return deps.db.transaction(async (tx) => {
    const txDeps = { db: tx, secrets: deps.secrets };
    const [orgRow] = await tx
      .insert(orgs)
      .values({
        name: input.name,
        slug: input.slug,
        currency: input.currency,
        timezone,
        settings,
      })
      .onConflictDoNothing({ target: orgs.slug })
      .returning();
    if (orgRow === undefined) {
      throw new DomainError("conflict", "an org with this slug already exists", {
        slug: input.slug,
      });
    }
    const org = toOrg(orgRow);

    const pointsLedger = await allocateLedger(txDeps, { orgId: org.id, unit: "points" });
    // The default set, the earning one, with the org's tier settings (kept in step by
    // update-org-settings.ts and the tier-set verbs).
    const [tierSet] = await tx
      .insert(tierSets)
      .values({
        orgId: org.id,
        name: defaultTierSetName,
        metric: settings.tierMetric,
        windowMonths: settings.tierWindowMonths,
        graceDays: settings.tierDowngradeGraceDays,
        earning: true,
      })
      .returning({ id: tierSets.id });
    assert.ok(tierSet !== undefined, "insert into tier_sets returned no row");
    const tierRows = await tx
      .insert(tiers)
      .values(defaultTiers.map((tier) => ({ ...tier, orgId: org.id, tierSetId: tierSet.id })))
      .returning();
    assert.equal(tierRows.length, defaultTiers.length);
    const orgTiers = tierRows.map(toTier).sort((a, b) => a.rank - b.rank);

    // Sequential: one transaction is one connection, and it runs one statement at a time.
    const key = (role: "admin" | "pos" | "finance") =>
      createApiKey(txDeps, { orgId: org.id, role, name: role, actor: platformActor });
    const admin = await key("admin");
    const pos = await key("pos");
    const finance = await key("finance");

    return { org, pointsLedger, tiers: orgTiers, apiKeys: { admin, pos, finance } };
  });
}
