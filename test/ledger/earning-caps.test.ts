/**
 * Earning caps held by the ledger (src/ledger/earning-caps.ts, docs/ledger.md "Earning caps"), on
 * every engine: a cap account is funded once (and topped up to a raised cap), reservations are
 * pending balancing debits that never take more than is left, a retried reservation keeps what
 * it reserved the first time, and posting what was used releases the rest.
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { deriveId } from "../../src/ledger/ids.ts";
import {
  type CapAccount,
  type CapReservation,
  capAccountId,
  capsLeft,
  ensureCapAccounts,
  linkTransfers,
  postChains,
  reservationChain,
  reservationPost,
  reservedAmounts,
} from "../../src/ledger/index.ts";
import { freshLedger } from "./builders.ts";
import { describeEngines } from "./engines.ts";

function reservation(account: CapAccount, asked: bigint): CapReservation {
  const documentId = randomUUID();
  return {
    id: deriveId("test-reservation", documentId),
    postId: deriveId("test-post", documentId),
    account,
    asked,
    documentId,
  };
}

describeEngines("earning caps", ({ harness }) => {
  it("funds a cap once, tops it up when raised, and reports what is left", async () => {
    const client = harness().client;
    const account: CapAccount = {
      ledger: freshLedger(),
      memberId: randomUUID(),
      key: "overall:-:day:2026-12-07",
      cap: 30n,
    };
    expect(await capsLeft(client, [account])).toEqual(new Map([[capAccountId(account), 30n]]));
    await ensureCapAccounts(client, [account]);
    await ensureCapAccounts(client, [account]);
    const [opened] = await client.lookupAccounts([capAccountId(account)]);
    expect(opened?.credits_posted).toBe(30n);
    await ensureCapAccounts(client, [{ ...account, cap: 40n }]);
    const [raised] = await client.lookupAccounts([capAccountId(account)]);
    expect(raised?.credits_posted).toBe(40n);
  });

  it("reserves at most what is left, keeps a retried reservation, and releases what was not used", async () => {
    const client = harness().client;
    const account: CapAccount = {
      ledger: freshLedger(),
      memberId: randomUUID(),
      key: "rule:r:week:2026-11-30",
      cap: 30n,
    };
    await ensureCapAccounts(client, [account]);
    const first = reservation(account, 20n);
    const second = reservation(account, 20n);
    const third = reservation(account, 5n);
    const outcomes = await postChains(client, [
      reservationChain([first]),
      reservationChain([second]),
      reservationChain([third]),
    ]);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(["created", "created", "created"]);
    const reserved = await reservedAmounts(client, [first.id, second.id, third.id]);
    // 20, then the 10 left, then nothing: never more than the cap in all.
    expect([...reserved.values()]).toEqual([20n, 10n, 0n]);
    expect((await capsLeft(client, [account])).get(capAccountId(account))).toBe(0n);

    // A retry of the first chain is `exists`, and what it holds does not change.
    const [retried] = await postChains(client, [reservationChain([first])]);
    expect(retried?.kind).toBe("exists");
    expect((await reservedAmounts(client, [first.id])).get(first.id)).toBe(20n);

    // The first used 12 of its 20, the second all 10, the third its 0: 8 come back.
    const posted = await postChains(client, [
      linkTransfers([reservationPost(first, 12n)]),
      linkTransfers([reservationPost(second, 10n)]),
      linkTransfers([reservationPost(third, 0n)]),
    ]);
    expect(posted.map((outcome) => outcome.kind)).toEqual(["created", "created", "created"]);
    expect((await capsLeft(client, [account])).get(capAccountId(account))).toBe(8n);
    const [cap] = await client.lookupAccounts([capAccountId(account)]);
    expect(cap).toMatchObject({ credits_posted: 30n, debits_posted: 22n, debits_pending: 0n });
  });
});
