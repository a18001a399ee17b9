/**
 * Pieces every resource sub-app shares: the validation hook (zod failure → 400 with field
 * paths), the guards of org-scoped writes, and OpenAPI response helpers.
 */
import type { Hook } from "@hono/zod-openapi";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { ZodType } from "zod";
import type { ApiKeyRole, LedgerDeps } from "../../membership/index.ts";
import type { AppDeps, AppEnv } from "../env.ts";
import { principalOf } from "../env.ts";
import { ApiError, validationDetails, validationIssuesMax } from "../errors.ts";
import { idempotency } from "../idempotency.ts";
import { bodyBytesMax } from "../limits.ts";
import type { PrincipalCache } from "../middleware.ts";
import { authenticate, limitBody, requireRole } from "../middleware.ts";
import type { RateLimiter } from "../rate-limit.ts";
import { rateLimit } from "../rate-limit.ts";
import { ErrorSchema, unsafeTextIssues } from "../wire.ts";

const targetNames: Record<string, string> = {
  json: "body",
  query: "query",
  param: "path",
  header: "header",
};

/**
 * Turns a zod failure into the 400 envelope; nothing after validation runs. Every validated part
 * (body, query, path parameters) is also searched for text that cannot be stored (NUL, unpaired
 * surrogates; see `unsafeTextIssues`), here, once, so that no field of any route, present or
 * future, can forget it. On failure `result.data` is the raw input, on success the parsed value.
 */
export const validationHook: Hook<unknown, AppEnv, string, undefined> = (result) => {
  const input: unknown = "data" in result ? result.data : undefined;
  const textIssues = unsafeTextIssues(input, validationIssuesMax);
  if (result.success && textIssues.length === 0) {
    return undefined;
  }
  const target = targetNames[result.target] ?? result.target;
  const details = result.success
    ? { target, issues: textIssues }
    : validationDetails(target, result.error);
  if (!result.success && textIssues.length > 0) {
    details.issues = [...textIssues, ...details.issues].slice(0, validationIssuesMax);
  }
  throw new ApiError(400, "validation_failed", `invalid request ${target}`, details);
};

/** What every resource sub-app is built from. */
export interface RouteDeps {
  app: AppDeps;
  /** The use cases' dependencies. */
  domain: LedgerDeps;
  limiter: RateLimiter;
  /** Authenticated keys, shared by every sub-app. */
  principals: PrincipalCache;
}

/** A sub-app for org-scoped routes: every request is authenticated, then rate limited. */
export function orgScopedApp(deps: RouteDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use("*", authenticate(deps.app, deps.principals), rateLimit(deps.limiter, deps.app.metrics));
  return app;
}

/** Route middleware of an org-scoped POST/PATCH: role, body size, then Idempotency-Key. */
export function writeGuards(
  deps: RouteDeps,
  roles: ApiKeyRole[],
  maxBytes: number = bodyBytesMax,
): [ReturnType<typeof requireRole>, ReturnType<typeof limitBody>, ReturnType<typeof idempotency>] {
  return [
    requireRole(...roles),
    limitBody(maxBytes),
    idempotency(deps.app, (c) => principalOf(c).orgId),
  ];
}

export function jsonContent<T extends ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

export function jsonBody<T extends ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

const errorDescriptions = {
  400: "Invalid request: `validation_failed` with field paths in `details.issues`.",
  401: "No or unknown API key.",
  403: "The key's role may not call this route.",
  404: "Unknown id, or another org's (indistinguishable).",
  409: "Conflict: duplicate, reused external id or Idempotency-Key, or a state that forbids it.",
  413: "Body too large.",
  422: "Business rule refused it (e.g. `insufficient_points`, `member_inactive`).",
  429: "Rate limit exceeded; see the RateLimit-* headers.",
  503: "A dependency (Postgres, the ledger) is unavailable; nothing was written.",
} as const;
type DocumentedStatus = keyof typeof errorDescriptions;

/** OpenAPI entries for the error answers a route can give, all in the error envelope. */
export function errorResponses<const S extends DocumentedStatus>(
  ...statuses: S[]
): Record<S, ReturnType<typeof jsonContent<typeof ErrorSchema>>> {
  const responses = {} as Record<S, ReturnType<typeof jsonContent<typeof ErrorSchema>>>;
  for (const status of statuses) {
    responses[status] = jsonContent(ErrorSchema, errorDescriptions[status]);
  }
  return responses;
}

export const apiKeySecurity = [{ apiKey: [] }];
