/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `<webhook-id>.<webhook-timestamp>.<raw body>` with the key handed out as `whsec_<base64 key>`,
 * sent as `webhook-signature: v1,<base64 digest>`.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

export function webhookSignature(
  key: Buffer,
  eventId: string,
  timestampSeconds: number,
  body: string,
): string {
  assert.ok(Number.isInteger(timestampSeconds) && timestampSeconds > 0, "unix seconds");
  assert.ok(!eventId.includes("."), "an event id has no dot (it separates the signed parts)");
  const digest = createHmac("sha256", key)
    .update(`${eventId}.${timestampSeconds}.${body}`, "utf8")
    .digest("base64");
  return `v1,${digest}`;
}

export function signedHeaders(
  key: Buffer,
  eventId: string,
  now: Date,
  body: string,
): SignedHeaders {
  const timestampSeconds = Math.floor(now.getTime() / 1000);
  return {
    "webhook-id": eventId,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": webhookSignature(key, eventId, timestampSeconds, body),
  };
}
