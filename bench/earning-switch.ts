/**
 * Moving the earning set benchmark: an org of BENCH_SWITCH_MEMBERS members (default 100,000; a
 * third in Silver, half with a tier in a second set "Dining"), then `PATCH /v1/tier-sets/{id}`
 * `{earning: true}`'s work (updateTierSet) to Dining and back to Default. Members are inserted
 * with SQL (their ledger side is not needed: the switch reads Postgres only). The figure is the
 * seconds of each switch (one transaction: every member's row, side row, history row and
 * `tier.changed` event).
 *
 *   npm run bench:earning-switch
 *   BENCH_SWITCH_MEMBERS=20000 npm run bench:earning-switch
 *
 * Reference, measured in the same run on the same database: one `update members set updated_at
 * = now()` over the org's members in a transaction (the floor of touching every member's row).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import {
  createMembershipCaches,
  createOrg,
  createTierSet,
  listTierSets,
  type MembershipSecrets,
  openDatabase,
  platformActor,
  updateTierSet,
} from "../src/membership/index.ts";
import { openAdminClient, quoteIdentifier, withDatabaseName } from "../src/membership/store/db.ts";

const log = (line: string) => process.stdout.write(`${line}\n`);

const membersTotal = Number(process.env.BENCH_SWITCH_MEMBERS ?? 100_000);
assert.ok(
  Number.isSafeInteger(membersTotal) && membersTotal >= 1_000,
  "BENCH_SWITCH_MEMBERS is at least 1,000",
);
const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
const databaseName = `loyalty_bench_switch_${runId}`;

const database = await openDatabase({
  url: withDatabaseName(serverUrl, databaseName),
  poolMax: 4,
  statementTimeoutMs: 600_000,
  applicationName: "loyalty-bench-earning-switch",
});
const secrets: MembershipSecrets = {
  apiKeyHashKey: randomBytes(32),
  piiEncryptionKey: randomBytes(32),
  piiHashKey: randomBytes(32),
};
const { db } = database;
const deps = { db, secrets, caches: createMembershipCaches() };

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

try {
  const org = await createOrg(deps, {
    name: "switch bench",
    slug: `bench-switch-${runId.replace("_", "-")}`,
    currency: "EUR",
  });
  const orgId = org.org.id;
  const dining = await createTierSet(deps, {
    orgId,
    name: "Dining",
    metric: "points",
    windowMonths: 12,
    graceDays: 30,
    baseTierName: "Diner",
    actor: platformActor,
  });
  const [defaultSet] = await listTierSets(deps, { orgId });
  assert.ok(defaultSet?.earning === true, "the default set earns first");
  await db.execute(sql`
    insert into tiers (org_id, tier_set_id, name, rank, qualifying_points_min, multiplier_bps)
    values (${orgId}, ${dining.id}, 'Gourmet', 1, 100, 30000)`);
  await db.execute(sql`
    insert into members (org_id, external_ref, tier_id, tier_source)
    select ${orgId}, 'card-' || g,
        case when g % 3 = 0 then silver.id else bronze.id end,
        case when g % 3 = 0 then 'earned'::tier_source else 'default'::tier_source end
      from generate_series(1, ${membersTotal}) g
      cross join (select id from tiers where org_id = ${orgId} and tier_set_id = ${defaultSet.id}
        and rank = 0) bronze
      cross join (select id from tiers where org_id = ${orgId} and tier_set_id = ${defaultSet.id}
        and rank = 1) silver`);
  await db.execute(sql`
    insert into member_set_tiers (org_id, member_id, tier_set_id, tier_id)
    select m.org_id, m.id, ${dining.id}, t.id from members m
      join tiers t on t.org_id = m.org_id and t.tier_set_id = ${dining.id} and t.rank = 1
      where m.org_id = ${orgId} and right(m.external_ref, 1) in ('0', '2', '4', '6', '8')`);
  await db.execute(sql`analyze`);
  log(`bench:earning-switch: ${membersTotal} members, Postgres at ${serverUrl}`);

  const floor = await seconds(() =>
    db.transaction(async (tx) => {
      await tx.execute(sql`update members set updated_at = now() where org_id = ${orgId}`);
    }),
  );
  const moveTo = async (tierSetId: string) =>
    seconds(() =>
      updateTierSet(deps, {
        orgId,
        tierSetId,
        patch: { earning: true },
        actor: platformActor,
      }),
    );
  const toDining = await moveTo(dining.id);
  const back = await moveTo(defaultSet.id);
  const [check] = (await db.execute(sql`
    select count(*)::int as n from member_tiers
      where org_id = ${orgId} and reason = 'earning_set_changed'`)) as unknown as Array<{
    n: number;
  }>;
  assert.equal(Number(check?.n), 2 * membersTotal, "every member moved twice");
  log(
    `switch to Dining ${toDining.toFixed(2)} s, back ${back.toFixed(2)} s; ` +
      `reference: touching every member row ${floor.toFixed(2)} s`,
  );
  log(
    JSON.stringify(
      {
        members: membersTotal,
        switch_seconds: Number(toDining.toFixed(2)),
        switch_back_seconds: Number(back.toFixed(2)),
        reference_update_all_members_seconds: Number(floor.toFixed(2)),
      },
      null,
      2,
    ),
  );
} finally {
  await database.close();
  const admin = openAdminClient(serverUrl, "loyalty-bench-admin");
  try {
    await admin.unsafe(`drop database if exists ${quoteIdentifier(databaseName)} with (force)`);
  } finally {
    await admin.end();
  }
}
process.exit(0);
