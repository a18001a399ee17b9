/**
 * Fan-out of relayed outbox events: one delivery per live webhook of the event's org that
 * subscribes to its type, then a queue job per delivery.
 *
 * Deliveries are created by the relay itself (`createWebhookDeliveries`, inside its transaction,
 * in outbox id order), so a member's deliveries exist in that order before any of them can be
 * attempted, and the order rule of `deliver.ts` (no attempt while an earlier delivery of the same
 * webhook and member is pending) holds however many events the `events` queue runs at once. The
 * `events` handler (`fanOutWebhooks`) then creates any delivery still missing (a webhook created
 * between the two) and wakes those not yet attempted. Both are idempotent: a delivery is unique
 * per (webhook, outbox row), and wake-up jobs are de-duplicated by their id.
 */
import { sql } from "drizzle-orm";
import type { DbExecutor, LedgerDeps } from "../../membership/index.ts";
import type { DeliverDeps } from "./deliver.ts";
import type { WebhookSourceEvent } from "./event-data.ts";
import { webhookBody, webhookEventId } from "./event-data.ts";

export type FanOutDeps = Omit<DeliverDeps, "options" | "delivery">;

async function subscribedWebhooks(db: DbExecutor, event: WebhookSourceEvent): Promise<string[]> {
  const rows = (await db.execute(
    sql`select id from webhooks
        where org_id = ${event.orgId}::uuid and deleted_at is null
          and event_types @> array[${event.topic}]::text[]`,
  )) as unknown as Array<{ id: string }>;
  return rows.map((row) => row.id);
}

function memberOf(event: WebhookSourceEvent): string | null {
  const inPayload = event.payload.member_id;
  return event.memberId ?? (typeof inPayload === "string" ? inPayload : null);
}

/** Inserts the event's deliveries that do not exist yet, on `db`; returns the webhook ids. */
async function insertDeliveries(
  deps: LedgerDeps,
  db: DbExecutor,
  event: WebhookSourceEvent,
): Promise<string[]> {
  const subscribed = await subscribedWebhooks(db, event);
  if (subscribed.length === 0) {
    return subscribed;
  }
  const body = await webhookBody(deps, event);
  // A Postgres array literal (uuids need no quoting): one parameter, however many webhooks.
  const webhookIds = `{${subscribed.join(",")}}`;
  await db.execute(
    sql`insert into webhook_deliveries
          (org_id, webhook_id, outbox_id, event_id, event_type, member_id, body)
        select ${event.orgId}::uuid, w, ${event.outboxId}::bigint,
          ${webhookEventId(event.outboxId)}::text, ${event.topic}::text, ${memberOf(event)}::uuid,
          ${body}::text
        from unnest(${webhookIds}::uuid[]) as w
        on conflict (webhook_id, outbox_id) do nothing`,
  );
  return subscribed;
}

/**
 * Called by the relay on its transaction `tx`, with the pass's rows in outbox id order: creates
 * their deliveries in that order. Returns how many events had a subscriber.
 */
export async function createWebhookDeliveries(
  deps: LedgerDeps,
  tx: DbExecutor,
  events: readonly WebhookSourceEvent[],
): Promise<number> {
  if (events.length === 0) {
    return 0;
  }
  // One query finds the events any webhook wants: most orgs have none, and then nothing else runs.
  const keys = events.map((event) => ({
    outbox_id: event.outboxId,
    org_id: event.orgId,
    topic: event.topic,
  }));
  const wanted = (await tx.execute(sql`
    select distinct r.outbox_id::text as outbox_id
      from jsonb_to_recordset(${JSON.stringify(keys)}::jsonb) as r(outbox_id bigint, org_id uuid, topic text)
      join webhooks w
        on w.org_id = r.org_id and w.deleted_at is null and w.event_types @> array[r.topic]`)) as unknown as Array<{
    outbox_id: string;
  }>;
  const subscribed = new Set(wanted.map((row) => row.outbox_id));
  let count = 0;
  for (const event of events) {
    if (subscribed.has(event.outboxId)) {
      await insertDeliveries(deps, tx, event);
      count += 1;
    }
  }
  return count;
}

/** The `events` handler: creates what is missing and wakes deliveries not yet attempted. */
export async function fanOutWebhooks(deps: FanOutDeps, event: WebhookSourceEvent): Promise<number> {
  const subscribed = await insertDeliveries(deps, deps.db, event);
  if (subscribed.length === 0) {
    return 0;
  }
  const webhookIds = `{${subscribed.join(",")}}`;
  const waiting = (await deps.db.execute(
    sql`select id::text as id from webhook_deliveries
        where webhook_id = any(${webhookIds}::uuid[]) and outbox_id = ${event.outboxId}::bigint
          and status = 'pending' and wakeups = 0`,
  )) as unknown as Array<{ id: string }>;
  await Promise.all(
    waiting.map((row) =>
      deps.scheduleWakeup({ orgId: event.orgId, deliveryId: row.id, wakeup: 0 }, 0),
    ),
  );
  return waiting.length;
}
