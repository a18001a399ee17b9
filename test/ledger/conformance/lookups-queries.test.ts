/**
 * lookup_accounts / lookup_transfers and query_accounts / query_transfers: request order,
 * duplicates, unknown ids, every QueryFilter field and flag, and invalid filters answering [].
 * Semantics reference §8, §10.
 *
 * The objects of a query test are created in one batch: a batch's events take consecutive
 * timestamps, so a filter bounded by the first and last of them matches exactly those objects,
 * even on a shared cluster.
 */
import type { Account, Client, QueryFilter, Transfer } from "tigerbeetle-node";
import { id, QueryFilterFlags } from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  batchEventsMax,
  freshLedger,
  mustCreateAccounts,
  mustCreateTransfer,
  mustCreateTransfers,
  newAccount,
  newTransfer,
  queryFilterOf,
  randomU32,
  randomU64,
  timestampMax,
  u128Max,
} from "../builders.ts";
import { describeEngines } from "../engines.ts";

/** A query filter with room for every match, then `fields`. */
function query(fields: Partial<QueryFilter>): QueryFilter {
  return queryFilterOf({ limit: batchEventsMax, ...fields });
}

function ids(records: readonly { id: bigint }[]): bigint[] {
  return records.map((record) => record.id);
}

interface Tagged<T> {
  ledger: number;
  otherLedger: number;
  userData128: bigint;
  userData64: bigint;
  userData32: number;
  /** t1: ledger, u128, u64, u32, code 10 · t2: ledger, u128, code 20 · t3: ledger, u64, code 10
   *  · t4: otherLedger, u128, u32, code 10 · t5: ledger, code 30 — created in this order. */
  records: [T, T, T, T, T];
  timestamps: bigint[];
}

function tags(): Omit<Tagged<never>, "records" | "timestamps"> {
  return {
    ledger: freshLedger(),
    otherLedger: freshLedger(),
    userData128: id(),
    userData64: randomU64(),
    userData32: randomU32(),
  };
}

async function taggedAccounts(client: Client): Promise<Tagged<Account>> {
  const tag = tags();
  const records: [Account, Account, Account, Account, Account] = [
    newAccount(tag.ledger, {
      user_data_128: tag.userData128,
      user_data_64: tag.userData64,
      user_data_32: tag.userData32,
      code: 10,
    }),
    newAccount(tag.ledger, { user_data_128: tag.userData128, code: 20 }),
    newAccount(tag.ledger, { user_data_64: tag.userData64, code: 10 }),
    newAccount(tag.otherLedger, {
      user_data_128: tag.userData128,
      user_data_32: tag.userData32,
      code: 10,
    }),
    newAccount(tag.ledger, { code: 30 }),
  ];
  const timestamps = await mustCreateAccounts(client, records);
  return { ...tag, records, timestamps };
}

async function taggedTransfers(client: Client): Promise<Tagged<Transfer>> {
  const tag = tags();
  const [p, q, r, s] = [
    newAccount(tag.ledger),
    newAccount(tag.ledger),
    newAccount(tag.otherLedger),
    newAccount(tag.otherLedger),
  ];
  await mustCreateAccounts(client, [p, q, r, s]);
  const on = (ledger: number, fields: Partial<Transfer>): Transfer =>
    ledger === tag.ledger
      ? newTransfer({
          debit_account_id: p.id,
          credit_account_id: q.id,
          ledger,
          amount: 1n,
          ...fields,
        })
      : newTransfer({
          debit_account_id: r.id,
          credit_account_id: s.id,
          ledger,
          amount: 1n,
          ...fields,
        });
  const records: [Transfer, Transfer, Transfer, Transfer, Transfer] = [
    on(tag.ledger, {
      user_data_128: tag.userData128,
      user_data_64: tag.userData64,
      user_data_32: tag.userData32,
      code: 10,
    }),
    on(tag.ledger, { user_data_128: tag.userData128, code: 20 }),
    on(tag.ledger, { user_data_64: tag.userData64, code: 10 }),
    on(tag.otherLedger, { user_data_128: tag.userData128, user_data_32: tag.userData32, code: 10 }),
    on(tag.ledger, { code: 30 }),
  ];
  const timestamps = await mustCreateTransfers(client, records);
  return { ...tag, records, timestamps };
}

