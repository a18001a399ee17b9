/**
 * What happens when an outbox event is relayed: every handler whose topics match runs, in the
 * order listed, inside the `events` job of that event. A handler that throws fails the job, which
 * is retried (bounded, with backoff) and re-runs every handler: handlers are idempotent.
 */
import type { OutboxTopic } from "../../membership/index.ts";
import { autoRedemptionHandler } from "../auto-redemption/handler.ts";
import type { WorkerDeps } from "../deps.ts";
import type { JobData } from "../queues.ts";
import { referralEventHandler } from "../referrals/handler.ts";
import { rfmRescoreHandler } from "../rfm/jobs.ts";
import { tierEventHandler } from "../tiers/handler.ts";
import { webhookFanOut } from "../webhooks/index.ts";

export type RelayedEvent = JobData<"events">;

export interface EventHandler {
  name: string;
  topics: readonly OutboxTopic[];
  handle(deps: WorkerDeps, event: RelayedEvent): Promise<void>;
}

/** Each stream of work appends its handler here. */
export const eventHandlers: EventHandler[] = [
  tierEventHandler,
  webhookFanOut,
  rfmRescoreHandler,
  autoRedemptionHandler,
  referralEventHandler,
];

export async function runEventHandlers(
  deps: WorkerDeps,
  event: RelayedEvent,
  handlers: readonly EventHandler[] = eventHandlers,
): Promise<string[]> {
  const ran: string[] = [];
  for (const handler of handlers) {
    if ((handler.topics as readonly string[]).includes(event.topic)) {
      await handler.handle(deps, event);
      ran.push(handler.name);
    }
  }
  return ran;
}
