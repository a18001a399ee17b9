/**
 * Expiry benchmark: the daily run over one org's members, as the expiry worker runs it (batches
 * of `expiryMembersPerJobMax` members through `expireOrgMembersBatch`, without the queue hop),
 * on a database of its own and the embedded ledger on a temporary data file (or the TigerBeetle
 * cluster named by `TB_ADDRESS`).
 *
 * Population: `EXPIRY_BENCH_MEMBERS` members (default 2,000; lower it on a slow machine), each
 * with 6 purchases dated over the last 24 months and, for every other member, a fulfilled
 * redemption, under the policy `lots` of 12 months: about half of every wallet is due.
 *
 * Figures: members per second of the first run (history replayed, expiries recorded, posted and
 * marked, notices written) and of a second run the same day (idempotent: history replayed, the
 * documents found, nothing posted). Reference, measured in the same run: members per second of a
 * plain balance read (`walletBalance`) at the same concurrency. Any per-member job reads at least
 * the wallet, so the ratio says what replaying the history and writing the documents cost on top
 * of the floor on this machine, independent of how fast the machine is.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { pino } from "pino";
import { loadConfig } from "../../src/config.ts";
import { createLedgerClient, walletBalance } from "../../src/ledger/index.ts";
import type { LedgerDeps, MembershipSecrets } from "../../src/membership/index.ts";
import {
  createMembershipCaches,
  createOrg,
  createRedemption,
  enrollMemberWithLedger,
  expireOrgMembersBatch,
  fulfilRedemption,
  membershipLimits,
  openDatabase,
  recordPurchases,
} from "../../src/membership/index.ts";
import {
  openAdminClient,
  quoteIdentifier,
  withDatabaseName,
} from "../../src/membership/store/db.ts";
import { orgs } from "../../src/membership/store/schema.ts";

const dayMs = 86_400_000;
const purchasesPerMember = 6;
const inFlight = 8;

/** Runs `task` over `items` with at most `inFlight` pending at once. */
async function pool<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

