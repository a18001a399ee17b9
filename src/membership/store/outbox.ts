/**
 * The transactional outbox: an event row written in the same Postgres transaction as the change
 * it announces, so an event exists exactly when its change does. A relay (not in this module)
 * delivers rows in id order and sets `delivered_at`. Payloads are snake_case, amounts strings.
 */
import assert from "node:assert/strict";
import type { DbExecutor } from "./db.ts";
import { outbox, outboxTopic } from "./schema.ts";

export type OutboxTopic = (typeof outboxTopic.enumValues)[number];

/** Every outbox topic (for handlers that take them all). */
export const outboxTopicNames: readonly OutboxTopic[] = outboxTopic.enumValues;

export type OutboxValue = string | number | boolean | null | OutboxValue[] | OutboxPayload;
export interface OutboxPayload {
  [key: string]: OutboxValue;
}

export interface OutboxEvent {
  orgId: string;
  topic: OutboxTopic;
  payload: OutboxPayload;
}

/** Rows per insert statement: 3 parameters each, far below Postgres's 65,535. */
const outboxRowsPerInsertMax = 1_000;

/** Writes events on `db`, which must be the transaction that makes the change they announce. */
export async function writeOutbox(db: DbExecutor, events: readonly OutboxEvent[]): Promise<void> {
  for (const event of events) {
    assertOutboxEvent(event);
  }
  for (let start = 0; start < events.length; start += outboxRowsPerInsertMax) {
    const slice = events.slice(start, start + outboxRowsPerInsertMax);
    await db
      .insert(outbox)
      .values(
        slice.map((event) => ({ orgId: event.orgId, topic: event.topic, payload: event.payload })),
      );
  }
}

/** What every event must satisfy, also for writers that insert events themselves. */
export function assertOutboxEvent(event: OutboxEvent): void {
  assert.ok(outboxTopic.enumValues.includes(event.topic), "known outbox topic");
  assertNoBigint(event.payload);
}

/** Amounts travel as strings: a bigint in a payload is a bug (JSON cannot carry it). */
function assertNoBigint(payload: OutboxPayload): void {
  for (const value of Object.values(payload)) {
    assert.notEqual(typeof value, "bigint", "outbox amounts are strings");
  }
}
