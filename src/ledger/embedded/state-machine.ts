/**
 * The embedded engine's state machine: TigerBeetle 0.17.9's create/lookup/query semantics,
 * deterministic given the events and the timestamps it is handed.
 *
 * It knows nothing of clocks, files or promises: `index.ts` decides each batch's first
 * timestamp and the journal replays batches with the timestamps they had. Validation orders
 * follow TigerBeetle's state machine (see docs/ledger-engine.md and TigerBeetle's
 * docs/reference/requests/create_transfers.md); comments cite the rule being reproduced.
 */
import assert from "node:assert/strict";
import {
  type Account,
  type AccountBalance,
  type AccountFilter,
  AccountFilterFlags,
  AccountFlags,
  type CreateAccountResult,
  CreateAccountStatus,
  type CreateTransferResult,
  CreateTransferStatus,
  type QueryFilter,
  QueryFilterFlags,
  type Transfer,
  TransferFlags,
} from "tigerbeetle-node";
import { NarrowFieldIndex, PendingState, TransferStore, WideFieldIndex } from "./store.ts";
import { hi64, IntList, lo64, U128Table, u128Max, WordList } from "./u128.ts";

/** Largest valid object timestamp: TigerBeetle keeps timestamps within 1..2^63-1. */
export const timestampMax = (1n << 63n) - 1n;
const nsPerSecond = 1_000_000_000n;
/** Code lists one account keeps at most: transfer codes are u16. */
const codePositionListsMax = 1 << 16;
/** Below this, three u128 operands cannot sum past 2^128 - 1. */
const overflowGuard = 1n << 126n;

const accountFlagsKnown = 0x3f;
const transferFlagsKnown = 0x1ff;
const accountFilterFlagsKnown =
  AccountFilterFlags.debits | AccountFilterFlags.credits | AccountFilterFlags.reversed;
const queryFilterFlagsKnown = QueryFilterFlags.reversed;

const closingFlags = TransferFlags.closing_debit | TransferFlags.closing_credit;
const postOrVoid = TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer;
// Flags that may not accompany post_pending_transfer / void_pending_transfer.
const postVoidExclusive =
  TransferFlags.pending |
  TransferFlags.balancing_debit |
  TransferFlags.balancing_credit |
  TransferFlags.closing_debit |
  TransferFlags.closing_credit;

// The chain statuses have the same values in both result enums; applyBatch relies on it.
const linkedFlag = 1;
const statusCreated = CreateTransferStatus.created;
const statusLinkedEventFailed = CreateTransferStatus.linked_event_failed;
const statusLinkedEventChainOpen = CreateTransferStatus.linked_event_chain_open;
assert.equal(AccountFlags.linked, linkedFlag, "accounts link like transfers");
assert.equal(TransferFlags.linked, linkedFlag, "transfers link like accounts");
assert.equal(CreateAccountStatus.created, statusCreated, "created is the same value");
assert.equal(CreateAccountStatus.linked_event_failed, statusLinkedEventFailed);
assert.equal(CreateAccountStatus.linked_event_chain_open, statusLinkedEventChainOpen);

/** The seven statuses after which TigerBeetle remembers the transfer id as failed. */
function isTransient(status: number): boolean {
  return (
    status === CreateTransferStatus.debit_account_not_found ||
    status === CreateTransferStatus.credit_account_not_found ||
    status === CreateTransferStatus.pending_transfer_not_found ||
    status === CreateTransferStatus.exceeds_credits ||
    status === CreateTransferStatus.exceeds_debits ||
    status === CreateTransferStatus.debit_account_already_closed ||
    status === CreateTransferStatus.credit_account_already_closed
  );
}

class AccountRecord {
  debitsPending = 0n;
  debitsPosted = 0n;
  creditsPending = 0n;
  creditsPosted = 0n;
  /** Slots of every transfer that debits or credits this account, in timestamp order. */
  readonly transfers = new IntList();
  /** With flags.history: the four balances after each entry of `transfers` (2 words each). */
  readonly history: WordList | null;
  /**
   * Positions in `transfers` of the transfers with a given code, built the first time a query
   * filters this account by that code and kept up to date from then on: "this member's
   * redemptions" then costs O(matches) instead of a walk over the member's whole history.
   */
  codePositions: Map<number, IntList> | null = null;

  constructor(
    readonly id: bigint,
    readonly userData128: bigint,
    readonly userData64: bigint,
    readonly userData32: number,
    readonly ledger: number,
    readonly code: number,
    /** Mutable: `closed` is set and cleared by closing transfers. */
    public flags: number,
    readonly timestamp: bigint,
  ) {
    this.history = (flags & AccountFlags.history) !== 0 ? new WordList(8) : null;
  }
}

interface Expiry {
  deadline: bigint;
  timestamp: bigint;
  slot: number;
}

/** A min-heap of pending-transfer deadlines ordered by (deadline, creation timestamp). */
class ExpiryQueue {
  private heap: Expiry[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): Expiry | undefined {
    return this.heap[0];
  }

  push(entry: Expiry): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >>> 1;
      if (!less(heap[index] as Expiry, heap[parent] as Expiry)) {
        break;
      }
      swap(heap, index, parent);
      index = parent;
    }
  }

  pop(): Expiry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let index = 0;
      for (;;) {
        const left = index * 2 + 1;
        const right = left + 1;
        let smallest = index;
        if (left < heap.length && less(heap[left] as Expiry, heap[smallest] as Expiry)) {
          smallest = left;
        }
        if (right < heap.length && less(heap[right] as Expiry, heap[smallest] as Expiry)) {
          smallest = right;
        }
        if (smallest === index) {
          break;
        }
        swap(heap, index, smallest);
        index = smallest;
      }
    }
    return top;
  }
}

function less(a: Expiry, b: Expiry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.timestamp < b.timestamp);
}

function swap(heap: Expiry[], a: number, b: number): void {
  const t = heap[a] as Expiry;
  heap[a] = heap[b] as Expiry;
  heap[b] = t;
}

function fieldIndexes() {
  return {
    userData128: new WideFieldIndex(),
    userData64: new WideFieldIndex(),
    userData32: new NarrowFieldIndex(),
    ledger: new NarrowFieldIndex(),
    code: new NarrowFieldIndex(),
  };
}
type FieldIndexes = ReturnType<typeof fieldIndexes>;
/** The fields queryAccounts and queryTransfers filter on, as one object carries them. */
interface IndexedFields {
  userData128: bigint;
  userData64: bigint;
  userData32: number;
  ledger: number;
  code: number;
}
interface Walk {
  after(slot: number): number;
  before(slot: number): number;
}

