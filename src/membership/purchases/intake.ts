/**
 * The first step for purchases, shared by `recordPurchases` and the batches `recordPurchase`
 * coalesces into (purchase-batcher.ts): check each request, recognise retries by external id and
 * request hash, resolve the member and the points and stamps it earns, and commit every new
 * intent row in one statement. Then hand the rows to `postPurchases`. Each request gets its own
 * outcome; one bad request never blocks another. Requests may belong to several orgs: every
 * statement pairs each key with its org, so no row of one org is ever matched for another.
 *
 * Statements for a batch whose org, stamp programs, locations and members are cached: the intent
 * insert (committed on its own: one statement needs no transaction; it re-checks each member's
 * status and tier, which the cache only guesses), then the posting's (purchase-posting.ts).
 * Members seen for the first time cost one lookup for the batch. Existing rows are only looked
 * up when a request could be a retry: its insert lost to an existing row, or its member was
 * refused.
 */
import assert from "node:assert/strict";
import { hash as digestOf, randomUUID } from "node:crypto";
import { and, eq, inArray } from "drizzle-orm";
import type { LedgerDeps, Store } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { failedIntentError } from "../intents/protocol.ts";
import {
  interrupt,
  invalidInput,
  loadOrgLedger,
  nowOf,
  type OrgLedgerContext,
} from "../intents/support.ts";
import type { PurchaseItem, PurchaseOutcome, StampProgram } from "../ledger-types.ts";
import {
  amountMinorMax,
  categoryLengthMax,
  externalIdLengthMax,
  externalRefLengthMax,
  itemQuantityMax,
  memberResolveAttemptsMax,
  occurredAtFutureSkewMsMax,
  purchaseBatchItemsMax,
  purchaseItemsMax,
  skuLengthMax,
} from "../limits.ts";
import { ensureLocation, type LocationRef } from "../orgs/ensure-location.ts";
import { stampProgramsOf } from "../stamp-programs/stamp-cards.ts";
import { type MemberHint, memberKey } from "../store/caches.ts";
import { type DbExecutor, executeStatement } from "../store/db.ts";
import { posTransactions, type StoredItem, type StoredStampGrant } from "../store/schema.ts";
import { parsePurchaseResponse } from "../store/stored-responses.ts";
import { isUuid } from "../validation.ts";
import { type EarningItem, earn } from "./earning.ts";
import {
  buildPurchaseChains,
  type PosTransactionRow,
  type PostedPurchase,
  type PurchaseIntent,
  postPurchases,
  transferIdsOf,
} from "./posting.ts";

export interface PurchaseInput {
  /** The POS's id of the purchase: the idempotency key, unique per org. */
  externalId: string;
  /** The member, by id or by the org's reference (card number); exactly one of the two. */
  memberId?: string;
  memberExternalRef?: string;
  /** In minor units of `currency`, which must be the org's. */
  amountMinor: bigint;
  currency: string;
  /** When the purchase happened; now when absent. */
  occurredAt?: Date;
  /** The org's reference of the store; created on first use. */
  locationRef?: string;
  items?: PurchaseItem[];
}

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

interface Checked {
  orgId: string;
  externalId: string;
  memberId: string | null;
  memberExternalRef: string | null;
  amountMinor: bigint;
  /** The org's, which the request's was checked against. */
  currency: string;
  occurredAt: Date | null;
  locationRef: string | null;
  items: StoredItem[];
  hash: string;
  /** What `hash` was computed from. */
  fields: PurchaseRequestFields;
}

/** A new request whose member was found and whose earnings are computed. */
interface Resolved {
  checked: Checked;
  memberId: string;
  /** The tier multiplier the points were computed with; the insert checks it still holds. */
  multiplierBps: number;
  points: bigint;
  stamps: StoredStampGrant[];
}

