import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../test/support/db.ts";
import { createTestDatabase } from "../../../test/support/db.ts";
import { createTestSecrets } from "../../../test/support/membership.ts";
import { authenticateApiKey } from "../api-keys/authenticate-api-key.ts";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { createOrg } from "./create-org.ts";
import { getOrg } from "./get-org.ts";
import { listTiers } from "./list-tiers.ts";

let database: TestDatabase;
let deps: MembershipDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = { db: database.db, secrets: createTestSecrets() };
});
afterAll(() => database?.close());

function uniqueSlug(): string {
  return `org-${randomBytes(6).toString("hex")}`;
}

async function countRows(): Promise<Record<string, number>> {
  const [row] = await database.sql<
    { orgs: number; ledgers: number; tiers: number; keys: number }[]
  >`select
      (select count(*)::int from orgs) as orgs,
      (select count(*)::int from org_ledgers) as ledgers,
      (select count(*)::int from tiers) as tiers,
      (select count(*)::int from api_keys) as keys`;
  return { ...row };
}

describe("createOrg", () => {
  it("creates the org with default settings, a points ledger, four tiers and three keys", async () => {
    const slug = uniqueSlug();
    const created = await createOrg(deps, { name: "Café Rouge", slug, currency: "EUR" });

    expect(created.org).toMatchObject({
      name: "Café Rouge",
      slug,
      currency: "EUR",
      timezone: "UTC",
    });
    expect(created.org.settings).toEqual({
      baseRatePointsPerUnit: 1,
      welcomeBonusPoints: 100,
      holdSecondsDefault: 900,
      tierMetric: "points",
      tierWindowMonths: 12,
      tierDowngradeGraceDays: 30,
      rfm: { method: "quintiles", windowDays: 365 },
      expiry: { policy: "none" },
      rounding: "down",
      earningCaps: { day: null, week: null, month: null },
      stampDefaults: { stampsPerCard: null, rewardPoints: null },
      referral: { referrerPoints: 0, referredPoints: 0, maxPerReferrerPerMonth: 0 },
      memberPinLogin: false,
    });
    expect(await getOrg(deps, { orgId: created.org.id })).toEqual(created.org);
    expect(Number.isInteger(created.pointsLedger) && created.pointsLedger >= 1).toBe(true);

    const tiers = await listTiers(deps, { orgId: created.org.id });
    expect(tiers).toEqual(created.tiers);
    expect(
      tiers.map((tier) => [tier.name, tier.rank, tier.qualifyingPointsMin, tier.multiplierBps]),
    ).toEqual([
      ["Bronze", 0, 0n, 10_000],
      ["Silver", 1, 1_000n, 12_500],
      ["Gold", 2, 5_000n, 15_000],
      ["Platinum", 3, 15_000n, 20_000],
    ]);

    const { admin, pos, finance } = created.apiKeys;
    expect([admin.role, pos.role, finance.role]).toEqual(["admin", "pos", "finance"]);
    for (const key of [admin, pos, finance]) {
      expect(await authenticateApiKey(deps, { token: key.token })).toEqual({
        orgId: created.org.id,
        role: key.role,
        keyId: key.id,
      });
    }
  });

  it("keeps the time zone it is given", async () => {
    const created = await createOrg(deps, {
      name: "Boulangerie",
      slug: uniqueSlug(),
      currency: "EUR",
      timezone: "Europe/Paris",
    });
    expect(created.org.timezone).toBe("Europe/Paris");
  });

  it("refuses a taken slug with a conflict and writes nothing", async () => {
    const slug = uniqueSlug();
    await createOrg(deps, { name: "First", slug, currency: "USD" });
    const before = await countRows();

    const attempt = createOrg(deps, { name: "Second", slug, currency: "GBP" });
    await expect(attempt).rejects.toBeInstanceOf(DomainError);
    await expect(attempt).rejects.toMatchObject({ code: "conflict", details: { slug } });

    expect(await countRows()).toEqual(before);
  });

  it("rolls back everything when its last step fails", async () => {
    // A trigger in this test database makes the last insert of createOrg (the finance key) fail
    // for slugs starting with "doomed-", so the org, ledger, tiers and first two keys were
    // already written inside the transaction when it aborts.
    await database.sql.unsafe(`
      create function refuse_doomed_finance_key() returns trigger language plpgsql as $$
      begin
        if new.role = 'finance' and
           (select slug from orgs where id = new.org_id) like 'doomed-%' then
          raise exception 'finance key refused for test';
        end if;
        return new;
      end $$;
      create trigger refuse_doomed_finance_key before insert on api_keys
        for each row execute function refuse_doomed_finance_key();`);
    const before = await countRows();
    const slug = `doomed-${randomBytes(6).toString("hex")}`;

    await expect(createOrg(deps, { name: "Doomed", slug, currency: "JPY" })).rejects.toMatchObject({
      cause: { message: "finance key refused for test" },
    });

    expect(await countRows()).toEqual(before);
    // The slug is free again: nothing of the failed attempt holds it.
    await database.sql`drop trigger refuse_doomed_finance_key on api_keys`;
    await expect(createOrg(deps, { name: "Doomed", slug, currency: "JPY" })).resolves.toBeDefined();
  });

  it("asserts its inputs were validated at the edge", async () => {
    await expect(
      createOrg(deps, { name: "Bad", slug: "Not A Slug", currency: "EUR" }),
    ).rejects.toThrow(/slug/);
    await expect(
      createOrg(deps, { name: "Bad", slug: uniqueSlug(), currency: "eur" }),
    ).rejects.toThrow(/currency/);
    await expect(
      createOrg(deps, { name: "Bad", slug: uniqueSlug(), currency: "EUR", timezone: "Mars/Base" }),
    ).rejects.toThrow(/time zone/);
  });
});
