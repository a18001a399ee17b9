import assert from "node:assert/strict";
import { and, eq, inArray } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { invalidInput, requestHash } from "../intents/support.ts";
import { externalIdLengthMax, inboxEventsPerRequestMax } from "../limits.ts";
import { inboxEvents } from "../store/schema.ts";
import type { AcceptEventsResult, InboxEventInput } from "./types.ts";

export interface AcceptEventsInput {
  orgId: string;
  /** 1..`inboxEventsPerRequestMax` events, validated by the edge, event ids distinct. */
  events: readonly InboxEventInput[];
}

/**
 * Stores events in the org's inbox, queued, with one multi-row insert: when this returns, they
 * are durable, and a worker will process them in this order. Idempotent by event id: an event
 * stored before with the same body is accepted again and not stored twice; one stored before
 * with another body is listed as `conflicting` and the stored one is kept (a sender reusing an
 * id for another event is told so, but its other events are not held back). Nothing is checked
 * against members or purchases here: that is the worker's, so the answer never waits on it.
 *
 * Throws `invalid_input` for an empty or oversized list or a repeated event id.
 */
export async function acceptEvents(
  deps: DbDeps,
  input: AcceptEventsInput,
): Promise<AcceptEventsResult> {
  const { orgId, events } = input;
  if (events.length === 0 || events.length > inboxEventsPerRequestMax) {
    throw invalidInput("between 1 and 1,000 events per request", {
      field: "events",
      max: inboxEventsPerRequestMax,
    });
  }
  const seen = new Set<string>();
  for (const [index, event] of events.entries()) {
    if (seen.has(event.eventId)) {
      throw invalidInput("an event id appears twice in the request", {
        field: `events.${index}.event_id`,
      });
    }
    seen.add(event.eventId);
    assertEventShape(event);
  }

  const rows = events.map((event) => ({
    orgId,
    eventId: event.eventId,
    eventType: event.eventType,
    memberId: event.memberId,
    memberExternalRef: event.memberExternalRef,
    occurredAt: event.occurredAt,
    location: event.location,
    payload: event.payload,
    requestHash: eventHash(event),
  }));
  const inserted = await deps.db
    .insert(inboxEvents)
    .values(rows)
    .onConflictDoNothing({ target: [inboxEvents.orgId, inboxEvents.eventId] })
    .returning({ eventId: inboxEvents.eventId });

  const conflicting = new Set<string>();
  if (inserted.length < rows.length) {
    // Resends: the stored event is the same one exactly when its hash is.
    const fresh = new Set(inserted.map((row) => row.eventId));
    const resent = rows.filter((row) => !fresh.has(row.eventId));
    const stored = await deps.db
      .select({ eventId: inboxEvents.eventId, requestHash: inboxEvents.requestHash })
      .from(inboxEvents)
      .where(
        and(
          eq(inboxEvents.orgId, orgId),
          inArray(
            inboxEvents.eventId,
            resent.map((row) => row.eventId),
          ),
        ),
      );
    const storedHash = new Map(stored.map((row) => [row.eventId, row.requestHash]));
    for (const row of resent) {
      const hash = storedHash.get(row.eventId);
      assert.ok(hash !== undefined, "an event the insert skipped is stored");
      if (hash !== row.requestHash) {
        conflicting.add(row.eventId);
      }
    }
  }
  const accepted = events.map((event) => event.eventId).filter((id) => !conflicting.has(id));
  assert.equal(accepted.length + conflicting.size, events.length, "every event is answered");
  return { accepted, conflicting: [...conflicting], inserted: inserted.length };
}

/** SHA-256 of the canonical event: what a resend must match. */
export function eventHash(event: InboxEventInput): string {
  return requestHash({
    kind: "inbox_event.v1",
    event_id: event.eventId,
    event_type: event.eventType,
    // As an instant: "+00:00" and "Z" spell the same one.
    occurred_at: event.occurredAt.toISOString(),
    location: event.location,
    member_id: event.memberId,
    member_external_ref: event.memberExternalRef,
    payload: event.payload,
  });
}

function assertEventShape(event: InboxEventInput): void {
  assert.ok(event.eventId.length >= 1, "event id is not empty");
  assert.ok(event.eventId.length <= externalIdLengthMax, "event id within its bound");
  assert.ok((event.memberId === null) !== (event.memberExternalRef === null), "one member field");
  assert.ok(!Number.isNaN(event.occurredAt.getTime()), "occurred_at is a valid instant");
}
