/**
 * Members' wallet balances at a past instant, from the wallets' balance history (TigerBeetle's
 * `get_account_balances`; wallets carry the `history` flag): for each member, the balances right
 * after their wallet's last transfer at or before the instant. Paged by member id; a page costs
 * one Postgres query, one account lookup and one history read per member of the page.
 *
 * Members whose wallet on the unit did not exist at the instant (enrolled later, or never given
 * one on that unit) are absent from the page, so a page may hold fewer entries than its limit
 * and still have a next page.
 */
import assert from "node:assert/strict";
import { and, asc, eq, gt } from "drizzle-orm";
import {
  ledgerTimestampMax,
  lookupAccountsById,
  type WalletBalanceAt,
  walletAccountId,
  walletBalanceAt,
} from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { mapBounded } from "../intents/support.ts";
import { members } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import { requireUnitLedger } from "./unit-ledger.ts";

/** Members per page at most (each is one ledger read). */
export const balancesAtPageMax = 500;
export const balancesAtPageDefault = 100;
/** History reads one page keeps in flight. */
const balanceReadsInFlightMax = 16;

export interface GetBalancesAtInput {
  orgId: string;
  unit: string;
  /** The instant, ns since the Unix epoch (inclusive: a transfer at exactly `at` counts). */
  atTimestamp: bigint;
  limit: number;
  /** The last member id of the previous page. */
  cursor?: string;
}

export interface MemberBalanceAt extends WalletBalanceAt {
  memberId: string;
}

export interface BalancesAtPage {
  ledger: number;
  entries: MemberBalanceAt[];
  /** Null on the last page. */
  nextCursor: string | null;
}

export async function getBalancesAt(
  deps: Pick<LedgerDeps, "db" | "ledger">,
  input: GetBalancesAtInput,
): Promise<BalancesAtPage> {
  assert.ok(
    Number.isInteger(input.limit) && input.limit >= 1 && input.limit <= balancesAtPageMax,
    "the page size is checked at the edge",
  );
  assert.ok(input.atTimestamp >= 0n && input.atTimestamp <= ledgerTimestampMax, "at is checked");
  if (input.cursor !== undefined && !isUuid(input.cursor)) {
    throw new DomainError("invalid_input", "cursor is not one this route returned", {
      cursor: input.cursor,
    });
  }
  const ledger = await requireUnitLedger(deps, input);
  const rows = await deps.db
    .select({ id: members.id })
    .from(members)
    .where(
      and(
        eq(members.orgId, input.orgId),
        input.cursor === undefined ? undefined : gt(members.id, input.cursor),
      ),
    )
    .orderBy(asc(members.id))
    .limit(input.limit);
  assert.ok(rows.length <= input.limit, "a page holds at most its limit");
  const walletIds = rows.map((row) => walletAccountId(ledger, row.id));
  const accounts = await lookupAccountsById(deps.ledger, walletIds);
  const balances = await mapBounded(rows, balanceReadsInFlightMax, async (row, index) => {
    const account = accounts.get(walletIds[index] as bigint);
    if (account === undefined) {
      return null;
    }
    assert.equal(account.ledger, ledger, "the wallet is on the unit's ledger");
    const balance = await walletBalanceAt(deps.ledger, {
      account,
      atTimestamp: input.atTimestamp,
    });
    return balance === null ? null : { memberId: row.id, ...balance };
  });
  const entries = balances.filter((entry): entry is MemberBalanceAt => entry !== null);
  const last = rows[rows.length - 1];
  return {
    ledger,
    entries,
    nextCursor: rows.length === input.limit && last !== undefined ? last.id : null,
  };
}
