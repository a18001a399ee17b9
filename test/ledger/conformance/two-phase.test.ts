/**
 * Two-phase transfers: pending reservations, post (full with amount_max, partial, zero), void,
 * expiry by timeout, the validation of post/void events and their idempotency.
 * Semantics reference §6.2, §6.3, §6.4.
 */
import type { Account, Client, Transfer } from "tigerbeetle-node";
import {
  AccountFlags,
  amount_max,
  CreateTransferStatus,
  id,
  TransferFlags,
} from "tigerbeetle-node";
import { expect, it } from "vitest";
import {
  expectBalances,
  expectTransferStatuses,
  freshLedger,
  mustCreateAccounts,
  mustCreateTransfer,
  mustCreateTransfers,
  mustLookupTransfer,
  newAccount,
  newTransfer,
  statusCoverageTest,
  timestampMax,
  u128Max,
} from "../builders.ts";
import { describeEngines, itWhere, openEmbedded } from "../engines.ts";

const post = TransferFlags.post_pending_transfer;
const voidPending = TransferFlags.void_pending_transfer;

interface Fixture {
  ledger: number;
  a: Account;
  b: Account;
  /** A pending transfer from a to b (not yet created). */
  pending(fields?: Partial<Transfer>): Transfer;
  /** A post or void of `pendingId` that inherits every field it leaves zero. */
  resolve(flags: number, pendingId: bigint, fields?: Partial<Transfer>): Transfer;
}

async function fixture(client: Client): Promise<Fixture> {
  const ledger = freshLedger();
  const a = newAccount(ledger);
  const b = newAccount(ledger);
  await mustCreateAccounts(client, [a, b]);
  return {
    ledger,
    a,
    b,
    pending: (fields = {}) =>
      newTransfer({
        debit_account_id: a.id,
        credit_account_id: b.id,
        ledger,
        amount: 100n,
        flags: TransferFlags.pending,
        ...fields,
      }),
    resolve: (flags, pendingId, fields = {}) =>
      newTransfer({
        debit_account_id: 0n,
        credit_account_id: 0n,
        ledger: 0,
        code: 0,
        pending_id: pendingId,
        flags,
        ...fields,
      }),
  };
}