/** Validity of the timestamp bounds shared by every filter: 0 or 1..2^63-1, min <= max. */
function timestampRangeValid(min: bigint, max: bigint): boolean {
  if (min > timestampMax || max > timestampMax) {
    return false;
  }
  return max === 0n || min <= max;
}

export class StateMachine {
  private readonly accounts: AccountRecord[] = [];
  private readonly accountIndex = new U128Table();
  private readonly accountFields = fieldIndexes();
  private readonly transfers = new TransferStore();
  private readonly transferIndex = new U128Table();
  /**
   * Secondary indexes of transfers for `queryTransfers`. They are not maintained on the write
   * path: each query first indexes the transfers created since the previous query (slots
   * [transferFieldsIndexed, count)). Writes skip five index updates each; the first query after
   * a long run of writes pays for them once. Rolled-back transfers are never indexed: a chain is
   * created and rolled back within one request, and no query runs in between.
   */
  private readonly transferFields = fieldIndexes();
  private transferFieldsIndexed = 0;
  /** Ids of transfers that failed with a transient status (`id_already_failed`). */
  private readonly failedIds = new U128Table();
  private readonly expiries = new ExpiryQueue();
  /** The newest timestamp handed out, to an object or to a failed event alike. */
  lastTimestamp = 0n;
  // Result timestamp of the event just evaluated (avoids allocating a tuple per event).
  private resultTimestamp = 0n;
  // Evaluation timestamp of the previous event of the batch (one bigint addition per event).
  private lastEventTimestamp = 0n;

  /**
   * The timestamp of a request arriving at wall-clock `now`: max(previous + 1, now), as
   * TigerBeetle's primary assigns it. A create request of n events then evaluates event i at
   * request + 1 + i and leaves the clock at request + n; any other request leaves it at request.
   */
  requestTimestamp(now: bigint): bigint {
    return now > this.lastTimestamp ? now : this.lastTimestamp + 1n;
  }

  /** A request that creates nothing (a lookup or query) still moves the clock. */
  advance(now: bigint): void {
    this.consume(this.requestTimestamp(now), 0);
  }

  private consume(request: bigint, count: number): void {
    assert.ok(request > this.lastTimestamp, "timestamps must strictly increase");
    assert.ok(request > 0n, "timestamps start at 1");
    this.lastTimestamp = request + BigInt(count);
    assert.ok(this.lastTimestamp <= timestampMax, "timestamp past 2^63-1");
  }

  get accountCount(): number {
    return this.accounts.length;
  }

  get transferCount(): number {
    return this.transfers.count;
  }

  // ---------------------------------------------------------------------------------------------
  // create_accounts

  createAccounts(events: readonly Account[], request: bigint): CreateAccountResult[] {
    return this.applyBatch(events, request, {
      importedFlag: AccountFlags.imported,
      mark: () => this.accounts.length,
      evaluate: (event, timestamp, imported, batchTimestamp) =>
        this.createAccount(event, timestamp, imported, batchTimestamp),
      rollback: (mark) => this.rollbackAccounts(mark),
      evaluated: () => {},
    }) as CreateAccountResult[];
  }

  /**
   * Applies a create batch event by event, with TigerBeetle's linked-chain rules: a chain starts
   * at the first `linked` event and ends at the next event without it; any result but `created`
   * rolls the whole chain back, earlier events of it become `linked_event_failed`, later ones
   * `linked_event_failed` without being evaluated; a `linked` last event is
   * `linked_event_chain_open`, checked first. Both kinds of events share this loop.
   */
  private applyBatch<Event extends { flags: number; id: bigint }>(
    events: readonly Event[],
    request: bigint,
    kind: {
      importedFlag: number;
      mark(): number;
      evaluate(event: Event, timestamp: bigint, imported: boolean, batchTimestamp: bigint): number;
      rollback(mark: number): void;
      /** Called after the chain's rollback for every event that was evaluated. */
      evaluated(event: Event, status: number): void;
    },
  ): Array<{ timestamp: bigint; status: number; reserved: number }> {
    this.consume(request, events.length);
    const start = request + 1n;
    const count = events.length;
    const results: Array<{ timestamp: bigint; status: number; reserved: number }> = new Array(
      count,
    );
    if (count === 0) {
      return results;
    }
    // The first event decides whether the whole batch is imported.
    const imported = ((events[0] as Event).flags & kind.importedFlag) !== 0;
    const batchTimestamp = start + BigInt(count - 1);
    let chainStart = -1;
    let chainMark = 0;
    let chainBroken = false;
    for (let i = 0; i < count; i++) {
      const event = events[i] as Event;
      const timestamp = i === 0 ? start : this.lastEventTimestamp + 1n;
      this.lastEventTimestamp = timestamp;
      const linked = (event.flags & linkedFlag) !== 0;
      if (linked && chainStart < 0) {
        chainStart = i;
        chainMark = kind.mark();
      }
      let status: number;
      this.resultTimestamp = timestamp;
      let evaluated = false;
      if (linked && i === count - 1) {
        status = statusLinkedEventChainOpen;
      } else if (chainBroken) {
        status = statusLinkedEventFailed;
      } else {
        status = kind.evaluate(event, timestamp, imported, batchTimestamp);
        evaluated = true;
      }
      results[i] = { timestamp: this.resultTimestamp, status, reserved: 0 };
      if (status !== statusCreated && chainStart >= 0 && !chainBroken) {
        kind.rollback(chainMark);
        for (let j = chainStart; j < i; j++) {
          (results[j] as { status: number }).status = statusLinkedEventFailed;
        }
        chainBroken = true;
      }
      if (evaluated) {
        kind.evaluated(event, status);
      }
      if (!linked) {
        chainStart = -1;
        chainBroken = false;
      }
    }
    return results;
  }

