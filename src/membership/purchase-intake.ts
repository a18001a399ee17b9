/**
 * The first step for purchases, shared by `recordPurchase` and `recordPurchases`: check each
 * request, recognise retries by external id and request hash, resolve the member and the points
 * and stamps it earns, and commit every new intent row in one transaction. Then hand the rows to
 * `postPurchases`. Each request gets its own outcome; one bad request never blocks another.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { and, eq, inArray, or, type SQL } from "drizzle-orm";
import { currencyExponent, pointsForPurchase, pointsPerTransferMax } from "../ledger/index.ts";
import type { LedgerDeps } from "./deps.ts";
import { ensureLocation, type LocationRef } from "./ensure-location.ts";
import { DomainError } from "./errors.ts";
import {
  interrupt,
  invalidInput,
  loadOrgLedger,
  nowOf,
  type OrgLedgerContext,
  requestHash,
} from "./ledger-support.ts";
import type { PurchaseItem, PurchaseOutcome, StampProgram } from "./ledger-types.ts";
import {
  amountMinorMax,
  categoryLengthMax,
  externalIdLengthMax,
  externalRefLengthMax,
  itemQuantityMax,
  occurredAtFutureSkewMsMax,
  purchaseBatchItemsMax,
  purchaseItemsMax,
  skuLengthMax,
  stampProgramsPerOrgMax,
} from "./limits.ts";
import { type PosTransactionRow, postPurchases, purchaseTransferIds } from "./purchase-posting.ts";
import {
  members,
  posTransactions,
  type StoredItem,
  type StoredStampGrant,
  stampPrograms,
  tiers,
} from "./schema.ts";
import { toStampProgram } from "./stamp-cards.ts";
import { parsePurchaseResponse } from "./stored-responses.ts";
import { isUuid } from "./validation.ts";

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

export type IntakeResult =
  | {
      status: "created" | "replayed";
      externalId: string;
      memberId: string;
      outcome: PurchaseOutcome;
    }
  | { status: "error"; externalId: string; error: DomainError };

interface Checked {
  externalId: string;
  memberId: string | null;
  memberExternalRef: string | null;
  amountMinor: bigint;
  occurredAt: Date | null;
  locationRef: string | null;
  items: StoredItem[];
  hash: string;
}

type Slot =
  | { state: "error"; error: DomainError }
  | { state: "duplicate"; of: number }
  | { state: "existing"; row: PosTransactionRow }
  | { state: "checked"; checked: Checked }
  | { state: "ready"; checked: Checked; row: typeof posTransactions.$inferInsert & { id: string } }
  | { state: "inserted"; row: PosTransactionRow };

/** Rows per insert statement: ~17 parameters each, well below Postgres's 65,535. */
const intentRowsPerInsertMax = 1_000;

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
  const context = await loadOrgLedger(deps.db, orgId);
  const now = nowOf(deps);
  const slots: Slot[] = inputs.map((input) => {
    try {
      return { state: "checked", checked: checkPurchase(input, context, now) };
    } catch (error) {
      if (error instanceof DomainError) {
        return { state: "error", error };
      }
      throw error;
    }
  });
  markDuplicates(slots);
  await findExisting(deps, context, slots);
  await prepareNew(deps, context, slots);
  await insertIntents(deps, context, slots);

  const inserted = slots.flatMap((slot) => (slot.state === "inserted" ? [slot.row] : []));
  for (const row of inserted) {
    await interrupt(deps, "after_intent", { table: "pos_transactions", id: row.id });
  }
  // Existing rows still pending belong to an earlier attempt that stopped half way (or is still
  // running): posting them again is safe, and the caller gets the real outcome, not a guess.
  const pendingExisting = slots.flatMap((slot) =>
    slot.state === "existing" && slot.row.status === "pending" ? [slot.row] : [],
  );
  const outcomes = await postPurchases(deps, [...inserted, ...pendingExisting]);

  const results: IntakeResult[] = [];
  for (const [index, slot] of slots.entries()) {
    const externalId = inputs[index]?.externalId ?? "";
    results.push(resultOf(slot, externalId, results, outcomes));
  }
  return results;
}

