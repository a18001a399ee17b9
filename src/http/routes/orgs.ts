/**
 * Creating an org over HTTP: a platform operation, authorised by PLATFORM_TOKEN rather than an
 * org's key, and disabled (403) when no token is configured. Mounted at /v1/orgs.
 * `npm run cli -- org create` does the same without a token.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { createOrg, currencyPattern, isTimeZone, slugPattern } from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { idempotency } from "../idempotency.ts";
import { bodyBytesMax, orgNameLengthMax, slugLengthMax, timezoneLengthMax } from "../limits.ts";
import { limitBody, platformAuth } from "../middleware.ts";
import { IdempotencyHeaders, OrgSchema, orgDto } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { errorResponses, jsonBody, jsonContent, validationHook } from "./common.ts";

const CreateOrgBody = z
  .strictObject({
    name: z.string().min(1).max(orgNameLengthMax).openapi({ example: "Corner Coffee" }),
    slug: z
      .string()
      .max(slugLengthMax)
      .regex(slugPattern, "lower-case letters, digits and inner hyphens")
      .openapi({ example: "corner-coffee" }),
    currency: z
      .string()
      .regex(currencyPattern, "an ISO 4217 code such as EUR")
      .openapi({ example: "EUR" }),
    timezone: z
      .string()
      .max(timezoneLengthMax)
      .refine(isTimeZone, "an IANA time zone such as Europe/Paris")
      .optional()
      .openapi({ example: "Europe/Paris", description: "UTC when absent." }),
  })
  .openapi("CreateOrg");

export function orgsRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createOrg",
      tags: ["orgs"],
      summary: "Create an org",
      description:
        "Creates the org with default settings and tiers, and one API key per role. The keys " +
        "are shown once, here. Authorization: Bearer $PLATFORM_TOKEN; without PLATFORM_TOKEN " +
        "configured the route is disabled (403).",
      security: [{ platformToken: [] }],
      middleware: [
        platformAuth(deps.app.options.platformToken),
        limitBody(bodyBytesMax),
        idempotency(deps.app, () => null),
      ],
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateOrgBody, {
          name: "Corner Coffee",
          slug: "corner-coffee",
          currency: "EUR",
          timezone: "Europe/Paris",
        }),
      },
      responses: {
        201: jsonContent(
          z.object({
            org: OrgSchema,
            api_keys: z.object({ admin: z.string(), pos: z.string(), finance: z.string() }),
          }),
          "The org and its API keys (shown only once).",
          {
            org: {
              id: "2a4c6e8a-0c2e-4f6a-8c0e-2a4c6e8a0c2e",
              name: "Corner Coffee",
              slug: "corner-coffee",
              currency: "EUR",
              timezone: "Europe/Paris",
              settings: {
                base_rate_points_per_unit: 1,
                welcome_bonus_points: 100,
                hold_seconds_default: 900,
                tier_metric: "points",
                tier_window_months: 12,
                tier_downgrade_grace_days: 30,
                rfm: { method: "quintiles", window_days: 365 },
                expiry: "none",
                rounding: "down",
                earning_caps: { day: null, week: null, month: null },
                stamp_defaults: { stamps_per_card: null, reward_points: null },
                referral: {
                  referrer_points: 0,
                  referred_points: 0,
                  max_per_referrer_per_month: 0,
                  min_purchase_amount: null,
                },
                member_pin_login: false,
                timezone: "Europe/Paris",
              },
              created_at: "2026-01-31T12:00:00.000Z",
            },
            api_keys: {
              admin: "llk_admin_EXAMPLE0000000000000000000000000000",
              pos: "llk_pos_EXAMPLE000000000000000000000000000000",
              finance: "llk_finance_EXAMPLE000000000000000000000000000",
            },
          },
        ),
        ...errorResponses(400, 401, 403, 409, 413, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const created = await createOrg(deps.domain, {
        name: body.name,
        slug: body.slug,
        currency: body.currency,
        ...(body.timezone === undefined ? {} : { timezone: body.timezone }),
      });
      return c.json(
        {
          org: orgDto(created.org),
          api_keys: {
            admin: created.apiKeys.admin.token,
            pos: created.apiKeys.pos.token,
            finance: created.apiKeys.finance.token,
          },
        },
        201,
      );
    },
  );

  return app;
}