  private createAccount(
    event: Account,
    timestamp: bigint,
    imported: boolean,
    batchTimestamp: bigint,
  ): CreateAccountStatus {
    const S = CreateAccountStatus;
    const eventImported = (event.flags & AccountFlags.imported) !== 0;
    if (imported !== eventImported) {
      return imported ? S.imported_event_expected : S.imported_event_not_expected;
    }
    if (imported) {
      if (event.timestamp === 0n || event.timestamp > timestampMax) {
        return S.imported_event_timestamp_out_of_range;
      }
      if (event.timestamp >= batchTimestamp) {
        return S.imported_event_timestamp_must_not_advance;
      }
    } else if (event.timestamp !== 0n) {
      return S.timestamp_must_be_zero;
    }
    if (event.reserved !== 0) {
      return S.reserved_field;
    }
    if ((event.flags & ~accountFlagsKnown) !== 0) {
      return S.reserved_flag;
    }
    if (event.id === 0n) {
      return S.id_must_not_be_zero;
    }
    if (event.id === u128Max) {
      return S.id_must_not_be_int_max;
    }
    const existingSlot = this.accountIndex.get(event.id);
    if (existingSlot >= 0) {
      const existing = this.accounts[existingSlot] as AccountRecord;
      if (event.flags !== existing.flags) {
        return S.exists_with_different_flags;
      }
      if (event.user_data_128 !== existing.userData128) {
        return S.exists_with_different_user_data_128;
      }
      if (event.user_data_64 !== existing.userData64) {
        return S.exists_with_different_user_data_64;
      }
      if (event.user_data_32 !== existing.userData32) {
        return S.exists_with_different_user_data_32;
      }
      if (event.ledger !== existing.ledger) {
        return S.exists_with_different_ledger;
      }
      if (event.code !== existing.code) {
        return S.exists_with_different_code;
      }
      // Only `exists` reports the stored account's timestamp; a mismatch reports the event's own.
      this.resultTimestamp = existing.timestamp;
      return S.exists;
    }
    if (
      (event.flags & AccountFlags.debits_must_not_exceed_credits) !== 0 &&
      (event.flags & AccountFlags.credits_must_not_exceed_debits) !== 0
    ) {
      return S.flags_are_mutually_exclusive;
    }
    if (event.debits_pending !== 0n) {
      return S.debits_pending_must_be_zero;
    }
    if (event.debits_posted !== 0n) {
      return S.debits_posted_must_be_zero;
    }
    if (event.credits_pending !== 0n) {
      return S.credits_pending_must_be_zero;
    }
    if (event.credits_posted !== 0n) {
      return S.credits_posted_must_be_zero;
    }
    if (event.ledger === 0) {
      return S.ledger_must_not_be_zero;
    }
    if (event.code === 0) {
      return S.code_must_not_be_zero;
    }
    if (imported) {
      const newest = this.accounts[this.accounts.length - 1];
      if (
        (newest !== undefined && event.timestamp <= newest.timestamp) ||
        this.transfers.hasTimestamp(event.timestamp)
      ) {
        return S.imported_event_timestamp_must_not_regress;
      }
    }
    const created = imported ? event.timestamp : timestamp;
    const record = new AccountRecord(
      event.id,
      event.user_data_128,
      event.user_data_64,
      event.user_data_32,
      event.ledger,
      event.code,
      event.flags,
      created,
    );
    const slot = this.accounts.length;
    this.accounts.push(record);
    this.accountIndex.insert(event.id, slot);
    this.indexFields(this.accountFields, slot, record);
    this.resultTimestamp = created;
    return S.created;
  }

  private rollbackAccounts(mark: number): void {
    while (this.accounts.length > mark) {
      const slot = this.accounts.length - 1;
      const record = this.accounts[slot] as AccountRecord;
      this.accountIndex.remove(record.id);
      this.unindexFields(this.accountFields, slot, record);
      this.accounts.pop();
    }
  }

  private indexFields(indexes: FieldIndexes, slot: number, fields: IndexedFields): void {
    indexes.userData128.add(slot, fields.userData128);
    indexes.userData64.add(slot, fields.userData64);
    indexes.userData32.add(slot, fields.userData32);
    indexes.ledger.add(slot, fields.ledger);
    indexes.code.add(slot, fields.code);
  }

  private unindexFields(indexes: FieldIndexes, slot: number, fields: IndexedFields): void {
    indexes.code.removeLast(slot, fields.code);
    indexes.ledger.removeLast(slot, fields.ledger);
    indexes.userData32.removeLast(slot, fields.userData32);
    indexes.userData64.removeLast(slot, fields.userData64);
    indexes.userData128.removeLast(slot, fields.userData128);
  }

  // ---------------------------------------------------------------------------------------------
  // create_transfers

  createTransfers(events: readonly Transfer[], request: bigint): CreateTransferResult[] {
    return this.applyBatch(events, request, {
      importedFlag: TransferFlags.imported,
      mark: () => this.transfers.count,
      evaluate: (event, timestamp, imported, batchTimestamp) =>
        this.createTransfer(event, timestamp, imported, batchTimestamp),
      rollback: (mark) => this.rollbackTransfers(mark),
      // The id is remembered as failed only after the chain's rollback, so it survives it.
      evaluated: (event, status) => {
        if (isTransient(status)) {
          this.failedIds.insert(event.id, 0);
        }
      },
    }) as CreateTransferResult[];
  }

