/**
 * Property tests for the embedded ledger engine.
 *
 * Random operation sequences (single-phase, pending, post, void, balancing, closing, linked
 * chains with deliberate failures, retries of earlier ids, clock advances) run against the
 * engine, and after every batch we check what a user relies on: each ledger balances, balance
 * limits hold, chains are all-or-nothing, every created transfer can be looked up with the
 * timestamp it was created with, and balances equal what the stored transfers imply. The same
 * sequence then runs on a journal-backed engine: its state must equal the in-memory engine's
 * (determinism) and survive close and reopen unchanged.
 *
 * Time comes from a fake clock (a bigint we advance), never from the wall clock.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { Account, AccountBalance, CreateTransferResult, Transfer } from "tigerbeetle-node";
import {
  AccountFilterFlags,
  AccountFlags,
  amount_max,
  CreateAccountStatus,
  CreateTransferStatus,
  TransferFlags,
} from "tigerbeetle-node";
import { describe, expect, it } from "vitest";
import type { EmbeddedClient } from "../../src/ledger/embedded/index.ts";
import { createEmbeddedClient } from "../../src/ledger/embedded/index.ts";

const nsPerSecond = 1_000_000_000n;
const clockStartNs = 1_700_000_000n * nsPerSecond;
/** Within this distance of "now" a deadline may or may not have passed (timestamps drift by ns). */
const expiryAmbiguityNs = 1_000_000n;
/** The final clock step is off the whole-second grid, so no deadline is ambiguous at the end. */
const finalStepNs = nsPerSecond / 2n;
const ledgers = [1, 2] as const;
const ledgerWithoutAccounts = 3;
const missingAccountIdBase = 1_000n;
const missingPendingId = 999_999n;
const queryLimitMax = 8189;
const runsMemory = 200;
const runsJournal = 60;

// ---------------------------------------------------------------------------------------------
// Scenario model (what fast-check generates) and its translation into concrete batches.

type AccountLimit = "none" | "debits" | "credits" | "both";

interface AccountSpec {
  ledger: number;
  limit: AccountLimit;
  history: boolean;
  closed: boolean;
}

/** At most one deliberate mistake per regular transfer, so chains mostly succeed. */
type Fault =
  | "none"
  | "missing_debit"
  | "missing_credit"
  | "same_account"
  | "other_ledger_credit"
  | "ledger_zero"
  | "ledger_without_accounts"
  | "code_zero"
  | "timeout_without_pending"
  | "closing_without_pending";

interface RegularSpec {
  kind: "regular";
  /** Debit one of the unrestricted sources, which keeps money flowing into limited accounts. */
  fromSource: boolean;
  debit: number;
  credit: number;
  amount: bigint;
  amountMax: boolean;
  pending: boolean;
  timeoutSeconds: number;
  balancing: number;
  closing: number;
  fault: Fault;
  code: number;
  userData64: bigint;
}

interface PostSpec {
  kind: "post";
  target: number;
  anyTarget: boolean;
  amountMode: "full" | "zero" | "partial" | "exceed";
  amount: bigint;
  inherit: boolean;
  userData32: number;
}

interface VoidSpec {
  kind: "void";
  target: number;
  anyTarget: boolean;
  amountMode: "zero" | "exact" | "wrong";
  inherit: boolean;
}

interface RetrySpec {
  kind: "retry";
  pick: number;
  keepFlags: boolean;
}

type EventSpec = RegularSpec | PostSpec | VoidSpec | RetrySpec;

type StepSpec = { kind: "batch"; groups: EventSpec[][] } | { kind: "advance"; seconds: number };

interface Scenario {
  accounts: AccountSpec[];
  steps: StepSpec[];
}

type ConcreteStep = { kind: "batch"; transfers: Transfer[] } | { kind: "advance"; ns: bigint };

const accountSpecArb: fc.Arbitrary<AccountSpec> = fc.record({
  ledger: fc.constantFrom<number>(...ledgers),
  limit: fc.constantFrom<AccountLimit>(
    "none",
    "none",
    "none",
    "debits",
    "debits",
    "debits",
    "credits",
    "credits",
    "both",
  ),
  history: fc.boolean(),
  closed: fc.oneof({ arbitrary: fc.constant(false), weight: 12 }, fc.constant(true)),
});

