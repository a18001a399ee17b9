/**
 * Pieces every resource sub-app shares: the validation hook (zod failure → 400 with field
 * paths), the guards of org-scoped writes, and OpenAPI response helpers.
 */
import type { Hook, z } from "@hono/zod-openapi";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { ZodType } from "zod";
import type { ApiKeyRole, LedgerDeps } from "../../membership/index.ts";
import type { CodeFailureLimiter } from "../code-failures.ts";
import type { AppDeps, AppEnv } from "../env.ts";
import { principalOf } from "../env.ts";
import { ApiError, validationDetails, validationIssuesMax } from "../errors.ts";
import { idempotency } from "../idempotency.ts";
import { bodyBytesMax } from "../limits.ts";
import { authenticateMember, type MemberTokenIssuer } from "../member-token.ts";
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
  /** Failed promo code redemptions per member and per key. */
  codeFailures: CodeFailureLimiter;
  /** Authenticated keys, shared by every sub-app. */
  principals: PrincipalCache;
  /** Signs and verifies member app tokens. */
  memberTokens: MemberTokenIssuer;
}

/**
 * A sub-app for org-scoped routes: every request is authenticated, then rate limited. With
 * `memberReads`, a GET carrying a member token (a JWT: API keys never contain a dot) is
 * authenticated as that member instead (`memberPrincipal`, as on /v1/me): its routes answer it
 * through `orgOf` and `requireRoleOrMember`; every other route of the app stays API keys only.
 */
export function orgScopedApp(
  deps: RouteDeps,
  options: { memberReads?: boolean } = {},
): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const staff = authenticate(deps.app, deps.principals, deps.memberTokens);
  if (options.memberReads !== true) {
    app.use("*", staff, rateLimit(deps.limiter, deps.app.metrics));
    return app;
  }
  const member = authenticateMember({
    tokens: deps.memberTokens,
    redis: deps.app.redis,
    keyPrefix: deps.app.options.redisKeyPrefix,
    domain: deps.domain,
  });
  app.use(
    "*",
    (c, next) => (c.req.method === "GET" && isMemberToken(c) ? member(c, next) : staff(c, next)),
    rateLimit(deps.limiter, deps.app.metrics, (c) => {
      const reader = c.get("memberPrincipal");
      return reader === undefined ? principalOf(c).keyId : `member:${reader.memberId}`;
    }),
  );
  return app;
}

function isMemberToken(c: Context<AppEnv>): boolean {
  const header = c.req.header("Authorization") ?? "";
  return /^bearer +[^.\s]+\.[^.\s]+\.[^.\s]+$/i.test(header);
}

/** The org the request acts in: the API key's, or the member token's (`memberReads` routes). */
export function orgOf(c: Context<AppEnv>): string {
  return c.get("memberPrincipal")?.orgId ?? principalOf(c).orgId;
}

/** `requireRole`, also letting through a member authenticated by a `memberReads` app. */
export function requireRoleOrMember(...roles: ApiKeyRole[]): MiddlewareHandler<AppEnv> {
  const staff = requireRole(...roles);
  return async (c, next) => {
    if (c.get("memberPrincipal") !== undefined) {
      await next();
      return;
    }
    await staff(c, next);
  };
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

/** A JSON response with its example (every documented answer has one). */
export function jsonContent<T extends ZodType>(
  schema: T,
  description: string,
  example: z.output<T>,
) {
  return { description, content: { "application/json": { schema, example } } };
}

/** A required JSON request body with its example. */
export function jsonBody<T extends ZodType>(schema: T, example: z.input<T>) {
  return { required: true, content: { "application/json": { schema, example } } };
}

const errorDescriptions = {
  400: "Invalid request: `validation_failed` with field paths in `details.issues`.",
  401: "No or unknown API key.",
  403: "The key's role may not call this route.",
  404: "Unknown id, or another org's (indistinguishable).",
  409: "Conflict: duplicate, reused external id or Idempotency-Key, or a state that forbids it.",
  413: "Body too large.",
  422: "Business rule refused it (e.g. `insufficient_points`, `member_inactive`).",
  429: "Rate limit exceeded; `Retry-After` and the RateLimit-* headers say when to retry.",
  503:
    "A dependency (Postgres, the ledger) is unavailable or did not answer in time. The outcome " +
    "is not known: retry after `Retry-After` with the same `external_id` / `Idempotency-Key`, " +
    "and the retry converges to exactly one recording.",
} as const;
type DocumentedStatus = keyof typeof errorDescriptions;

/** One example envelope per status. */
const errorExamples: Record<DocumentedStatus, z.output<typeof ErrorSchema>> = {
  400: {
    error: {
      code: "validation_failed",
      message: "invalid request body",
      details: {
        target: "body",
        issues: [{ path: "amount", message: "Invalid input: expected int, received number" }],
      },
    },
  },
  401: {
    error: { code: "unauthorized", message: "send an API key as Authorization: Bearer <key>" },
  },
  403: { error: { code: "forbidden", message: "this route needs a key with role pos" } },
  404: { error: { code: "not_found", message: "member not found" } },
  409: {
    error: {
      code: "idempotency_key_reused",
      message: "this Idempotency-Key was used for a different request",
    },
  },
  413: {
    error: {
      code: "payload_too_large",
      message: "the body exceeds 65536 bytes",
      details: { max_bytes: 65536 },
    },
  },
  422: { error: { code: "insufficient_points", message: "not enough points available" } },
  429: {
    error: {
      code: "rate_limited",
      message: "rate limit of 600 requests exceeded; retry in 12 s",
      details: { limit: 600, reset_seconds: 12 },
    },
  },
  503: {
    error: { code: "unavailable", message: "a dependency is unavailable; retry later" },
  },
};

/** OpenAPI entries for the error answers a route can give, all in the error envelope. */
export function errorResponses<const S extends DocumentedStatus>(
  ...statuses: S[]
): Record<S, ReturnType<typeof jsonContent<typeof ErrorSchema>>> {
  const responses = {} as Record<S, ReturnType<typeof jsonContent<typeof ErrorSchema>>>;
  for (const status of statuses) {
    responses[status] = jsonContent(ErrorSchema, errorDescriptions[status], errorExamples[status]);
  }
  return responses;
}

/** Routes that need no credentials say so explicitly (the document has no global default). */
export const publicSecurity: Array<Record<string, string[]>> = [];

export const apiKeySecurity = [{ apiKey: [] }];

/** The member app's routes (/v1/me): a member token, never an API key. */
export const memberTokenSecurity = [{ memberToken: [] }];

/**
 * A refinement for a validity window of two optional RFC 3339 fields: the start before the end,
 * reported at the end's field. Bodies that leave either side open (absent or null) pass.
 */
export function windowOrdered<From extends string, Until extends string>(from: From, until: Until) {
  return (
    body: { [K in From | Until]?: string | null | undefined },
    context: z.RefinementCtx,
  ): void => {
    const start = body[from];
    const end = body[until];
    if (
      typeof start === "string" &&
      typeof end === "string" &&
      Date.parse(start) >= Date.parse(end)
    ) {
      context.addIssue({ code: "custom", path: [until], message: `must be after ${from}` });
    }
  };
}