/** The filters every query test runs, with the indexes of the records each must return. */
function filterCases<T>(tagged: Tagged<T>): [string, QueryFilter, number[]][] {
  const { ledger, otherLedger, userData128, userData64, userData32, timestamps } = tagged;
  const [t1, t2, t3, , t5] = timestamps;
  if (t1 === undefined || t2 === undefined || t3 === undefined || t5 === undefined) {
    throw new Error("five timestamps");
  }
  const reversed = QueryFilterFlags.reversed;
  return [
    ["ledger", query({ ledger }), [0, 1, 2, 4]],
    ["ledger (other)", query({ ledger: otherLedger }), [3]],
    ["user_data_128", query({ user_data_128: userData128 }), [0, 1, 3]],
    ["user_data_64", query({ user_data_64: userData64 }), [0, 2]],
    ["user_data_32 with ledger", query({ user_data_32: userData32, ledger }), [0]],
    [
      "user_data_32 with user_data_128",
      query({ user_data_32: userData32, user_data_128: userData128 }),
      [0, 3],
    ],
    ["code with ledger", query({ code: 10, ledger }), [0, 2]],
    ["code with user_data_128", query({ code: 10, user_data_128: userData128 }), [0, 3]],
    [
      "user_data_128 with other ledger",
      query({ user_data_128: userData128, ledger: otherLedger }),
      [3],
    ],
    ["no match", query({ code: 99, ledger }), []],
    ["reversed", query({ ledger, flags: reversed }), [4, 2, 1, 0]],
    ["limit", query({ ledger, limit: 2 }), [0, 1]],
    ["reversed with limit", query({ ledger, limit: 2, flags: reversed }), [4, 2]],
    [
      "timestamp_min and timestamp_max, inclusive",
      query({ ledger, timestamp_min: t2, timestamp_max: t3 }),
      [1, 2],
    ],
    ["timestamp_min alone", query({ ledger, timestamp_min: t3 }), [2, 4]],
    ["timestamp_max alone", query({ ledger, timestamp_max: t2 }), [0, 1]],
    ["timestamp_min equal to timestamp_max", query({ timestamp_min: t5, timestamp_max: t5 }), [4]],
    ["next page after t2", query({ ledger, limit: 2, timestamp_min: t2 + 1n }), [2, 4]],
    [
      "previous page before t3, reversed",
      query({ ledger, limit: 1, timestamp_max: t3 - 1n, flags: reversed }),
      [1],
    ],
    [
      "every field zero, bounded by the batch",
      query({ timestamp_min: t1, timestamp_max: t5 }),
      [0, 1, 2, 3, 4],
    ],
  ];
}

/** Filters that are invalid and answer an empty array (never an error). */
function invalidFilters(ledger: number): [string, QueryFilter][] {
  return [
    ["limit 0", queryFilterOf({ ledger })],
    ["unknown flag", query({ ledger, flags: 2 })],
    ["every flag bit", query({ ledger, flags: 0xffff_ffff })],
    ["timestamp_min above timestamp_max", query({ ledger, timestamp_min: 10n, timestamp_max: 9n })],
    ["timestamp_min out of range", query({ ledger, timestamp_min: timestampMax + 1n })],
    ["timestamp_max out of range", query({ ledger, timestamp_max: timestampMax + 1n })],
  ];
}

