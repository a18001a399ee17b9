/**
 * Spending insights benchmark: `getMemberInsights` (the use case behind
 * `GET /v1/members/{id}/insights`) for members with 1,000, 10,000 and 50,000 purchases of five
 * lines each in the current year, on a database of its own. The third is past the read bound
 * (`insightPurchasesMax`, 10,000): it must answer `truncated` and cost about what the second
 * costs, which is what the bound is for.
 *
 *   npm run bench:insights               the three members, 7 reads each (about a minute)
 *   npm run bench:insights -- --quick    100, 1,000 and 5,000 purchases (smoke run)
 *
 * The purchases are inserted with one SQL statement per member (generate_series), posted, one
 * a minute back from now: loading is not what is measured. Printed per member: purchases, the
 * median and the slowest of the reads in ms, and `truncated`. The database is dropped at the end.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { createEmbeddedClient } from "../src/ledger/index.ts";
import type { LedgerDeps, MembershipSecrets } from "../src/membership/index.ts";
import {
  createMembershipCaches,
  createOrg,
  enrollMember,
  getMemberInsights,
  membershipLimits,
  openDatabase,
} from "../src/membership/index.ts";
import { openAdminClient, quoteIdentifier, withDatabaseName } from "../src/membership/store/db.ts";

const args = process.argv.slice(2);
for (const arg of args) {
  if (arg !== "--quick") {
    process.stderr.write(`unknown argument ${arg}\nusage: npm run bench:insights [-- --quick]\n`);
    process.exit(2);
  }
}
const quick = args.includes("--quick");
const sizes = quick ? [100, 1_000, 5_000] : [1_000, 10_000, 50_000];
const reads = 7;

const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
const databaseName = `loyalty_bench_insights_${runId}`;

const database = await openDatabase({
  url: withDatabaseName(serverUrl, databaseName),
  poolMax: 2,
  statementTimeoutMs: 60_000,
  applicationName: "loyalty-bench-insights",
});
const ledger = createEmbeddedClient();
const secrets: MembershipSecrets = {
  apiKeyHashKey: randomBytes(32),
  piiEncryptionKey: randomBytes(32),
  piiHashKey: randomBytes(32),
};
const deps: LedgerDeps = { db: database.db, secrets, ledger, caches: createMembershipCaches() };

async function cleanUp(): Promise<void> {
  await ledger.close();
  await database.close();
  const admin = openAdminClient(serverUrl, "loyalty-bench-admin");
  try {
    await admin.unsafe(`drop database if exists ${quoteIdentifier(databaseName)} with (force)`);
  } finally {
    await admin.end();
  }
}

try {
  const org = await createOrg(deps, {
    name: "Bench insights",
    slug: `bench-insights-${runId.replace("_", "-")}`,
    currency: "EUR",
  });
  const orgId = org.org.id;
  const members: Array<{ id: string; purchases: number }> = [];
  for (const [index, purchases] of sizes.entries()) {
    const member = await enrollMember(deps, { orgId, externalRef: `bench-${index}` });
    await deps.db.execute(sql`
      insert into pos_transactions (id, org_id, member_id, kind, external_id, request_hash,
        amount_minor, currency, occurred_at, items, points, status, transfer_ids)
      select gen_random_uuid(), ${orgId}, ${member.id}, 'purchase', ${member.id} || '-' || g, '-',
        10000, 'EUR', now() - make_interval(mins => g),
        jsonb_build_array(
          jsonb_build_object('sku', 'A', 'category', 'coffee', 'quantity', 1, 'amount_minor', '1000'),
          jsonb_build_object('sku', 'B', 'category', 'food', 'quantity', 1, 'amount_minor', '2000'),
          jsonb_build_object('sku', 'C', 'category', 'tea', 'quantity', 1, 'amount_minor', '3000'),
          jsonb_build_object('sku', 'D', 'category', null, 'quantity', 1, 'amount_minor', '500'),
          jsonb_build_object('sku', 'E', 'category', 'cake', 'quantity', 1)),
        100, 'posted', '{}'
      from generate_series(1, ${purchases}) as g`);
    members.push({ id: member.id, purchases });
  }
  await deps.db.execute(sql`analyze pos_transactions`);

  process.stdout.write("| purchases | median ms | slowest ms | counted | truncated |\n");
  process.stdout.write("| ---: | ---: | ---: | ---: | --- |\n");
  for (const member of members) {
    const times: number[] = [];
    let counted = 0;
    let truncated = false;
    for (let read = 0; read < reads; read += 1) {
      const started = performance.now();
      const insights = await getMemberInsights(deps, {
        orgId,
        memberId: member.id,
        period: "year",
      });
      times.push(performance.now() - started);
      counted = insights.current.totals.purchases + insights.previous.totals.purchases;
      truncated = insights.truncated;
    }
    assert.equal(counted, Math.min(member.purchases, membershipLimits.insightPurchasesMax));
    assert.equal(truncated, member.purchases > membershipLimits.insightPurchasesMax);
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] ?? 0;
    const slowest = times[times.length - 1] ?? 0;
    process.stdout.write(
      `| ${member.purchases.toLocaleString("en")} | ${median.toFixed(1)} | ${slowest.toFixed(1)} | ${counted.toLocaleString("en")} | ${truncated} |\n`,
    );
  }
} finally {
  await cleanUp();
}
