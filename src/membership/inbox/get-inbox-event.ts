import { and, eq } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { externalIdLengthMax } from "../limits.ts";
import { inboxEvents } from "../store/schema.ts";
import type { InboxEvent } from "./types.ts";

export interface GetInboxEventInput {
  orgId: string;
  eventId: string;
}

/**
 * Where an event sent to the inbox stands: `queued`, `processed` with its result, or `failed`
 * with its error. Another org's event is `not_found`, exactly like an unknown one.
 */
export async function getInboxEvent(deps: DbDeps, input: GetInboxEventInput): Promise<InboxEvent> {
  const notFound = new DomainError("not_found", "event not found", { eventId: input.eventId });
  if (input.eventId.length === 0 || input.eventId.length > externalIdLengthMax) {
    throw notFound;
  }
  const [row] = await deps.db
    .select({
      eventId: inboxEvents.eventId,
      eventType: inboxEvents.eventType,
      status: inboxEvents.status,
      result: inboxEvents.result,
      error: inboxEvents.error,
      receivedAt: inboxEvents.receivedAt,
      processedAt: inboxEvents.processedAt,
    })
    .from(inboxEvents)
    .where(and(eq(inboxEvents.orgId, input.orgId), eq(inboxEvents.eventId, input.eventId)))
    .limit(1);
  if (row === undefined) {
    throw notFound;
  }
  return row;
}
