/**
 * Earning caps held by the ledger. Each (member, rule or "overall", period) has a cap account
 * (code earningCap, debits_must_not_exceed_credits) funded once with the cap from the
 * earningAllowances control account. A capped purchase first reserves from each cap it touches a
 * pending balancing debit (cap → capUsage) of what it asks for: TigerBeetle moves at most what is
 * left, atomically, so concurrent purchases of one member can never together use more than the
 * cap. The purchase then knows exactly what it may award, posts each reservation with what it
 * used (releasing the rest) and credits the wallet, in one linked chain. docs/ledger.md.
 */
import assert from "node:assert/strict";
import {
  AccountFlags,
  type Client,
  CreateAccountStatus,
  CreateTransferStatus,
  type Transfer,
  TransferFlags,
} from "tigerbeetle-node";
import { AccountCode, controlAccountFlags, TransferCode } from "./codes.ts";
import { controlAccountId, deriveId, uuidToU128 } from "./ids.ts";
import { accountTemplate } from "./loyalty.ts";
import { link, pointsPerTransferMax, transfer } from "./postings.ts";

export interface CapAccount {
  ledger: number;
  memberId: string;
  /** Names the rule (or "overall") and the period: `capKey` in purchases/earning.ts. */
  key: string;
  /** The cap in points for the period. */
  cap: bigint;
}

export function capAccountId(account: Pick<CapAccount, "ledger" | "memberId" | "key">): bigint {
  return deriveId("earning-cap", account.ledger, account.memberId, account.key);
}

/**
 * Opens and funds cap accounts. Idempotent, and safe to run concurrently: the accounts and their
 * funding transfer have deterministic ids, and a cap account is funded up to its cap only (a cap
 * raised mid-period is topped up; a lowered one keeps what it had until the period ends).
 */
export async function ensureCapAccounts(
  client: Client,
  accounts: readonly CapAccount[],
): Promise<void> {
  if (accounts.length === 0) {
    return;
  }
  const ledgers = [...new Set(accounts.map((account) => account.ledger))];
  const controls = ledgers.flatMap((ledger) =>
    ([AccountCode.earningAllowances, AccountCode.capUsage] as const).map((code) =>
      accountTemplate(controlAccountId(ledger, code), ledger, code, controlAccountFlags),
    ),
  );
  const caps = accounts.map((account) =>
    accountTemplate(
      capAccountId(account),
      account.ledger,
      AccountCode.earningCap,
      // Never below zero: the reservations' balancing debits stop at what is left.
      AccountFlags.debits_must_not_exceed_credits,
    ),
  );
  const created = await client.createAccounts([...controls, ...caps]);
  for (const result of created) {
    assert.ok(
      result.status === CreateAccountStatus.created || result.status === CreateAccountStatus.exists,
      `ensureCapAccounts: ${CreateAccountStatus[result.status]}`,
    );
  }
  const found = await client.lookupAccounts(caps.map((account) => account.id));
  const funded = new Map(found.map((account) => [account.id, account.credits_posted]));
  const fundings: Transfer[] = [];
  for (const account of accounts) {
    assert.ok(account.cap >= 0n && account.cap <= pointsPerTransferMax, "a cap within bounds");
    const id = capAccountId(account);
    const has = funded.get(id);
    assert.ok(has !== undefined, "a cap account just opened can be looked up");
    if (has < account.cap) {
      fundings.push(
        transfer({
          id: deriveId("cap-allowance", id, account.cap.toString()),
          debit_account_id: controlAccountId(account.ledger, AccountCode.earningAllowances),
          credit_account_id: id,
          amount: account.cap - has,
          ledger: account.ledger,
          code: TransferCode.capAllowance,
        }),
      );
    }
  }
  if (fundings.length === 0) {
    return;
  }
  const results = await client.createTransfers(fundings);
  for (const result of results) {
    // A concurrent opener funded it first: with the same amount (`exists`) or, having read the
    // account a moment earlier, another one (`exists_with_different_amount`): funded either way.
    assert.ok(
      result.status === CreateTransferStatus.created ||
        result.status === CreateTransferStatus.exists ||
        result.status === CreateTransferStatus.exists_with_different_amount,
      `ensureCapAccounts: ${CreateTransferStatus[result.status]}`,
    );
  }
}

export interface CapReservation {
  /** The reservation's id, as its purchase recorded it. */
  id: bigint;
  /** The id of the post that settles it. */
  postId: bigint;
  account: CapAccount;
  /** What the purchase asks of this cap (before the cap). */
  asked: bigint;
  documentId: string;
}

/** A purchase's reservations as one chain (all or none): pending balancing debits, no timeout. */
export function reservationChain(reservations: readonly CapReservation[]): Transfer[] {
  assert.ok(reservations.length > 0, "a reservation chain reserves something");
  return link(
    reservations.map((reservation) =>
      transfer({
        id: reservation.id,
        debit_account_id: capAccountId(reservation.account),
        credit_account_id: controlAccountId(reservation.account.ledger, AccountCode.capUsage),
        amount: reservation.asked,
        user_data_128: uuidToU128(reservation.documentId),
        ledger: reservation.account.ledger,
        code: TransferCode.capReservation,
        flags: TransferFlags.pending | TransferFlags.balancing_debit,
      }),
    ),
  );
}

/** The post of a reservation with what the purchase used (≤ what was reserved). */
export function reservationPost(reservation: CapReservation, used: bigint): Transfer {
  assert.ok(used >= 0n, "a purchase uses a non-negative amount of a cap");
  return transfer({
    id: reservation.postId,
    pending_id: reservation.id,
    amount: used,
    ledger: reservation.account.ledger,
    code: TransferCode.capReservation,
    flags: TransferFlags.post_pending_transfer,
  });
}

/** What each reservation holds (TigerBeetle stores the clamped amount), by reservation id. */
export async function reservedAmounts(
  client: Client,
  ids: readonly bigint[],
): Promise<Map<bigint, bigint>> {
  if (ids.length === 0) {
    return new Map();
  }
  const found = await client.lookupTransfers([...ids]);
  assert.equal(found.length, ids.length, "every reservation was created");
  return new Map(found.map((reservation) => [reservation.id, reservation.amount]));
}

/** What is left of each cap now (for a simulation: nothing is reserved). */
export async function capsLeft(
  client: Client,
  accounts: readonly CapAccount[],
): Promise<Map<bigint, bigint>> {
  const ids = accounts.map(capAccountId);
  const found = ids.length === 0 ? [] : await client.lookupAccounts(ids);
  const left = new Map<bigint, bigint>();
  for (const account of accounts) {
    left.set(capAccountId(account), account.cap);
  }
  for (const account of found) {
    const spent = account.debits_posted + account.debits_pending;
    // A cap raised since the account opened is topped up before the next purchase reserves.
    const cap = accounts.find((wanted) => capAccountId(wanted) === account.id)?.cap ?? 0n;
    const funded = account.credits_posted > cap ? account.credits_posted : cap;
    left.set(account.id, funded > spent ? funded - spent : 0n);
  }
  // Unopened: the whole cap.
  return left;
}
