/**
 * The inbox's domain values: an event as accepted (`POST /v1/events`), as a worker reads it, and
 * as its sender reads it back. Payloads stay in the snake_case wire form they were validated in.
 */
import type { Canonical } from "../intents/support.ts";
import type { OutboxPayload } from "../store/outbox.ts";
import type { inboxEventStatus, inboxEventType } from "../store/schema.ts";

export type InboxEventType = (typeof inboxEventType.enumValues)[number];
export type InboxEventStatus = (typeof inboxEventStatus.enumValues)[number];

/** A JSON object as validated at the edge: integers, strings, booleans, nulls, nested. */
export type InboxPayload = { [key: string]: Canonical };

/** One event as sent, validated by the edge. */
export interface InboxEventInput {
  /** The sender's id: the idempotency key, unique per org. */
  eventId: string;
  eventType: InboxEventType;
  occurredAt: Date;
  /** The org's reference of the store. */
  location: string | null;
  /** Exactly one of the two names the member. */
  memberId: string | null;
  memberExternalRef: string | null;
  payload: InboxPayload;
}

/** A queued event as a worker reads it. */
export interface QueuedInboxEvent extends InboxEventInput {
  /** Its place in the org's order (decimal string of the bigint sequence value). */
  seq: string;
}

/** Why an event failed: a domain error code (or `internal_error`) and its message. */
export interface InboxEventError {
  code: string;
  message: string;
}

/** A use case's outcome as stored and announced: snake_case JSON, amounts as decimal strings. */
export type InboxEventResult = OutboxPayload;

/** What processing one event ended in. */
export type InboxEventOutcome =
  | { seq: string; eventId: string; status: "processed"; result: InboxEventResult }
  | { seq: string; eventId: string; status: "failed"; error: InboxEventError };

/** An event as its sender reads it back. */
export interface InboxEvent {
  eventId: string;
  eventType: InboxEventType;
  status: InboxEventStatus;
  result: Record<string, unknown> | null;
  error: InboxEventError | null;
  receivedAt: Date;
  processedAt: Date | null;
}

export interface AcceptEventsResult {
  /** Event ids stored now or before with the same body, in request order. */
  accepted: string[];
  /** Event ids stored before with a different body: refused, the stored event is kept. */
  conflicting: string[];
  /** How many rows this call inserted (0 when every event was a resend). */
  inserted: number;
}
