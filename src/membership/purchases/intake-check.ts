/**
 * Checking purchase requests and recognising repeats: the shape of a request as intake carries
 * it (`Checked`, and the `Slot` each request moves through), the checks that turn an input into
 * a `Checked` request, its canonical text and hash, and how a repeated external id is told apart
 * (the same request is a replay, another a `conflict`).
 */
import assert from "node:assert/strict";
import { hash as digestOf } from "node:crypto";
import { DomainError } from "../errors.ts";
import { invalidInput, type OrgLedgerContext } from "../intents/support.ts";
import type { PurchaseItem } from "../ledger-types.ts";
import {
  amountMinorMax,
  categoryLengthMax,
  externalIdLengthMax,
  externalRefLengthMax,
  itemQuantityMax,
  occurredAtFutureSkewMsMax,
  occurredAtMsMin,
  purchaseItemsMax,
  skuLengthMax,
} from "../limits.ts";
import type { StoredItem, StoredStampGrant } from "../store/schema.ts";
import type { EarningItem, EarningLine } from "./earning.ts";
import type { StoredEarning } from "./entries.ts";
import type { PosTransactionRow, PurchaseIntent } from "./posting.ts";

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

export interface Checked {
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
export interface Resolved {
  checked: Checked;
  memberId: string;
  /** The tier multiplier the points were computed with; the insert checks it still holds. */
  multiplierBps: number;
  points: bigint;
  /** How `points` came about, entry by entry (earning.ts), before caps. */
  breakdown: EarningLine[];
  /** The entries as the row stores them; null when the base is all there is (no caps). */
  earning: StoredEarning | null;
  stamps: StoredStampGrant[];
}

export type Slot =
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

/** One-shot SHA-256 (hex): no Hash object per purchase. */
function sha256Hex(text: string): string {
  return digestOf("sha256", text, "hex");
}

export function checkPurchase(input: PurchaseInput, context: OrgLedgerContext, now: Date): Checked {
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
    if (occurredAt.getTime() < occurredAtMsMin) {
      throw invalidInput("occurredAt is before 1970", { field: "occurredAt" });
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
  // Lines are part of the purchase: together they cannot exceed it (the rest, when they add up
  // to less, is what the till did not itemise; it earns the base rate only).
  const itemized = (input.items ?? []).reduce((sum, item) => sum + (item.amountMinor ?? 0n), 0n);
  if (itemized > input.amountMinor) {
    throw invalidInput("the items' amounts add up to more than the purchase amount", {
      field: "items",
      itemized: itemized.toString(),
      amount: input.amountMinor.toString(),
    });
  }
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
export function sameRequest(row: PosTransactionRow, checked: Checked): boolean {
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
export function markDuplicates(slots: Slot[]): void {
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

export function conflict(externalId: string): DomainError {
  return new DomainError("conflict", "this external id was used for a different purchase", {
    externalId,
  });
}

/** "org:external id": a purchase's idempotency key. */
export function documentKey(document: { orgId: string; externalId: string }): string {
  return `${document.orgId}:${document.externalId}`;
}

export function checkedOf(slot: Slot): Checked | undefined {
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

const noItems: readonly EarningItem[] = Object.freeze([]);

/** The stored items as earning reads them (amounts back to bigint). */
export function earningItems(items: readonly StoredItem[]): readonly EarningItem[] {
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
