/**
 * The event types a webhook can subscribe to (issue 8, section B). Some are written by the
 * outbox today; the others by jobs that write them with the same names.
 */
export const webhookEventTypes = [
  "member.enrolled",
  "member.updated",
  "points.earned",
  "points.reversed",
  "points.adjusted",
  "points.promotion",
  "points.expiring",
  "points.expired",
  "redemption.created",
  "redemption.fulfilled",
  "redemption.cancelled",
  "redemption.expired",
  "stamp_card.completed",
  "tier.changed",
  "benefit.applied",
  "benefit.revoked",
  "rfm.segment_changed",
  "event.processed",
  "event.failed",
  "member.erased",
  "referral.rewarded",
] as const;

export type WebhookEventType = (typeof webhookEventTypes)[number];

export function isWebhookEventType(value: string): value is WebhookEventType {
  return (webhookEventTypes as readonly string[]).includes(value);
}
