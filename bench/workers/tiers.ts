/**
 * Tier evaluation per event: what the `tiers` event handler does after each purchase or refund
 * (read the org and the member's tier from Postgres, scan the member's purchase and refund
 * transfers in the window from the ledger, decide, and write only on a change), for members with
 * a realistic history (BENCH_TIER_TRANSFERS purchases each, default 150, over 18 months with a
 * refund every tenth, so part of it falls outside the 12-month window).
 *
 * Reference, measured in the same run on the same members: one bare read of the member wallet's
 * whole history (one `getAccountTransfers` over every code, paged). It is the floor of any
 * evaluation from the ledger: what the evaluation adds above it is its two Postgres reads and
 * the decision. A bare Postgres round trip (`select 1`) is timed alongside too: an evaluation
 * makes one when nothing changes, and on a loaded machine its tail is the evaluation's tail.
 *
 * The ledger is the embedded engine in memory, or TigerBeetle when TB_ADDRESS is set (read as
 * the service reads it). Scale with BENCH_TIER_MEMBERS (default 20) and
 * BENCH_TIER_EVALUATIONS (default 2,000).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { pino } from "pino";
import { loadConfig } from "../../src/config.ts";
import {
  createEmbeddedClient,
  createLedgerClient,
  type LedgerClient,
  scanWalletTransfers,
} from "../../src/ledger/index.ts";
import {
  createMembershipCaches,
  createOrg,
  enrollMemberWithLedger,
  evaluateMemberTier,
  type LedgerDeps,
  openDatabase,
  recordPurchases,
  refundPurchase,
} from "../../src/membership/index.ts";
import {
  openAdminClient,
  quoteIdentifier,
  withDatabaseName,
} from "../../src/membership/store/db.ts";

function positiveEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined) {
    return fallback;
  }
  assert.ok(/^[1-9][0-9]*$/.test(text), `${name} is a positive integer`);
  return Number(text);
}

function percentile(sortedNs: readonly bigint[], fraction: number): number {
  assert.ok(sortedNs.length > 0, "samples to rank");
  const index = Math.min(sortedNs.length - 1, Math.ceil(fraction * sortedNs.length) - 1);
  return Number(sortedNs[index] ?? 0n) / 1e6;
}

function sorted(values: bigint[]): bigint[] {
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export async function run(log: (line: string) => void): Promise<Record<string, string | number>> {
  const membersCount = positiveEnv("BENCH_TIER_MEMBERS", 20);
  const transfersPerMember = positiveEnv("BENCH_TIER_TRANSFERS", 150);
  const evaluations = positiveEnv("BENCH_TIER_EVALUATIONS", 2_000);
  const ledgerConfig = loadConfig({
    TB_ADDRESS: process.env.TB_ADDRESS,
    TB_CLUSTER_ID: process.env.TB_CLUSTER_ID,
  }).ledger;
  const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const databaseName = `loyalty_bench_tiers_${runId}`;
  const logger = pino({ level: "warn" });
  const database = await openDatabase({
    url: withDatabaseName(serverUrl, databaseName),
    poolMax: 10,
    statementTimeoutMs: 30_000,
    applicationName: "loyalty-bench-tiers",
  });
  const ledger: LedgerClient =
    ledgerConfig.address === undefined
      ? createEmbeddedClient()
      : await createLedgerClient(ledgerConfig, logger);
  const engine =
    ledgerConfig.address === undefined
      ? "embedded (memory)"
      : `TigerBeetle ${ledgerConfig.address.join(",")}`;
  try {
    const deps: LedgerDeps = {
      db: database.db,
      secrets: {
        apiKeyHashKey: randomBytes(32),
        piiEncryptionKey: randomBytes(32),
        piiHashKey: randomBytes(32),
      },
      ledger,
      caches: createMembershipCaches(),
    };
    const { org } = await createOrg(deps, {
      name: "Bench tiers",
      slug: `bench-tiers-${runId.replace("_", "-")}`,
      currency: "EUR",
    });
    const now = Date.now();
    const spanMs = 18 * 30 * 24 * 60 * 60 * 1000;
    const memberIds: string[] = [];
    for (let index = 0; index < membersCount; index++) {
      const { member } = await enrollMemberWithLedger(deps, {
        orgId: org.id,
        externalRef: `bench-tier-${index}`,
      });
      memberIds.push(member.id);
      const items = Array.from({ length: transfersPerMember }, (_, n) => ({
        externalId: `m${index}-p${n}`,
        memberId: member.id,
        amountMinor: BigInt(500 + ((n * 7919) % 20_000)),
        currency: "EUR",
        occurredAt: new Date(now - spanMs + Math.floor((spanMs * n) / transfersPerMember)),
      }));
      const outcomes = await recordPurchases(deps, { orgId: org.id, items });
      assert.ok(
        outcomes.every((outcome) => outcome.status === "created"),
        "history recorded",
      );
      for (let n = 0; n < transfersPerMember; n += 10) {
        await refundPurchase(deps, {
          orgId: org.id,
          purchaseExternalId: `m${index}-p${n}`,
          externalId: `m${index}-r${n}`,
          amountMinor: 100n,
        });
      }
    }
    const pointsLedger = (
      await deps.db.query.orgLedgers.findFirst({
        where: (table, { eq }) => eq(table.orgId, org.id),
      })
    )?.ledger;
    assert.ok(pointsLedger !== undefined, "the org's points ledger");
    log(
      `tiers: ${membersCount} members × ${transfersPerMember} purchases (+1 refund in 10), ` +
        `${evaluations} evaluations, ledger ${engine}`,
    );

    // Warm-up: first evaluations upgrade the members (writes); then every one reads only.
    for (const memberId of memberIds) {
      await evaluateMemberTier(deps, { orgId: org.id, memberId });
    }
    const evaluationNs: bigint[] = [];
    const referenceNs: bigint[] = [];
    const roundTripNs: bigint[] = [];
    for (let index = 0; index < evaluations; index++) {
      const memberId = memberIds[index % memberIds.length] as string;
      // Interleaved, so both see the same machine noise.
      let start = process.hrtime.bigint();
      let read = 0;
      for await (const page of scanWalletTransfers(ledger, { ledger: pointsLedger, memberId })) {
        read += page.length;
      }
      referenceNs.push(process.hrtime.bigint() - start);
      assert.ok(read >= transfersPerMember, "the whole history was read");
      start = process.hrtime.bigint();
      await evaluateMemberTier(deps, { orgId: org.id, memberId });
      evaluationNs.push(process.hrtime.bigint() - start);
      start = process.hrtime.bigint();
      await deps.db.execute(sql`select 1`);
      roundTripNs.push(process.hrtime.bigint() - start);
    }
    const evaluation = sorted(evaluationNs);
    const reference = sorted(referenceNs);
    const roundTrip = sorted(roundTripNs);
    const figures = {
      tier_evaluation_p50_ms: Number(percentile(evaluation, 0.5).toFixed(3)),
      tier_evaluation_p99_ms: Number(percentile(evaluation, 0.99).toFixed(3)),
      wallet_history_read_p50_ms: Number(percentile(reference, 0.5).toFixed(3)),
      wallet_history_read_p99_ms: Number(percentile(reference, 0.99).toFixed(3)),
      postgres_round_trip_p50_ms: Number(percentile(roundTrip, 0.5).toFixed(3)),
      postgres_round_trip_p99_ms: Number(percentile(roundTrip, 0.99).toFixed(3)),
      tier_ledger: engine,
    };
    log(
      `tiers: evaluation p50 ${figures.tier_evaluation_p50_ms} ms, p99 ` +
        `${figures.tier_evaluation_p99_ms} ms (target p99 ≤ 10 ms); reference wallet history ` +
        `read p50 ${figures.wallet_history_read_p50_ms} ms, p99 ${figures.wallet_history_read_p99_ms} ms; ` +
        `Postgres round trip p50 ${figures.postgres_round_trip_p50_ms} ms, p99 ` +
        `${figures.postgres_round_trip_p99_ms} ms`,
    );
    return figures;
  } finally {
    await ledger.close();
    await database.close();
    const admin = openAdminClient(serverUrl, "loyalty-bench-admin");
    try {
      await admin.unsafe(`drop database if exists ${quoteIdentifier(databaseName)} with (force)`);
    } finally {
      await admin.end();
    }
  }
}