describeEngines("lookups and queries", ({ harness }) => {
  it("looks accounts up in request order, repeating duplicates and omitting unknown ids", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const a = newAccount(ledger);
    const b = newAccount(ledger, { code: 2 });
    const [aAt, bAt] = await mustCreateAccounts(client, [a, b]);
    const found = await client.lookupAccounts([b.id, a.id, id(), a.id, 0n, u128Max, b.id]);
    expect(found).toEqual([
      { ...b, timestamp: bAt },
      { ...a, timestamp: aAt },
      { ...a, timestamp: aAt },
      { ...b, timestamp: bAt },
    ]);
    expect(await client.lookupAccounts([id(), 0n])).toEqual([]);
  });

  it("looks transfers up in request order, repeating duplicates and omitting unknown ids", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const a = newAccount(ledger);
    const b = newAccount(ledger);
    await mustCreateAccounts(client, [a, b]);
    const first = newTransfer({
      debit_account_id: a.id,
      credit_account_id: b.id,
      ledger,
      amount: 1n,
    });
    const second = newTransfer({
      debit_account_id: b.id,
      credit_account_id: a.id,
      ledger,
      amount: 2n,
    });
    const [firstAt, secondAt] = await mustCreateTransfers(client, [first, second]);
    const found = await client.lookupTransfers([second.id, id(), first.id, second.id, 0n, u128Max]);
    expect(found).toEqual([
      { ...second, timestamp: secondAt },
      { ...first, timestamp: firstAt },
      { ...second, timestamp: secondAt },
    ]);
    // Account ids are not transfer ids.
    expect(await client.lookupTransfers([a.id])).toEqual([]);
    expect(await client.lookupAccounts([first.id])).toEqual([]);
  });

  it("answers empty lookups with empty arrays", async () => {
    const { client } = harness();
    expect(await client.lookupAccounts([])).toEqual([]);
    expect(await client.lookupTransfers([])).toEqual([]);
  });

  it("filters queryAccounts by every QueryFilter field and flag", async () => {
    const { client } = harness();
    const tagged = await taggedAccounts(client);
    const expected = tagged.records.map((record, index) => ({
      ...record,
      timestamp: tagged.timestamps[index],
    }));
    for (const [name, filter, indexes] of filterCases(tagged)) {
      const found = await client.queryAccounts(filter);
      expect(found, name).toEqual(indexes.map((index) => expected[index]));
    }
  });

  it("answers queryAccounts with current balances", async () => {
    const { client } = harness();
    const tagged = await taggedAccounts(client);
    const [first, , third] = tagged.records;
    await mustCreateTransfer(
      client,
      newTransfer({
        debit_account_id: first.id,
        credit_account_id: third.id,
        ledger: tagged.ledger,
        amount: 7n,
      }),
    );
    const found = await client.queryAccounts(query({ user_data_64: tagged.userData64 }));
    expect(found).toEqual([
      { ...first, debits_posted: 7n, timestamp: tagged.timestamps[0] },
      { ...third, credits_posted: 7n, timestamp: tagged.timestamps[2] },
    ]);
  });

  it("answers queryAccounts with [] for invalid filters", async () => {
    const { client } = harness();
    const tagged = await taggedAccounts(client);
    for (const [name, filter] of invalidFilters(tagged.ledger)) {
      expect(await client.queryAccounts(filter), name).toEqual([]);
    }
    expect(ids(await client.queryAccounts(query({ ledger: tagged.ledger })))).toHaveLength(4);
  });

  it("filters queryTransfers by every QueryFilter field and flag", async () => {
    const { client } = harness();
    const tagged = await taggedTransfers(client);
    const expected = tagged.records.map((record, index) => ({
      ...record,
      timestamp: tagged.timestamps[index],
    }));
    for (const [name, filter, indexes] of filterCases(tagged)) {
      const found = await client.queryTransfers(filter);
      expect(found, name).toEqual(indexes.map((index) => expected[index]));
    }
  });

  it("answers queryTransfers with [] for invalid filters", async () => {
    const { client } = harness();
    const tagged = await taggedTransfers(client);
    for (const [name, filter] of invalidFilters(tagged.ledger)) {
      expect(await client.queryTransfers(filter), name).toEqual([]);
    }
    expect(ids(await client.queryTransfers(query({ ledger: tagged.ledger })))).toHaveLength(4);
  });

  it("leaves failed and rolled-back transfers out of queries", async () => {
    const { client } = harness();
    const ledger = freshLedger();
    const a = newAccount(ledger);
    const b = newAccount(ledger);
    await mustCreateAccounts(client, [a, b]);
    const ok = newTransfer({ debit_account_id: a.id, credit_account_id: b.id, ledger, amount: 1n });
    const results = await client.createTransfers([
      { ...ok, id: id(), flags: 1 },
      { ...ok, id: id(), code: 0 },
      ok,
    ]);
    const [first, , last] = results.map((result) => result.timestamp);
    const found = await client.queryTransfers(query({ timestamp_min: first, timestamp_max: last }));
    expect(ids(found)).toEqual([ok.id]);
  });
});