  private createTransfer(
    event: Transfer,
    timestamp: bigint,
    imported: boolean,
    batchTimestamp: bigint,
  ): CreateTransferStatus {
    const S = CreateTransferStatus;
    const flags = event.flags;
    const eventImported = (flags & TransferFlags.imported) !== 0;
    if (imported !== eventImported) {
      return imported ? S.imported_event_expected : S.imported_event_not_expected;
    }
    if (imported) {
      if (event.timestamp === 0n || event.timestamp > timestampMax) {
        return S.imported_event_timestamp_out_of_range;
      }
      if (event.timestamp >= batchTimestamp) {
        return S.imported_event_timestamp_must_not_advance;
      }
    } else if (event.timestamp !== 0n) {
      return S.timestamp_must_be_zero;
    }
    if ((flags & ~transferFlagsKnown) !== 0) {
      return S.reserved_flag;
    }
    if (event.id === 0n) {
      return S.id_must_not_be_zero;
    }
    if (event.id === u128Max) {
      return S.id_must_not_be_int_max;
    }
    const existingSlot = this.transferIndex.get(event.id);
    if (existingSlot >= 0) {
      const status = this.compareExisting(event, existingSlot);
      // Only `exists` reports the stored object's timestamp; a mismatch reports the event's own.
      if (status === S.exists) {
        this.resultTimestamp = this.transfers.timestamp(existingSlot);
      }
      return status;
    }
    if (this.failedIds.size > 0 && this.failedIds.get(event.id) >= 0) {
      return S.id_already_failed;
    }
    if ((flags & postOrVoid) !== 0) {
      return this.createPostOrVoid(event, timestamp, imported);
    }

    if (event.debit_account_id === 0n) {
      return S.debit_account_id_must_not_be_zero;
    }
    if (event.debit_account_id === u128Max) {
      return S.debit_account_id_must_not_be_int_max;
    }
    if (event.credit_account_id === 0n) {
      return S.credit_account_id_must_not_be_zero;
    }
    if (event.credit_account_id === u128Max) {
      return S.credit_account_id_must_not_be_int_max;
    }
    if (event.debit_account_id === event.credit_account_id) {
      return S.accounts_must_be_different;
    }
    if (event.pending_id !== 0n) {
      return S.pending_id_must_be_zero;
    }
    const pending = (flags & TransferFlags.pending) !== 0;
    if (!pending) {
      if (event.timeout !== 0) {
        return S.timeout_reserved_for_pending_transfer;
      }
      if ((flags & closingFlags) !== 0) {
        return S.closing_transfer_must_be_pending;
      }
    }
    if (event.ledger === 0) {
      return S.ledger_must_not_be_zero;
    }
    if (event.code === 0) {
      return S.code_must_not_be_zero;
    }
    const debitSlot = this.accountIndex.get(event.debit_account_id);
    if (debitSlot < 0) {
      return S.debit_account_not_found;
    }
    const creditSlot = this.accountIndex.get(event.credit_account_id);
    if (creditSlot < 0) {
      return S.credit_account_not_found;
    }
    const debit = this.accounts[debitSlot] as AccountRecord;
    const credit = this.accounts[creditSlot] as AccountRecord;
    if (debit.ledger !== credit.ledger) {
      return S.accounts_must_have_the_same_ledger;
    }
    if (event.ledger !== debit.ledger) {
      return S.transfer_must_have_the_same_ledger_as_accounts;
    }
    if (imported) {
      if (this.importRegresses(event.timestamp)) {
        return S.imported_event_timestamp_must_not_regress;
      }
      if (event.timestamp <= debit.timestamp) {
        return S.imported_event_timestamp_must_postdate_debit_account;
      }
      if (event.timestamp <= credit.timestamp) {
        return S.imported_event_timestamp_must_postdate_credit_account;
      }
      if (event.timeout !== 0) {
        return S.imported_event_timeout_must_be_zero;
      }
    }
    if ((debit.flags & AccountFlags.closed) !== 0) {
      return S.debit_account_already_closed;
    }
    if ((credit.flags & AccountFlags.closed) !== 0) {
      return S.credit_account_already_closed;
    }

    // Balancing transfers move at most what keeps the account within its natural limit; the
    // account's own limit flags do not matter here, and pending credits are ignored.
    let amount = event.amount;
    if ((flags & TransferFlags.balancing_debit) !== 0) {
      const used = debit.debitsPosted + debit.debitsPending;
      const available = debit.creditsPosted > used ? debit.creditsPosted - used : 0n;
      if (amount > available) {
        amount = available;
      }
    }
    if ((flags & TransferFlags.balancing_credit) !== 0) {
      const used = credit.creditsPosted + credit.creditsPending;
      const available = credit.debitsPosted > used ? credit.debitsPosted - used : 0n;
      if (amount > available) {
        amount = available;
      }
    }

    // The overflow checks can only fire when some operand reaches 2^126 (three of them summed
    // stay below 2^128 otherwise), so the common case skips six bigint additions.
    const wide =
      amount >= overflowGuard ||
      debit.debitsPending >= overflowGuard ||
      debit.debitsPosted >= overflowGuard ||
      credit.creditsPending >= overflowGuard ||
      credit.creditsPosted >= overflowGuard;
    if (wide) {
      const status = this.overflowStatus(pending, amount, debit, credit);
      if (status !== S.created) {
        return status;
      }
    }
    const created = imported ? event.timestamp : timestamp;
    if (pending && event.timeout !== 0) {
      if (created + BigInt(event.timeout) * nsPerSecond > timestampMax) {
        return S.overflows_timeout;
      }
    }
    if (
      (debit.flags & AccountFlags.debits_must_not_exceed_credits) !== 0 &&
      debit.debitsPending + debit.debitsPosted + amount > debit.creditsPosted
    ) {
      return S.exceeds_credits;
    }
    if (
      (credit.flags & AccountFlags.credits_must_not_exceed_debits) !== 0 &&
      credit.creditsPending + credit.creditsPosted + amount > credit.debitsPosted
    ) {
      return S.exceeds_debits;
    }

    const slot = this.transfers.append({
      id: event.id,
      debitSlot,
      creditSlot,
      amount,
      pendingSlot: -1,
      userData128: event.user_data_128,
      userData64: event.user_data_64,
      userData32: event.user_data_32,
      timeout: event.timeout,
      ledger: event.ledger,
      code: event.code,
      flags,
      timestamp: created,
    });
    if (pending) {
      debit.debitsPending += amount;
      credit.creditsPending += amount;
      this.transfers.setState(slot, PendingState.pending);
      if ((flags & TransferFlags.closing_debit) !== 0) {
        debit.flags |= AccountFlags.closed;
      }
      if ((flags & TransferFlags.closing_credit) !== 0) {
        credit.flags |= AccountFlags.closed;
      }
      if (event.timeout !== 0) {
        const deadline = created + BigInt(event.timeout) * nsPerSecond;
        this.expiries.push({ deadline, timestamp: created, slot });
      }
    } else {
      debit.debitsPosted += amount;
      credit.creditsPosted += amount;
    }
    this.recordTransfer(slot, event.id, debit, credit, event.code);
    this.resultTimestamp = created;
    return S.created;
  }

  private overflowStatus(
    pending: boolean,
    amount: bigint,
    debit: AccountRecord,
    credit: AccountRecord,
  ): CreateTransferStatus {
    const S = CreateTransferStatus;
    if (pending) {
      if (debit.debitsPending + amount > u128Max) {
        return S.overflows_debits_pending;
      }
      if (credit.creditsPending + amount > u128Max) {
        return S.overflows_credits_pending;
      }
    }
    if (debit.debitsPosted + amount > u128Max) {
      return S.overflows_debits_posted;
    }
    if (credit.creditsPosted + amount > u128Max) {
      return S.overflows_credits_posted;
    }
    if (debit.debitsPending + debit.debitsPosted + amount > u128Max) {
      return S.overflows_debits;
    }
    if (credit.creditsPending + credit.creditsPosted + amount > u128Max) {
      return S.overflows_credits;
    }
    return S.created;
  }

  private importRegresses(timestamp: bigint): boolean {
    const newest = this.transfers.count - 1;
    if (newest >= 0 && timestamp <= this.transfers.timestamp(newest)) {
      return true;
    }
    return this.accountWithTimestamp(timestamp);
  }

