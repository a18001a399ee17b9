/**
 * Fan-out of one relayed outbox event: one delivery per live webhook of the event's org that
 * subscribes to its type, then a queue job per delivery. Idempotent (the events queue delivers
 * at least once): a delivery is unique per (webhook, outbox row), and the jobs of deliveries not
 * yet attempted are (re)scheduled under their first job id, which the queue de-duplicates.
 */
import { sql } from "drizzle-orm";
import type { DeliverDeps } from "./deliver.ts";
import type { WebhookSourceEvent } from "./event-data.ts";
import { webhookBody, webhookEventId } from "./event-data.ts";

export type FanOutDeps = Omit<DeliverDeps, "options">;

export async function fanOutWebhooks(deps: FanOutDeps, event: WebhookSourceEvent): Promise<number> {
  const subscribed = (await deps.db.execute(
    sql`select id from webhooks
        where org_id = ${event.orgId}::uuid and deleted_at is null
          and event_types @> array[${event.topic}]::text[]`,
  )) as unknown as Array<{ id: string }>;
  if (subscribed.length === 0) {
    return 0;
  }
  const body = await webhookBody(deps, event);
  const memberIdInPayload = event.payload.member_id;
  const memberId =
    event.memberId ?? (typeof memberIdInPayload === "string" ? memberIdInPayload : null);
  // A Postgres array literal (uuids need no quoting): one parameter, however many webhooks.
  const webhookIds = `{${subscribed.map((row) => row.id).join(",")}}`;
  await deps.db.execute(
    sql`insert into webhook_deliveries
          (org_id, webhook_id, outbox_id, event_id, event_type, member_id, body)
        select ${event.orgId}::uuid, w, ${event.outboxId}::bigint,
          ${webhookEventId(event.outboxId)}::text, ${event.topic}::text, ${memberId}::uuid,
          ${body}::text
        from unnest(${webhookIds}::uuid[]) as w
        on conflict (webhook_id, outbox_id) do nothing`,
  );
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
