import assert from "node:assert/strict";
import { and, eq, inArray } from "drizzle-orm";
import type { MembershipDeps } from "../deps.ts";
import { invalidInput, requestHash } from "../intents/support.ts";
import { externalIdLengthMax, inboxEventsPerRequestMax } from "../limits.ts";
import { executeStatement } from "../store/db.ts";
import { inboxEvents } from "../store/schema.ts";
import { sealPayload } from "./payload-crypto.ts";
import type { AcceptEventsResult, InboxEventInput } from "./types.ts";

/**
 * One statement for the whole request (`$1`: a JSON array of rows), inserted in the request's
 * order (`n`), so the sequence numbers, and so the processing order, follow it. Events whose id
 * the org already used are skipped; their stored hash tells a resend from a conflict.
 */
const eventInsert = `
  insert into inbox_events (org_id, event_id, event_type, member_id, member_external_ref,
    occurred_at, location, payload, request_hash)
  select r.org_id, r.event_id, r.event_type, r.member_id, r.member_external_ref, r.occurred_at,
    r.location, r.payload, r.request_hash
  from jsonb_to_recordset($1::jsonb) as r(n int, org_id uuid, event_id text,
    event_type inbox_event_type, member_id uuid, member_external_ref text,
    occurred_at timestamptz, location text, payload jsonb, request_hash text)
  order by r.n
  on conflict (org_id, event_id) do nothing
  returning event_id`;

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
  deps: Pick<MembershipDeps, "db" | "secrets">,
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

  const rows = events.map((event, index) => ({
    n: index,
    org_id: orgId,
    event_id: event.eventId,
    event_type: event.eventType,
    member_id: event.memberId,
    member_external_ref: event.memberExternalRef,
    occurred_at: event.occurredAt.toISOString(),
    location: event.location,
    // Personal data is stored encrypted (payload-crypto.ts); the hash is of the event as sent.
    payload: sealPayload(deps.secrets, { ...event, orgId }),
    request_hash: eventHash(event),
  }));
  const inserted = await executeStatement<{ event_id: string }>(
    deps.db,
    eventInsert,
    JSON.stringify(rows),
  );

  const conflicting = new Set<string>();
  if (inserted.length < rows.length) {
    // Resends: the stored event is the same one exactly when its hash is.
    const fresh = new Set(inserted.map((row) => row.event_id));
    const resent = rows.filter((row) => !fresh.has(row.event_id));
    const stored = await deps.db
      .select({ eventId: inboxEvents.eventId, requestHash: inboxEvents.requestHash })
      .from(inboxEvents)
      .where(
        and(
          eq(inboxEvents.orgId, orgId),
          inArray(
            inboxEvents.eventId,
            resent.map((row) => row.event_id),
          ),
        ),
      );
    const storedHash = new Map(stored.map((row) => [row.eventId, row.requestHash]));
    for (const row of resent) {
      const hash = storedHash.get(row.event_id);
      assert.ok(hash !== undefined, "an event the insert skipped is stored");
      if (hash !== row.request_hash) {
        conflicting.add(row.event_id);
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
