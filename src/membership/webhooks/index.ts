/** Outgoing webhooks: subscriptions, their delivery log, and the URL rules. */
export type { WebhookEventType } from "./event-types.ts";
export { isWebhookEventType, webhookEventTypes } from "./event-types.ts";
export type { WebhookUrlRules } from "./url-rules.ts";
export { isPrivateAddress, webhookUrlLengthMax, webhookUrlProblem } from "./url-rules.ts";
export type {
  CreatedWebhook,
  CreateWebhookInput,
  Webhook,
  WebhookAttempt,
  WebhookDelivery,
} from "./webhooks.ts";
export {
  createWebhook,
  deleteWebhook,
  listWebhookDeliveries,
  listWebhooks,
  webhookDeliveriesPageMax,
  webhookSecretPrefix,
  webhookSigningKey,
} from "./webhooks.ts";
