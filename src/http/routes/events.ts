/**
 * Asynchronous ingestion: a POS fleet sends events and forgets them. Mounted at /v1/events.
 * `POST` (pos) validates every event, stores them all in the org's inbox with one insert, and
 * answers 202 once they are durable; workers process them later, in order, through the same use
 * cases as the synchronous routes (workers/ingest). `GET /{event_id}` (pos, admin) says where
 * one stands. Another org's event is 404, exactly like an unknown one.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Logger } from "pino";
import { ZodError } from "zod";
import {
  acceptEvents,
  getInboxEvent,
  type InboxEvent,
  type InboxEventInput,
  type InboxPayload,
} from "../../membership/index.ts";
import { principalOf, requestLogger } from "../env.ts";
import { eventsBodyBytesMax, eventsPerRequestMax, locationLengthMax } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { externalId, externalRef, IdempotencyHeaders, uuidParam } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  validationHook,
  writeGuards,
} from "./common.ts";
import { PatchBody } from "./members.ts";
import { PurchaseFields, RefundBody, refineOneMember } from "./transactions.ts";

const tags = ["events"];

/** The envelope every event shares; its `payload` depends on `event_type`. */
const envelope = {
  event_id: externalId.openapi({
    description: "Your id of the event, unique in the org: a resend with it is accepted once.",
    example: "till-3:evt-000123",
  }),
  occurred_at: z.iso.datetime({ offset: true }),
  location: z
    .string()
    .min(1)
    .max(locationLengthMax)
    .optional()
    .openapi({ description: "The org's reference of the store; created on first use." }),
  member_id: uuidParam.optional(),
  member_external_ref: externalRef.optional(),
};

// The synchronous routes' bodies, less what the envelope carries (member, time, location).
const TransactionPayload = PurchaseFields.omit({
  member_id: true,
  member_external_ref: true,
  occurred_at: true,
  location: true,
}).openapi("TransactionEventPayload");
// A new object from the fields (not `extend`, which documents as an `allOf` that no strict
// object can satisfy).
const RefundPayload = z
  .strictObject({
    ...RefundBody.shape,
    purchase_external_id: externalId.openapi({ description: "The refunded purchase's id." }),
  })
  .openapi("RefundEventPayload");
const ProfilePayload = PatchBody.omit({ status: true }).openapi("CustomerEventPayload");

const oneMember = { oneOf: [{ required: ["member_id"] }, { required: ["member_external_ref"] }] };

// Each variant states the member rule its refinement below checks: exactly one of the two.
const Event = z
  .discriminatedUnion("event_type", [
    z
      .strictObject({
        ...envelope,
        event_type: z.literal("pos.transaction"),
        payload: TransactionPayload,
      })
      .openapi("TransactionEvent", oneMember),
    z
      .strictObject({ ...envelope, event_type: z.literal("pos.refund"), payload: RefundPayload })
      .openapi("RefundEvent", oneMember),
    z
      .strictObject({
        ...envelope,
        event_type: z.literal("customer.updated"),
        payload: ProfilePayload,
      })
      .openapi("CustomerEvent", oneMember),
  ])
  .superRefine(refineOneMember)
  .openapi("Event", {
    description:
      "One event. Name the member by exactly one of `member_id` and `member_external_ref`.",
  });

const EventBatch = z
  .strictObject({ events: z.array(Event).min(1).max(eventsPerRequestMax) })
  .superRefine((body, ctx) => {
    const seen = new Set<string>();
    for (const [index, event] of body.events.entries()) {
      if (seen.has(event.event_id)) {
        ctx.addIssue({
          code: "custom",
          path: ["events", index, "event_id"],
          message: "this event_id appears earlier in the request",
        });
      }
      seen.add(event.event_id);
    }
  })
  .openapi("EventBatch");

const EventsBody = z.union([EventBatch, Event]);
type EventValue = z.infer<typeof Event>;

/**
 * The body is one event or `{events}`; zod reports a failed union as one pathless issue holding
 * each branch's. The sender meant the branch its body has the shape of: report that one's issues,
 * with their field paths.
 */
function eventsValidation(
  result: Parameters<typeof validationHook>[0],
  c: Parameters<typeof validationHook>[1],
): ReturnType<typeof validationHook> {
  if (result.success) {
    return validationHook(result, c);
  }
  const input: unknown = "data" in result ? result.data : undefined;
  const batch = typeof input === "object" && input !== null && "events" in input;
  const issues = result.error.issues.flatMap((issue) =>
    issue.code === "invalid_union" && issue.path.length === 0
      ? (issue.errors[batch ? 0 : 1] ?? [issue])
      : [issue],
  );
  return validationHook({ ...result, error: new ZodError(issues) }, c);
}

function eventInput(event: EventValue): InboxEventInput {
  return {
    eventId: event.event_id,
    eventType: event.event_type,
    occurredAt: new Date(event.occurred_at),
    location: event.location ?? null,
    memberId: event.member_id ?? null,
    memberExternalRef: event.member_external_ref ?? null,
    // Validated, strict: only the schema's fields, integers and strings (and nulls).
    payload: event.payload as InboxPayload,
  };
}

const AcceptedSchema = z
  .object({
    accepted: z.array(z.string()).openapi({
      description: "Stored (now or by an earlier send of the same event), in request order.",
    }),
    conflicting: z.array(z.string()).openapi({
      description:
        "Ids stored before with a different body: not accepted; the stored event stands.",
    }),
  })
  .openapi("EventsAccepted");

