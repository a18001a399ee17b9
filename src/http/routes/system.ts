/**
 * Operational routes, unauthenticated: liveness, readiness, Prometheus metrics, the OpenAPI
 * document and the docs page. Keep `/metrics` on a private network; it reveals traffic, not data.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Docs } from "../docs.ts";
import type { AppDeps, AppEnv } from "../env.ts";
import { requestLogger } from "../env.ts";
import type { JsonObject } from "../openapi.ts";
import { checkReadiness } from "../readiness.ts";
import { jsonContent, publicSecurity, validationHook } from "./common.ts";

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

export function systemRoutes(deps: AppDeps, document: () => JsonObject, docs: Docs) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      operationId: "getHealth",
      tags,
      summary: "Liveness",
      description: "200 while the process runs; checks no dependency.",
      security: publicSecurity,
      responses: {
        200: jsonContent(z.object({ status: z.literal("ok") }), "Alive.", { status: "ok" }),
      },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/ready",
      operationId: "getReadiness",
      tags,
      summary: "Readiness",
      description:
        "Postgres, Redis and the ledger, each reported; 503 when Postgres or the ledger is " +
        "down. Redis down is reported but leaves the instance ready: it carries only the rate " +
        "limit, which fails open.",
      security: publicSecurity,
      responses: {
        200: jsonContent(ReadinessSchema, "Postgres and the ledger answer (Redis may be down).", {
          status: "ready",
          checks: { postgres: "up", redis: "up", ledger: "up" },
        }),
        503: jsonContent(ReadinessSchema, "Postgres or the ledger is down.", {
          status: "not_ready",
          checks: { postgres: "down", redis: "up", ledger: "up" },
        }),
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
      operationId: "getMetrics",
      tags,
      summary: "Prometheus metrics",
      description:
        "Requests and latency by route and status, ledger transfers posted by code, process " +
        "metrics.",
      security: publicSecurity,
      responses: {
        200: {
          description: "Prometheus text format.",
          content: {
            "text/plain": {
              schema: z.string(),
              example:
                "# HELP http_requests_total HTTP requests by method, route and status.\n" +
                "# TYPE http_requests_total counter\n" +
                'http_requests_total{method="POST",route="/v1/transactions",status="201"} 42\n',
            },
          },
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
      operationId: "getOpenApiDocument",
      tags,
      summary: "This API's OpenAPI 3.1 document",
      security: publicSecurity,
      responses: {
        200: jsonContent(z.record(z.string(), z.unknown()), "The document.", {
          openapi: "3.1.0",
          info: { title: "Loyalty Ledger", version: "0.1.0" },
          paths: {},
        }),
      },
    }),
    (c) => c.json(document(), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/docs",
      operationId: "getDocs",
      tags,
      summary: "Human-readable API documentation",
      description:
        "This document rendered by Swagger UI, served by this server from its own copy of the " +
        "renderer (no CDN: works offline). The page loads only this origin's scripts.",
      security: publicSecurity,
      responses: {
        200: {
          description: "An HTML page.",
          content: {
            "text/html": {
              schema: z.string(),
              example: '<!doctype html>\n<html lang="en">…<div id="api-reference"></div>…</html>',
            },
          },
        },
      },
    }),
    (c) => c.html(docs.html, 200, docs.headers),
  );
  docs.mountAssets(app);

  return app;
}
