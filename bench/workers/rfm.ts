/**
 * RFM rebuild benchmark: one org with 100,000 members and 1,000,000 purchases (plus 1% of them
 * refunded, half of those in full), rebuilt by `rebuildOrgRfm` exactly as the nightly job does.
 *
 * The data is made directly, not through HTTP: member rows by one bulk SQL insert, wallets and
 * transfers through the ledger API in batches of 8,189, encoded as purchases and refunds are
 * (document ids are UUIDv7 of the purchase time, spread over 400 days so some fall outside the
 * 365-day window). The ledger is the embedded engine on a temporary data file, or the TigerBeetle
 * cluster named by `TB_ADDRESS`.
 *
 * Reference, measured in the same run on the same data: the bare scan of those transfers (the
 * same `scanLedgerTransfers` pages the rebuild reads, refunds then purchases, doing nothing with
 * them). The rebuild cannot be faster than reading its input; the ratio says what scoring,
 * mapping members and writing 100,000 rows to Postgres add on top. Both run after one query that
 * makes the embedded engine build its indexes (reported), so neither pays for that.
 *
 *   RFM_BENCH_MEMBERS=10000 RFM_BENCH_PURCHASES=100000   scale down (defaults 100,000 / 1,000,000)
 */
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { loadConfig } from "../../src/config.ts";
import {
  AccountCode,
  controlAccountId,
  createLedgerClient,
  type LedgerApi,
  type LedgerTransfer,
  ledgerLimits,
  provisionLedger,
  scanLedgerTransfers,
  TransferCode,
  uuidToU128,
  walletAccountFlags,
  walletAccountId,
} from "../../src/ledger/index.ts";
import {
  createMembershipCaches,
  createOrg,
  listSegments,
  openDatabase,
} from "../../src/membership/index.ts";
import {
  openAdminClient,
  quoteIdentifier,
  withDatabaseName,
} from "../../src/membership/store/db.ts";
import { rebuildOrgRfm } from "../../src/workers/rfm/rebuild.ts";

const dayMs = 86_400_000;
const targetSeconds = 30;

function envInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") {
    return fallback;
  }
  assert.ok(/^[1-9][0-9]{0,8}$/.test(text), `${name} is a positive integer`);
  return Number(text);
}

