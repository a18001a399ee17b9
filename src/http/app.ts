/**
 * The HTTP app factory. Every client arrives in `deps` (built once in main.ts); nothing here
 * reads the environment or opens a connection. One sub-app per resource, mounted with
 * `app.route()`; each handler validates the wire with zod and calls one use case.
 *
 * Order of a request: observe (request id, logger, metrics) → URL text check → [org routes]
 * authenticate → rate limit → [route] role → body limit → Idempotency-Key → validation →
 * handler. Errors of any step end in `onError`, which owns the mapping to the error envelope.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { LedgerDeps } from "../membership/index.ts";
import {
  createIntentMetrics,
  createMembershipCaches,
  createPurchaseBatcher,
} from "../membership/index.ts";
import { createCodeFailureLimiter } from "./code-failures.ts";
import { requestDeadline } from "./deadline.ts";
import { createDocs } from "./docs.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { errorBody, respondWithError } from "./errors.ts";
import {
  apiKeyCacheEntriesMax,
  importRequestDeadlineMs,
  memberTokenTtlSecondsDefault,
  requestDeadlineMs,
} from "./limits.ts";
import { createMemberTokens } from "./member-token.ts";
import { answerMethodNotAllowed, servedMethods } from "./methods.ts";
import { createPrincipalCache, observe, refuseUnsafeUrl } from "./middleware.ts";
import type { JsonObject } from "./openapi.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { createRateLimiter } from "./rate-limit.ts";
import { adminJobsRoutes } from "./routes/admin-jobs.ts";
import { apiKeysRoutes } from "./routes/api-keys.ts";
import { auditRoutes } from "./routes/audit.ts";
import { benefitsRoutes } from "./routes/benefits.ts";
import { codesRoutes } from "./routes/codes.ts";
import type { RouteDeps } from "./routes/common.ts";
import { validationHook } from "./routes/common.ts";
import { earningRulesRoutes } from "./routes/earning-rules.ts";
import { eventsRoutes } from "./routes/events.ts";
import { importsRoutes } from "./routes/imports.ts";
import { ledgerRoutes } from "./routes/ledger.ts";
import { meRoutes } from "./routes/me.ts";
import { memberAuthRoutes } from "./routes/member-auth.ts";
import { membersRoutes } from "./routes/members.ts";
import { orgsRoutes } from "./routes/orgs.ts";
import { queueBoardPath, queueBoardRoutes } from "./routes/queue-board.ts";
import { redemptionsRoutes } from "./routes/redemptions.ts";
import { rewardsRoutes } from "./routes/rewards.ts";
import { jobsRoutes, rfmRoutes, segmentsRoutes } from "./routes/segments.ts";
import { settingsRoutes } from "./routes/settings.ts";
import { simulateRoutes } from "./routes/simulate.ts";
import { stampProgramsRoutes } from "./routes/stamp-programs.ts";
import { systemRoutes } from "./routes/system.ts";
import { tierSetsRoutes, tiersRoutes } from "./routes/tier-config.ts";
import { transactionsRoutes } from "./routes/transactions.ts";
import { webhooksRoutes } from "./routes/webhooks.ts";

/** The one route whose body streams in for longer than a request's deadline. */
const importUploadPath = "/v1/imports/members";