type Slot =
  | { state: "error"; error: DomainError }
  | { state: "thrown"; error: unknown }
  | { state: "duplicate"; of: number }
  | { state: "existing"; row: PosTransactionRow }
  | { state: "checked"; checked: Checked }
  /** Refused (member unknown or inactive, ...) unless it turns out to be a retry. */
  | { state: "refused"; checked: Checked; error: DomainError }
  | { state: "resolved"; resolved: Resolved }
  | { state: "ready"; checked: Checked; multiplierBps: number; intent: PurchaseIntent }
  | { state: "inserted"; intent: PurchaseIntent };

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
    await resolveMembers(deps, contexts, slots);
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

/** One-shot SHA-256 (hex): no Hash object per purchase. */
function sha256Hex(text: string): string {
  return digestOf("sha256", text, "hex");
}

function checkPurchase(input: PurchaseInput, context: OrgLedgerContext, now: Date): Checked {
  const { externalId } = input;
  if (externalId.length === 0 || externalId.length > externalIdLengthMax) {
    throw invalidInput("external id length out of range", { field: "externalId" });
  }
  const memberId = input.memberId ?? null;
  const memberExternalRef = input.memberExternalRef ?? null;
  if ((memberId === null) === (memberExternalRef === null)) {
    throw invalidInput("name the member by id or by external ref, not both", {
      field: "memberId",
    });
  }
  if (
    memberExternalRef !== null &&
    (memberExternalRef.length === 0 || memberExternalRef.length > externalRefLengthMax)
  ) {
    throw invalidInput("member external ref length out of range", { field: "memberExternalRef" });
  }
  if (typeof input.amountMinor !== "bigint" || input.amountMinor < 1n) {
    throw invalidInput("amount must be a positive integer", { field: "amountMinor" });
  }
  if (input.amountMinor > amountMinorMax) {
    throw invalidInput("amount too large", {
      field: "amountMinor",
      max: amountMinorMax.toString(),
    });
  }
  if (input.currency !== context.org.currency) {
    throw invalidInput("currency is not the org's", {
      field: "currency",
      expected: context.org.currency,
    });
  }
  const occurredAt = input.occurredAt ?? null;
  if (occurredAt !== null) {
    if (Number.isNaN(occurredAt.getTime())) {
      throw invalidInput("occurredAt is not a date", { field: "occurredAt" });
    }
    if (occurredAt.getTime() > now.getTime() + occurredAtFutureSkewMsMax) {
      throw invalidInput("occurredAt is in the future", { field: "occurredAt" });
    }
  }
  const locationRef = input.locationRef ?? null;
  if (
    locationRef !== null &&
    (locationRef.length === 0 || locationRef.length > externalRefLengthMax)
  ) {
    throw invalidInput("location ref length out of range", { field: "locationRef" });
  }
  const items = checkItems(input.items ?? []);
  const fields: PurchaseRequestFields = {
    externalId,
    memberId,
    memberExternalRef,
    amountMinor: input.amountMinor,
    currency: input.currency,
    occurredAt: occurredAt?.toISOString() ?? null,
    locationRef,
    items,
  };
  const hash = sha256Hex(purchaseRequestText(fields));
  return {
    orgId: context.org.id,
    externalId,
    memberId,
    memberExternalRef,
    amountMinor: input.amountMinor,
    currency: context.org.currency,
    occurredAt,
    locationRef,
    items,
    hash,
    fields,
  };
}

/**
 * Whether a stored purchase was made by the same request. Rows stored before line amounts were
 * hashed (`purchase.v1`) match when the request equals them without its line amounts, so a
 * retry across that upgrade is still a replay.
 */
function sameRequest(row: PosTransactionRow, checked: Checked): boolean {
  if (row.requestHash === checked.hash) {
    return true;
  }
  const legacy = row.items.every((item) => item.amount_minor === undefined);
  return (
    legacy && row.requestHash === sha256Hex(purchaseRequestText(checked.fields, "purchase.v1"))
  );
}

