/**
 * Operational routes, unauthenticated: liveness, readiness, Prometheus metrics, the OpenAPI
 * document and the docs page. Keep `/metrics` on a private network; it reveals traffic, not data.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { JsonObject } from "../docs-page.ts";
import { renderDocsPage } from "../docs-page.ts";
import type { AppDeps, AppEnv } from "../env.ts";
import { requestLogger } from "../env.ts";
import { checkReadiness } from "../readiness.ts";
import { jsonContent, validationHook } from "./common.ts";

const tags = ["operations"];
const dependencyStatus = z.enum(["up", "down"]);
const ReadinessSchema = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    checks: z.object({
      postgres: dependencyStatus,
      redis: dependencyStatus,
      ledger: dependencyStatus,
    }),
  })
  .openapi("Readiness");

export function systemRoutes(deps: AppDeps, document: () => JsonObject) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      tags,
      summary: "Liveness",
      description: "200 while the process runs; checks no dependency.",
      responses: { 200: jsonContent(z.object({ status: z.literal("ok") }), "Alive.") },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/ready",
      tags,
      summary: "Readiness",
      description:
        "Postgres, Redis and the ledger, each reported; 503 when Postgres or the ledger is " +
        "down. Redis down is reported but leaves the instance ready: it carries only the rate " +
        "limit, which fails open.",
      responses: {
        200: jsonContent(ReadinessSchema, "Postgres and the ledger answer (Redis may be down)."),
        503: jsonContent(ReadinessSchema, "Postgres or the ledger is down."),
      },
    }),
    async (c) => {
      const readiness = await checkReadiness({ ...deps, logger: requestLogger(c) });
      return readiness.ready
        ? c.json({ status: "ready" as const, checks: readiness.checks }, 200)
        : c.json({ status: "not_ready" as const, checks: readiness.checks }, 503);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      tags,
      summary: "Prometheus metrics",
      description:
        "Requests and latency by route and status, ledger transfers posted by code, process " +
        "metrics.",
      responses: {
        200: {
          description: "Prometheus text format.",
          content: { "text/plain": { schema: z.string() } },
        },
      },
    }),
    async (c) => {
      const { registry } = deps.metrics;
      return c.text(await registry.metrics(), 200, { "Content-Type": registry.contentType });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/openapi.json",
      tags,
      summary: "This API's OpenAPI 3.1 document",
      responses: {
        200: jsonContent(z.record(z.string(), z.unknown()), "The document."),
      },
    }),
    (c) => c.json(document(), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/docs",
      tags,
      summary: "Human-readable API documentation",
      responses: {
        200: { description: "An HTML page.", content: { "text/html": { schema: z.string() } } },
      },
    }),
    (c) => c.html(renderDocsPage(document()), 200),
  );

  return app;
}
