/**
 * Point-of-sale transactions: purchases (one or a batch) and refunds. Mounted at
 * /v1/transactions. Role: pos.
 *
 * Each purchase is idempotent by its `external_id`: the same body again is 200 with the stored
 * outcome, another body under the same id is 409. In a batch, a malformed body is refused whole
 * (400 with the bad items' paths) while business outcomes are per item, because a till syncing
 * its offline backlog must not be blocked by one refused purchase.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { PurchaseInput } from "../../membership/index.ts";
import { recordPurchase, recordPurchases, refundPurchase } from "../../membership/index.ts";
import { principalOf } from "../env.ts";
import {
  batchBodyBytesMax,
  batchTransactionsMax,
  locationLengthMax,
  purchaseItemsMax,
} from "../limits.ts";
import {
  breakdownExample,
  EarningLineSchema,
  externalId,
  externalRef,
  IdempotencyHeaders,
  minorAmount,
  PurchaseItemSchema,
  purchaseOutcomeDto,
  StampsEarnedSchema,
  uuidParam,
  WalletSchema,
  walletDto,
  wireInteger,
} from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";

const tags = ["transactions"];

/**
 * A purchase's fields, without the member rule; `POST /v1/events` reuses them (routes/events.ts)
 * for the payload of `pos.transaction`, whose envelope carries the member and the time.
 */
export const PurchaseFields = z.strictObject({
  external_id: externalId.openapi({
    description: "The till's id of the purchase, unique in the org: the idempotency key.",
    example: "store-7:till-3:000123",
  }),
  member_id: uuidParam.optional(),
  member_external_ref: externalRef.optional(),
  amount: minorAmount,
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "an ISO 4217 code such as EUR")
    .openapi({ example: "EUR" }),
  occurred_at: z.iso.datetime({ offset: true }).optional(),
  location: z
    .string()
    .min(1)
    .max(locationLengthMax)
    .optional()
    .openapi({ description: "The org's reference of the store; created on first use." }),
  items: z.array(PurchaseItemSchema).max(purchaseItemsMax).optional(),
});

/** The member rule of purchases and events: exactly one of `member_id` and `member_external_ref`. */
export function refineOneMember(
  body: { member_id?: string | undefined; member_external_ref?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((body.member_id === undefined) === (body.member_external_ref === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["member_id"],
      message: "give exactly one of member_id and member_external_ref",
    });
  }
}

/** A purchase's lines cannot add up to more than the purchase (the rest earns the base rate). */
export function refineItemsWithinAmount(
  body: { amount: number; items?: ReadonlyArray<{ amount: number }> | undefined },
  ctx: z.RefinementCtx,
): void {
  // A field the schema refused is reported there; summing it would only add noise.
  const amounts = (body.items ?? []).map((item) => item.amount);
  if (
    !Number.isSafeInteger(body.amount) ||
    body.amount < 1 ||
    !amounts.every(Number.isSafeInteger)
  ) {
    return;
  }
  const itemized = amounts.reduce((sum, amount) => sum + amount, 0);
  if (itemized > body.amount) {
    ctx.addIssue({
      code: "custom",
      path: ["items"],
      message: `the items' amounts add up to ${itemized}, more than the purchase amount ${body.amount}`,
    });
  }
}

const PurchaseBody = PurchaseFields.superRefine(refineOneMember)
  .superRefine(refineItemsWithinAmount)
  // The refinement above, stated in the schema: exactly one of the two member fields.
  .openapi("Purchase", {
    description:
      "A purchase at a till. Name the member by exactly one of `member_id` and " +
      "`member_external_ref`. When it has `items`, their amounts add up to at most `amount`: " +
      "the rest is what the till did not itemise, and earns the base rate only.",
    oneOf: [{ required: ["member_id"] }, { required: ["member_external_ref"] }],
  });

const purchaseExample = {
  external_id: "store-7:till-3:000123",
  member_external_ref: "card-000123",
  amount: 1999,
  currency: "EUR",
  occurred_at: "2026-01-31T12:00:00.000Z",
  location: "store-7",
  items: [
    { sku: "LATTE-L", category: "coffee", quantity: 2, amount: 900 },
    { sku: "CROISSANT", category: "bakery", quantity: 1, amount: 199 },
  ],
} satisfies z.input<typeof PurchaseBody>;

