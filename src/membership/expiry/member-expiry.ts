/**
 * A member's expiry schedule, read from the ledger alone: the wallet's transfers decoded into
 * movements for lots.ts, checked against the wallet's own balances. No Postgres counter takes
 * part, so the schedule of any member can be reproduced from the ledger.
 */
import assert from "node:assert/strict";
import {
  documentTimeMs,
  type LedgerApi,
  type LedgerTransfer,
  purchaseCreditCodes,
  scanWalletTransfers,
  transferPhase,
  walletAccountId,
} from "../../ledger/index.ts";
import type { ExpiryPolicy, ExpirySchedule, WalletMovement } from "./lots.ts";
import { expirySchedule } from "./lots.ts";

/** Reads of one schedule when transfers keep arriving between the balance read and the scan. */
const scheduleReadAttemptsMax = 5;

/**
 * The wallet changed during every read of its schedule: transient (a job retries it later), not
 * a broken invariant.
 */
export class WalletBusyError extends Error {
  constructor(memberId: string) {
    super(`the wallet of member ${memberId} kept changing while its history was read`);
    this.name = "WalletBusyError";
  }
}

/**
 * When a credit was earned. A purchase carries its document's time (the purchase's
 * `occurred_at`, the UUIDv7 in `user_data_128`): a purchase the till sends late is still dated
 * when it happened. Every other credit (welcome bonus, credit adjustment, stamp-card reward) is
 * dated when the ledger posted it: its document is recorded and posted at once, and the welcome
 * bonus and stamp reward carry the member's id, not a dated document id.
 */
export function earnedAtMs(transfer: LedgerTransfer): number {
  if (purchaseCreditCodes.includes(transfer.code)) {
    return documentTimeMs(transfer.user_data_128);
  }
  return Number(transfer.timestamp / 1_000_000n);
}

/**
 * The movement a wallet transfer makes to the posted balance, or null: holds count through the
 * wallet's `debits_pending` instead, and voids undo a hold that never reached the posted balance.
 */
export function walletMovementOf(
  transfer: LedgerTransfer,
  walletId: bigint,
): WalletMovement | null {
  const credit = transfer.credit_account_id === walletId;
  assert.ok(credit || transfer.debit_account_id === walletId, "the transfer moves this wallet");
  const phase = transferPhase(transfer.flags);
  if (phase === "pending" || phase === "void") {
    return null;
  }
  if (credit) {
    return { kind: "credit", points: transfer.amount, earnedAtMs: earnedAtMs(transfer) };
  }
  return { kind: "debit", points: transfer.amount };
}

/**
 * The member's schedule under `policy`, or null when the wallet was never opened. The remaining
 * lots must add up to the wallet's available balance: a transfer posted between the balance reads
 * and the scan is met by reading again (bounded, then `WalletBusyError`); a scan that disagrees
 * with a wallet that did not change is a broken invariant.
 */
export async function readExpirySchedule(
  ledger: LedgerApi,
  args: {
    ledger: number;
    memberId: string;
    policy: Exclude<ExpiryPolicy, { policy: "none" }>;
  },
): Promise<ExpirySchedule | null> {
  const walletId = walletAccountId(args.ledger, args.memberId);
  for (let attempt = 1; attempt <= scheduleReadAttemptsMax; attempt += 1) {
    const [account] = await ledger.lookupAccounts([walletId]);
    if (account === undefined) {
      return null;
    }
    const movements: WalletMovement[] = [];
    let credits = 0n;
    let debits = 0n;
    for await (const page of scanWalletTransfers(ledger, {
      ledger: args.ledger,
      memberId: args.memberId,
    })) {
      for (const transfer of page) {
        const movement = walletMovementOf(transfer, walletId);
        if (movement !== null) {
          movements.push(movement);
          if (movement.kind === "credit") {
            credits += movement.points;
          } else {
            debits += movement.points;
          }
        }
      }
    }
    const [after] = await ledger.lookupAccounts([walletId]);
    assert.ok(after !== undefined, "a wallet is never closed");
    // Posted totals only grow: equal before and after means nothing was posted meanwhile, and
    // then the scan must account for every point of them.
    if (
      account.credits_posted !== after.credits_posted ||
      account.debits_posted !== after.debits_posted
    ) {
      continue;
    }
    assert.equal(credits, after.credits_posted, "the history holds every credit posted");
    assert.equal(debits, after.debits_posted, "the history holds every debit posted");
    const schedule = expirySchedule({
      movements,
      pendingPoints: after.debits_pending,
      policy: args.policy,
    });
    assert.equal(
      schedule.available,
      after.credits_posted - after.debits_posted - after.debits_pending,
      "the remaining lots add up to the available balance",
    );
    return schedule;
  }
  throw new WalletBusyError(args.memberId);
}