  private accountWithTimestamp(timestamp: bigint): boolean {
    // Accounts are stored in timestamp order (imports must postdate every account).
    let low = 0;
    let high = this.accounts.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.accounts[middle] as AccountRecord).timestamp < timestamp) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    const found = this.accounts[low];
    return found !== undefined && found.timestamp === timestamp;
  }

  private createPostOrVoid(
    event: Transfer,
    timestamp: bigint,
    imported: boolean,
  ): CreateTransferStatus {
    const S = CreateTransferStatus;
    const flags = event.flags;
    const post = (flags & TransferFlags.post_pending_transfer) !== 0;
    const isVoid = (flags & TransferFlags.void_pending_transfer) !== 0;
    if ((post && isVoid) || (flags & postVoidExclusive) !== 0) {
      return S.flags_are_mutually_exclusive;
    }
    if (event.pending_id === 0n) {
      return S.pending_id_must_not_be_zero;
    }
    if (event.pending_id === u128Max) {
      return S.pending_id_must_not_be_int_max;
    }
    if (event.pending_id === event.id) {
      return S.pending_id_must_be_different;
    }
    if (event.timeout !== 0) {
      return S.timeout_reserved_for_pending_transfer;
    }
    const pendingSlot = this.transferIndex.get(event.pending_id);
    if (pendingSlot < 0) {
      return S.pending_transfer_not_found;
    }
    const store = this.transfers;
    if ((store.flags(pendingSlot) & TransferFlags.pending) === 0) {
      return S.pending_transfer_not_pending;
    }
    const debit = this.accounts[store.debitSlot(pendingSlot)] as AccountRecord;
    const credit = this.accounts[store.creditSlot(pendingSlot)] as AccountRecord;
    if (event.debit_account_id !== 0n && event.debit_account_id !== debit.id) {
      return S.pending_transfer_has_different_debit_account_id;
    }
    if (event.credit_account_id !== 0n && event.credit_account_id !== credit.id) {
      return S.pending_transfer_has_different_credit_account_id;
    }
    const pendingLedger = store.ledger(pendingSlot);
    if (event.ledger !== 0 && event.ledger !== pendingLedger) {
      return S.pending_transfer_has_different_ledger;
    }
    const pendingCode = store.code(pendingSlot);
    if (event.code !== 0 && event.code !== pendingCode) {
      return S.pending_transfer_has_different_code;
    }
    const pendingAmount = store.amount(pendingSlot);
    // Void: 0 means the whole amount. Post: amount_max means the whole amount; any other value,
    // 0 included, is posted as given (0 posts nothing and releases the reservation).
    let amount: bigint;
    if (isVoid) {
      amount = event.amount === 0n ? pendingAmount : event.amount;
    } else {
      amount = event.amount === u128Max ? pendingAmount : event.amount;
    }
    if (amount > pendingAmount) {
      return S.exceeds_pending_transfer_amount;
    }
    if (isVoid && amount < pendingAmount) {
      return S.pending_transfer_has_different_amount;
    }
    const state = store.state(pendingSlot);
    if (state === PendingState.posted) {
      return S.pending_transfer_already_posted;
    }
    if (state === PendingState.voided) {
      return S.pending_transfer_already_voided;
    }
    if (state === PendingState.expired) {
      return S.pending_transfer_expired;
    }
    assert.equal(state, PendingState.pending, "a pending transfer has a resolution state");
    const timeout = store.timeout(pendingSlot);
    // The deadline may have passed before the expiry pulse got to it.
    if (timeout !== 0) {
      const deadline = store.timestamp(pendingSlot) + BigInt(timeout) * nsPerSecond;
      if (deadline <= timestamp) {
        return S.pending_transfer_expired;
      }
    }
    if (imported && this.importRegresses(event.timestamp)) {
      return S.imported_event_timestamp_must_not_regress;
    }
    if (post) {
      if ((debit.flags & AccountFlags.closed) !== 0) {
        return S.debit_account_already_closed;
      }
      if ((credit.flags & AccountFlags.closed) !== 0) {
        return S.credit_account_already_closed;
      }
    }

    const created = imported ? event.timestamp : timestamp;
    const userData128 =
      event.user_data_128 !== 0n ? event.user_data_128 : store.userData128(pendingSlot);
    const userData64 =
      event.user_data_64 !== 0n ? event.user_data_64 : store.userData64(pendingSlot);
    const userData32 =
      event.user_data_32 !== 0 ? event.user_data_32 : store.userData32(pendingSlot);
    const slot = store.append({
      id: event.id,
      debitSlot: store.debitSlot(pendingSlot),
      creditSlot: store.creditSlot(pendingSlot),
      amount,
      pendingSlot,
      userData128,
      userData64,
      userData32,
      timeout: 0,
      ledger: pendingLedger,
      code: pendingCode,
      flags,
      timestamp: created,
    });
    debit.debitsPending -= pendingAmount;
    credit.creditsPending -= pendingAmount;
    if (post) {
      debit.debitsPosted += amount;
      credit.creditsPosted += amount;
      store.setState(pendingSlot, PendingState.posted);
    } else {
      store.setState(pendingSlot, PendingState.voided);
      this.reopenClosedBy(pendingSlot, debit, credit);
    }
    assert.ok(debit.debitsPending >= 0n && credit.creditsPending >= 0n, "pending underflow");
    this.recordTransfer(slot, event.id, debit, credit, pendingCode);
    this.resultTimestamp = created;
    return S.created;
  }

  /** Voiding or expiring a closing transfer re-opens the account(s) it closed. */
  private reopenClosedBy(pendingSlot: number, debit: AccountRecord, credit: AccountRecord): void {
    const pendingFlags = this.transfers.flags(pendingSlot);
    if ((pendingFlags & TransferFlags.closing_debit) !== 0) {
      debit.flags &= ~AccountFlags.closed;
    }
    if ((pendingFlags & TransferFlags.closing_credit) !== 0) {
      credit.flags &= ~AccountFlags.closed;
    }
  }

  private recordTransfer(
    slot: number,
    id: bigint,
    debit: AccountRecord,
    credit: AccountRecord,
    code: number,
  ): void {
    this.transferIndex.insert(id, slot);
    this.appendTransfer(debit, slot, code);
    this.appendTransfer(credit, slot, code);
  }

  private appendTransfer(account: AccountRecord, slot: number, code: number): void {
    account.transfers.push(slot);
    account.codePositions?.get(code)?.push(account.transfers.length - 1);
    if (account.history !== null) {
      const offset = account.history.append();
      const words = account.history.words;
      words[offset] = lo64(account.debitsPending);
      words[offset + 1] = hi64(account.debitsPending);
      words[offset + 2] = lo64(account.debitsPosted);
      words[offset + 3] = hi64(account.debitsPosted);
      words[offset + 4] = lo64(account.creditsPending);
      words[offset + 5] = hi64(account.creditsPending);
      words[offset + 6] = lo64(account.creditsPosted);
      words[offset + 7] = hi64(account.creditsPosted);
    }
  }

  /** Undoes every transfer created at or after slot `mark`, newest first. */
  private rollbackTransfers(mark: number): void {
    const store = this.transfers;
    while (store.count > mark) {
      const slot = store.count - 1;
      const flags = store.flags(slot);
      const amount = store.amount(slot);
      const debit = this.accounts[store.debitSlot(slot)] as AccountRecord;
      const credit = this.accounts[store.creditSlot(slot)] as AccountRecord;
      if ((flags & postOrVoid) !== 0) {
        const pendingSlot = store.pendingSlot(slot);
        const pendingAmount = store.amount(pendingSlot);
        debit.debitsPending += pendingAmount;
        credit.creditsPending += pendingAmount;
        if ((flags & TransferFlags.post_pending_transfer) !== 0) {
          debit.debitsPosted -= amount;
          credit.creditsPosted -= amount;
        } else {
          const pendingFlags = store.flags(pendingSlot);
          if ((pendingFlags & TransferFlags.closing_debit) !== 0) {
            debit.flags |= AccountFlags.closed;
          }
          if ((pendingFlags & TransferFlags.closing_credit) !== 0) {
            credit.flags |= AccountFlags.closed;
          }
        }
        store.setState(pendingSlot, PendingState.pending);
      } else if ((flags & TransferFlags.pending) !== 0) {
        debit.debitsPending -= amount;
        credit.creditsPending -= amount;
        // A closing transfer could only succeed on an open account.
        if ((flags & TransferFlags.closing_debit) !== 0) {
          debit.flags &= ~AccountFlags.closed;
        }
        if ((flags & TransferFlags.closing_credit) !== 0) {
          credit.flags &= ~AccountFlags.closed;
        }
        // Its expiry entry goes stale: the slot's timestamp will not match any more.
      } else {
        debit.debitsPosted -= amount;
        credit.creditsPosted -= amount;
      }
      const code = store.code(slot);
      for (const account of [credit, debit]) {
        const positions = account.codePositions?.get(code);
        if (positions !== undefined && positions.length > 0) {
          if (positions.at(positions.length - 1) === account.transfers.length - 1) {
            positions.pop();
          }
        }
        assert.equal(account.transfers.pop(), slot, "rollback pops the newest transfer");
        account.history?.pop();
      }
      this.transferIndex.remove(store.id(slot));
      assert.ok(slot >= this.transferFieldsIndexed, "a rolled-back transfer was never indexed");
      store.pop(slot);
    }
  }

  private compareExisting(event: Transfer, slot: number): CreateTransferStatus {
    const S = CreateTransferStatus;
    const store = this.transfers;
    const flags = store.flags(slot);
    if (event.flags !== flags) {
      return S.exists_with_different_flags;
    }
    const pendingSlot = store.pendingSlot(slot);
    const pendingId = pendingSlot < 0 ? 0n : store.id(pendingSlot);
    if (event.pending_id !== pendingId) {
      return S.exists_with_different_pending_id;
    }
    if (event.timeout !== store.timeout(slot)) {
      return S.exists_with_different_timeout;
    }
    const debitId = (this.accounts[store.debitSlot(slot)] as AccountRecord).id;
    const creditId = (this.accounts[store.creditSlot(slot)] as AccountRecord).id;
    const amount = store.amount(slot);
    if ((flags & postOrVoid) === 0) {
      if (event.debit_account_id !== debitId) {
        return S.exists_with_different_debit_account_id;
      }
      if (event.credit_account_id !== creditId) {
        return S.exists_with_different_credit_account_id;
      }
      const balancing =
        (flags & (TransferFlags.balancing_debit | TransferFlags.balancing_credit)) !== 0;
      // A balancing transfer stores the clamped amount; any request amount at least that large
      // would have clamped to the same value.
      if (balancing ? event.amount < amount : event.amount !== amount) {
        return S.exists_with_different_amount;
      }
      if (event.user_data_128 !== store.userData128(slot)) {
        return S.exists_with_different_user_data_128;
      }
      if (event.user_data_64 !== store.userData64(slot)) {
        return S.exists_with_different_user_data_64;
      }
      if (event.user_data_32 !== store.userData32(slot)) {
        return S.exists_with_different_user_data_32;
      }
      if (event.ledger !== store.ledger(slot)) {
        return S.exists_with_different_ledger;
      }
      if (event.code !== store.code(slot)) {
        return S.exists_with_different_code;
      }
      return S.exists;
    }
    // Post/void: zero fields mean "inherit from the pending transfer", so they are compared with
    // what inheriting would have produced.
    if (event.debit_account_id !== 0n && event.debit_account_id !== debitId) {
      return S.exists_with_different_debit_account_id;
    }
    if (event.credit_account_id !== 0n && event.credit_account_id !== creditId) {
      return S.exists_with_different_credit_account_id;
    }
    const pendingAmount = store.amount(pendingSlot);
    const isVoid = (flags & TransferFlags.void_pending_transfer) !== 0;
    const amountMatches = isVoid
      ? event.amount === 0n
        ? amount === pendingAmount
        : event.amount === amount
      : event.amount === u128Max
        ? amount === pendingAmount
        : event.amount === amount;
    if (!amountMatches) {
      return S.exists_with_different_amount;
    }
    const userData128 =
      event.user_data_128 !== 0n ? event.user_data_128 : store.userData128(pendingSlot);
    if (userData128 !== store.userData128(slot)) {
      return S.exists_with_different_user_data_128;
    }
    const userData64 =
      event.user_data_64 !== 0n ? event.user_data_64 : store.userData64(pendingSlot);
    if (userData64 !== store.userData64(slot)) {
      return S.exists_with_different_user_data_64;
    }
    const userData32 =
      event.user_data_32 !== 0 ? event.user_data_32 : store.userData32(pendingSlot);
    if (userData32 !== store.userData32(slot)) {
      return S.exists_with_different_user_data_32;
    }
    if (event.ledger !== 0 && event.ledger !== store.ledger(slot)) {
      return S.exists_with_different_ledger;
    }
    if (event.code !== 0 && event.code !== store.code(slot)) {
      return S.exists_with_different_code;
    }
    return S.exists;
  }

  // ---------------------------------------------------------------------------------------------
  // Expiry of pending transfers (TigerBeetle's "pulse")

  /** True when a pending transfer's deadline has been reached at `now`. Drops stale entries. */
  expiryDue(now: bigint): boolean {
    for (;;) {
      const top = this.expiries.peek();
      if (top === undefined) {
        return false;
      }
      if (this.expiryLive(top)) {
        return top.deadline <= now;
      }
      this.expiries.pop();
    }
  }

  private expiryLive(entry: Expiry): boolean {
    const store = this.transfers;
    return (
      entry.slot < store.count &&
      store.timestamp(entry.slot) === entry.timestamp &&
      store.state(entry.slot) === PendingState.pending
    );
  }

  /** Expires every pending transfer whose deadline is <= now; each consumes one timestamp. */
  expire(now: bigint, request: bigint): number {
    const due: Expiry[] = [];
    for (;;) {
      const top = this.expiries.peek();
      if (top === undefined || top.deadline > now) {
        break;
      }
      this.expiries.pop();
      if (this.expiryLive(top)) {
        due.push(top);
      }
    }
    this.consume(request, due.length);
    const store = this.transfers;
    for (const entry of due) {
      const amount = store.amount(entry.slot);
      const debit = this.accounts[store.debitSlot(entry.slot)] as AccountRecord;
      const credit = this.accounts[store.creditSlot(entry.slot)] as AccountRecord;
      debit.debitsPending -= amount;
      credit.creditsPending -= amount;
      assert.ok(debit.debitsPending >= 0n && credit.creditsPending >= 0n, "pending underflow");
      store.setState(entry.slot, PendingState.expired);
      this.reopenClosedBy(entry.slot, debit, credit);
    }
    return due.length;
  }

  // ---------------------------------------------------------------------------------------------
  // Lookups

  lookupAccounts(ids: readonly bigint[]): Account[] {
    const results: Account[] = [];
    for (const id of ids) {
      const slot = this.accountIndex.get(id);
      if (slot >= 0) {
        results.push(this.toAccount(this.accounts[slot] as AccountRecord));
      }
    }
    return results;
  }

  lookupTransfers(ids: readonly bigint[]): Transfer[] {
    const results: Transfer[] = [];
    for (const id of ids) {
      const slot = this.transferIndex.get(id);
      if (slot >= 0) {
        results.push(this.toTransfer(slot));
      }
    }
    return results;
  }

  private toAccount(record: AccountRecord): Account {
    return {
      id: record.id,
      debits_pending: record.debitsPending,
      debits_posted: record.debitsPosted,
      credits_pending: record.creditsPending,
      credits_posted: record.creditsPosted,
      user_data_128: record.userData128,
      user_data_64: record.userData64,
      user_data_32: record.userData32,
      reserved: 0,
      ledger: record.ledger,
      code: record.code,
      flags: record.flags,
      timestamp: record.timestamp,
    };
  }

  private toTransfer(slot: number): Transfer {
    const store = this.transfers;
    const pendingSlot = store.pendingSlot(slot);
    return {
      id: store.id(slot),
      debit_account_id: (this.accounts[store.debitSlot(slot)] as AccountRecord).id,
      credit_account_id: (this.accounts[store.creditSlot(slot)] as AccountRecord).id,
      amount: store.amount(slot),
      pending_id: pendingSlot < 0 ? 0n : store.id(pendingSlot),
      user_data_128: store.userData128(slot),
      user_data_64: store.userData64(slot),
      user_data_32: store.userData32(slot),
      timeout: store.timeout(slot),
      ledger: store.ledger(slot),
      code: store.code(slot),
      flags: store.flags(slot),
      timestamp: store.timestamp(slot),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // get_account_transfers / get_account_balances

  getAccountTransfers(filter: AccountFilter): Transfer[] {
    const results: Transfer[] = [];
    this.scanAccount(filter, false, (slot) => {
      results.push(this.toTransfer(slot));
    });
    return results;
  }

  getAccountBalances(filter: AccountFilter): AccountBalance[] {
    const results: AccountBalance[] = [];
    this.scanAccount(filter, true, (slot, account, index) => {
      const history = account.history as WordList;
      const words = history.words;
      const offset = index * history.recordWords;
      const word = (i: number) => words[offset + i] as bigint;
      results.push({
        debits_pending: (word(1) << 64n) | word(0),
        debits_posted: (word(3) << 64n) | word(2),
        credits_pending: (word(5) << 64n) | word(4),
        credits_posted: (word(7) << 64n) | word(6),
        timestamp: this.transfers.timestamp(slot),
      });
    });
    return results;
  }

  private scanAccount(
    filter: AccountFilter,
    historyRequired: boolean,
    visit: (slot: number, account: AccountRecord, index: number) => void,
  ): void {
    if (filter.account_id === 0n || filter.account_id === u128Max) {
      return;
    }
    if (!timestampRangeValid(filter.timestamp_min, filter.timestamp_max) || filter.limit === 0) {
      return;
    }
    const sides = filter.flags & (AccountFilterFlags.debits | AccountFilterFlags.credits);
    if (sides === 0 || (filter.flags & ~accountFilterFlagsKnown) !== 0) {
      return;
    }
    const accountSlot = this.accountIndex.get(filter.account_id);
    if (accountSlot < 0) {
      return;
    }
    const account = this.accounts[accountSlot] as AccountRecord;
    if (historyRequired && account.history === null) {
      return;
    }
    const store = this.transfers;
    const list = account.transfers;
    // With a code, walk only the positions of that code; otherwise every position.
    const positions = filter.code === 0 ? null : this.codePositionsOf(account, filter.code);
    const length = positions === null ? list.length : positions.length;
    const slotAt = (i: number) => list.at(positions === null ? i : positions.at(i));
    const first = this.lowerBound(length, slotAt, filter.timestamp_min);
    const end =
      filter.timestamp_max === 0n
        ? length
        : this.lowerBound(length, slotAt, filter.timestamp_max + 1n);
    const debits = (filter.flags & AccountFilterFlags.debits) !== 0;
    const credits = (filter.flags & AccountFilterFlags.credits) !== 0;
    const reversed = (filter.flags & AccountFilterFlags.reversed) !== 0;
    let found = 0;
    for (let k = 0; k < end - first && found < filter.limit; k++) {
      const i = reversed ? end - 1 - k : first + k;
      const index = positions === null ? i : positions.at(i);
      const slot = list.at(index);
      const isDebit = store.debitSlot(slot) === accountSlot;
      if (!((debits && isDebit) || (credits && !isDebit))) {
        continue;
      }
      if (filter.user_data_128 !== 0n && store.userData128(slot) !== filter.user_data_128) {
        continue;
      }
      if (filter.user_data_64 !== 0n && store.userData64(slot) !== filter.user_data_64) {
        continue;
      }
      if (filter.user_data_32 !== 0 && store.userData32(slot) !== filter.user_data_32) {
        continue;
      }
      assert.ok(filter.code === 0 || store.code(slot) === filter.code, "code positions match");
      visit(slot, account, index);
      found += 1;
    }
  }

  private codePositionsOf(account: AccountRecord, code: number): IntList {
    account.codePositions ??= new Map();
    let positions = account.codePositions.get(code);
    if (positions === undefined) {
      assert.ok(account.codePositions.size < codePositionListsMax, "code lists are bounded");
      positions = new IntList();
      for (let i = 0; i < account.transfers.length; i++) {
        if (this.transfers.code(account.transfers.at(i)) === code) {
          positions.push(i);
        }
      }
      account.codePositions.set(code, positions);
    }
    return positions;
  }

  /** First i in [0, length) whose transfer timestamp is >= `timestamp`. */
  private lowerBound(length: number, slotAt: (i: number) => number, timestamp: bigint): number {
    let low = 0;
    let high = length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.transfers.timestamp(slotAt(middle)) < timestamp) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    return low;
  }

  // ---------------------------------------------------------------------------------------------
  // query_accounts / query_transfers

  queryAccounts(filter: QueryFilter): Account[] {
    const results: Account[] = [];
    this.scanQuery(
      filter,
      this.accountFields,
      this.accounts.length,
      (slot) => (this.accounts[slot] as AccountRecord).timestamp,
      (slot) => {
        const record = this.accounts[slot] as AccountRecord;
        return record;
      },
      (slot) => {
        results.push(this.toAccount(this.accounts[slot] as AccountRecord));
      },
    );
    return results;
  }

  queryTransfers(filter: QueryFilter): Transfer[] {
    const results: Transfer[] = [];
    const store = this.transfers;
    for (let slot = this.transferFieldsIndexed; slot < store.count; slot++) {
      this.indexFields(this.transferFields, slot, {
        userData128: store.userData128(slot),
        userData64: store.userData64(slot),
        userData32: store.userData32(slot),
        ledger: store.ledger(slot),
        code: store.code(slot),
      });
    }
    this.transferFieldsIndexed = store.count;
    this.scanQuery(
      filter,
      this.transferFields,
      store.count,
      (slot) => store.timestamp(slot),
      (slot) => ({
        userData128: store.userData128(slot),
        userData64: store.userData64(slot),
        userData32: store.userData32(slot),
        ledger: store.ledger(slot),
        code: store.code(slot),
      }),
      (slot) => {
        results.push(this.toTransfer(slot));
      },
    );
    return results;
  }

  private scanQuery(
    filter: QueryFilter,
    indexes: FieldIndexes,
    count: number,
    timestampOf: (slot: number) => bigint,
    fieldsOf: (slot: number) => IndexedFields,
    visit: (slot: number) => void,
  ): void {
    if (!timestampRangeValid(filter.timestamp_min, filter.timestamp_max) || filter.limit === 0) {
      return;
    }
    if ((filter.flags & ~queryFilterFlagsKnown) !== 0) {
      return;
    }
    const reversed = (filter.flags & QueryFilterFlags.reversed) !== 0;
    const min = filter.timestamp_min;
    const max = filter.timestamp_max === 0n ? timestampMax : filter.timestamp_max;
    const matches = (slot: number): boolean => {
      const fields = fieldsOf(slot);
      return (
        (filter.user_data_128 === 0n || fields.userData128 === filter.user_data_128) &&
        (filter.user_data_64 === 0n || fields.userData64 === filter.user_data_64) &&
        (filter.user_data_32 === 0 || fields.userData32 === filter.user_data_32) &&
        (filter.ledger === 0 || fields.ledger === filter.ledger) &&
        (filter.code === 0 || fields.code === filter.code)
      );
    };

    // Walk the smallest index among the filter's non-zero fields, checking the others.
    // Each candidate: how many objects hold the value, and how to walk them.
    const candidates: Array<{ count: number; head: number; tail: number; step: Walk }> = [];
    const consider = <Key extends bigint | number>(
      index: { count(k: Key): number; head(k: Key): number; tail(k: Key): number } & Walk,
      key: Key,
    ) => {
      candidates.push({
        count: index.count(key),
        head: index.head(key),
        tail: index.tail(key),
        step: index,
      });
    };
    if (filter.user_data_128 !== 0n) {
      consider(indexes.userData128, filter.user_data_128);
    }
    if (filter.user_data_64 !== 0n) {
      consider(indexes.userData64, filter.user_data_64);
    }
    if (filter.user_data_32 !== 0) {
      consider(indexes.userData32, filter.user_data_32);
    }
    if (filter.ledger !== 0) {
      consider(indexes.ledger, filter.ledger);
    }
    if (filter.code !== 0) {
      consider(indexes.code, filter.code);
    }
    let found = 0;
    if (candidates.length === 0) {
      // No field to match: the objects themselves are in timestamp order.
      let low = 0;
      let high = count;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (timestampOf(middle) < min) {
          low = middle + 1;
        } else {
          high = middle;
        }
      }
      const first = low;
      low = first;
      high = count;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (timestampOf(middle) <= max) {
          low = middle + 1;
        } else {
          high = middle;
        }
      }
      const end = low;
      for (let k = 0; k < end - first && found < filter.limit; k++) {
        visit(reversed ? end - 1 - k : first + k);
        found += 1;
      }
      return;
    }
    let best = candidates[0] as (typeof candidates)[number];
    for (const candidate of candidates) {
      if (candidate.count < best.count) {
        best = candidate;
      }
    }
    let slot = reversed ? best.tail : best.head;
    while (slot >= 0 && found < filter.limit) {
      const timestamp = timestampOf(slot);
      if (reversed ? timestamp < min : timestamp > max) {
        break;
      }
      if (timestamp >= min && timestamp <= max && matches(slot)) {
        visit(slot);
        found += 1;
      }
      slot = reversed ? best.step.before(slot) : best.step.after(slot);
    }
  }
}
