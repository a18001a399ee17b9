/**
 * A safety net for lost wake-ups: a pending delivery whose next attempt is overdue by more than
 * `overdueMs` and which no attempt holds gets a fresh job. Jobs are normally scheduled right after
 * the row changes; one can be lost when Redis fails between the two, or when a job exceeds the
 * queue's stalled limit. Bounded per run; the oldest first. A deleted webhook's pending
 * deliveries stay as they are: they are not attempted again.
 */
import { sql } from "drizzle-orm";
import type { FanOutDeps } from "./fan-out.ts";

export const sweepOverdueMs = 60_000;
export const sweepBatchMax = 1_000;

export async function wakeOverdueDeliveries(deps: FanOutDeps): Promise<number> {
  const woken = (await deps.db.execute(
    sql`update webhook_deliveries d set wakeups = d.wakeups + 1
        from (
          select p.id from webhook_deliveries p
          join webhooks w on w.org_id = p.org_id and w.id = p.webhook_id
          where p.status = 'pending' and w.deleted_at is null
            and p.next_attempt_at < now() - make_interval(secs => ${sweepOverdueMs / 1000}::double precision)
            and (p.leased_until is null or p.leased_until < now())
          order by p.next_attempt_at
          limit ${sweepBatchMax}::int
          for update of p skip locked) overdue
        where d.id = overdue.id
        returning d.id::text as id, d.org_id, d.wakeups`,
  )) as unknown as Array<{ id: string; org_id: string; wakeups: number }>;
  await Promise.all(
    woken.map((row) =>
      deps.scheduleWakeup({ orgId: row.org_id, deliveryId: row.id, wakeup: row.wakeups }, 0),
    ),
  );
  return woken.length;
}