/** The first account of each ledger is an unrestricted source that can fund the others. */
const sourceSpecArb = (ledger: number): fc.Arbitrary<AccountSpec> =>
  fc.record({
    ledger: fc.constant(ledger),
    limit: fc.constant<AccountLimit>("none"),
    history: fc.boolean(),
    closed: fc.constant(false),
  });

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  { arbitrary: fc.constant<Fault>("none"), weight: 60 },
  fc.constantFrom<Fault>(
    "missing_debit",
    "missing_credit",
    "same_account",
    "other_ledger_credit",
    "ledger_zero",
    "ledger_without_accounts",
    "code_zero",
    "timeout_without_pending",
    "closing_without_pending",
  ),
);

const regularSpecArb: fc.Arbitrary<RegularSpec> = fc.record({
  kind: fc.constant("regular" as const),
  fromSource: fc.boolean(),
  debit: fc.nat({ max: 20 }),
  credit: fc.nat({ max: 20 }),
  amount: fc.bigInt({ min: 0n, max: 40n }),
  amountMax: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, fc.constant(true)),
  pending: fc.oneof(
    { arbitrary: fc.constant(false), weight: 3 },
    { arbitrary: fc.constant(true), weight: 2 },
  ),
  timeoutSeconds: fc.oneof(fc.constant(0), {
    arbitrary: fc.integer({ min: 1, max: 4 }),
    weight: 2,
  }),
  balancing: fc.oneof(
    { arbitrary: fc.constant(0), weight: 8 },
    fc.constantFrom(
      TransferFlags.balancing_debit,
      TransferFlags.balancing_credit,
      TransferFlags.balancing_debit | TransferFlags.balancing_credit,
    ),
  ),
  closing: fc.oneof(
    { arbitrary: fc.constant(0), weight: 25 },
    fc.constantFrom(TransferFlags.closing_debit, TransferFlags.closing_credit),
  ),
  fault: faultArb,
  code: fc.integer({ min: 1, max: 3 }),
  userData64: fc.bigInt({ min: 0n, max: 3n }),
});

const postSpecArb: fc.Arbitrary<PostSpec> = fc.record({
  kind: fc.constant("post" as const),
  target: fc.nat({ max: 50 }),
  anyTarget: fc.oneof({ arbitrary: fc.constant(false), weight: 8 }, fc.constant(true)),
  amountMode: fc.constantFrom<PostSpec["amountMode"]>(
    "full",
    "full",
    "zero",
    "partial",
    "partial",
    "exceed",
  ),
  amount: fc.bigInt({ min: 0n, max: 40n }),
  inherit: fc.boolean(),
  userData32: fc.integer({ min: 0, max: 2 }),
});

const voidSpecArb: fc.Arbitrary<VoidSpec> = fc.record({
  kind: fc.constant("void" as const),
  target: fc.nat({ max: 50 }),
  anyTarget: fc.oneof({ arbitrary: fc.constant(false), weight: 8 }, fc.constant(true)),
  amountMode: fc.constantFrom<VoidSpec["amountMode"]>("zero", "zero", "exact", "wrong"),
  inherit: fc.boolean(),
});

const retrySpecArb: fc.Arbitrary<RetrySpec> = fc.record({
  kind: fc.constant("retry" as const),
  pick: fc.nat({ max: 500 }),
  keepFlags: fc.boolean(),
});

const eventSpecArb: fc.Arbitrary<EventSpec> = fc.oneof(
  { arbitrary: regularSpecArb, weight: 12 },
  { arbitrary: postSpecArb, weight: 3 },
  { arbitrary: voidSpecArb, weight: 1 },
  { arbitrary: retrySpecArb, weight: 2 },
);

const stepSpecArb: fc.Arbitrary<StepSpec> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      groups: fc.array(
        fc.oneof(
          { arbitrary: fc.array(eventSpecArb, { minLength: 1, maxLength: 1 }), weight: 3 },
          { arbitrary: fc.array(eventSpecArb, { minLength: 2, maxLength: 4 }), weight: 1 },
        ),
        { minLength: 1, maxLength: 6 },
      ),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      seconds: fc.integer({ min: 0, max: 5 }),
    }),
    weight: 2,
  },
);

const scenarioArb = (stepsMax: number): fc.Arbitrary<Scenario> =>
  fc.record({
    accounts: fc
      .tuple(
        sourceSpecArb(1),
        sourceSpecArb(2),
        fc.array(accountSpecArb, { minLength: 2, maxLength: 5 }),
      )
      // Both ledgers get at least one account besides their source.
      .map(([first, second, rest]) => [
        first,
        second,
        ...rest.map((spec, index) => (index < 2 ? { ...spec, ledger: index + 1 } : spec)),
      ]),
    steps: fc.array(stepSpecArb, { minLength: 1, maxLength: stepsMax }),
  });

