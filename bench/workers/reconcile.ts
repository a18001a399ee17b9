/**
 * Reconciliation benchmark: one org's run over a population written through the use cases
 * (members enrolled on the ledger, purchases recorded in batches of 1,000), on a Postgres
 * database of its own and the ledger (the embedded engine on a temporary data file, or the
 * TigerBeetle cluster named by `TB_ADDRESS`).
 *
 * Figures: the run's documents per second (every posted row read by keyset pages, its transfers
 * and wallets looked up in batched ledger requests, compared). Reference, measured in the same
 * run on the same rows: the keyset pages read from Postgres alone (the same queries, no ledger
 * lookups, no comparison). The difference is the ledger's share; a run can be no faster than
 * its reference. The reference builds each page's expectations too (the same code).
 *
 * Scale: `RECONCILE_BENCH_PURCHASES` (default 50,000; about a minute of set-up on a 2-core
 * machine) and `RECONCILE_BENCH_MEMBERS` (default 1,000). Everything is removed at the end
 * (accounts and transfers written to a real TigerBeetle stay: a cluster cannot delete them).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { loadConfig } from "../../src/config.ts";
import { createLedgerClient } from "../../src/ledger/index.ts";
import type { LedgerDeps } from "../../src/membership/index.ts";
import {
  createMembershipCaches,
  createOrg,
  enrollMemberWithLedger,
  openDatabase,
  recordPurchases,
} from "../../src/membership/index.ts";
import {
  openAdminClient,
  quoteIdentifier,
  withDatabaseName,
} from "../../src/membership/store/db.ts";
import { reconciledKinds } from "../../src/workers/reconcile/documents.ts";
import { documentsPageMax, documentsPagesMax } from "../../src/workers/reconcile/limits.ts";
import { reconcileOrg } from "../../src/workers/reconcile/reconcile-org.ts";

const serverUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const batchSize = 1_000;
const measuredPasses = 3;

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") {
    return fallback;
  }
  if (!/^[1-9][0-9]*$/.test(text)) {
    throw new Error(`${name} must be a positive integer`);
  }
  return Number(text);
}

export async function run(log: (line: string) => void): Promise<Record<string, string | number>> {
  const purchases = positiveInteger("RECONCILE_BENCH_PURCHASES", 50_000);
  const memberCount = positiveInteger("RECONCILE_BENCH_MEMBERS", 1_000);
  const ledgerConfig = loadConfig({
    TB_ADDRESS: process.env.TB_ADDRESS,
    TB_CLUSTER_ID: process.env.TB_CLUSTER_ID,
  }).ledger;
  const runId = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const databaseName = `loyalty_bench_reconcile_${runId}`;
  const dataDirectory = mkdtempSync(join(tmpdir(), "loyalty-bench-reconcile-"));
  const logger = pino({ level: "warn" });
  const database = await openDatabase({
    url: withDatabaseName(serverUrl, databaseName),
    poolMax: 4,
    statementTimeoutMs: 60_000,
    applicationName: "loyalty-bench-reconcile",
  });
  const ledger = await createLedgerClient(
    { ...ledgerConfig, dataFile: join(dataDirectory, "ledger.tb") },
    logger,
  );
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
      name: "Reconcile bench",
      slug: `bench-reconcile-${runId.replace("_", "-")}`,
      currency: "EUR",
    });
    const memberIds: string[] = [];
    for (let index = 0; index < memberCount; index += 1) {
      const { member } = await enrollMemberWithLedger(deps, {
        orgId: org.id,
        externalRef: `card-${index}`,
      });
      memberIds.push(member.id);
    }
    const setUpStarted = performance.now();
    for (let start = 0; start < purchases; start += batchSize) {
      const items = [];
      for (let index = start; index < Math.min(start + batchSize, purchases); index += 1) {
        items.push({
          externalId: `bench-${index}`,
          memberId: memberIds[index % memberIds.length] ?? "",
          amountMinor: BigInt(500 + (index % 10_000)),
          currency: "EUR",
        });
      }
      await recordPurchases(deps, { orgId: org.id, items });
    }
    log(
      `reconcile: ${memberCount} members, ${purchases} purchases written in ` +
        `${((performance.now() - setUpStarted) / 1000).toFixed(1)} s`,
    );
    await database.sql`vacuum analyze`;

    // Reference: the same keyset pages read from Postgres, their expectations built, and no
    // ledger request: what the run costs without the ledger.
    const [ledgerRow] = await database.sql<{ ledger: number }[]>`
      select ledger from org_ledgers where org_id = ${org.id} and unit = 'points'`;
    const pointsLedger = ledgerRow?.ledger ?? 0;
    const readPages = async (): Promise<number> => {
      let rows = 0;
      for (const kind of reconciledKinds) {
        let after: string | null = null;
        for (let page = 0; page < documentsPagesMax; page += 1) {
          const read = await kind.page(
            deps,
            { orgId: org.id, pointsLedger },
            after,
            documentsPageMax,
          );
          rows += read.documents.length;
          if (read.next === null) {
            break;
          }
          after = read.next;
        }
      }
      return rows;
    };
    // Each measured three times, alternating, the fastest kept: the machine is noisy, and the
    // fastest pass is the one least disturbed by others.
    let referenceRows = 0;
    let referenceSeconds = Number.POSITIVE_INFINITY;
    let seconds = Number.POSITIVE_INFINITY;
    let result: Awaited<ReturnType<typeof reconcileOrg>> | undefined;
    for (let pass = 0; pass < measuredPasses; pass += 1) {
      const referenceStarted = performance.now();
      referenceRows = await readPages();
      referenceSeconds = Math.min(referenceSeconds, (performance.now() - referenceStarted) / 1000);
      const started = performance.now();
      result = await reconcileOrg(deps, { orgId: org.id, now: new Date() });
      seconds = Math.min(seconds, (performance.now() - started) / 1000);
      if (result.mismatchCount !== 0) {
        throw new Error(`the bench population reconciles with ${result.mismatchCount} mismatches`);
      }
    }
    if (result === undefined) {
      throw new Error("no pass measured");
    }
    // Rows read: the documents and the members (one wallet each), as the reference counts them.
    const rows = result.checked.documents + result.checked.wallets;
    const rowsPerSecond = Math.round(rows / seconds);
    const referencePerSecond = Math.round(referenceRows / referenceSeconds);
    log(
      `reconcile: ${result.checked.documents} documents, ${result.checked.transfers} transfers, ` +
        `${result.checked.wallets} wallets in ${seconds.toFixed(2)} s ` +
        `(${rowsPerSecond} rows/s)`,
    );
    log(
      `reconcile: reference, the same ${referenceRows} rows paged from Postgres alone: ` +
        `${referenceSeconds.toFixed(2)} s (${referencePerSecond} rows/s)`,
    );
    return {
      reconcile_documents: result.checked.documents,
      reconcile_seconds: Number(seconds.toFixed(2)),
      reconcile_rows_per_second: rowsPerSecond,
      reconcile_reference_postgres_rows_per_second: referencePerSecond,
      reconcile_ledger:
        ledgerConfig.address === undefined ? "embedded" : ledgerConfig.address.join(","),
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