export async function run(log: (line: string) => void): Promise<Record<string, string | number>> {
  const members = Number(process.env.EXPIRY_BENCH_MEMBERS ?? "2000");
  if (!Number.isSafeInteger(members) || members < 1 || members > 1_000_000) {
    throw new Error("EXPIRY_BENCH_MEMBERS must be an integer from 1 to 1,000,000");
  }
  const ledgerConfig = loadConfig({
    TB_ADDRESS: process.env.TB_ADDRESS,
    TB_CLUSTER_ID: process.env.TB_CLUSTER_ID,
  }).ledger;
  const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const databaseName = `loyalty_bench_expiry_${runId}`;
  const dataDirectory = mkdtempSync(join(tmpdir(), "loyalty-bench-expiry-"));
  const logger = pino({ level: "warn" });
  const database = await openDatabase({
    url: withDatabaseName(serverUrl, databaseName),
    poolMax: 10,
    statementTimeoutMs: 30_000,
    applicationName: "loyalty-bench-expiry",
  });
  const ledger = await createLedgerClient(
    { ...ledgerConfig, dataFile: join(dataDirectory, "ledger.tb") },
    logger,
  );
  const secrets: MembershipSecrets = {
    apiKeyHashKey: randomBytes(32),
    piiEncryptionKey: randomBytes(32),
    piiHashKey: randomBytes(32),
  };
  try {
    const setupDeps: LedgerDeps = {
      db: database.db,
      secrets,
      ledger,
      caches: createMembershipCaches(),
    };
    const { org, pointsLedger } = await createOrg(setupDeps, {
      name: "Bench expiry",
      slug: `bench-expiry-${runId.replace("_", "-")}`,
      currency: "EUR",
    });
    await database.db
      .update(orgs)
      .set({
        settings: {
          ...org.settings,
          welcomeBonusPoints: 0,
          expiry: { policy: "lots", months: 12 },
        },
      })
      .where(eq(orgs.id, org.id));
    // Fresh caches: nothing read before the settings changed is remembered.
    const deps: LedgerDeps = { ...setupDeps, caches: createMembershipCaches() };

    const setupStarted = performance.now();
    const memberIds: string[] = [];
    await pool(
      Array.from({ length: members }, (_, index) => index),
      async (index) => {
        const { member } = await enrollMemberWithLedger(deps, {
          orgId: org.id,
          externalRef: `card-${index}`,
        });
        memberIds.push(member.id);
      },
    );
    const now = Date.now();
    const purchases = memberIds.flatMap((memberId, memberIndex) =>
      Array.from({ length: purchasesPerMember }, (_, index) => ({
        externalId: `p-${memberIndex}-${index}`,
        memberId,
        amountMinor: 10_000n,
        currency: "EUR",
        occurredAt: new Date(now - (index * 120 + 10) * dayMs),
      })),
    );
    const batchMax = membershipLimits.purchaseBatchItemsMax;
    for (let start = 0; start < purchases.length; start += batchMax) {
      await recordPurchases(deps, {
        orgId: org.id,
        items: purchases.slice(start, start + batchMax),
      });
    }
    await pool(
      memberIds.filter((_, index) => index % 2 === 0),
      async (memberId) => {
        const redemption = await createRedemption(deps, { orgId: org.id, memberId, points: 150n });
        await fulfilRedemption(deps, { orgId: org.id, redemptionId: redemption.id });
      },
    );
    log(
      `expiry: ${members} members, ${purchases.length} purchases set up in ` +
        `${((performance.now() - setupStarted) / 1000).toFixed(1)} s`,
    );

    const readAll = () =>
      pool(memberIds, async (memberId) => {
        await walletBalance(ledger, { ledger: pointsLedger, memberId });
      });
    // Once unmeasured, so the reference is not the cold start of the ledger's read path.
    await readAll();
    const reference = performance.now();
    await readAll();
    const referenceSeconds = (performance.now() - reference) / 1000;

    const runOnce = async () => {
      const started = performance.now();
      let cursor: string | null = null;
      let expired = 0n;
      let done = 0;
      const asOfMs = Date.now();
      for (let batch = 0; batch < 1_000_000; batch += 1) {
        const result = await expireOrgMembersBatch(deps, {
          orgId: org.id,
          asOfMs,
          afterMemberId: cursor,
          limit: membershipLimits.expiryMembersPerJobMax,
        });
        expired += result.expired;
        done += result.members;
        cursor = result.nextAfterMemberId;
        if (cursor === null) {
          break;
        }
      }
      return { seconds: (performance.now() - started) / 1000, expired, done };
    };
    const first = await runOnce();
    const second = await runOnce();
    const firstRate = Math.round(first.done / first.seconds);
    const secondRate = Math.round(second.done / second.seconds);
    const referenceRate = Math.round(members / referenceSeconds);
    log(
      `expiry run: ${firstRate} members/s (${first.done} members, ${first.expired} points ` +
        `expired, ${first.seconds.toFixed(2)} s)`,
    );
    log(`expiry re-run same day: ${secondRate} members/s (${second.expired} points expired)`);
    log(`reference, wallet balance read: ${referenceRate} members/s`);
    log(
      `ratio run / reference: ${(firstRate / referenceRate).toFixed(2)}; ` +
        `re-run / reference: ${(secondRate / referenceRate).toFixed(2)}`,
    );
    return {
      expiry_members: members,
      expiry_run_members_per_second: firstRate,
      expiry_rerun_members_per_second: secondRate,
      expiry_reference_balance_reads_per_second: referenceRate,
      expiry_points_expired: first.expired.toString(),
    };
  } finally {
    await ledger.close();
    await database.close();
    const admin = openAdminClient(serverUrl, "loyalty-bench-admin");
    try {
      await admin.unsafe(`drop database if exists ${quoteIdentifier(databaseName)} with (force)`);
    } finally {
      await admin.end();
    }
    rmSync(dataDirectory, { recursive: true, force: true });
  }
}