describeEngines("two-phase transfers", ({ engine, harness }) => {
  it("reserves a pending amount in the pending balances only", async () => {
    const { client } = harness();
    const { a, b, pending } = await fixture(client);
    const transfer = pending({ timeout: 3600, user_data_64: 5n });
    const timestamp = await mustCreateTransfer(client, transfer);
    expect(await client.lookupTransfers([transfer.id])).toEqual([{ ...transfer, timestamp }]);
    await expectBalances(client, a.id, { debits_pending: 100n });
    await expectBalances(client, b.id, { credits_pending: 100n });
  });

  it("posts the full amount with amount_max, inheriting every field left zero", async () => {
    const { client } = harness();
    const { ledger, a, b, pending, resolve } = await fixture(client);
    const reservation = pending({
      timeout: 3600,
      user_data_128: 11n,
      user_data_64: 12n,
      user_data_32: 13,
      code: 7,
    });
    const reservedAt = await mustCreateTransfer(client, reservation);
    const posting = resolve(post, reservation.id, { amount: amount_max });
    const postedAt = await mustCreateTransfer(client, posting);
    expect(await mustLookupTransfer(client, posting.id)).toEqual({
      ...posting,
      debit_account_id: a.id,
      credit_account_id: b.id,
      amount: 100n,
      user_data_128: 11n,
      user_data_64: 12n,
      user_data_32: 13,
      timeout: 0,
      ledger,
      code: 7,
      timestamp: postedAt,
    });
    // The pending transfer itself is immutable: it keeps its flags, amount and timeout.
    expect(await mustLookupTransfer(client, reservation.id)).toEqual({
      ...reservation,
      timestamp: reservedAt,
    });
    await expectBalances(client, a.id, { debits_posted: 100n });
    await expectBalances(client, b.id, { credits_posted: 100n });
  });

  it("posts part of the amount and releases the rest of the reservation", async () => {
    const { client } = harness();
    const { a, b, pending, resolve } = await fixture(client);
    const reservation = pending();
    await mustCreateTransfer(client, reservation);
    const posting = resolve(post, reservation.id, { amount: 60n, user_data_32: 99 });
    await mustCreateTransfer(client, posting);
    const stored = await mustLookupTransfer(client, posting.id);
    expect([stored.amount, stored.user_data_32]).toEqual([60n, 99]);
    await expectBalances(client, a.id, { debits_posted: 60n });
    await expectBalances(client, b.id, { credits_posted: 60n });
  });

  it("posts nothing with amount 0 and releases the whole reservation", async () => {
    const { client } = harness();
    const { a, b, pending, resolve } = await fixture(client);
    const reservation = pending();
    await mustCreateTransfer(client, reservation);
    const posting = resolve(post, reservation.id, { amount: 0n });
    await mustCreateTransfer(client, posting);
    expect((await mustLookupTransfer(client, posting.id)).amount).toBe(0n);
    await expectBalances(client, a.id, {});
    await expectBalances(client, b.id, {});
    // Posting 0 resolved the pending transfer: it cannot be posted again.
    const again = await client.createTransfers([
      resolve(post, reservation.id, { amount: amount_max }),
    ]);
    expectTransferStatuses(again, [CreateTransferStatus.pending_transfer_already_posted]);
  });

  it("voids with amount 0 or the exact pending amount, releasing the reservation", async () => {
    const { client } = harness();
    const { a, b, pending, resolve } = await fixture(client);
    const first = pending({ user_data_64: 3n });
    const second = pending({ amount: 40n });
    await mustCreateTransfers(client, [first, second]);
    await expectBalances(client, a.id, { debits_pending: 140n });
    const voidFirst = resolve(voidPending, first.id, { user_data_64: 9n });
    const voidSecond = resolve(voidPending, second.id, { amount: 40n });
    await mustCreateTransfers(client, [voidFirst, voidSecond]);
    const stored = await client.lookupTransfers([voidFirst.id, voidSecond.id]);
    expect(stored.map((transfer) => [transfer.amount, transfer.user_data_64])).toEqual([
      [100n, 9n],
      [40n, 0n],
    ]);
    await expectBalances(client, a.id, {});
    await expectBalances(client, b.id, {});
  });

  it("resolves a pending transfer only once", async () => {
    const { client } = harness();
    const { a, pending, resolve } = await fixture(client);
    const posted = pending();
    const voided = pending();
    await mustCreateTransfers(client, [posted, voided]);
    await mustCreateTransfers(client, [
      resolve(post, posted.id, { amount: amount_max }),
      resolve(voidPending, voided.id),
    ]);
    const results = await client.createTransfers([
      resolve(post, posted.id, { amount: amount_max }),
      resolve(voidPending, posted.id),
      resolve(post, voided.id, { amount: 1n }),
      resolve(voidPending, voided.id),
      // The amount check comes before the resolution check.
      resolve(post, posted.id, { amount: 101n }),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.pending_transfer_already_posted,
      CreateTransferStatus.pending_transfer_already_posted,
      CreateTransferStatus.pending_transfer_already_voided,
      CreateTransferStatus.pending_transfer_already_voided,
      CreateTransferStatus.exceeds_pending_transfer_amount,
    ]);
    await expectBalances(client, a.id, { debits_posted: 100n });
  });

  it("validates a post or void against the pending transfer, in order", async () => {
    const { client } = harness();
    const { ledger, a, b, pending, resolve } = await fixture(client);
    const otherLedger = freshLedger();
    const reservation = pending({ code: 7 });
    const regular = newTransfer({
      debit_account_id: a.id,
      credit_account_id: b.id,
      ledger,
      amount: 1n,
    });
    await mustCreateTransfers(client, [reservation, regular]);
    const ownId = id();
    const results = await client.createTransfers([
      resolve(post | voidPending, reservation.id),
      resolve(post | TransferFlags.pending, reservation.id),
      resolve(voidPending | TransferFlags.balancing_debit, reservation.id),
      resolve(post | TransferFlags.balancing_credit, reservation.id),
      resolve(post | TransferFlags.closing_debit, reservation.id),
      resolve(voidPending | TransferFlags.closing_credit, reservation.id),
      resolve(post, 0n),
      resolve(post, u128Max),
      resolve(post, ownId, { id: ownId }),
      resolve(post, reservation.id, { timeout: 1 }),
      resolve(post, id()),
      resolve(post, regular.id),
      resolve(post, reservation.id, { debit_account_id: b.id }),
      resolve(post, reservation.id, { credit_account_id: a.id }),
      resolve(post, reservation.id, { ledger: otherLedger }),
      resolve(post, reservation.id, { code: 8 }),
      resolve(post, reservation.id, { amount: 101n }),
      resolve(voidPending, reservation.id, { amount: 101n }),
      resolve(voidPending, reservation.id, { amount: 99n }),
      // Precedence between them.
      resolve(post | voidPending, 0n, { timeout: 1 }),
      resolve(post, 0n, { timeout: 1 }),
      resolve(post, id(), { timeout: 1 }),
      resolve(post, regular.id, { debit_account_id: b.id }),
      resolve(post, reservation.id, { debit_account_id: b.id, credit_account_id: a.id }),
      resolve(post, reservation.id, { ledger: otherLedger, code: 8 }),
      resolve(post, reservation.id, { code: 8, amount: 101n }),
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.flags_are_mutually_exclusive,
      CreateTransferStatus.flags_are_mutually_exclusive,
      CreateTransferStatus.flags_are_mutually_exclusive,
      CreateTransferStatus.flags_are_mutually_exclusive,
      CreateTransferStatus.flags_are_mutually_exclusive,
      CreateTransferStatus.flags_are_mutually_exclusive,
      CreateTransferStatus.pending_id_must_not_be_zero,
      CreateTransferStatus.pending_id_must_not_be_int_max,
      CreateTransferStatus.pending_id_must_be_different,
      CreateTransferStatus.timeout_reserved_for_pending_transfer,
      CreateTransferStatus.pending_transfer_not_found,
      CreateTransferStatus.pending_transfer_not_pending,
      CreateTransferStatus.pending_transfer_has_different_debit_account_id,
      CreateTransferStatus.pending_transfer_has_different_credit_account_id,
      CreateTransferStatus.pending_transfer_has_different_ledger,
      CreateTransferStatus.pending_transfer_has_different_code,
      CreateTransferStatus.exceeds_pending_transfer_amount,
      CreateTransferStatus.exceeds_pending_transfer_amount,
      CreateTransferStatus.pending_transfer_has_different_amount,
      CreateTransferStatus.flags_are_mutually_exclusive,
      CreateTransferStatus.pending_id_must_not_be_zero,
      CreateTransferStatus.timeout_reserved_for_pending_transfer,
      CreateTransferStatus.pending_transfer_not_pending,
      CreateTransferStatus.pending_transfer_has_different_debit_account_id,
      CreateTransferStatus.pending_transfer_has_different_ledger,
      CreateTransferStatus.pending_transfer_has_different_code,
    ]);
    // Nothing above touched the reservation: it can still be posted.
    await expectBalances(client, a.id, { debits_pending: 100n, debits_posted: 1n });
    await mustCreateTransfer(client, resolve(post, reservation.id, { amount: amount_max }));
    await expectBalances(client, a.id, { debits_posted: 101n });
  });

  it("treats a burned pending id as not found", async () => {
    const { client } = harness();
    const { ledger, b, resolve } = await fixture(client);
    const limited = newAccount(ledger, { flags: AccountFlags.debits_must_not_exceed_credits });
    await mustCreateAccounts(client, [limited]);
    const refused = newTransfer({
      debit_account_id: limited.id,
      credit_account_id: b.id,
      ledger,
      amount: 1n,
      flags: TransferFlags.pending,
    });
    const posting = resolve(post, refused.id);
    const results = await client.createTransfers([refused, posting]);
    expectTransferStatuses(results, [
      CreateTransferStatus.exceeds_credits,
      CreateTransferStatus.pending_transfer_not_found,
    ]);
  });

  it("compares a retried post or void with what it stored (§6.4)", async () => {
    const { client } = harness();
    const { a, b, ledger, pending, resolve } = await fixture(client);
    const full = pending({ user_data_64: 3n, code: 7 });
    const partial = pending({ user_data_64: 3n });
    const overriding = pending({ user_data_64: 3n });
    const voided = pending({ amount: 40n });
    await mustCreateTransfers(client, [full, partial, overriding, voided]);
    const postFull = resolve(post, full.id, { amount: amount_max });
    const postPartial = resolve(post, partial.id, { amount: 60n });
    const postOverriding = resolve(post, overriding.id, { amount: amount_max, user_data_64: 9n });
    const voidIt = resolve(voidPending, voided.id);
    const timestamps = await mustCreateTransfers(client, [
      postFull,
      postPartial,
      postOverriding,
      voidIt,
    ]);
    const results = await client.createTransfers([
      postFull,
      { ...postFull, amount: 100n },
      { ...postFull, user_data_64: 3n },
      { ...postFull, debit_account_id: a.id, credit_account_id: b.id, ledger, code: 7 },
      { ...postFull, amount: 50n },
      { ...postFull, debit_account_id: b.id },
      { ...postFull, credit_account_id: a.id },
      { ...postFull, code: 8 },
      { ...postFull, pending_id: partial.id },
      { ...postFull, flags: voidPending },
      { ...postFull, timeout: 1 },
      { ...postPartial, amount: 60n },
      { ...postPartial, amount: amount_max },
      { ...postOverriding, user_data_64: 9n },
      // A zero user_data is compared with the pending transfer's value, not the stored one.
      { ...postOverriding, user_data_64: 0n },
      voidIt,
      { ...voidIt, amount: 40n },
      { ...voidIt, amount: 39n },
    ]);
    expectTransferStatuses(results, [
      CreateTransferStatus.exists,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists_with_different_amount,
      CreateTransferStatus.exists_with_different_debit_account_id,
      CreateTransferStatus.exists_with_different_credit_account_id,
      CreateTransferStatus.exists_with_different_code,
      CreateTransferStatus.exists_with_different_pending_id,
      CreateTransferStatus.exists_with_different_flags,
      CreateTransferStatus.exists_with_different_timeout,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists_with_different_amount,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists_with_different_user_data_64,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists,
      CreateTransferStatus.exists_with_different_amount,
    ]);
    expect(results[0]?.timestamp).toBe(timestamps[0]);
    expect(results[11]?.timestamp).toBe(timestamps[1]);
    expect(results[13]?.timestamp).toBe(timestamps[2]);
    expect(results[15]?.timestamp).toBe(timestamps[3]);
    await expectBalances(client, a.id, { debits_posted: 260n });
  });

  it("expires a pending transfer after its timeout: post and void answer expired", async () => {
    const h = harness();
    const { client } = h;
    const { a, b, pending, resolve } = await fixture(client);
    const expiring = pending({ timeout: 1 });
    const forever = pending({ amount: 5n, timeout: 0 });
    const later = pending({ amount: 7n, timeout: 3600 });
    await mustCreateTransfers(client, [expiring, forever, later]);
    await expectBalances(client, a.id, { debits_pending: 112n });
    await h.advanceSeconds(2);
    const postExpired = resolve(post, expiring.id, { amount: amount_max });
    const voidExpired = resolve(voidPending, expiring.id);
    const results = await client.createTransfers([postExpired, voidExpired]);
    expectTransferStatuses(results, [
      CreateTransferStatus.pending_transfer_expired,
      CreateTransferStatus.pending_transfer_expired,
    ]);
    await expectBalances(client, a.id, { debits_pending: 12n });
    await expectBalances(client, b.id, { credits_pending: 12n });
    // Expired is not a transient failure: the ids stay usable.
    await mustCreateTransfers(client, [
      resolve(post, forever.id, { id: postExpired.id, amount: amount_max }),
      resolve(voidPending, later.id, { id: voidExpired.id }),
    ]);
    await expectBalances(client, a.id, { debits_posted: 5n });
    await expectBalances(client, b.id, { credits_posted: 5n });
    // The expired transfer is still stored unchanged.
    expect((await mustLookupTransfer(client, expiring.id)).flags).toBe(TransferFlags.pending);
  });

  it("keeps a pending transfer postable before its timeout", async () => {
    const h = harness();
    const { a, pending, resolve } = await fixture(h.client);
    const reservation = pending({ timeout: 60 });
    await mustCreateTransfer(h.client, reservation);
    await h.advanceSeconds(1);
    await mustCreateTransfer(h.client, resolve(post, reservation.id, { amount: amount_max }));
    await expectBalances(h.client, a.id, { debits_posted: 100n });
  });

  itWhere(
    engine.kind === "embedded",
    "embedded only: needs a clock set to the nanosecond",
    "expires at the deadline exactly, even before the expiry has run",
    async () => {
      const exact = openEmbedded();
      try {
        const { pending, resolve } = await fixture(exact.client);
        const first = pending({ timeout: 1 });
        const second = pending({ timeout: 1 });
        const [firstAt, secondAt] = await mustCreateTransfers(exact.client, [first, second]);
        if (firstAt === undefined || secondAt === undefined) {
          throw new Error("two pending transfers");
        }
        expect(secondAt).toBe(firstAt + 1n);
        const deadline = firstAt + 1_000_000_000n;
        // A request at wall time w evaluates its first event at w + 1 (TigerBeetle prepares at
        // max(previous + 1, w) and hands event i the timestamp prepare + i + 1).
        exact.setClockNs(deadline - 2n);
        const beforeDeadline = await exact.client.createTransfers([
          resolve(post, first.id, { amount: amount_max }),
        ]);
        expectTransferStatuses(beforeDeadline, [CreateTransferStatus.created]);
        expect(beforeDeadline[0]?.timestamp).toBe(deadline - 1n);
        // The wall clock has not reached the second deadline, so no expiry has run, but this
        // event's timestamp is the deadline itself.
        const atDeadline = await exact.client.createTransfers([resolve(voidPending, second.id)]);
        expectTransferStatuses(atDeadline, [CreateTransferStatus.pending_transfer_expired]);
        expect(atDeadline[0]?.timestamp).toBe(deadline + 1n);
      } finally {
        await exact.close();
      }
    },
  );

  itWhere(
    engine.kind === "embedded",
    "embedded only: needs a cluster clock near 2^63 ns, as TigerBeetle's own test does",
    "refuses a timeout whose deadline would pass the largest timestamp (overflows_timeout)",
    async () => {
      // A fresh engine whose clock stands 3 s before the largest timestamp.
      const nearEnd = openEmbedded({ clockStartNs: timestampMax + 1n - 3_000_000_000n });
      try {
        const { a, b, pending } = await fixture(nearEnd.client);
        const results = await nearEnd.client.createTransfers([
          pending({ timeout: 3 }),
          pending({ timeout: 2 ** 32 - 1 }),
          pending({ timeout: 2 }),
        ]);
        expectTransferStatuses(results, [
          CreateTransferStatus.overflows_timeout,
          CreateTransferStatus.overflows_timeout,
          CreateTransferStatus.created,
        ]);
        await expectBalances(nearEnd.client, a.id, { debits_pending: 100n });
        await expectBalances(nearEnd.client, b.id, { credits_pending: 100n });
      } finally {
        await nearEnd.close();
      }
    },
  );

  if (engine.kind === "embedded") {
    statusCoverageTest("two-phase");
  }
});
