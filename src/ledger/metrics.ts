/**
 * Instrumentation of the ledger client: transfers posted, counted from the ledger's own answers
 * rather than inferred from responses. The counter lives on the registry the caller gives.
 */
import assert from "node:assert/strict";
import { Counter, type Registry } from "prom-client";
import type { Client, CreateTransferResult, Transfer } from "tigerbeetle-node";
import { CreateTransferStatus } from "tigerbeetle-node";
import { TransferCode } from "./codes.ts";

export interface LedgerMetrics {
  transfersPosted: Counter<"code">;
}

export function createLedgerMetrics(registry: Registry): LedgerMetrics {
  return {
    transfersPosted: new Counter({
      name: "ledger_transfers_posted_total",
      help: "Ledger transfers created (status created), by transfer code.",
      labelNames: ["code"],
      registers: [registry],
    }),
  };
}

/** The transfer code's name (`purchaseEarn`), or its number when it is not one of ours. */
function codeLabel(code: number): string {
  return TransferCode[code] ?? String(code);
}

/**
 * The same ledger client, counting every transfer the ledger answers `created` for. Retries
 * that answer `exists` are not counted, so the counter is the number of transfers posted.
 */
export function countPostedTransfers(client: Client, metrics: LedgerMetrics): Client {
  const createTransfers = async (batch: Transfer[]): Promise<CreateTransferResult[]> => {
    const results = await client.createTransfers(batch);
    // TigerBeetle 0.17 answers one result per event, in order.
    assert.equal(results.length, batch.length, "one result per transfer");
    for (const [index, result] of results.entries()) {
      const transfer = batch[index];
      if (result.status === CreateTransferStatus.created && transfer !== undefined) {
        metrics.transfersPosted.inc({ code: codeLabel(transfer.code) });
      }
    }
    return results;
  };
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === "createTransfers") {
        return createTransfers;
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
