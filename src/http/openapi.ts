/**
 * The OpenAPI 3.1 document. Each route states its own operation (operationId, summary, request
 * schemas with examples, the statuses its handler and guards answer); this module adds what the
 * edge does to every route alike, so that no route can forget it:
 *
 * - `X-Request-Id` on every response (observe, in middleware.ts);
 * - 405 with `Allow` on every operation (methods.ts answers it for any other method on the path);
 * - 415 on every operation with a JSON body (the validator refuses any other media type);
 * - 500 on every operation (a bug: logged under the request id, the body says nothing);
 * - `RateLimit-*` on every answer of an org-scoped route after authentication, `Retry-After` on
 *   429 and on the error envelope's 503, `WWW-Authenticate` on 401;
 * - `Idempotency-Replayed` on the 2xx answers of routes that take `Idempotency-Key`.
 *
 * A test lints the result with Redocly's recommended-strict rules and checks every operation
 * has an operationId and examples (test/http/openapi.test.ts).
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./env.ts";
import { methodNotAllowedExample } from "./methods.ts";
import { requestIdHeader } from "./middleware.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

const apiDescription =
  "Multi-tenant loyalty backend: every point is a balanced double-entry transfer on the ledger.\n\n" +
  "Org-scoped routes take `Authorization: Bearer <api key>`; the key decides the org and the " +
  "role (admin, pos, finance). Errors are `{error: {code, message, details?}}`. Amounts are " +
  "integers in minor units; points are integers.\n\n" +
  "Every POST honours `Idempotency-Key` (1 to 255 printable ASCII characters): a 2xx answer is " +
  "stored for 24 h and replayed with `Idempotency-Replayed: true`; the same key with another " +
  "request is 409. Purchases, refunds and redemptions are idempotent by their `external_id` " +
  "as well.\n\n" +
  "A path called with a method it does not serve answers 405 with `Allow`; a JSON route called " +
  "with another media type answers 415. Every answer carries `X-Request-Id` (the caller's, " +
  "when it sends a sane one).";

const tags = [
  { name: "transactions", description: "Purchases (one or a batch) and refunds, from a till." },
  { name: "members", description: "Enrolment, profile, balances and points history." },
  { name: "redemptions", description: "Holding points, then fulfilling or cancelling the hold." },
  {
    name: "stamp-programs",
    description: "Stamp cards: how purchases earn stamps, and what a full card gives.",
  },
  {
    name: "rewards",
    description: "The rewards catalog: what members may spend points on (redemption to come).",
  },
  {
    name: "tiers",
    description: "Tier sets and their ladders of tiers: thresholds, multipliers, benefits.",
  },
  { name: "benefits", description: "Perks and multipliers attached to tiers." },
  { name: "ledger", description: "The books: trial balance per unit." },
  { name: "orgs", description: "Platform operation: creating an org and its API keys." },
  { name: "operations", description: "Liveness, readiness, metrics and this documentation." },
];

const headerRef = (name: string): JsonObject => ({ $ref: `#/components/headers/${name}` });

const headers: Record<string, JsonObject> = {
  [requestIdHeader]: {
    description:
      "The request's id: the caller's `X-Request-Id` when it is 1 to 128 characters of " +
      "`A-Za-z0-9._:-`, otherwise a new UUID. Every log line of the request carries it.",
    schema: { type: "string", maxLength: 128, example: "till-7.req-42" },
  },
  "RateLimit-Limit": {
    description:
      "Requests this API key may make per window. Absent while the rate limit is unavailable " +
      "(it fails open).",
    schema: { type: "integer", example: 600 },
  },
  "RateLimit-Remaining": {
    description: "Requests left in the current window.",
    schema: { type: "integer", example: 599 },
  },
  "RateLimit-Reset": {
    description: "Seconds until the window resets.",
    schema: { type: "integer", example: 60 },
  },
  "Retry-After": {
    description: "Seconds to wait before retrying.",
    schema: { type: "integer", example: 1 },
  },
  "WWW-Authenticate": {
    description: "The authentication scheme: `Bearer`.",
    schema: { type: "string", example: 'Bearer realm="loyalty"' },
  },
  "Idempotency-Replayed": {
    description:
      "`true` when this answer is the stored answer of an earlier request with the same " +
      "`Idempotency-Key`; absent otherwise.",
    schema: { type: "string", enum: ["true"] },
  },
  Allow: {
    description: "The methods this path serves.",
    schema: { type: "string", example: "GET, HEAD, PATCH" },
  },
};

const errorRef = { $ref: "#/components/schemas/Error" };

function errorContent(code: string, message: string): JsonObject {
  return { "application/json": { schema: errorRef, example: { error: { code, message } } } };
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

function addHeaders(response: JsonObject, names: string[]): void {
  const existing = isObject(response.headers) ? response.headers : {};
  for (const name of names) {
    existing[name] = headerRef(name);
  }
  response.headers = existing;
}

/** Adds the edge's statuses and headers to one operation (see the module comment). */
function applyEdgeConventions(operation: JsonObject): void {
  const responses = isObject(operation.responses) ? operation.responses : {};
  operation.responses = responses;
  const requestBody = isObject(operation.requestBody) ? operation.requestBody : undefined;
  const takesJson = isObject(requestBody?.content) && "application/json" in requestBody.content;
  if (takesJson && responses["415"] === undefined) {
    responses["415"] = {
      description: "The body is not `application/json` (or has no `Content-Type`).",
      content: errorContent("unsupported_media_type", "send the body as application/json"),
    };
  }
  responses["405"] = {
    description: "This path does not serve the request's method; `Allow` lists those it does.",
    content: errorContent("method_not_allowed", methodNotAllowedExample),
  };
  responses["500"] ??= {
    description:
      "An unexpected error (a bug). It is logged under the `X-Request-Id`; the body reveals " +
      "nothing.",
    content: errorContent("internal_error", "internal error"),
  };
  const security = Array.isArray(operation.security) ? operation.security : [];
  const rateLimited = security.some((entry) => isObject(entry) && "apiKey" in entry);
  const parameters = Array.isArray(operation.parameters) ? operation.parameters : [];
  const idempotent = parameters.some(
    (parameter) =>
      isObject(parameter) &&
      parameter.in === "header" &&
      String(parameter.name).toLowerCase() === "idempotency-key",
  );
  for (const [status, response] of Object.entries(responses)) {
    if (!isObject(response)) {
      continue;
    }
    const names = [requestIdHeader];
    if (status === "405") {
      names.push("Allow");
    }
    if (status === "401") {
      names.push("WWW-Authenticate");
    }
    if (rateLimited && status !== "401" && status !== "405") {
      names.push("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset");
    }
    const content = isObject(response.content) ? response.content : {};
    const json = content["application/json"];
    const isEnvelope =
      isObject(json) && isObject(json.schema) && json.schema.$ref === errorRef.$ref;
    if (status === "429" || (status === "503" && isEnvelope)) {
      names.push("Retry-After");
    }
    if (idempotent && status.startsWith("2")) {
      names.push("Idempotency-Replayed");
    }
    addHeaders(response, names);
  }
}

/** The document of `app`, with the edge conventions applied to every operation. */
export function buildOpenApiDocument(app: OpenAPIHono<AppEnv>, version: string): JsonObject {
  const document = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Loyalty Ledger",
      version,
      description: apiDescription,
    },
    servers: [
      {
        url: "/",
        description: "The server that serves this document (paths are relative to it).",
      },
    ],
    tags,
  }) as unknown as JsonObject;
  // OpenAPI 3.1's SPDX `identifier`, which the generator's types do not know yet.
  if (isObject(document.info)) {
    document.info.license = { name: "Apache-2.0", identifier: "Apache-2.0" };
  }
  const components = isObject(document.components) ? document.components : {};
  components.headers = { ...headers };
  document.components = components;
  const paths = isObject(document.paths) ? document.paths : {};
  for (const item of Object.values(paths)) {
    if (!isObject(item)) {
      continue;
    }
    for (const method of methods) {
      const operation = item[method];
      if (isObject(operation)) {
        applyEdgeConventions(operation);
      }
    }
  }
  return document;
}