/** A small deterministic generator: the same data every run. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function transferOf(ledger: number): LedgerTransfer {
  return {
    id: 0n,
    debit_account_id: 0n,
    credit_account_id: 0n,
    amount: 0n,
    pending_id: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    timeout: 0,
    ledger,
    code: 0,
    flags: 0,
    timestamp: 0n,
  };
}

async function post(client: LedgerApi, transfers: LedgerTransfer[]): Promise<void> {
  const results = await client.createTransfers(transfers);
  const created = 0xffff_ffff;
  for (const result of results) {
    assert.equal(result.status, created, `transfer ${result.timestamp}: ${result.status}`);
  }
}

export async function run(log: (line: string) => void): Promise<Record<string, string | number>> {
  const memberCount = envInteger("RFM_BENCH_MEMBERS", 100_000);
  const purchaseCount = envInteger("RFM_BENCH_PURCHASES", 1_000_000);
  const batch = ledgerLimits.batchEventsMax;
  const ledgerConfig = loadConfig({
    TB_ADDRESS: process.env.TB_ADDRESS,
    TB_CLUSTER_ID: process.env.TB_CLUSTER_ID,
  }).ledger;
  const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const databaseName = `loyalty_bench_rfm_${runId}`;
  const dataDirectory = mkdtempSync(join(tmpdir(), "loyalty-bench-rfm-"));
  const logger = pino({ level: "warn" });
  const database = await openDatabase({
    url: withDatabaseName(serverUrl, databaseName),
    poolMax: 4,
    statementTimeoutMs: 120_000,
    applicationName: "loyalty-bench-rfm",
  });
  const ledger = await createLedgerClient(
    { ...ledgerConfig, dataFile: join(dataDirectory, "ledger.tb") },
    logger,
  );
  const engine =
    ledgerConfig.address === undefined
      ? "embedded ledger, data file"
      : `TigerBeetle at ${ledgerConfig.address.join(",")}`;
  try {
    const deps = {
      db: database.db,
      caches: createMembershipCaches(),
      ledger,
      secrets: {
        apiKeyHashKey: randomBytes(32),
        piiEncryptionKey: randomBytes(32),
        piiHashKey: randomBytes(32),
      },
    };
    log(`rfm: ${memberCount} members, ${purchaseCount} purchases, ${engine}`);
    if (process.env.TB_ADDRESS !== undefined) {
      // A TigerBeetle shared with earlier runs (and this run's other modules, each with its own
      // database) holds their ledgers under the same small numbers: start this database's
      // numbers somewhere unused, so the scans below read only this run's transfers.
      await database.sql`
        select setval('org_ledgers_ledger_seq', ${1_000_000 + randomInt(1_000_000_000)})`;
    }
    const { org, pointsLedger, tiers } = await createOrg(deps, {
      name: "RFM bench",
      slug: `rfm-bench-${randomBytes(4).toString("hex")}`,
      currency: "EUR",
    });
    const entryTier = tiers.find((tier) => tier.rank === 0);
    assert.ok(entryTier !== undefined, "an org has an entry tier");

    // Members: one bulk insert; ids come back in order.
    let started = performance.now();
    const rows = await database.sql<{ id: string }[]>`
      insert into members (org_id, external_ref, tier_id, ledger_status, ledger_posted_at)
      select ${org.id}, 'bench-' || n, ${entryTier.id}, 'posted', now()
      from generate_series(1, ${memberCount}) as n
      returning id`;
    const memberIds = rows.map((row) => row.id);
    assert.equal(memberIds.length, memberCount);
    await provisionLedger(ledger, pointsLedger);
    for (let start = 0; start < memberIds.length; start += batch) {
      const accounts = memberIds.slice(start, start + batch).map((memberId) => ({
        id: walletAccountId(pointsLedger, memberId),
        debits_pending: 0n,
        debits_posted: 0n,
        credits_pending: 0n,
        credits_posted: 0n,
        user_data_128: uuidToU128(memberId),
        user_data_64: 0n,
        user_data_32: 0,
        reserved: 0,
        ledger: pointsLedger,
        code: AccountCode.wallet,
        flags: walletAccountFlags,
        timestamp: 0n,
      }));
      const results = await ledger.createAccounts(accounts);
      assert.ok(
        results.every((result) => result.status === 0xffff_ffff),
        "wallets created",
      );
    }
    const setupMembersMs = performance.now() - started;

    // Purchases over the last 400 days; 1% are refunded afterwards, half of those in full.
    started = performance.now();
    const random = generator(20261207);
    const nowMs = Date.now();
    const issuance = controlAccountId(pointsLedger, AccountCode.issuance);
    const refunds: Array<{ wallet: bigint; documentId: bigint; refundedMinor: bigint }> = [];
    let transferSerial = 1n;
    const idBase = BigInt(`0x${randomBytes(8).toString("hex")}`) << 64n;
    for (let start = 0; start < purchaseCount; start += batch) {
      const transfers: LedgerTransfer[] = [];
      for (let index = start; index < Math.min(purchaseCount, start + batch); index++) {
        const memberId = memberIds[Math.floor(random() * memberCount)] as string;
        const wallet = walletAccountId(pointsLedger, memberId);
        const occurredAtMs = nowMs - Math.floor(random() * 400 * dayMs);
        const documentId =
          (BigInt(occurredAtMs) << 80n) | (7n << 76n) | (2n << 62n) | BigInt(index);
        const spendMinor = BigInt(100 + Math.floor(random() * 20_000));
        transfers.push({
          ...transferOf(pointsLedger),
          id: idBase | transferSerial++,
          debit_account_id: issuance,
          credit_account_id: wallet,
          amount: spendMinor / 100n,
          user_data_128: documentId,
          user_data_64: spendMinor,
          code: TransferCode.purchaseEarn,
        });
        const draw = random();
        if (draw < 0.01) {
          refunds.push({
            wallet,
            documentId,
            refundedMinor: draw < 0.005 ? spendMinor : spendMinor / 2n,
          });
        }
      }
      await post(ledger, transfers);
    }
    for (let start = 0; start < refunds.length; start += batch) {
      await post(
        ledger,
        refunds.slice(start, start + batch).map((refund) => ({
          ...transferOf(pointsLedger),
          id: idBase | transferSerial++,
          debit_account_id: refund.wallet,
          credit_account_id: issuance,
          amount: 1n,
          user_data_128: refund.documentId,
          user_data_64: refund.refundedMinor,
          code: TransferCode.refundReversal,
        })),
      );
    }
    const setupTransfersMs = performance.now() - started;
    log(
      `rfm: setup ${Math.round(setupMembersMs)} ms members and wallets, ` +
        `${Math.round(setupTransfersMs)} ms ${purchaseCount + refunds.length} transfers`,
    );

    // One query first: the embedded engine builds its query indexes lazily, on the first one.
    started = performance.now();
    await ledger.queryTransfers({
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      ledger: pointsLedger,
      code: TransferCode.refundReversal,
      timestamp_min: 0n,
      timestamp_max: 0n,
      limit: 1,
      flags: 0,
    });
    const indexMs = performance.now() - started;

    // Reference: the bare scan the rebuild starts with (same pages, nothing done with them).
    started = performance.now();
    let scanned = 0;
    for (const code of [TransferCode.refundReversal, TransferCode.purchaseEarn]) {
      for await (const page of scanLedgerTransfers(ledger, {
        ledger: pointsLedger,
        codes: [code],
      })) {
        scanned += page.length;
      }
    }
    const scanMs = performance.now() - started;
    assert.equal(scanned, purchaseCount + refunds.length, "the scan reads every transfer");

    started = performance.now();
    const result = await rebuildOrgRfm(deps, { orgId: org.id });
    const rebuildMs = performance.now() - started;
    const counts = await listSegments(deps, { orgId: org.id });
    const none = counts.segments.find((segment) => segment.name === "none");
    assert.equal(none?.members, memberCount - result.population, "every member is counted");

    const figures = {
      members: memberCount,
      purchases: purchaseCount,
      refunds: refunds.length,
      population: result.population,
      rebuild_ms: Math.round(rebuildMs),
      reference_scan_ms: Math.round(scanMs),
      rebuild_over_scan: Number((rebuildMs / scanMs).toFixed(2)),
      index_build_ms: Math.round(indexMs),
      target_ms: targetSeconds * 1000,
    };
    log(
      `rfm: rebuild ${figures.rebuild_ms} ms (target <= ${targetSeconds} s), reference bare scan ` +
        `${figures.reference_scan_ms} ms of ${scanned} transfers (x${figures.rebuild_over_scan}); ` +
        `first query (index build) ${figures.index_build_ms} ms`,
    );
    log(
      `rfm: population ${result.population}; ${counts.segments
        .map((segment) => `${segment.name} ${segment.members}`)
        .join(", ")}`,
    );
    return figures;
  } finally {
    await ledger.close();
    await database.close();
    rmSync(dataDirectory, { recursive: true, force: true });
    const admin = openAdminClient(serverUrl, "loyalty-bench-admin");
    try {
      await admin.unsafe(`drop database if exists ${quoteIdentifier(databaseName)} with (force)`);
    } finally {
      await admin.end();
    }
  }
}