/** The fields of a purchase request that its hash covers. */
export interface PurchaseRequestFields {
  externalId: string;
  memberId: string | null;
  memberExternalRef: string | null;
  amountMinor: bigint;
  currency: string;
  /** ISO 8601 (`toISOString`), or null. */
  occurredAt: string | null;
  locationRef: string | null;
  items: readonly StoredItem[];
}

/**
 * The canonical text of a purchase request, written out directly: byte for byte what
 * `canonicalJson` makes of the request object (keys sorted at every level, the amount as a
 * decimal string), which is what stored hashes were computed from, at a fraction of the cost.
 * A test checks the two agree on arbitrary requests.
 */
export function purchaseRequestText(
  fields: PurchaseRequestFields,
  version: "purchase.v1" | "purchase.v2" = "purchase.v2",
): string {
  const text = JSON.stringify;
  // v2 adds each line's amount (every field that changes the outcome or the record is hashed);
  // v1 is what rows written before that were hashed with (see `sameRequest`).
  const v2 = version === "purchase.v2";
  const items = fields.items.map((item) => {
    assert.ok(Number.isSafeInteger(item.quantity), "canonical numbers are safe integers");
    const amount = v2 ? `"amount_minor":${text(item.amount_minor ?? null)},` : "";
    return `{${amount}"category":${text(item.category)},"quantity":${item.quantity},"sku":${text(item.sku)}}`;
  });
  return (
    `{"amount_minor":${text(fields.amountMinor.toString())},"currency":${text(fields.currency)},` +
    `"external_id":${text(fields.externalId)},"items":[${items.join(",")}],` +
    `"kind":${text(version)},"location_ref":${text(fields.locationRef)},` +
    `"member_external_ref":${text(fields.memberExternalRef)},"member_id":${text(fields.memberId)},` +
    `"occurred_at":${text(fields.occurredAt)}}`
  );
}

function checkItems(items: readonly PurchaseItem[]): StoredItem[] {
  if (items.length > purchaseItemsMax) {
    throw invalidInput("too many items", { field: "items", max: purchaseItemsMax });
  }
  return items.map((item, index) => {
    const category = item.category ?? null;
    if (item.sku.length === 0 || item.sku.length > skuLengthMax) {
      throw invalidInput("sku length out of range", { field: `items.${index}.sku` });
    }
    if (category !== null && (category.length === 0 || category.length > categoryLengthMax)) {
      throw invalidInput("category length out of range", { field: `items.${index}.category` });
    }
    if (
      !Number.isSafeInteger(item.quantity) ||
      item.quantity < 1 ||
      item.quantity > itemQuantityMax
    ) {
      throw invalidInput("quantity out of range", { field: `items.${index}.quantity` });
    }
    const amountMinor = item.amountMinor ?? null;
    if (
      amountMinor !== null &&
      (typeof amountMinor !== "bigint" || amountMinor < 0n || amountMinor > amountMinorMax)
    ) {
      throw invalidInput("line amount out of range", { field: `items.${index}.amountMinor` });
    }
    return {
      sku: item.sku,
      category,
      quantity: item.quantity,
      amount_minor: amountMinor === null ? null : amountMinor.toString(),
    };
  });
}

/** A repeated external id of one org within one batch: the same request is a replay, another
 * a conflict. */
function markDuplicates(slots: Slot[]): void {
  const first = new Map<string, number>();
  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "checked") {
      continue;
    }
    const key = documentKey(slot.checked);
    const earlier = first.get(key);
    if (earlier === undefined) {
      first.set(key, index);
      continue;
    }
    const original = slots[earlier];
    assert.ok(original?.state === "checked");
    slots[index] =
      original.checked.hash === slot.checked.hash
        ? { state: "duplicate", of: earlier }
        : { state: "error", error: conflict(slot.checked.externalId) };
  }
}

function conflict(externalId: string): DomainError {
  return new DomainError("conflict", "this external id was used for a different purchase", {
    externalId,
  });
}

/** "org:external id": a purchase's idempotency key. */
function documentKey(document: { orgId: string; externalId: string }): string {
  return `${document.orgId}:${document.externalId}`;
}