function accountFlagsOf(spec: AccountSpec): number {
  let flags = AccountFlags.none;
  if (spec.limit === "debits" || spec.limit === "both") {
    flags |= AccountFlags.debits_must_not_exceed_credits;
  }
  if (spec.limit === "credits" || spec.limit === "both") {
    flags |= AccountFlags.credits_must_not_exceed_debits;
  }
  if (spec.history) {
    flags |= AccountFlags.history;
  }
  if (spec.closed) {
    flags |= AccountFlags.closed;
  }
  return flags;
}

function buildAccounts(specs: AccountSpec[]): Account[] {
  return specs.map((spec, index) => ({
    id: BigInt(index + 1),
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: index,
    reserved: 0,
    ledger: spec.ledger,
    code: 10,
    flags: accountFlagsOf(spec),
    timestamp: 0n,
  }));
}

function transferOf(fields: Partial<Transfer> & { id: bigint }): Transfer {
  return {
    debit_account_id: 0n,
    credit_account_id: 0n,
    amount: 0n,
    pending_id: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    timeout: 0,
    ledger: 0,
    code: 0,
    flags: TransferFlags.none,
    timestamp: 0n,
    ...fields,
  };
}

function hasFlag(flags: number, flag: number): boolean {
  return (flags & flag) !== 0;
}

/**
 * Turns the generated scenario into concrete batches. Everything here depends only on what was
 * submitted before, never on the engine's answers, so every engine gets byte-identical input.
 */
