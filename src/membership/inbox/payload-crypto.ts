/**
 * Personal data in the inbox: a `customer.updated` event carries a member's e-mail, phone and
 * names, which Postgres keeps encrypted everywhere else. Its payload is stored as
 * `{"encrypted": "<base64 AES-256-GCM>"}` under the field key, bound to the org and the event id,
 * and opened only by the worker that applies it. Other event types carry no personal data and
 * are stored as sent. A payload stored before this existed (plain) is read as it is.
 */
import assert from "node:assert/strict";
import type { MembershipSecrets } from "../deps.ts";
import { createFieldCipher } from "../store/crypto.ts";
import type { InboxEventType, InboxPayload } from "./types.ts";

const sealedKey = "encrypted";

function context(orgId: string, eventId: string): string {
  return `inbox_events.payload:${orgId}:${eventId}`;
}

/** The payload as stored: sealed when it can carry personal data. */
export function sealPayload(
  secrets: Pick<MembershipSecrets, "piiEncryptionKey">,
  event: { orgId: string; eventId: string; eventType: InboxEventType; payload: InboxPayload },
): InboxPayload {
  if (event.eventType !== "customer.updated") {
    return event.payload;
  }
  const cipher = createFieldCipher(secrets.piiEncryptionKey);
  const sealed = cipher.encrypt(JSON.stringify(event.payload), context(event.orgId, event.eventId));
  return { [sealedKey]: sealed.toString("base64") };
}

/** The payload as sent, from the stored one. */
export function openPayload(
  secrets: Pick<MembershipSecrets, "piiEncryptionKey">,
  event: { orgId: string; eventId: string; eventType: InboxEventType; payload: InboxPayload },
): InboxPayload {
  const sealed = event.payload[sealedKey];
  if (event.eventType !== "customer.updated" || typeof sealed !== "string") {
    return event.payload;
  }
  assert.equal(Object.keys(event.payload).length, 1, "a sealed payload holds its ciphertext only");
  const cipher = createFieldCipher(secrets.piiEncryptionKey);
  const text = cipher.decrypt(Buffer.from(sealed, "base64"), context(event.orgId, event.eventId));
  return JSON.parse(text) as InboxPayload;
}