function locationKey(checked: Checked): string {
  assert.ok(checked.locationRef !== null, "a location key needs a location");
  return `${checked.orgId}:${checked.locationRef}`;
}

/**
 * Looks up the stored purchases of the slots at `indexes` (checked, refused or resolved): the
 * same hash is a retry (`existing`), another is a `conflict`. Refused slots with no stored row
 * keep their refusal; others stay as they are. One statement per org in the batch.
 */
async function findExisting(
  db: DbExecutor,
  slots: Slot[],
  indexes: readonly number[],
): Promise<void> {
  const byOrg = new Map<string, Array<{ index: number; checked: Checked }>>();
  for (const index of indexes) {
    const slot = slots[index];
    const checked = slot === undefined ? undefined : checkedOf(slot);
    assert.ok(checked !== undefined, "only requests still undecided are looked up");
    let group = byOrg.get(checked.orgId);
    if (group === undefined) {
      group = [];
      byOrg.set(checked.orgId, group);
    }
    group.push({ index, checked });
  }
  for (const [orgId, group] of byOrg) {
    const rows = await db
      .select()
      .from(posTransactions)
      .where(
        and(
          eq(posTransactions.orgId, orgId),
          eq(posTransactions.kind, "purchase"),
          inArray(
            posTransactions.externalId,
            group.map((entry) => entry.checked.externalId),
          ),
        ),
      );
    const byExternalId = new Map(rows.map((row) => [row.externalId, row]));
    for (const { index, checked } of group) {
      const row = byExternalId.get(checked.externalId);
      if (row === undefined) {
        const slot = slots[index];
        if (slot?.state === "refused") {
          slots[index] = { state: "error", error: slot.error };
        }
        continue;
      }
      slots[index] = sameRequest(row, checked)
        ? { state: "existing", row }
        : { state: "error", error: conflict(checked.externalId) };
    }
  }
}

function checkedOf(slot: Slot): Checked | undefined {
  switch (slot.state) {
    case "checked":
    case "refused":
    case "ready":
      return slot.checked;
    case "resolved":
      return slot.resolved.checked;
    default:
      return undefined;
  }
}

/**
 * The members of `$1` (a JSON array of {org_id, id, ref}: by id, or by external ref when id is
 * null), each matched within the org it is paired with, with their tier's multiplier.
 */
const memberLookup = `
  with k as (
    select * from jsonb_to_recordset($1::jsonb) as k(org_id uuid, id uuid, ref text)
  )
  select m.id, m.org_id, m.external_ref, m.status, m.ledger_status, t.multiplier_bps
  from k
  join members m on m.org_id = k.org_id and m.id = k.id
  join tiers t on t.org_id = m.org_id and t.id = m.tier_id
  union all
  select m.id, m.org_id, m.external_ref, m.status, m.ledger_status, t.multiplier_bps
  from k
  join members m on m.org_id = k.org_id and m.external_ref = k.ref
  join tiers t on t.org_id = m.org_id and t.id = m.tier_id`;

/** A row of the member lookup, as the driver returns it (a type, so it indexes as a record). */
type MemberMatch = {
  id: string;
  org_id: string;
  external_ref: string;
  status: string;
  ledger_status: string;
  multiplier_bps: number;
};

/** The member a request names, as far as earning is concerned. */
type MemberFacts = MemberHint;

/** "org:id:<id>" or "org:ref:<ref>": how a request names its member, within its org. */
function memberNameKey(request: Checked): string | null {
  if (request.memberId !== null) {
    return isUuid(request.memberId) ? `${request.orgId}:id:${request.memberId}` : null;
  }
  assert.ok(request.memberExternalRef !== null, "a request names its member");
  return `${request.orgId}:ref:${request.memberExternalRef}`;
}

/**
 * Finds the member of every checked request (by id or by external ref, always within the
 * request's org) with their tier's multiplier, and computes what each earns. Members seen active
 * before come from the pool's hints, the others from one statement. A hint is only a guess:
 * the insert re-checks, in the same statement, that the member is still active with that
 * multiplier, and a request whose guess was wrong is resolved again from Postgres.
 */