function resultOf(
  slot: Slot,
  externalId: string,
  earlier: readonly IntakeResult[],
  outcomes: Map<string, PurchaseOutcome>,
): IntakeResult {
  switch (slot.state) {
    case "error":
      return { status: "error", externalId, error: slot.error };
    case "duplicate": {
      const first = earlier[slot.of];
      assert.ok(first !== undefined, "a duplicate follows its first occurrence");
      return first.status === "error" ? first : { ...first, status: "replayed" };
    }
    case "existing": {
      const { row } = slot;
      const outcome =
        row.status === "posted" ? parsePurchaseResponse(row.response) : outcomes.get(row.id);
      assert.ok(outcome !== undefined, "an existing purchase has an outcome");
      return { status: "replayed", externalId, memberId: row.memberId, outcome };
    }
    case "inserted": {
      const outcome = outcomes.get(slot.row.id);
      assert.ok(outcome !== undefined, "an inserted purchase was posted");
      return { status: "created", externalId, memberId: slot.row.memberId, outcome };
    }
    case "checked":
    case "ready":
      return assert.fail(`slot left in state ${slot.state}`);
  }
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
  const hash = requestHash({
    kind: "purchase.v1",
    external_id: externalId,
    member_id: memberId,
    member_external_ref: memberExternalRef,
    amount_minor: input.amountMinor,
    currency: input.currency,
    occurred_at: occurredAt?.toISOString() ?? null,
    location_ref: locationRef,
    items: items.map((item) => ({ ...item })),
  });
  return {
    externalId,
    memberId,
    memberExternalRef,
    amountMinor: input.amountMinor,
    occurredAt,
    locationRef,
    items,
    hash,
  };
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
    return { sku: item.sku, category, quantity: item.quantity };
  });
}

/** A repeated external id within one batch: the same request is a replay, another a conflict. */
function markDuplicates(slots: Slot[]): void {
  const first = new Map<string, number>();
  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "checked") {
      continue;
    }
    const earlier = first.get(slot.checked.externalId);
    if (earlier === undefined) {
      first.set(slot.checked.externalId, index);
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

async function findExisting(
  deps: LedgerDeps,
  context: OrgLedgerContext,
  slots: Slot[],
): Promise<void> {
  const externalIds = slots.flatMap((slot) =>
    slot.state === "checked" ? [slot.checked.externalId] : [],
  );
  if (externalIds.length === 0) {
    return;
  }
  const rows = await deps.db
    .select()
    .from(posTransactions)
    .where(
      and(
        eq(posTransactions.orgId, context.org.id),
        eq(posTransactions.kind, "purchase"),
        inArray(posTransactions.externalId, externalIds),
      ),
    );
  const byExternalId = new Map(rows.map((row) => [row.externalId, row]));
  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "checked") {
      continue;
    }
    const row = byExternalId.get(slot.checked.externalId);
    if (row !== undefined) {
      slots[index] =
        row.requestHash === slot.checked.hash
          ? { state: "existing", row }
          : { state: "error", error: conflict(slot.checked.externalId) };
    }
  }
}

