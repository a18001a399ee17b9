/**
 * The first step for purchases, shared by `recordPurchases` and the batches `recordPurchase`
 * coalesces into (batcher.ts): check each request, recognise retries by external id and
 * request hash, resolve the member and the points and stamps it earns, and commit every new
 * intent row in one statement. Then hand the rows to `postPurchases`. Each request gets its own
 * outcome; one bad request never blocks another. Requests may belong to several orgs: every
 * statement pairs each key with its org, so no row of one org is ever matched for another.
 *
 * Statements for a batch whose org, stamp programs, locations and members are cached: the intent
 * insert (committed on its own: one statement needs no transaction; it re-checks each member's
 * status and tier, which the cache only guesses), then the posting's (posting.ts).
 * Members seen for the first time cost one lookup for the batch. Existing rows are only looked
 * up when a request could be a retry: its insert lost to an existing row, or its member was
 * refused.
 *
 * This file runs the steps; each step lives beside it: intake-check.ts (checks, request hash,
 * duplicates, and the `Slot` each request moves through), intake-members.ts (members, earnings),
 * intake-locations.ts (locations) and intake-intents.ts (existing rows, building and inserting
 * intents).
 */
import assert from "node:assert/strict";
import type { LedgerDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { failedIntentError } from "../intents/protocol.ts";
import { interrupt, loadOrgLedger, nowOf, type OrgLedgerContext } from "../intents/support.ts";
import type { PurchaseOutcome } from "../ledger-types.ts";
import { memberResolveAttemptsMax, purchaseBatchItemsMax } from "../limits.ts";
import { parsePurchaseResponse } from "../store/stored-responses.ts";
import { checkPurchase, markDuplicates, type PurchaseInput, type Slot } from "./intake-check.ts";
import { findExisting, insertIntents, prepareIntents } from "./intake-intents.ts";
import { ensureLocations, locationKey } from "./intake-locations.ts";
import { resolveMembers } from "./intake-members.ts";
import { type PostedPurchase, postPurchases } from "./posting.ts";

export type { PurchaseInput } from "./intake-check.ts";

/** One purchase of one org, as a batch carries it. */
export interface PurchaseRequest {
  orgId: string;
  input: PurchaseInput;
}

export type IntakeResult =
  | {
      status: "created" | "replayed";
      externalId: string;
      memberId: string;
      outcome: PurchaseOutcome;
    }
  | { status: "error"; externalId: string; error: DomainError }
  /** Not a business outcome: checking this request threw (a malformed input object, a bug). */
  | { status: "thrown"; externalId: string; error: unknown };

/**
 * Records up to `purchaseBatchItemsMax` purchases of one org; one result per input, in order.
 * An unknown org throws `not_found` (the caller's own org; nothing else is checked per batch).
 */
export async function intakePurchases(
  deps: LedgerDeps,
  orgId: string,
  inputs: readonly PurchaseInput[],
): Promise<IntakeResult[]> {
  assert.ok(inputs.length <= purchaseBatchItemsMax, "batch size checked by the caller");
  await loadOrgLedger(deps, orgId);
  return intakePurchaseRequests(
    deps,
    inputs.map((input) => ({ orgId, input })),
    { thrownFailsBatch: true },
  );
}

/**
 * Records up to `purchaseBatchItemsMax` purchases of any orgs; one result per request, in order.
 * An unknown org is each of its requests' `not_found`. Throws only when a dependency fails (or
 * the test seam stops it), and then for every request: nothing of the batch is acknowledged.
 */
export async function intakePurchaseRequests(
  deps: LedgerDeps,
  requests: readonly PurchaseRequest[],
  options: IntakeOptions,
): Promise<IntakeResult[]> {
  const staged = await stagePurchaseRequests(deps, requests, options);
  return staged.complete();
}

/**
 * A batch whose intents are committed (the first step of the protocol), not yet posted:
 * `complete` posts them, marks them and gives one result per request, in order. Call it once.
 */
export interface StagedPurchases {
  complete(): Promise<IntakeResult[]>;
}

export interface IntakeOptions {
  /**
   * True: a request whose check throws (not a DomainError) fails the whole call before
   * anything is written, as one caller's batch should. False: only that request's result is
   * `thrown`, as requests of different callers coalesced into one batch should.
   */
  thrownFailsBatch: boolean;
}

/**
 * The first half of `intakePurchaseRequests`: checks every request and commits the new intents.
 * The batcher starts the next batch's first half while this one's second half runs.
 */
export async function stagePurchaseRequests(
  deps: LedgerDeps,
  requests: readonly PurchaseRequest[],
  options: IntakeOptions,
): Promise<StagedPurchases> {
  assert.ok(requests.length <= purchaseBatchItemsMax, "batch within its bound");
  const { db } = deps;
  const contexts = new Map<string, OrgLedgerContext | DomainError>();
  for (const orgId of new Set(requests.map((request) => request.orgId))) {
    try {
      contexts.set(orgId, await loadOrgLedger(deps, orgId));
    } catch (error) {
      if (!(error instanceof DomainError)) {
        throw error;
      }
      contexts.set(orgId, error);
    }
  }
  const now = nowOf(deps);
  const slots: Slot[] = requests.map((request) => {
    const context = contexts.get(request.orgId);
    assert.ok(context !== undefined, "every org was loaded");
    if (context instanceof DomainError) {
      return { state: "error", error: context };
    }
    try {
      return { state: "checked", checked: checkPurchase(request.input, context, now) };
    } catch (error) {
      return error instanceof DomainError ? { state: "error", error } : { state: "thrown", error };
    }
  });
  if (options.thrownFailsBatch) {
    for (const slot of slots) {
      if (slot.state === "thrown") {
        throw slot.error;
      }
    }
  }
  markDuplicates(slots);
  // Bounded: a request goes round again only when its member changed between being resolved and
  // being inserted, which takes a concurrent suspension or tier change each time.
  for (let attempt = 1; ; attempt += 1) {
    await resolveMembers(deps, contexts, slots, now);
    // A refused request may be a retry of one that succeeded (its member since suspended, say),
    // and a request that would create a location must not, if it is a retry or a conflict: look
    // those up first. The common new purchase at a known store needs no lookup.
    const locationNeeded = (slot: Slot): boolean =>
      slot.state === "resolved" &&
      slot.resolved.checked.locationRef !== null &&
      !deps.caches.locations.has(locationKey(slot.resolved.checked));
    const lookups = slots.flatMap((slot, index) =>
      slot.state === "refused" || locationNeeded(slot) ? [index] : [],
    );
    await findExisting(db, slots, lookups);
    const locationsByKey = await ensureLocations(deps, slots);
    prepareIntents(contexts, slots, locationsByKey, now);
    const changed = await insertIntents(deps, slots);
    if (changed.length === 0) {
      break;
    }
    if (attempt >= memberResolveAttemptsMax) {
      for (const index of changed) {
        const slot = slots[index];
        assert.ok(slot?.state === "checked");
        slots[index] = {
          state: "error",
          error: new DomainError("conflict", "the member changed while the purchase was recorded", {
            externalId: slot.checked.externalId,
            retry: true,
          }),
        };
      }
      break;
    }
  }

  let completed = false;
  return {
    async complete() {
      assert.ok(!completed, "a staged batch completes once");
      completed = true;
      const inserted = slots.flatMap((slot) => (slot.state === "inserted" ? [slot.intent] : []));
      for (const intent of inserted) {
        await interrupt(deps, "after_intent", { table: "pos_transactions", id: intent.id });
      }
      // Existing rows still pending belong to an earlier attempt that stopped half way (or is
      // still running): posting them again is safe, and the caller gets the real outcome.
      const pendingExisting = slots.flatMap((slot) =>
        slot.state === "existing" && slot.row.status === "pending" ? [slot.row] : [],
      );
      const outcomes = await postPurchases(deps, [...inserted, ...pendingExisting]);

      const results: IntakeResult[] = [];
      for (const [index, slot] of slots.entries()) {
        const externalId = requests[index]?.input.externalId ?? "";
        results.push(resultOf(slot, externalId, results, outcomes));
      }
      return results;
    },
  };
}

function resultOf(
  slot: Slot,
  externalId: string,
  earlier: readonly IntakeResult[],
  outcomes: Map<string, PostedPurchase>,
): IntakeResult {
  switch (slot.state) {
    case "error":
      return { status: "error", externalId, error: slot.error };
    case "thrown":
      return { status: "thrown", externalId, error: slot.error };
    case "duplicate": {
      const first = earlier[slot.of];
      assert.ok(first !== undefined, "a duplicate follows its first occurrence");
      return first.status === "created" ? { ...first, status: "replayed" } : first;
    }
    case "existing": {
      const { row } = slot;
      if (row.status === "failed") {
        return { status: "error", externalId, error: failedIntentError("purchase", row) };
      }
      const outcome =
        row.status === "posted" ? parsePurchaseResponse(row.response) : outcomes.get(row.id);
      assert.ok(outcome !== undefined, "an existing purchase has an outcome");
      if (outcome instanceof DomainError) {
        return { status: "error", externalId, error: outcome };
      }
      return { status: "replayed", externalId, memberId: row.memberId, outcome };
    }
    case "inserted": {
      const outcome = outcomes.get(slot.intent.id);
      assert.ok(outcome !== undefined, "an inserted purchase was posted");
      if (outcome instanceof DomainError) {
        return { status: "error", externalId, error: outcome };
      }
      return { status: "created", externalId, memberId: slot.intent.memberId, outcome };
    }
    case "checked":
    case "refused":
    case "resolved":
    case "ready":
      return assert.fail(`slot left in state ${slot.state}`);
  }
}