async function resolveMembers(
  store: Store,
  contexts: ReadonlyMap<string, OrgLedgerContext | DomainError>,
  slots: Slot[],
): Promise<void> {
  const checked = slots.flatMap((slot) => (slot.state === "checked" ? [slot.checked] : []));
  if (checked.length === 0) {
    return;
  }
  const { db } = store;
  const { enrolled, members: known, memberHints } = store.caches;
  const facts = new Map<string, MemberFacts>();
  const keys = new Map<string, { org_id: string; id: string | null; ref: string | null }>();
  for (const request of checked) {
    const key = memberNameKey(request);
    if (key === null || facts.has(key) || keys.has(key)) {
      continue;
    }
    const hint = memberHints.get(key);
    if (hint !== undefined) {
      facts.set(key, hint);
      continue;
    }
    keys.set(key, {
      org_id: request.orgId,
      id: request.memberId,
      ref: request.memberId === null ? request.memberExternalRef : null,
    });
  }
  const found =
    keys.size === 0
      ? []
      : await executeStatement<MemberMatch>(db, memberLookup, JSON.stringify([...keys.values()]));
  for (const member of found) {
    const byId = `${member.org_id}:id:${member.id}`;
    const byRef = `${member.org_id}:ref:${member.external_ref}`;
    assert.ok(keys.has(byId) || keys.has(byRef), "only asked-for members match");
    const memberFacts: MemberFacts = {
      id: member.id,
      orgId: member.org_id,
      externalRef: member.external_ref,
      status: member.status,
      multiplierBps: member.multiplier_bps,
    };
    for (const key of [byId, byRef]) {
      facts.set(key, memberFacts);
      if (member.status === "active") {
        memberHints.set(key, memberFacts);
      } else {
        memberHints.delete(key);
      }
    }
    const key = memberKey(member.org_id, member.id);
    if (!known.has(key)) {
      known.set(key, true);
    }
    if (member.ledger_status === "posted" && !enrolled.has(key)) {
      // Enrollment never goes back to pending: the posting step can skip its check.
      enrolled.set(key, true);
    }
  }

  const programsByOrg = new Map<string, readonly StampProgram[]>();
  for (const orgId of new Set(checked.map((request) => request.orgId))) {
    const programs = await stampProgramsOf(store, orgId);
    programsByOrg.set(
      orgId,
      programs.filter((program) => program.active),
    );
  }

  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "checked") {
      continue;
    }
    const request = slot.checked;
    const key = memberNameKey(request);
    const member = key === null ? undefined : facts.get(key);
    const refuse = (error: DomainError): void => {
      slots[index] = { state: "refused", checked: request, error };
    };
    if (member === undefined) {
      refuse(
        new DomainError("not_found", "member not found", {
          memberId: request.memberId ?? undefined,
          memberExternalRef: request.memberExternalRef ?? undefined,
        }),
      );
      continue;
    }
    assert.equal(member.orgId, request.orgId, "a member is matched within its org only");
    if (member.status !== "active") {
      refuse(
        new DomainError("member_inactive", "member is not active", {
          memberId: member.id,
          status: member.status,
        }),
      );
      continue;
    }
    const context = contexts.get(request.orgId);
    assert.ok(context !== undefined && !(context instanceof DomainError), "org loaded");
    assert.ok(Number.isSafeInteger(member.multiplierBps) && member.multiplierBps > 0);
    const earning = earn({
      purchase: { amountMinor: request.amountMinor, items: earningItems(request.items) },
      tier: { multiplierBps: member.multiplierBps },
      org: {
        baseRatePointsPerUnit: context.org.settings.baseRatePointsPerUnit,
        currencyExponent: context.currencyExponent,
        stampPrograms: programsByOrg.get(request.orgId) ?? [],
      },
    });
    if (earning.kind === "too_large") {
      // A rate this high needs smaller purchases: the caller's to fix.
      refuse(
        invalidInput("amount earns more points than one transfer may carry", {
          field: "amountMinor",
        }),
      );
      continue;
    }
    const points = earning.points;
    const stamps = earning.stamps.map((grant) => ({
      program_id: grant.programId,
      ledger: grant.ledger,
      stamps: grant.stamps.toString(),
    }));
    slots[index] = {
      state: "resolved",
      resolved: {
        checked: request,
        memberId: member.id,
        multiplierBps: member.multiplierBps,
        points,
        stamps,
      },
    };
  }
}