const balanceExample = { available: 119, pending: 0, lifetime_earned: 119, lifetime_redeemed: 0 };
const stampsExample = [
  { program_id: "3f1d2c4b-7a9e-4f60-9b8d-2e5c1a7f0d34", stamps: 2, completed: false },
];

type PurchaseBodyValue = z.infer<typeof PurchaseBody>;

function purchaseInput(body: PurchaseBodyValue): PurchaseInput {
  // Fields written out, absent ones as undefined: this runs for every item of a batch, and
  // conditional object spreads cost microseconds each.
  return {
    externalId: body.external_id,
    memberId: body.member_id,
    memberExternalRef: body.member_external_ref,
    amountMinor: BigInt(body.amount),
    currency: body.currency,
    occurredAt: body.occurred_at === undefined ? undefined : new Date(body.occurred_at),
    locationRef: body.location,
    // Line amounts are kept and hashed with the request; points are earned on the purchase
    // amount (discounts and tenders make line sums an unreliable basis), stamps on quantities.
    items: purchaseItemsInput(body.items),
  };
}

/** A purchase's items as the use cases take them (line amounts kept; see `purchaseInput`). */
export function purchaseItemsInput(
  items: PurchaseBodyValue["items"],
): PurchaseInput["items"] | undefined {
  return items?.map((item) => ({
    sku: item.sku,
    category: item.category ?? null,
    quantity: item.quantity,
    amountMinor: BigInt(item.amount),
  }));
}

const PurchaseResult = z
  .object({
    transaction_id: z.string(),
    points_earned: z.number().int(),
    breakdown: z.array(EarningLineSchema),
    stamps_earned: z.array(StampsEarnedSchema),
    balance: WalletSchema,
  })
  .openapi("PurchaseResult");

const purchaseResultExample = {
  transaction_id: "0b6f3a52-5d1e-4c8e-9a43-7f2d8c1e6b90",
  points_earned: 27,
  breakdown: breakdownExample,
  stamps_earned: stampsExample,
  balance: balanceExample,
} satisfies z.output<typeof PurchaseResult>;

