/**
 * From an inbox event (envelope + payload in the wire form the edge validated) to the input of
 * the synchronous use case it stands for. The edge's zod schemas are the contract; this only
 * reads what they let through, and asserts the shape, since a stored payload that does not fit
 * is a bug (or a row written by hand), not a sender's mistake.
 */
import assert from "node:assert/strict";
import type {
  InboxPayload,
  MemberPatch,
  PurchaseInput,
  QueuedInboxEvent,
} from "../../membership/index.ts";

/** A `pos.transaction` event as a purchase: the envelope carries the member and the time. */
export function purchaseOf(event: QueuedInboxEvent): PurchaseInput {
  assert.equal(event.eventType, "pos.transaction");
  const { payload } = event;
  const items = payload.items;
  return {
    externalId: text(payload, "external_id"),
    memberId: event.memberId ?? undefined,
    memberExternalRef: event.memberExternalRef ?? undefined,
    amountMinor: BigInt(integer(payload, "amount")),
    currency: text(payload, "currency"),
    occurredAt: event.occurredAt,
    locationRef: event.location ?? undefined,
    items:
      items === undefined
        ? undefined
        : array(items).map((item) => {
            const line = object(item);
            const category = line.category;
            return {
              sku: text(line, "sku"),
              category: category === undefined ? null : text(line, "category"),
              quantity: integer(line, "quantity"),
              amountMinor: BigInt(integer(line, "amount")),
            };
          }),
  };
}

export interface RefundOf {
  purchaseExternalId: string;
  externalId: string;
  amountMinor: bigint;
}

/** A `pos.refund` event as a refund of the purchase it names. */
export function refundOf(event: QueuedInboxEvent): RefundOf {
  assert.equal(event.eventType, "pos.refund");
  return {
    purchaseExternalId: text(event.payload, "purchase_external_id"),
    externalId: text(event.payload, "external_id"),
    amountMinor: BigInt(integer(event.payload, "amount")),
  };
}

/** A `customer.updated` event as a member patch: absent fields unchanged, null clears. */
export function memberPatchOf(event: QueuedInboxEvent): MemberPatch {
  assert.equal(event.eventType, "customer.updated");
  const patch: MemberPatch = {};
  const fields = [
    ["email", "email"],
    ["phone", "phone"],
    ["first_name", "firstName"],
    ["last_name", "lastName"],
  ] as const;
  for (const [wire, domain] of fields) {
    const value = event.payload[wire];
    if (value !== undefined) {
      assert.ok(value === null || typeof value === "string", `${wire} is a string or null`);
      patch[domain] = value;
    }
  }
  assert.equal(Object.keys(event.payload).length, Object.keys(patch).length, "profile fields only");
  return patch;
}

function text(payload: InboxPayload, field: string): string {
  const value = payload[field];
  assert.ok(typeof value === "string", `${field} is a string`);
  return value;
}

function integer(payload: InboxPayload, field: string): number {
  const value = payload[field];
  assert.ok(typeof value === "number" && Number.isSafeInteger(value), `${field} is an integer`);
  return value;
}

function array(value: InboxPayload[string]): InboxPayload[string][] {
  assert.ok(Array.isArray(value), "an array");
  return value;
}

function object(value: InboxPayload[string] | undefined): InboxPayload {
  assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), "an object");
  return value as InboxPayload;
}