function buildSteps(scenario: Scenario, accounts: Account[]): ConcreteStep[] {
  const submitted: Transfer[] = [];
  const pendings: Transfer[] = [];
  let nextId = 1n;
  /** Mostly recent entries: old pending transfers are usually resolved or expired already. */
  const recent = <T>(pool: T[], pick: number, window: number): T | undefined =>
    pool.length === 0 ? undefined : pool[pool.length - 1 - (pick % Math.min(pool.length, window))];

  const buildOne = (spec: EventSpec): Transfer => {
    switch (spec.kind) {
      case "regular": {
        // Accounts 0 and 1 are the sources of ledgers 1 and 2.
        const debit = accounts[spec.fromSource ? spec.debit % 2 : spec.debit % accounts.length];
        const sameLedger = spec.fault !== "other_ledger_credit";
        const candidates = accounts.filter(
          (a) => a.id !== debit?.id && (a.ledger === debit?.ledger) === sameLedger,
        );
        const credit =
          spec.fault === "same_account" ? debit : candidates[spec.credit % candidates.length];
        const ledger =
          spec.fault === "ledger_zero"
            ? 0
            : spec.fault === "ledger_without_accounts"
              ? ledgerWithoutAccounts
              : (debit?.ledger ?? 1);
        const pending =
          spec.pending &&
          spec.fault !== "timeout_without_pending" &&
          spec.fault !== "closing_without_pending";
        const closing =
          spec.fault === "closing_without_pending" ? TransferFlags.closing_debit : spec.closing;
        const flags =
          (pending ? TransferFlags.pending : 0) |
          spec.balancing |
          (pending || spec.fault === "closing_without_pending" ? closing : 0);
        const timeout =
          spec.fault === "timeout_without_pending" ? 1 : pending ? spec.timeoutSeconds : 0;
        const transfer = transferOf({
          id: nextId,
          debit_account_id:
            spec.fault === "missing_debit"
              ? missingAccountIdBase
              : (debit?.id ?? missingAccountIdBase),
          credit_account_id:
            spec.fault === "missing_credit"
              ? missingAccountIdBase + 1n
              : (credit?.id ?? missingAccountIdBase + 1n),
          amount: spec.balancing !== 0 && spec.amountMax ? amount_max : spec.amount,
          user_data_64: spec.userData64,
          timeout,
          ledger,
          code: spec.fault === "code_zero" ? 0 : spec.code,
          flags,
        });
        nextId += 1n;
        if (pending) {
          pendings.push(transfer);
        }
        return transfer;
      }
      case "post":
      case "void": {
        const pool = spec.anyTarget ? submitted : pendings;
        const target = recent(pool, spec.target, 3);
        let amount = 0n;
        if (spec.kind === "post") {
          amount =
            spec.amountMode === "full"
              ? amount_max
              : spec.amountMode === "zero"
                ? 0n
                : spec.amountMode === "exceed"
                  ? 1_000n
                  : spec.amount;
        } else if (spec.amountMode === "exact") {
          amount = target?.amount ?? 0n;
        } else if (spec.amountMode === "wrong") {
          const pendingAmount = target?.amount ?? 0n;
          amount = pendingAmount === amount_max ? 1n : pendingAmount + 1n;
        }
        const transfer = transferOf({
          id: nextId,
          pending_id: target?.id ?? missingPendingId,
          debit_account_id: spec.inherit ? 0n : (target?.debit_account_id ?? 0n),
          credit_account_id: spec.inherit ? 0n : (target?.credit_account_id ?? 0n),
          ledger: spec.inherit ? 0 : (target?.ledger ?? 0),
          code: spec.inherit ? 0 : (target?.code ?? 0),
          user_data_32: spec.kind === "post" ? spec.userData32 : 0,
          amount,
          flags:
            spec.kind === "post"
              ? TransferFlags.post_pending_transfer
              : TransferFlags.void_pending_transfer,
        });
        nextId += 1n;
        return transfer;
      }
      case "retry": {
        const original =
          submitted.length === 0 ? undefined : submitted[spec.pick % submitted.length];
        if (original === undefined) {
          // Nothing to retry yet: a transfer between an account and itself, which always fails.
          const transfer = transferOf({
            id: nextId,
            debit_account_id: 1n,
            credit_account_id: 1n,
            amount: 1n,
            ledger: 1,
            code: 1,
          });
          nextId += 1n;
          return transfer;
        }
        return { ...original };
      }
    }
  };

  const steps: ConcreteStep[] = [];
  for (const step of scenario.steps) {
    if (step.kind === "advance") {
      steps.push({ kind: "advance", ns: BigInt(step.seconds) * nsPerSecond });
      continue;
    }
    const transfers: Transfer[] = [];
    for (const group of step.groups) {
      group.forEach((spec, index) => {
        const transfer = buildOne(spec);
        const last = index === group.length - 1;
        const keepFlags = spec.kind === "retry" && spec.keepFlags;
        if (!keepFlags) {
          transfer.flags = last
            ? transfer.flags & ~TransferFlags.linked
            : transfer.flags | TransferFlags.linked;
        }
        transfers.push(transfer);
        submitted.push(transfer);
      });
    }
    steps.push({ kind: "batch", transfers });
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Running a scenario and checking the invariants.

interface FakeClock {
  now: () => bigint;
  advance: (ns: bigint) => void;
}

function createFakeClock(startNs: bigint): FakeClock {
  let nowNs = startNs;
  return {
    now: () => nowNs,
    advance: (ns: bigint) => {
      expect(ns >= 0n).toBe(true);
      nowNs += ns;
    },
  };
}

interface Model {
  accounts: Account[];
  createdAccountIds: Set<bigint>;
  /** Transfer id → the submitted event that created it and the timestamp it was created with. */
  created: Map<bigint, { event: Transfer; timestamp: bigint }>;
  /** Every submitted transfer id, first submission order, without duplicates. */
  submittedIds: bigint[];
  timestampLast: bigint;
}

interface RunRecord {
  accountResults: { status: number; timestamp: bigint }[];
  transferResults: CreateTransferResult[][];
  model: Model;
}

/** The chains of a batch, as index ranges, derived from the flags actually submitted. */
function chainsOf(transfers: Transfer[]): { start: number; end: number }[] {
  const chains: { start: number; end: number }[] = [];
  let start = 0;
  transfers.forEach((transfer, index) => {
    const last = index === transfers.length - 1;
    if (!hasFlag(transfer.flags, TransferFlags.linked) || last) {
      chains.push({ start, end: index });
      start = index + 1;
    }
  });
  return chains;
}

function checkBatchResults(transfers: Transfer[], results: CreateTransferResult[], model: Model) {
  expect(results).toHaveLength(transfers.length);
  const created = (index: number): boolean =>
    results[index]?.status === CreateTransferStatus.created;

  for (const chain of chainsOf(transfers)) {
    const count = chain.end - chain.start + 1;
    let createdCount = 0;
    for (let index = chain.start; index <= chain.end; index += 1) {
      createdCount += created(index) ? 1 : 0;
    }
    expect([0, count], `chain ${chain.start}..${chain.end} is all or nothing`).toContain(
      createdCount,
    );
  }
  const lastEvent = transfers[transfers.length - 1];
  if (lastEvent !== undefined && hasFlag(lastEvent.flags, TransferFlags.linked)) {
    expect(results[transfers.length - 1]?.status).toBe(
      CreateTransferStatus.linked_event_chain_open,
    );
  }

  let timestampLast = model.timestampLast;
  results.forEach((result, index) => {
    const transfer = transfers[index];
    expect(transfer).toBeDefined();
    if (transfer === undefined) {
      return;
    }
    if (result.status === CreateTransferStatus.exists) {
      // `exists` reports the existing object's timestamp: from an earlier batch, or from an
      // earlier event of this batch (possibly rolled back later by its chain).
      const earlier = model.created.get(transfer.id)?.timestamp;
      const inBatch = transfers
        .slice(0, index)
        .some((other, j) => other.id === transfer.id && results[j]?.timestamp === result.timestamp);
      expect(
        earlier === result.timestamp || inBatch,
        `event ${index}: exists, wrong timestamp`,
      ).toBe(true);
      return;
    }
    const status = CreateTransferStatus[result.status];
    expect(
      result.timestamp > timestampLast,
      `event ${index} (${status}) has timestamp ${result.timestamp}, not after ${timestampLast}`,
    ).toBe(true);
    timestampLast = result.timestamp;
  });
  model.timestampLast = timestampLast;

  results.forEach((result, index) => {
    const transfer = transfers[index];
    if (transfer === undefined || result.status !== CreateTransferStatus.created) {
      return;
    }
    expect(model.created.has(transfer.id)).toBe(false);
    model.created.set(transfer.id, { event: transfer, timestamp: result.timestamp });
  });
  for (const transfer of transfers) {
    if (!model.submittedIds.includes(transfer.id)) {
      model.submittedIds.push(transfer.id);
    }
  }
}

interface ExpectedBalances {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  closedByTransfer: boolean;
}

/**
 * Balances implied by the stored transfers. Posted amounts are exact. Pending amounts depend on
 * which reservations have expired; when a deadline is too close to `nowNs` to tell, the pending
 * part is left out (undefined).
 */
function expectedBalancesOf(
  transfers: Transfer[],
  nowNs: bigint,
): { balances: Map<bigint, ExpectedBalances>; pendingKnown: boolean } {
  const balances = new Map<bigint, ExpectedBalances>();
  const of = (id: bigint): ExpectedBalances => {
    let entry = balances.get(id);
    if (entry === undefined) {
      entry = {
        debitsPosted: 0n,
        creditsPosted: 0n,
        debitsPending: 0n,
        creditsPending: 0n,
        closedByTransfer: false,
      };
      balances.set(id, entry);
    }
    return entry;
  };
  const resolved = new Set<bigint>();
  for (const transfer of transfers) {
    if (
      hasFlag(transfer.flags, TransferFlags.post_pending_transfer) ||
      hasFlag(transfer.flags, TransferFlags.void_pending_transfer)
    ) {
      resolved.add(transfer.pending_id);
    }
  }
  let pendingKnown = true;
  for (const transfer of transfers) {
    const debit = of(transfer.debit_account_id);
    const credit = of(transfer.credit_account_id);
    if (hasFlag(transfer.flags, TransferFlags.pending)) {
      if (resolved.has(transfer.id)) {
        continue;
      }
      if (transfer.timeout > 0) {
        const deadline = transfer.timestamp + BigInt(transfer.timeout) * nsPerSecond;
        const distance = deadline > nowNs ? deadline - nowNs : nowNs - deadline;
        if (distance < expiryAmbiguityNs) {
          pendingKnown = false;
        }
        if (deadline <= nowNs) {
          continue;
        }
      }
      debit.debitsPending += transfer.amount;
      credit.creditsPending += transfer.amount;
      if (hasFlag(transfer.flags, TransferFlags.closing_debit)) {
        debit.closedByTransfer = true;
      }
      if (hasFlag(transfer.flags, TransferFlags.closing_credit)) {
        credit.closedByTransfer = true;
      }
    } else if (!hasFlag(transfer.flags, TransferFlags.void_pending_transfer)) {
      debit.debitsPosted += transfer.amount;
      credit.creditsPosted += transfer.amount;
    }
  }
  return { balances, pendingKnown };
}

function accountFilterAll(accountId: bigint) {
  return {
    account_id: accountId,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: queryLimitMax,
    flags: AccountFilterFlags.debits | AccountFilterFlags.credits,
  };
}

function queryAll(ledger: number) {
  return {
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    ledger,
    code: 0,
    timestamp_min: 0n,
    timestamp_max: 0n,
    limit: queryLimitMax,
    flags: 0,
  };
}

async function checkState(client: EmbeddedClient, model: Model, nowNs: bigint): Promise<void> {
  // Every created transfer is found, with the timestamp it was created with; nothing else is.
  const found = await client.lookupTransfers(model.submittedIds);
  const expectedIds = model.submittedIds.filter((id) => model.created.has(id));
  expect(found.map((transfer) => transfer.id)).toEqual(expectedIds);
  for (const transfer of found) {
    const entry = model.created.get(transfer.id);
    expect(entry).toBeDefined();
    if (entry === undefined) {
      continue;
    }
    expect(transfer.timestamp).toBe(entry.timestamp);
    expect(transfer.flags).toBe(entry.event.flags);
    const resolving =
      hasFlag(entry.event.flags, TransferFlags.post_pending_transfer) ||
      hasFlag(entry.event.flags, TransferFlags.void_pending_transfer);
    const balancing =
      hasFlag(entry.event.flags, TransferFlags.balancing_debit) ||
      hasFlag(entry.event.flags, TransferFlags.balancing_credit);
    if (resolving) {
      expect(transfer.pending_id).toBe(entry.event.pending_id);
      expect(transfer.timeout).toBe(0);
    } else if (balancing) {
      expect(transfer.amount <= entry.event.amount).toBe(true);
      expect({ ...transfer, amount: 0n }).toEqual({
        ...entry.event,
        amount: 0n,
        timestamp: entry.timestamp,
      });
    } else {
      expect(transfer).toEqual({ ...entry.event, timestamp: entry.timestamp });
    }
  }

  // A post or void inherits accounts, ledger and code from its pending transfer, and user data
  // where it left them zero; each pending transfer is resolved at most once.
  const byId = new Map(found.map((transfer) => [transfer.id, transfer]));
  const resolvedOnce = new Set<bigint>();
  for (const transfer of found) {
    const post = hasFlag(transfer.flags, TransferFlags.post_pending_transfer);
    const voided = hasFlag(transfer.flags, TransferFlags.void_pending_transfer);
    if (!post && !voided) {
      continue;
    }
    const pending = byId.get(transfer.pending_id);
    const event = model.created.get(transfer.id)?.event;
    expect(pending).toBeDefined();
    if (pending === undefined || event === undefined) {
      continue;
    }
    expect(resolvedOnce.has(pending.id)).toBe(false);
    resolvedOnce.add(pending.id);
    expect(hasFlag(pending.flags, TransferFlags.pending)).toBe(true);
    expect(pending.timestamp < transfer.timestamp).toBe(true);
    expect(transfer.debit_account_id).toBe(pending.debit_account_id);
    expect(transfer.credit_account_id).toBe(pending.credit_account_id);
    expect(transfer.ledger).toBe(pending.ledger);
    expect(transfer.code).toBe(pending.code);
    expect(transfer.user_data_128).toBe(event.user_data_128 || pending.user_data_128);
    expect(transfer.user_data_64).toBe(event.user_data_64 || pending.user_data_64);
    expect(transfer.user_data_32).toBe(event.user_data_32 || pending.user_data_32);
    if (voided) {
      expect(transfer.amount).toBe(pending.amount);
    } else {
      expect(transfer.amount <= pending.amount).toBe(true);
    }
  }

  const accountIds = model.accounts.map((account) => account.id);
  const accounts = await client.lookupAccounts(accountIds);

  // Per account: its transfers in timestamp order, and one balance entry per transfer for
  // history accounts (expiry adds none).
  const byTimestamp = [...found].sort((a, b) =>
    a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0,
  );
  for (const account of accounts) {
    const filter = accountFilterAll(account.id);
    const mine = byTimestamp.filter(
      (t) => t.debit_account_id === account.id || t.credit_account_id === account.id,
    );
    expect(await client.getAccountTransfers(filter)).toEqual(mine);
    const balances = await client.getAccountBalances(filter);
    expect(balances.map((balance) => balance.timestamp)).toEqual(
      hasFlag(account.flags, AccountFlags.history) ? mine.map((t) => t.timestamp) : [],
    );
  }
  expect(accounts.map((account) => account.id)).toEqual(
    accountIds.filter((id) => model.createdAccountIds.has(id)),
  );

  // Each ledger balances, over exactly the accounts of that ledger.
  for (const ledger of ledgers) {
    const inLedger = await client.queryAccounts(queryAll(ledger));
    expect(inLedger.map((account) => account.id)).toEqual(
      accounts.filter((account) => account.ledger === ledger).map((account) => account.id),
    );
    const sum = (pick: (account: Account) => bigint) =>
      inLedger.reduce((total, account) => total + pick(account), 0n);
    expect(sum((a) => a.debits_posted)).toBe(sum((a) => a.credits_posted));
    expect(sum((a) => a.debits_pending)).toBe(sum((a) => a.credits_pending));
  }

  // Balance limits hold, reservations included.
  for (const account of accounts) {
    if (hasFlag(account.flags, AccountFlags.debits_must_not_exceed_credits)) {
      expect(account.debits_posted + account.debits_pending <= account.credits_posted).toBe(true);
    }
    if (hasFlag(account.flags, AccountFlags.credits_must_not_exceed_debits)) {
      expect(account.credits_posted + account.credits_pending <= account.debits_posted).toBe(true);
    }
  }

  // Balances are exactly what the stored transfers imply.
  const { balances, pendingKnown } = expectedBalancesOf(found, nowNs);
  for (const account of accounts) {
    const expected = balances.get(account.id);
    const submittedFlags = model.accounts.find((a) => a.id === account.id)?.flags ?? 0;
    expect(account.debits_posted).toBe(expected?.debitsPosted ?? 0n);
    expect(account.credits_posted).toBe(expected?.creditsPosted ?? 0n);
    expect(account.flags & ~AccountFlags.closed).toBe(submittedFlags & ~AccountFlags.closed);
    if (pendingKnown) {
      expect(account.debits_pending).toBe(expected?.debitsPending ?? 0n);
      expect(account.credits_pending).toBe(expected?.creditsPending ?? 0n);
      const closed =
        hasFlag(submittedFlags, AccountFlags.closed) || (expected?.closedByTransfer ?? false);
      expect(hasFlag(account.flags, AccountFlags.closed)).toBe(closed);
    }
  }
}

async function runScenario(
  client: EmbeddedClient,
  clock: FakeClock,
  accounts: Account[],
  steps: ConcreteStep[],
): Promise<RunRecord> {
  const model: Model = {
    accounts,
    createdAccountIds: new Set(),
    created: new Map(),
    submittedIds: [],
    timestampLast: 0n,
  };
  const accountResults = await client.createAccounts(accounts);
  expect(accountResults).toHaveLength(accounts.length);
  accountResults.forEach((result, index) => {
    const account = accounts[index];
    if (account === undefined) {
      return;
    }
    const bothLimits =
      hasFlag(account.flags, AccountFlags.debits_must_not_exceed_credits) &&
      hasFlag(account.flags, AccountFlags.credits_must_not_exceed_debits);
    expect(result.status).toBe(
      bothLimits ? CreateAccountStatus.flags_are_mutually_exclusive : CreateAccountStatus.created,
    );
    expect(result.timestamp > model.timestampLast).toBe(true);
    model.timestampLast = result.timestamp;
    if (result.status === CreateAccountStatus.created) {
      model.createdAccountIds.add(account.id);
    }
  });

  const transferResults: CreateTransferResult[][] = [];
  for (const step of steps) {
    if (step.kind === "advance") {
      clock.advance(step.ns);
      continue;
    }
    const results = await client.createTransfers(step.transfers);
    checkBatchResults(step.transfers, results, model);
    await checkState(client, model, clock.now());
    transferResults.push(results);
  }
  clock.advance(finalStepNs);
  await checkState(client, model, clock.now());
  return {
    accountResults: accountResults.map(({ status, timestamp }) => ({ status, timestamp })),
    transferResults,
    model,
  };
}

interface Dump {
  accounts: Account[];
  transfers: Transfer[];
  balances: AccountBalance[][];
  queried: Transfer[];
}

async function dumpState(client: EmbeddedClient, model: Model): Promise<Dump> {
  const accounts = await client.lookupAccounts(model.accounts.map((account) => account.id));
  const transfers = await client.lookupTransfers(model.submittedIds);
  const balances: AccountBalance[][] = [];
  for (const account of accounts) {
    if (!hasFlag(account.flags, AccountFlags.history)) {
      continue;
    }
    balances.push(await client.getAccountBalances(accountFilterAll(account.id)));
  }
  const queried = await client.queryTransfers(queryAll(0));
  return { accounts, transfers, balances, queried };
}

/** Resolves every transfer that is still pending with a full post (a new id each). */
function postEverything(dump: Dump, firstId: bigint): Transfer[] {
  const resolved = new Set(
    dump.transfers
      .filter(
        (t) =>
          hasFlag(t.flags, TransferFlags.post_pending_transfer) ||
          hasFlag(t.flags, TransferFlags.void_pending_transfer),
      )
      .map((t) => t.pending_id),
  );
  return dump.transfers
    .filter((t) => hasFlag(t.flags, TransferFlags.pending) && !resolved.has(t.id))
    .map((t, index) =>
      transferOf({
        id: firstId + BigInt(index),
        pending_id: t.id,
        amount: amount_max,
        flags: TransferFlags.post_pending_transfer,
      }),
    );
}

function timestampMaxOf(dump: Dump): bigint {
  let max = 0n;
  for (const object of [...dump.accounts, ...dump.transfers]) {
    if (object.timestamp > max) {
      max = object.timestamp;
    }
  }
  return max;
}

describe("ledger engine properties", () => {
  it("keeps every ledger balanced, limits intact and chains atomic (in memory)", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb(20), async (scenario) => {
        const accounts = buildAccounts(scenario.accounts);
        const steps = buildSteps(scenario, accounts);
        const clock = createFakeClock(clockStartNs);
        const client = createEmbeddedClient({ clock: clock.now });
        try {
          await runScenario(client, clock, accounts, steps);
          expect(client.stats()).toMatchObject({ records: 0, fsyncs: 0 });
        } finally {
          await client.close();
        }
      }),
      { numRuns: runsMemory },
    );
  });

  it("replays a journal to the same state, and matches an in-memory run of the same sequence", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb(16), async (scenario) => {
        const accounts = buildAccounts(scenario.accounts);
        const steps = buildSteps(scenario, accounts);
        const directory = await mkdtemp(join(tmpdir(), "ledger-properties-"));
        const dataFile = join(directory, "ledger.journal");
        const memoryClock = createFakeClock(clockStartNs);
        const journalClock = createFakeClock(clockStartNs);
        const clients: EmbeddedClient[] = [];
        const openClient = (options: Parameters<typeof createEmbeddedClient>[0]) => {
          const client = createEmbeddedClient(options);
          clients.push(client);
          return client;
        };
        try {
          const memory = openClient({ clock: memoryClock.now });
          let journal = openClient({ dataFile, clock: journalClock.now });
          const memoryRun = await runScenario(memory, memoryClock, accounts, steps);
          const journalRun = await runScenario(journal, journalClock, accounts, steps);
          expect(journalRun.accountResults).toEqual(memoryRun.accountResults);
          expect(journalRun.transferResults).toEqual(memoryRun.transferResults);

          const memoryDump = await dumpState(memory, memoryRun.model);
          const before = await dumpState(journal, journalRun.model);
          expect(before).toEqual(memoryDump);

          await journal.close();
          journal = openClient({ dataFile, clock: journalClock.now });
          const after = await dumpState(journal, journalRun.model);
          expect(after).toEqual(before);

          // The reopened engine carries on: new timestamps exceed every stored one, and pending
          // transfers that outlived the reopen resolve (or expire) exactly as in memory.
          const timestampMax = timestampMaxOf(after);
          const firstId = 100_000n;
          const postsNow = postEverything(after, firstId).filter((post) =>
            after.transfers.some((t) => t.id === post.pending_id && t.timeout === 0),
          );
          const journalNow = await journal.createTransfers(postsNow);
          const memoryNow = await memory.createTransfers(postsNow);
          expect(journalNow.map((r) => r.status)).toEqual(memoryNow.map((r) => r.status));
          for (const result of journalNow) {
            expect(result.timestamp > timestampMax).toBe(true);
          }

          memoryClock.advance(100n * nsPerSecond);
          journalClock.advance(100n * nsPerSecond);
          const afterNow = await dumpState(journal, journalRun.model);
          const postsLater = postEverything(afterNow, firstId + 10_000n).filter((post) =>
            afterNow.transfers.some((t) => t.id === post.pending_id && t.timeout > 0),
          );
          const journalLater = await journal.createTransfers(postsLater);
          const memoryLater = await memory.createTransfers(postsLater);
          expect(journalLater.map((r) => r.status)).toEqual(memoryLater.map((r) => r.status));
          for (const result of journalLater) {
            expect(result.status).toBe(CreateTransferStatus.pending_transfer_expired);
          }
          const ids = accounts.map((account) => account.id);
          expect(await journal.lookupAccounts(ids)).toEqual(await memory.lookupAccounts(ids));
        } finally {
          await Promise.allSettled(clients.map((client) => client.close()));
          await rm(directory, { recursive: true, force: true });
        }
      }),
      { numRuns: runsJournal },
    );
  });
});