const BatchItemResult = z
  .object({
    external_id: z.string(),
    status: z.enum(["created", "replayed", "error"]),
    transaction_id: z.string().optional(),
    points_earned: z.number().int().optional(),
    breakdown: z.array(EarningLineSchema).optional(),
    stamps_earned: z.array(StampsEarnedSchema).optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .openapi("BatchItemResult");

/** A refund's fields; `pos.refund` events add the refunded purchase's id (routes/events.ts). */
export const RefundBody = z
  .strictObject({
    external_id: externalId.openapi({ description: "The till's id of the refund." }),
    amount: minorAmount,
  })
  .openapi("Refund");

const RefundResult = z
  .object({
    transaction_id: z.string(),
    purchase_id: z.string(),
    points_to_reverse: z.number().int(),
    points_reversed: z.number().int(),
    shortfall: z
      .number()
      .int()
      .openapi({ description: "Points the member had already spent, so could not be taken." }),
  })
  .openapi("RefundResult");

const refundResultExample = {
  transaction_id: "5a7c9e1b-2d4f-4a6c-8e0b-3f5d7a9c1e2b",
  purchase_id: purchaseResultExample.transaction_id,
  points_to_reverse: 9,
  points_reversed: 9,
  shortfall: 0,
} satisfies z.output<typeof RefundResult>;

export function transactionsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "recordPurchase",
      tags,
      summary: "Record a purchase",
      description:
        "Earns points (amount × base rate × tier multiplier, rounded down) and stamps. " +
        "201 when recorded; 200 with the same outcome when this `external_id` was recorded " +
        "before with the same body; 409 with another body. Role: pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["pos"]),
      request: { headers: IdempotencyHeaders, body: jsonBody(PurchaseBody, purchaseExample) },
      responses: {
        201: jsonContent(PurchaseResult, "Recorded.", purchaseResultExample),
        200: jsonContent(
          PurchaseResult,
          "Recorded before; the stored outcome.",
          purchaseResultExample,
        ),
        ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const result = await recordPurchase(domain, {
        orgId: principalOf(c).orgId,
        ...purchaseInput(body),
      });
      const response = { ...purchaseOutcomeDto(result), balance: walletDto(result.balance) };
      return result.replayed ? c.json(response, 200) : c.json(response, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/batch",
      operationId: "recordPurchaseBatch",
      tags,
      summary: "Record a batch of purchases",
      description:
        `Up to ${batchTransactionsMax} purchases (offline sync, imports), posted to the ledger ` +
        "in as few requests as possible. One result per purchase, in order: `created`, " +
        "`replayed` or `error` with its code. A malformed body is refused whole. Role: pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["pos"], batchBodyBytesMax),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(
          z
            .strictObject({
              transactions: z.array(PurchaseBody).min(1).max(batchTransactionsMax),
            })
            .openapi("PurchaseBatch"),
          {
            transactions: [
              purchaseExample,
              {
                external_id: "store-7:till-3:000124",
                member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
                amount: 450,
                currency: "EUR",
              },
            ],
          },
        ),
      },
      responses: {
        200: jsonContent(z.object({ results: z.array(BatchItemResult) }), "Per-item results.", {
          results: [
            {
              external_id: "store-7:till-3:000123",
              status: "created",
              transaction_id: purchaseResultExample.transaction_id,
              points_earned: 19,
              stamps_earned: stampsExample,
            },
            {
              external_id: "store-7:till-3:000124",
              status: "error",
              error: { code: "member_inactive", message: "the member is suspended" },
            },
          ],
        }),
        // 404 and 422 outcomes are per item (`status: error`); 409 is a reused Idempotency-Key.
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const outcomes = await recordPurchases(domain, {
        orgId: principalOf(c).orgId,
        items: body.transactions.map(purchaseInput),
      });
      const results = outcomes.map((outcome): z.infer<typeof BatchItemResult> => {
        if (outcome.status === "error") {
          return {
            external_id: outcome.externalId,
            status: "error",
            error: { code: outcome.code, message: outcome.message },
          };
        }
        const dto = purchaseOutcomeDto(outcome.outcome);
        return {
          external_id: outcome.externalId,
          status: outcome.status,
          transaction_id: dto.transaction_id,
          points_earned: dto.points_earned,
          breakdown: dto.breakdown,
          stamps_earned: dto.stamps_earned,
        };
      });
      return c.json({ results }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/{external_id}/refunds",
      operationId: "refundPurchase",
      tags,
      summary: "Refund a purchase",
      description:
        "Takes back the refunded share of the purchase's points, floor(points × refunded / " +
        "amount) cumulatively. Points the member already spent are not taken and are reported " +
        "as `shortfall`. Refunds beyond the purchase amount are 422. 201 when recorded, 200 " +
        "when this refund `external_id` was recorded before. Role: pos.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["pos"]),
      request: {
        headers: IdempotencyHeaders,
        params: z.object({
          external_id: externalId.openapi({
            param: { name: "external_id", in: "path" },
            description: "The purchase's `external_id`.",
            example: purchaseExample.external_id,
          }),
        }),
        body: jsonBody(RefundBody, { external_id: "store-7:till-3:r-000045", amount: 900 }),
      },
      responses: {
        201: jsonContent(RefundResult, "Recorded.", refundResultExample),
        200: jsonContent(RefundResult, "Recorded before; the stored outcome.", refundResultExample),
        ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const { external_id: purchaseExternalId } = c.req.valid("param");
      const body = c.req.valid("json");
      const result = await refundPurchase(domain, {
        orgId: principalOf(c).orgId,
        purchaseExternalId,
        externalId: body.external_id,
        amountMinor: BigInt(body.amount),
      });
      const response = {
        transaction_id: result.transactionId,
        purchase_id: result.purchaseId,
        points_to_reverse: wireInteger(result.pointsToReverse),
        points_reversed: wireInteger(result.pointsReversed),
        shortfall: wireInteger(result.shortfall),
      };
      return result.replayed ? c.json(response, 200) : c.json(response, 201);
    },
  );

  return app;
}