const EventStatusSchema = z
  .object({
    event_id: z.string(),
    event_type: z.enum(["pos.transaction", "pos.refund", "customer.updated"]),
    status: z.enum(["queued", "processed", "failed"]),
    result: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({
        description:
          "`processed`: the use case's outcome (that of the synchronous route, amounts as " +
          "strings, and `replayed` when the document had been recorded before).",
      }),
    error: z
      .object({ code: z.string(), message: z.string() })
      .optional()
      .openapi({ description: "`failed`: why, with the synchronous route's error code." }),
    received_at: z.string(),
    processed_at: z.string().nullable(),
  })
  .openapi("EventStatus");

function eventStatusDto(event: InboxEvent): z.output<typeof EventStatusSchema> {
  return {
    event_id: event.eventId,
    event_type: event.eventType,
    status: event.status,
    ...(event.result === null ? {} : { result: event.result }),
    ...(event.error === null ? {} : { error: event.error }),
    received_at: event.receivedAt.toISOString(),
    processed_at: event.processedAt?.toISOString() ?? null,
  };
}

const transactionEventExample = {
  event_id: "till-3:evt-000123",
  event_type: "pos.transaction",
  occurred_at: "2026-01-31T12:00:00.000Z",
  location: "store-7",
  member_external_ref: "card-000123",
  payload: {
    external_id: "store-7:till-3:000123",
    amount: 1999,
    currency: "EUR",
    items: [{ sku: "LATTE-L", category: "coffee", quantity: 2, amount: 900 }],
  },
} satisfies z.input<typeof Event>;

/**
 * Announces the org's new events to the `ingest` workers, without waiting: the events are already
 * durable, so the answer does not depend on Redis. When the job cannot be added (Redis down, no
 * producer in this process), the workers' sweep finds the events within seconds.
 */
function wakeWorkers(deps: RouteDeps, orgId: string, logger: Logger): void {
  const { jobs } = deps.app;
  if (jobs === undefined) {
    return;
  }
  jobs.add("ingest", { orgId }).catch((error: unknown) => {
    logger.warn({ err: error, orgId }, "ingest job not added; the sweep will find the events");
  });
}

export function eventsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "sendEvents",
      tags,
      summary: "Send events for asynchronous processing",
      description:
        `One event, or \`{events: [...]}\` with 1 to ${eventsPerRequestMax}. Every event is ` +
        "validated first: one malformed event refuses the request (400, field paths) and " +
        "stores nothing. Then all are stored, and the answer (202) comes once they are " +
        "durable. Workers process them in order, through the same rules as " +
        "`/v1/transactions` and `PATCH /v1/members/{id}`; `GET /v1/events/{event_id}` and the " +
        "`event.processed` / `event.failed` webhooks tell the outcome. Types: " +
        "`pos.transaction` (payload: a purchase), `pos.refund` (a refund and " +
        "`purchase_external_id`), `customer.updated` (profile fields; `null` clears one). " +
        "Idempotent by `event_id`. Role: pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["pos"], eventsBodyBytesMax),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(EventsBody, {
          events: [
            transactionEventExample,
            {
              event_id: "till-3:evt-000124",
              event_type: "pos.refund",
              occurred_at: "2026-01-31T12:05:00.000Z",
              member_external_ref: "card-000123",
              payload: {
                purchase_external_id: "store-7:till-3:000123",
                external_id: "store-7:till-3:r-000045",
                amount: 900,
              },
            },
            {
              event_id: "crm:evt-000125",
              event_type: "customer.updated",
              occurred_at: "2026-01-31T12:06:00.000Z",
              member_external_ref: "card-000123",
              payload: { email: "ada.lovelace@example.org", phone: null },
            },
          ],
        }),
      },
      responses: {
        202: jsonContent(AcceptedSchema, "Stored; processed later.", {
          accepted: ["till-3:evt-000123", "till-3:evt-000124", "crm:evt-000125"],
          conflicting: [],
        }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const events = "events" in body ? body.events : [body];
      const orgId = principalOf(c).orgId;
      const result = await acceptEvents(domain, { orgId, events: events.map(eventInput) });
      if (result.inserted > 0) {
        wakeWorkers(deps, orgId, requestLogger(c));
      }
      return c.json({ accepted: result.accepted, conflicting: result.conflicting }, 202);
    },
    (result, c) => eventsValidation(result, c),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{event_id}",
      operationId: "getEvent",
      tags,
      summary: "An event's status",
      description:
        "`queued` until a worker processed it, then `processed` with the result or `failed` " +
        "with the error (an unknown member is `not_found`). Roles: pos, admin.",
      security: apiKeySecurity,
      middleware: requireRole("pos", "admin"),
      request: {
        params: z.object({
          event_id: externalId.openapi({
            param: { name: "event_id", in: "path" },
            description: "The event's `event_id`.",
            example: transactionEventExample.event_id,
          }),
        }),
      },
      responses: {
        200: jsonContent(EventStatusSchema, "Where the event stands.", {
          event_id: transactionEventExample.event_id,
          event_type: "pos.transaction",
          status: "processed",
          result: {
            transaction_id: "0b6f3a52-5d1e-4c8e-9a43-7f2d8c1e6b90",
            points_earned: "19",
            stamps_earned: [],
            replayed: false,
          },
          received_at: "2026-01-31T12:00:01.000Z",
          processed_at: "2026-01-31T12:00:01.250Z",
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { event_id: eventId } = c.req.valid("param");
      const event = await getInboxEvent(domain, { orgId: principalOf(c).orgId, eventId });
      return c.json(eventStatusDto(event), 200);
    },
  );

  return app;
}