/** The locations the resolved requests name, created on first use; cached per pool. */
async function ensureLocations(
  store: Store,
  slots: readonly Slot[],
): Promise<Map<string, LocationRef>> {
  const { db } = store;
  const { locations, locationNumbers } = store.caches;
  const byKey = new Map<string, LocationRef>();
  for (const slot of slots) {
    if (slot.state !== "resolved" || slot.resolved.checked.locationRef === null) {
      continue;
    }
    const { checked } = slot.resolved;
    const key = locationKey(checked);
    if (byKey.has(key)) {
      continue;
    }
    let location = locations.get(key);
    if (location === undefined) {
      assert.ok(checked.locationRef !== null);
      location = await ensureLocation(db, {
        orgId: checked.orgId,
        externalRef: checked.locationRef,
      });
      locations.set(key, location);
    }
    locationNumbers.set(`${checked.orgId}:${location.id}`, location.number);
    byKey.set(key, location);
  }
  return byKey;
}

/**
 * Builds the intent row of every resolved request, with its chains: the row's `transfer_ids` are
 * the ids of those very chains, and posting uses them as built (purchase-posting.ts).
 */
function prepareIntents(
  contexts: ReadonlyMap<string, OrgLedgerContext | DomainError>,
  slots: Slot[],
  locationsByKey: ReadonlyMap<string, LocationRef>,
  now: Date,
): void {
  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "resolved") {
      continue;
    }
    const { checked, memberId, multiplierBps, points, stamps } = slot.resolved;
    const context = contexts.get(checked.orgId);
    assert.ok(context !== undefined && !(context instanceof DomainError), "org loaded");
    let location: LocationRef | null = null;
    if (checked.locationRef !== null) {
      location = locationsByKey.get(locationKey(checked)) ?? null;
      assert.ok(location !== null, "every named location was ensured");
    }
    const row = {
      id: randomUUID(),
      orgId: checked.orgId,
      memberId,
      externalId: checked.externalId,
      amountMinor: checked.amountMinor,
      points,
      stamps,
    };
    const chains = buildPurchaseChains({
      row,
      pointsLedger: context.pointsLedger,
      locationNumber: location?.number ?? 0,
    });
    slots[index] = {
      state: "ready",
      checked,
      multiplierBps,
      intent: {
        id: row.id,
        orgId: row.orgId,
        memberId: row.memberId,
        externalId: row.externalId,
        amountMinor: row.amountMinor,
        points: row.points,
        stamps: row.stamps,
        kind: "purchase",
        currency: checked.currency,
        occurredAt: checked.occurredAt ?? now,
        locationId: location?.id ?? null,
        status: "pending",
        transferIds: transferIdsOf(chains),
        chains,
      },
    };
  }
}

/**
 * Inserts the intents of `$1` (a JSON array of rows; amounts as decimal strings) whose member is,
 * at this instant, still active in the row's org, still named by the ref the request used (when
 * it used one), and still in a tier with the multiplier the points were computed with; skips any
 * whose external id the org already used. Returns the ids of the rows inserted.
 */
