/**
 * Filtering one account's transfers by code uses a per-account list built on the first such
 * query and maintained afterwards, through new transfers and rolled-back chains. Whatever the
 * history, it must answer exactly what filtering the full list by code answers.
 */
import fc from "fast-check";
import { AccountFilterFlags, type Transfer, TransferFlags } from "tigerbeetle-node";
import { describe, expect, it } from "vitest";
import { createEmbeddedClient } from "./index.ts";

const account = (id: bigint, flags = 0) => ({
  id,
  debits_pending: 0n,
  debits_posted: 0n,
  credits_pending: 0n,
  credits_posted: 0n,
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  reserved: 0,
  ledger: 1,
  code: 1,
  flags,
  timestamp: 0n,
});

const filter = (code: number, flags: number) => ({
  account_id: 2n,
  user_data_128: 0n,
  user_data_64: 0n,
  user_data_32: 0,
  code,
  timestamp_min: 0n,
  timestamp_max: 0n,
  limit: 8189,
  flags,
});

describe("transfers by code, per account and across the ledger", () => {
  it("match filtering the whole history, across chains that roll back", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            codes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
            // A chain whose last leg overdraws account 3 rolls back whole.
            fails: fc.boolean(),
            query: fc.integer({ min: 0, max: 3 }),
          }),
          { maxLength: 25 },
        ),
        async (steps) => {
          const client = createEmbeddedClient();
          // 1 funds 2; 3 may not go negative.
          await client.createAccounts([account(1n), account(2n, 8), account(3n, 2)]);
          let id = 100n;
          for (const step of steps) {
            const legs: Transfer[] = step.codes.map((code, index) => ({
              id: id++,
              debit_account_id: 1n,
              credit_account_id: 2n,
              amount: 1n,
              pending_id: 0n,
              user_data_128: 0n,
              user_data_64: 0n,
              user_data_32: 0,
              timeout: 0,
              ledger: 1,
              code,
              flags: index < step.codes.length - 1 || step.fails ? TransferFlags.linked : 0,
              timestamp: 0n,
            }));
            if (step.fails) {
              legs.push({ ...(legs[0] as Transfer), id: id++, debit_account_id: 3n, flags: 0 });
            }
            await client.createTransfers(legs);
            if (step.query > 0) {
              for (const flags of [
                AccountFilterFlags.credits,
                AccountFilterFlags.credits | AccountFilterFlags.reversed,
              ]) {
                const all = await client.getAccountTransfers(filter(0, flags));
                const byCode = await client.getAccountTransfers(filter(step.query, flags));
                expect(byCode).toEqual(all.filter((transfer) => transfer.code === step.query));
                const balances = await client.getAccountBalances(filter(step.query, flags));
                const timestamps = new Set(byCode.map((transfer) => transfer.timestamp));
                const allBalances = await client.getAccountBalances(filter(0, flags));
                expect(balances).toEqual(
                  allBalances.filter((balance) => timestamps.has(balance.timestamp)),
                );
                expect(balances).toHaveLength(byCode.length);
                // The engine's query indexes catch up lazily; they must agree with a full scan.
                const query = (code: number) => ({
                  user_data_128: 0n,
                  user_data_64: 0n,
                  user_data_32: 0,
                  ledger: 0,
                  code,
                  timestamp_min: 0n,
                  timestamp_max: 0n,
                  limit: 8189,
                  flags: 0,
                });
                const everything = await client.queryTransfers(query(0));
                expect(await client.queryTransfers(query(step.query))).toEqual(
                  everything.filter((transfer) => transfer.code === step.query),
                );
              }
            }
          }
          await client.close();
        },
      ),
      { numRuns: 100 },
    );
  });
});
