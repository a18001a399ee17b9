/**
 * The ledger's request deadline: a cluster that never answers turns into a typed "ledger
 * unavailable" error instead of a wait without end; requests piling up behind it are refused at
 * once past their bound; a ledger that answers is passed through untouched.
 */
import { createClient } from "tigerbeetle-node";
import { describe, expect, it, onTestFinished } from "vitest";
import { accountOf } from "../../test/ledger/builders.ts";
import { createBlackHole } from "../../test/support/tcp-fault.ts";
import { createEmbeddedClient, isLedgerUnavailable, withDeadline } from "./index.ts";

async function silentCluster() {
  const blackHole = await createBlackHole();
  const client = createClient({ cluster_id: 0n, replica_addresses: [String(blackHole.port)] });
  onTestFinished(async () => {
    client.destroy();
    await blackHole.close();
  });
  return client;
}

describe("withDeadline", () => {
  it("rejects a request the cluster never answers with LedgerUnavailableError", async () => {
    const ledger = withDeadline(await silentCluster(), { requestTimeoutMs: 200 });
    const error = await ledger.lookupAccounts([1n]).catch((reason: unknown) => reason);
    expect(isLedgerUnavailable(error)).toBe(true);
    expect((error as Error).message).toMatch(/lookupAccounts not answered within 200 ms/);
    expect((error as { code: string }).code).toBe("ERR_LEDGER_UNAVAILABLE");
  });

  it("refuses at once past its bound of requests waiting, without queueing them", async () => {
    const ledger = withDeadline(await silentCluster(), { requestTimeoutMs: 200, inFlightMax: 2 });
    const waiting = [ledger.lookupAccounts([1n]), ledger.lookupTransfers([1n])];
    for (const request of waiting) {
      request.catch(() => undefined);
    }
    const third = await ledger
      .queryAccounts({
        user_data_128: 0n,
        user_data_64: 0n,
        user_data_32: 0,
        ledger: 1,
        code: 0,
        timestamp_min: 0n,
        timestamp_max: 0n,
        limit: 1,
        flags: 0,
      })
      .catch((reason: unknown) => reason);
    expect(isLedgerUnavailable(third)).toBe(true);
    expect((third as Error).message).toMatch(/2 requests already wait/);
    // The two waiting ones still end, by their deadline.
    for (const request of waiting) {
      expect(isLedgerUnavailable(await request.catch((reason: unknown) => reason))).toBe(true);
    }
  });

  it("passes answers of a ledger that answers through unchanged, close included", async () => {
    const engine = createEmbeddedClient();
    const ledger = withDeadline(engine);
    const results = await ledger.createAccounts([accountOf({ id: 7n, ledger: 1, code: 1 })]);
    expect(results).toHaveLength(1);
    expect((await ledger.lookupAccounts([7n])).map((account) => account.id)).toEqual([7n]);
    await ledger.close();
    await expect(engine.lookupAccounts([7n])).rejects.toMatchObject({ code: "ERR_CLIENT_CLOSED" });
  });
});