const intentInsert = `
  insert into pos_transactions (id, org_id, member_id, kind, external_id, request_hash,
    amount_minor, currency, occurred_at, location_id, items, points, stamps, status,
    transfer_ids)
  select r.id, r.org_id, r.member_id, 'purchase', r.external_id, r.request_hash,
    r.amount_minor, r.currency, r.occurred_at, r.location_id, r.items, r.points, r.stamps,
    'pending', r.transfer_ids
  from jsonb_to_recordset($1::jsonb) as r(id uuid, org_id uuid, member_id uuid,
    external_id text, request_hash text, amount_minor bigint, currency text,
    occurred_at timestamptz, location_id uuid, items jsonb, points bigint, stamps jsonb,
    transfer_ids text[], multiplier_bps int, member_ref text)
  where exists (
    select 1 from members m
    join tiers t on t.org_id = m.org_id and t.id = m.tier_id
    where m.org_id = r.org_id and m.id = r.member_id and m.status = 'active'
      and t.multiplier_bps = r.multiplier_bps
      and (r.member_ref is null or m.external_ref = r.member_ref)
  )
  on conflict (org_id, kind, external_id) do nothing
  returning id`;

/**
 * Commits every new intent in one statement (so in one implicit transaction), rows in a fixed
 * order so that two batches racing on the same external ids wait on each other rather than
 * deadlock. A row not inserted either lost the unique index to an existing row (a retry, a
 * concurrent request with the same external id: read back and treated like any existing row) or
 * found its member changed since it was resolved: those are returned, to be resolved again.
 */
async function insertIntents(store: Store, slots: Slot[]): Promise<number[]> {
  const { db } = store;
  const ready = slots.flatMap((slot, index) => (slot.state === "ready" ? [{ slot, index }] : []));
  if (ready.length === 0) {
    return [];
  }
  // Sorted by (org, external id): the order the unique index locks them in, in every batch.
  const sorted = ready
    .map((entry) => {
      assert.ok(entry.slot.state === "ready");
      return { ready: entry.slot, key: documentKey(entry.slot.intent) };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const rows = sorted.map(({ ready: { intent, checked, multiplierBps } }) => ({
    id: intent.id,
    org_id: intent.orgId,
    member_id: intent.memberId,
    external_id: intent.externalId,
    request_hash: checked.hash,
    amount_minor: intent.amountMinor.toString(),
    currency: intent.currency,
    occurred_at: intent.occurredAt.toISOString(),
    location_id: intent.locationId,
    items: checked.items,
    points: intent.points.toString(),
    stamps: intent.stamps,
    transfer_ids: intent.transferIds,
    multiplier_bps: multiplierBps,
    member_ref: checked.memberId === null ? checked.memberExternalRef : null,
  }));
  const inserted = await executeStatement<{ id: string }>(db, intentInsert, JSON.stringify(rows));
  const insertedIds = new Set(inserted.map((row) => row.id));
  assert.ok(insertedIds.size <= ready.length, "only our rows come back");
  const lost: number[] = [];
  for (const { slot, index } of ready) {
    assert.ok(slot.state === "ready");
    if (insertedIds.has(slot.intent.id)) {
      slots[index] = { state: "inserted", intent: slot.intent };
    } else {
      lost.push(index);
    }
  }
  if (lost.length === 0) {
    return [];
  }
  await findExisting(db, slots, lost);
  // Still ready: no row holds the external id, so the member changed under the request.
  const changed = lost.filter((index) => slots[index]?.state === "ready");
  const { memberHints } = store.caches;
  for (const index of changed) {
    const slot = slots[index];
    assert.ok(slot?.state === "ready");
    const key = memberNameKey(slot.checked);
    if (key !== null) {
      memberHints.delete(key);
    }
    slots[index] = { state: "checked", checked: slot.checked };
  }
  return changed;
}

const noItems: readonly EarningItem[] = Object.freeze([]);

/** The stored items as earning reads them (amounts back to bigint). */
function earningItems(items: readonly StoredItem[]): readonly EarningItem[] {
  if (items.length === 0) {
    return noItems;
  }
  return items.map((item) => ({
    sku: item.sku,
    category: item.category,
    quantity: item.quantity,
    amountMinor:
      item.amount_minor === undefined || item.amount_minor === null
        ? null
        : BigInt(item.amount_minor),
  }));
}