/** Resolves members, computes points and stamps, and creates locations, for new requests. */
async function prepareNew(
  deps: LedgerDeps,
  context: OrgLedgerContext,
  slots: Slot[],
): Promise<void> {
  const checked = slots.flatMap((slot) => (slot.state === "checked" ? [slot.checked] : []));
  if (checked.length === 0) {
    return;
  }
  const orgId = context.org.id;
  const ids = [
    ...new Set(checked.flatMap((c) => (c.memberId && isUuid(c.memberId) ? [c.memberId] : []))),
  ];
  const refs = [
    ...new Set(checked.flatMap((c) => (c.memberExternalRef ? [c.memberExternalRef] : []))),
  ];
  const matches: SQL[] = [];
  if (ids.length > 0) {
    matches.push(inArray(members.id, ids));
  }
  if (refs.length > 0) {
    matches.push(inArray(members.externalRef, refs));
  }
  const found =
    matches.length === 0
      ? []
      : await deps.db
          .select({
            id: members.id,
            externalRef: members.externalRef,
            status: members.status,
            multiplierBps: tiers.multiplierBps,
          })
          .from(members)
          .innerJoin(tiers, and(eq(tiers.orgId, members.orgId), eq(tiers.id, members.tierId)))
          .where(and(eq(members.orgId, orgId), or(...matches)));
  const byId = new Map(found.map((member) => [member.id, member]));
  const byRef = new Map(found.map((member) => [member.externalRef, member]));

  const programRows = await deps.db
    .select()
    .from(stampPrograms)
    .where(and(eq(stampPrograms.orgId, orgId), eq(stampPrograms.active, true)))
    .limit(stampProgramsPerOrgMax + 1);
  assert.ok(programRows.length <= stampProgramsPerOrgMax, "stamp programs within their bound");
  const programs = programRows.map(toStampProgram);
  const exponent = currencyExponent(context.org.currency);
  const baseRate = BigInt(context.org.settings.baseRatePointsPerUnit);

  const locationRefs = new Map<string, LocationRef>();
  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "checked") {
      continue;
    }
    const request = slot.checked;
    const member =
      request.memberId !== null
        ? byId.get(request.memberId)
        : byRef.get(request.memberExternalRef ?? "");
    if (member === undefined) {
      slots[index] = {
        state: "error",
        error: new DomainError("not_found", "member not found", {
          memberId: request.memberId ?? undefined,
          memberExternalRef: request.memberExternalRef ?? undefined,
        }),
      };
      continue;
    }
    if (member.status !== "active") {
      slots[index] = {
        state: "error",
        error: new DomainError("member_inactive", "member is not active", {
          memberId: member.id,
          status: member.status,
        }),
      };
      continue;
    }
    const multiplierBps = BigInt(member.multiplierBps);
    // pointsForPurchase asserts its result fits one transfer; an amount that would not is the
    // caller's to fix (a rate this high needs smaller purchases), so it is refused here first.
    const denominator = 10n ** BigInt(exponent) * 10_000n;
    if (
      request.amountMinor * baseRate * multiplierBps >=
      (pointsPerTransferMax + 1n) * denominator
    ) {
      slots[index] = {
        state: "error",
        error: invalidInput("amount earns more points than one transfer may carry", {
          field: "amountMinor",
        }),
      };
      continue;
    }
    const points = pointsForPurchase({
      amountMinor: request.amountMinor,
      currencyExponent: exponent,
      basePointsPerUnit: baseRate,
      multiplierBps,
    });
    const stamps = stampGrants(programs, request.items);
    let location: LocationRef | null = null;
    if (request.locationRef !== null) {
      location = locationRefs.get(request.locationRef) ?? null;
      if (location === null) {
        location = await ensureLocation(deps.db, { orgId, externalRef: request.locationRef });
        locationRefs.set(request.locationRef, location);
      }
    }
    const id = randomUUID();
    slots[index] = {
      state: "ready",
      checked: request,
      row: {
        id,
        orgId,
        memberId: member.id,
        kind: "purchase",
        externalId: request.externalId,
        purchaseId: null,
        requestHash: request.hash,
        amountMinor: request.amountMinor,
        currency: context.org.currency,
        occurredAt: request.occurredAt ?? nowOf(deps),
        locationId: location?.id ?? null,
        items: request.items,
        points,
        stamps,
        status: "pending",
        transferIds: purchaseTransferIds({
          orgId,
          externalId: request.externalId,
          points,
          stamps,
        }),
      },
    };
  }
}

/** Stamps per active program: one per purchase, or one per unit of the program's category. */
function stampGrants(
  programs: readonly StampProgram[],
  items: readonly StoredItem[],
): StoredStampGrant[] {
  const grants: StoredStampGrant[] = [];
  for (const program of programs) {
    let stamps = 0n;
    if (program.matchCategory === null) {
      stamps = 1n;
    } else {
      for (const item of items) {
        if (item.category === program.matchCategory) {
          stamps += BigInt(item.quantity);
        }
      }
    }
    if (stamps > 0n) {
      grants.push({ program_id: program.id, ledger: program.ledger, stamps: stamps.toString() });
    }
  }
  return grants;
}

/**
 * Commits every new intent in one transaction. A row that loses the unique index to a concurrent
 * request with the same external id is read back and treated like any existing row.
 */
async function insertIntents(
  deps: LedgerDeps,
  context: OrgLedgerContext,
  slots: Slot[],
): Promise<void> {
  const ready = slots.flatMap((slot) => (slot.state === "ready" ? [slot.row] : []));
  if (ready.length === 0) {
    return;
  }
  const inserted = await deps.db.transaction(async (tx) => {
    const rows: PosTransactionRow[] = [];
    for (let start = 0; start < ready.length; start += intentRowsPerInsertMax) {
      const chunk = ready.slice(start, start + intentRowsPerInsertMax);
      const returned = await tx
        .insert(posTransactions)
        .values(chunk)
        .onConflictDoNothing({
          target: [posTransactions.orgId, posTransactions.kind, posTransactions.externalId],
        })
        .returning();
      rows.push(...returned);
    }
    return rows;
  });
  const byId = new Map(inserted.map((row) => [row.id, row]));
  const lost: Array<{ index: number; checked: Checked }> = [];
  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "ready") {
      continue;
    }
    const row = byId.get(slot.row.id);
    if (row !== undefined) {
      slots[index] = { state: "inserted", row };
    } else {
      lost.push({ index, checked: slot.checked });
      slots[index] = { state: "checked", checked: slot.checked };
    }
  }
  if (lost.length > 0) {
    await findExisting(deps, context, slots);
    for (const { index } of lost) {
      const slot = slots[index];
      assert.ok(
        slot?.state === "existing" || slot?.state === "error",
        "a lost insert has a winner",
      );
    }
  }
}
