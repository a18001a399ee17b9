/**
 * The org's API keys, for its admins: `POST /v1/api-keys` (the token shown once), `GET` (never a
 * token), `DELETE /v1/api-keys/{id}` (revoked). Every change is in the audit log. Rotating the
 * last admin key is create-then-revoke: revoking the last live admin key is refused (409).
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  type ApiKey,
  createApiKey,
  listApiKeys,
  membershipLimits,
  revokeApiKey,
} from "../../membership/index.ts";
import { actorOf, principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import { apiKeyCacheTtlMs } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { IdempotencyHeaders } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";

const tags = ["api keys"];

const ApiKeySchema = z
  .object({
    id: z.string(),
    role: z.enum(["admin", "pos", "finance"]),
    name: z.string(),
    prefix: z
      .string()
      .openapi({ description: "The token's first characters, to tell keys apart." }),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
  })
  .openapi("ApiKey");

const CreateApiKeyBody = z
  .strictObject({
    role: z.enum(["admin", "pos", "finance"]),
    name: z.string().min(1).max(membershipLimits.apiKeyNameLengthMax),
    expires_at: z.iso.datetime({ offset: true }).optional().openapi({
      description: "When the key stops working (RFC 3339, in the future); never when absent.",
    }),
  })
  .openapi("CreateApiKey");

const KeyParams = z.object({
  id: z
    .string()
    .regex(/^key_[0-9a-f]{32}$/, "an API key id")
    .openapi({
      param: { name: "id", in: "path" },
      example: "key_3f1d2c4b7a9e4f609b8d2e5c1a7f0d34",
    }),
});

function apiKeyDto(key: ApiKey): z.output<typeof ApiKeySchema> {
  return {
    id: key.id,
    role: key.role,
    name: key.name,
    prefix: key.prefix,
    created_at: key.createdAt.toISOString(),
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    expires_at: key.expiresAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}

const keyExample: z.output<typeof ApiKeySchema> = {
  id: "key_3f1d2c4b7a9e4f609b8d2e5c1a7f0d34",
  role: "pos",
  name: "store 7, till 3",
  prefix: "llk_Xy12",
  created_at: "2026-12-07T09:00:00.000Z",
  last_used_at: null,
  expires_at: "2027-12-07T00:00:00.000Z",
  revoked_at: null,
};

export function apiKeysRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createApiKey",
      tags,
      summary: "Create an API key",
      description:
        "The `token` is in this answer only: only its HMAC is stored. Written to the audit log. " +
        "Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateApiKeyBody, {
          role: "pos",
          name: "store 7, till 3",
          expires_at: "2027-12-07T00:00:00Z",
        }),
      },
      responses: {
        201: jsonContent(
          z.object({ api_key: ApiKeySchema.extend({ token: z.string() }) }),
          "The key, with its token (shown once).",
          { api_key: { ...keyExample, token: "llk_Xy12…" } },
        ),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const expiresAt = body.expires_at === undefined ? null : new Date(body.expires_at);
      if (expiresAt !== null && expiresAt.getTime() <= Date.now()) {
        throw new ApiError(400, "validation_failed", "invalid request body", {
          target: "body",
          issues: [{ path: "expires_at", message: "must be in the future" }],
        });
      }
      const created = await createApiKey(deps.domain, {
        orgId: principalOf(c).orgId,
        role: body.role,
        name: body.name,
        expiresAt,
        actor: actorOf(c),
      });
      return c.json({ api_key: { ...apiKeyDto(created), token: created.token } }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listApiKeys",
      tags,
      summary: "The org's API keys",
      description:
        "Every key, revoked and expired ones included, oldest first; never a token. Role: admin.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      responses: {
        200: jsonContent(z.object({ api_keys: z.array(ApiKeySchema) }), "The keys.", {
          api_keys: [keyExample],
        }),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const keys = await listApiKeys(deps.domain, { orgId: principalOf(c).orgId });
      return c.json({ api_keys: keys.map(apiKeyDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      operationId: "revokeApiKey",
      tags,
      summary: "Revoke an API key",
      description:
        `The key stops working at once in this process and within ${apiKeyCacheTtlMs / 1000} s ` +
        "(the key cache's lifetime) everywhere. Revoking a revoked key returns it unchanged. " +
        "The org's last live admin key is 409 `conflict`: create another admin key first. " +
        "Written to the audit log. Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: { headers: IdempotencyHeaders, params: KeyParams },
      responses: {
        200: jsonContent(z.object({ api_key: ApiKeySchema }), "The revoked key.", {
          api_key: { ...keyExample, revoked_at: "2026-12-08T10:00:00.000Z" },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const key = await revokeApiKey(deps.domain, {
        orgId: principalOf(c).orgId,
        keyId: id,
        actor: actorOf(c),
      });
      return c.json({ api_key: apiKeyDto(key) }, 200);
    },
  );
  return app;
}
