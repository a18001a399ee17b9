/**
 * Webhooks: an org's subscriptions to its events, and their delivery log. Mounted at
 * /v1/webhooks. Admin only. The signing secret is in the creation answer and nowhere else;
 * another org's webhook is 404, exactly like an unknown one. README "Webhooks" has the format.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  createWebhook,
  deleteWebhook,
  listWebhookDeliveries,
  listWebhooks,
  type Webhook,
  type WebhookDelivery,
  webhookDeliveriesPageMax,
  webhookEventTypes,
  webhookUrlLengthMax,
  webhookUrlProblem,
} from "../../membership/index.ts";
import { actorOf, principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import { cursorLengthMax } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { IdempotencyHeaders, uuidParam } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";

const tags = ["webhooks"];
const webhookIdExample = "0b7c9e1f-2a4d-4c6e-8f0a-1b3d5f7a9c2e";
const deliveriesPageDefault = 50;
const descriptionLengthMax = 500;

const WebhookParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The webhook id.",
    example: webhookIdExample,
  }),
});

const EventType = z.enum(webhookEventTypes);

const WebhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(EventType),
    description: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("Webhook");

const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z.string().openapi({
    description:
      "`whsec_<base64 key>`: the signing secret, shown in this answer only. Verify signatures " +
      "with a Standard Webhooks library.",
  }),
}).openapi("CreatedWebhook");

const CreateWebhookSchema = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .max(webhookUrlLengthMax)
      .openapi({
        description:
          "Where events are POSTed. https only in production; private, loopback and link-local " +
          "addresses are refused unless the deployment allows them.",
      }),
    events: z.array(EventType).min(1).max(webhookEventTypes.length),
    description: z.string().max(descriptionLengthMax).optional(),
  })
  .openapi("CreateWebhook");

const AttemptSchema = z
  .object({
    event_id: z.string(),
    attempted_at: z.string(),
    status_code: z.number().int().nullable(),
    duration_ms: z.number().int(),
    error: z.string().nullable(),
    next_retry_at: z.string().nullable(),
  })
  .openapi("WebhookAttempt");

const DeliverySchema = z
  .object({
    id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    member_id: z.string().nullable(),
    status: z.enum(["pending", "delivered", "dead"]),
    attempts: z.number().int(),
    first_attempt_at: z.string().nullable(),
    next_attempt_at: z.string().nullable(),
    created_at: z.string(),
    attempt_log: z.array(AttemptSchema),
  })
  .openapi("WebhookDelivery");

const DeliveriesQuery = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(webhookDeliveriesPageMax)
    .optional()
    .openapi({
      description: `Deliveries per page, 1..${webhookDeliveriesPageMax}; ${deliveriesPageDefault} by default.`,
    }),
  cursor: z
    .string()
    .min(1)
    .max(cursorLengthMax)
    .optional()
    .openapi({ description: "`next_cursor` of the previous page." }),
});

const webhookExample = {
  id: webhookIdExample,
  url: "https://hooks.example.com/loyalty",
  events: ["points.earned", "redemption.created"] as Array<z.output<typeof EventType>>,
  description: "CRM sync",
  created_at: "2026-01-31T12:00:00.000Z",
};

const deliveryExample = {
  id: "1042",
  event_id: "evt_98231",
  event_type: "points.earned",
  member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
  status: "pending" as const,
  attempts: 1,
  first_attempt_at: "2026-01-31T12:00:01.000Z",
  next_attempt_at: "2026-01-31T12:00:06.000Z",
  created_at: "2026-01-31T12:00:00.900Z",
  attempt_log: [
    {
      event_id: "evt_98231",
      attempted_at: "2026-01-31T12:00:01.000Z",
      status_code: 503,
      duration_ms: 42,
      error: "HTTP 503",
      next_retry_at: "2026-01-31T12:00:06.000Z",
    },
  ],
};

function webhookDto(webhook: Webhook): z.output<typeof WebhookSchema> {
  return {
    id: webhook.id,
    url: webhook.url,
    events: webhook.events,
    description: webhook.description,
    created_at: webhook.createdAt.toISOString(),
  };
}

function deliveryDto(delivery: WebhookDelivery): z.output<typeof DeliverySchema> {
  return {
    id: delivery.id,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    member_id: delivery.memberId,
    status: delivery.status,
    attempts: delivery.attempts,
    first_attempt_at: delivery.firstAttemptAt?.toISOString() ?? null,
    next_attempt_at: delivery.nextAttemptAt?.toISOString() ?? null,
    created_at: delivery.createdAt.toISOString(),
    attempt_log: delivery.attemptLog.map((attempt) => ({
      event_id: attempt.eventId,
      attempted_at: attempt.attemptedAt.toISOString(),
      status_code: attempt.statusCode,
      duration_ms: attempt.durationMs,
      error: attempt.error,
      next_retry_at: attempt.nextRetryAt?.toISOString() ?? null,
    })),
  };
}

export function webhooksRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;
  const rules = {
    requireHttps: deps.app.options.nodeEnv === "production",
    allowPrivate: deps.app.options.webhookAllowPrivate ?? false,
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createWebhook",
      tags,
      summary: "Create a webhook",
      description:
        "Subscribes `url` to event types. The answer carries the signing secret, once. A URL " +
        "that is not https in production, or that points (literally or through DNS) to a " +
        "private, loopback or link-local address, is 400 with the field path `url`. Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateWebhookSchema, {
          url: webhookExample.url,
          events: webhookExample.events,
          description: "CRM sync",
        }),
      },
      responses: {
        201: jsonContent(z.object({ webhook: CreatedWebhookSchema }), "The new webhook.", {
          webhook: { ...webhookExample, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
        }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const problem = await webhookUrlProblem(body.url, rules);
      if (problem !== null) {
        throw new ApiError(400, "validation_failed", "invalid request body", {
          target: "body",
          issues: [{ path: "url", message: problem }],
        });
      }
      const created = await createWebhook(domain, {
        orgId: principalOf(c).orgId,
        url: body.url,
        events: body.events,
        description: body.description ?? null,
        rules,
        actor: actorOf(c),
      });
      return c.json({ webhook: { ...webhookDto(created), secret: created.secret } }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listWebhooks",
      tags,
      summary: "List webhooks",
      description: "The org's webhooks, oldest first, without their secrets. Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      responses: {
        200: jsonContent(z.object({ webhooks: z.array(WebhookSchema) }), "The webhooks.", {
          webhooks: [webhookExample],
        }),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const hooks = await listWebhooks(domain, principalOf(c).orgId);
      return c.json({ webhooks: hooks.map(webhookDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      operationId: "deleteWebhook",
      tags,
      summary: "Delete a webhook",
      description:
        "Stops the webhook: no new deliveries, and pending ones are not attempted again. Its " +
        "delivery log stays readable. Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: WebhookParams },
      responses: {
        200: jsonContent(z.object({ deleted: z.object({ id: z.string() }) }), "Deleted.", {
          deleted: { id: webhookIdExample },
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await deleteWebhook(domain, {
        orgId: principalOf(c).orgId,
        webhookId: id,
        actor: actorOf(c),
      });
      return c.json({ deleted: { id } }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/deliveries",
      operationId: "listWebhookDeliveries",
      tags,
      summary: "List a webhook's deliveries",
      description:
        "Newest first, each with its attempts (event id, status code, duration, error, next " +
        "retry). Page with `cursor`. Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: WebhookParams, query: DeliveriesQuery },
      responses: {
        200: jsonContent(
          z.object({ deliveries: z.array(DeliverySchema), next_cursor: z.string().nullable() }),
          "A page of deliveries.",
          { deliveries: [deliveryExample], next_cursor: "1042" },
        ),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const query = c.req.valid("query");
      const page = await listWebhookDeliveries(domain, {
        orgId: principalOf(c).orgId,
        webhookId: id,
        limit: query.limit ?? deliveriesPageDefault,
        cursor: query.cursor,
      });
      return c.json(
        { deliveries: page.deliveries.map(deliveryDto), next_cursor: page.nextCursor },
        200,
      );
    },
  );

  return app;
}
