/**
 * Migration 0024 on a database that already has orgs: each org gets its default tier set, the
 * earning one, with the org's tier settings (their defaults when absent), and every existing tier
 * joins it. Migrated from the migration before it, with rows written as that version wrote them.
 */
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import { describe, expect, it, onTestFinished } from "vitest";
import { migrationsFolder, openAdminClient, quoteIdentifier, withDatabaseName } from "./db.ts";

const serverUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A copy of the migrations folder whose journal stops before `tag`. */
function migrationsBefore(tag: string): string {
  const folder = mkdtempSync(join(tmpdir(), "loyalty-migrations-"));
  onTestFinished(() => rmSync(folder, { recursive: true, force: true }));
  cpSync(migrationsFolder, folder, { recursive: true });
  const journalPath = join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as {
    entries: Array<{ tag: string }>;
  };
  const stop = journal.entries.findIndex((entry) => entry.tag === tag);
  expect(stop).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, stop);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe("migration 0024 (tier sets)", () => {
  it("puts every existing org's tiers in a default earning set with the org's settings", async () => {
    const name = `loyalty_test_${process.pid}_${randomBytes(3).toString("hex")}`;
    const admin = openAdminClient(serverUrl);
    await admin.unsafe(`create database ${quoteIdentifier(name)}`);
    onTestFinished(async () => {
      const dropper = openAdminClient(serverUrl);
      try {
        await dropper.unsafe(`drop database if exists ${quoteIdentifier(name)} with (force)`);
      } finally {
        await dropper.end();
      }
    });
    await admin.end();
    const client = openAdminClient(withDatabaseName(serverUrl, name));
    try {
      await migrate(drizzle(client), {
        migrationsFolder: migrationsBefore("0024_tier_sets_benefits"),
      });
      const [withSettings] = await client<{ id: string }[]>`
        insert into orgs (name, slug, currency, settings)
        values ('Old', 'old-org', 'EUR', ${JSON.stringify({
          baseRatePointsPerUnit: 1,
          welcomeBonusPoints: 0,
          holdSecondsDefault: 900,
          tierMetric: "spend",
          tierWindowMonths: 6,
          tierDowngradeGraceDays: 3,
        })}::jsonb)
        returning id`;
      const [older] = await client<{ id: string }[]>`
        insert into orgs (name, slug, currency, settings)
        values ('Older', 'older-org', 'EUR', ${JSON.stringify({
          baseRatePointsPerUnit: 1,
          welcomeBonusPoints: 0,
          holdSecondsDefault: 900,
        })}::jsonb)
        returning id`;
      for (const org of [withSettings, older]) {
        await client`
          insert into tiers (org_id, name, rank, qualifying_points_min, multiplier_bps)
          values (${org?.id ?? ""}, 'Bronze', 0, 0, 10000), (${org?.id ?? ""}, 'Silver', 1, 1000, 12500)`;
      }

      await migrate(drizzle(client), { migrationsFolder });

      const sets = await client<
        {
          org_id: string;
          name: string;
          metric: string;
          window_months: number;
          grace_days: number;
          earning: boolean;
          tiers: number;
        }[]
      >`
        select s.org_id, s.name, s.metric, s.window_months, s.grace_days, s.earning,
          (select count(*)::int from tiers t where t.tier_set_id = s.id) as tiers
        from tier_sets s order by s.window_months`;
      expect(sets).toEqual([
        {
          org_id: withSettings?.id,
          name: "Default",
          metric: "spend",
          window_months: 6,
          grace_days: 3,
          earning: true,
          tiers: 2,
        },
        {
          org_id: older?.id,
          name: "Default",
          metric: "points",
          window_months: 12,
          grace_days: 30,
          earning: true,
          tiers: 2,
        },
      ]);
    } finally {
      await client.end();
    }
  });
});