/**
 * @example
 * const app = createApp({ db, secrets, ledger, redis, logger, metrics, options });
 * serve({ fetch: app.fetch, port: 3000 });
 * const res = await app.request("/health"); // in tests
 */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const domain: LedgerDeps = {
    db: deps.db,
    secrets: deps.secrets,
    ledger: deps.ledger,
    intentMetrics: deps.intentMetrics ?? createIntentMetrics(deps.metrics.registry),
    // One set per pool (this app's): built here, passed in, never looked up from a global.
    caches: deps.caches ?? createMembershipCaches(),
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
  };
  // Built here, on the app's own deps: every purchase request of this app shares it.
  domain.purchaseBatcher = createPurchaseBatcher(domain);
  const limiter = createRateLimiter(deps.redis, {
    keyPrefix: deps.options.redisKeyPrefix,
    requests: deps.options.rateLimit.requests,
    windowSeconds: deps.options.rateLimit.windowSeconds,
  });
  const principals = createPrincipalCache({
    ttlMs: deps.options.apiKeyCacheTtlMs,
    entriesMax: apiKeyCacheEntriesMax,
    now: () => (deps.clock?.() ?? new Date()).getTime(),
  });
  const codeFailures = createCodeFailureLimiter(deps.redis, {
    keyPrefix: deps.options.redisKeyPrefix,
  });
  const memberTokens = createMemberTokens({
    secret: deps.memberTokenSecret,
    ttlSeconds: deps.options.memberTokenTtlSeconds ?? memberTokenTtlSecondsDefault,
    now: () => deps.clock?.() ?? new Date(),
  });
  const routeDeps: RouteDeps = {
    app: deps,
    domain,
    limiter,
    codeFailures,
    principals,
    memberTokens,
  };

  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use("*", observe(deps), refuseUnsafeUrl());
  // Only the API routes wait on Postgres or the ledger; /health and /metrics answer from memory
  // and /ready bounds its own probes, so they skip the timer.
  const deadline = requestDeadline({
    deadlineMs: deps.options.requestDeadlineMs ?? requestDeadlineMs,
  });
  // An upload takes as long as its sender takes; it has its own, longer deadline.
  const uploadDeadline = requestDeadline({ deadlineMs: importRequestDeadlineMs });
  app.use("/v1/*", (c, next) =>
    c.req.method === "POST" && c.req.path === importUploadPath
      ? uploadDeadline(c, next)
      : deadline(c, next),
  );
  app.onError((error, c) => respondWithError(c, error, c.get("log")?.logger ?? deps.logger));
  app.notFound((c) => c.json(errorBody("route_not_found", "no such route"), 404));

  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description: "An org's API key (admin, pos or finance).",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "memberToken", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "A member app token (JWT, HS256) from `POST /v1/members/{id}/sessions`; /v1/me routes only.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "platformToken", {
    type: "http",
    scheme: "bearer",
    description: "The PLATFORM_TOKEN of this deployment.",
  });

  let document: JsonObject | undefined;
  const openApiDocument = (): JsonObject => {
    document ??= buildOpenApiDocument(app, deps.options.version);
    return document;
  };

  const mounts: Array<[string, OpenAPIHono<AppEnv>]> = [
    ["/", systemRoutes(deps, openApiDocument, createDocs())],
    ["/v1/orgs", orgsRoutes(routeDeps)],
    ["/v1/members", membersRoutes(routeDeps)],
    ["/v1/me", meRoutes(routeDeps)],
    ["/v1/member-auth", memberAuthRoutes(routeDeps)],
    ["/v1/transactions", transactionsRoutes(routeDeps)],
    ["/v1/redemptions", redemptionsRoutes(routeDeps)],
    ["/v1/ledger", ledgerRoutes(routeDeps)],
    ["/v1/events", eventsRoutes(routeDeps)],
    ["/v1/webhooks", webhooksRoutes(routeDeps)],
    ["/v1/settings", settingsRoutes(routeDeps)],
    ["/v1/admin/jobs", adminJobsRoutes(routeDeps)],
    [queueBoardPath, queueBoardRoutes(deps)],
    ["/v1/segments", segmentsRoutes(routeDeps)],
    ["/v1/rfm", rfmRoutes(routeDeps)],
    ["/v1/jobs", jobsRoutes(routeDeps)],
    ["/v1/audit", auditRoutes(routeDeps)],
    ["/v1/simulate", simulateRoutes(routeDeps)],
    ["/v1/api-keys", apiKeysRoutes(routeDeps)],
    ["/v1/stamp-programs", stampProgramsRoutes(routeDeps)],
    ["/v1/codes", codesRoutes(routeDeps)],
    ["/v1/rewards", rewardsRoutes(routeDeps)],
    ["/v1/earning-rules", earningRulesRoutes(routeDeps)],
    ["/v1/tier-sets", tierSetsRoutes(routeDeps)],
    ["/v1/tiers", tiersRoutes(routeDeps)],
    ["/v1/benefits", benefitsRoutes(routeDeps)],
    ["/v1/imports", importsRoutes(routeDeps)],
  ];
  // Before the sub-apps: an unserved method is answered before their authentication.
  answerMethodNotAllowed(app, servedMethods(mounts));
  for (const [path, routes] of mounts) {
    app.route(path, routes);
  }
  return app;
}
