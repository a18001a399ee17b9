/**
 * Bull Board, the maintained BullMQ dashboard, at /admin/queues: every queue, every org's jobs,
 * with retry and clean actions. For operators only: behind the platform token, sent as
 * `Authorization: Bearer $PLATFORM_TOKEN` or as the password of HTTP Basic (what a browser asks
 * for; any user name). An org's API key never opens it. Without PLATFORM_TOKEN it is disabled.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { serveStatic } from "@hono/node-server/serve-static";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { Hono, type MiddlewareHandler } from "hono";
import { type JobProducer, queueNames } from "../../workers/index.ts";
import type { AppDeps, AppEnv } from "../env.ts";
import { ApiError } from "../errors.ts";
import { validationHook } from "./common.ts";

export const queueBoardPath = "/admin/queues";
/** Longest Authorization header looked at: a Basic header of a 256-character token fits. */
const authorizationLengthMax = 1_024;
const challenge = { "WWW-Authenticate": 'Basic realm="queues", charset="UTF-8"' };

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** The token from `Bearer <token>`, or the password from `Basic base64(user:password)`. */
export function presentedToken(header: string | undefined): string | null {
  if (header === undefined || header.length > authorizationLengthMax) {
    return null;
  }
  const bearer = /^Bearer ([\x21-\x7e]+)$/.exec(header);
  if (bearer !== null) {
    return bearer[1] ?? null;
  }
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
  if (basic !== null) {
    const decoded = Buffer.from(basic[1] ?? "", "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon < 0 ? null : decoded.slice(colon + 1);
  }
  return null;
}

function operatorAuth(platformToken: string | undefined): MiddlewareHandler<AppEnv> {
  const expected = platformToken === undefined ? undefined : digest(platformToken);
  return async (c, next) => {
    if (expected === undefined) {
      throw new ApiError(
        403,
        "forbidden",
        "the queue dashboard is disabled: set PLATFORM_TOKEN to enable it",
      );
    }
    const token = presentedToken(c.req.header("Authorization"));
    if (token === null || !timingSafeEqual(digest(token), expected)) {
      throw new ApiError(
        401,
        "unauthorized",
        "send the platform token as Authorization: Bearer <token>, or as the password of HTTP Basic",
        undefined,
        challenge,
      );
    }
    await next();
  };
}

function buildBoard(jobs: JobProducer): Hono {
  const adapter = new HonoAdapter(serveStatic);
  adapter.setBasePath(queueBoardPath);
  createBullBoard({
    queues: queueNames.map((name) => new BullMQAdapter(jobs.queue(name), { readOnlyMode: false })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: "Loyalty Ledger queues" } },
  });
  return new Hono().route(queueBoardPath, adapter.registerPlugin());
}

export function queueBoardRoutes(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  let board: Hono | undefined;
  const forward = async (c: Parameters<MiddlewareHandler<AppEnv>>[0]) => {
    if (deps.jobs === undefined) {
      throw new ApiError(503, "unavailable", "this process has no job queues");
    }
    board ??= buildBoard(deps.jobs);
    return await board.fetch(c.req.raw, c.env);
  };
  app.use("*", operatorAuth(deps.options.platformToken));
  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "getQueueDashboard",
      tags: ["operations"],
      summary: "The job queue dashboard (Bull Board)",
      description:
        "Every queue and every org's jobs: depth, failures, retries. Operators only: the platform " +
        "token as `Authorization: Bearer <token>`, or as the password of HTTP Basic (a browser " +
        "prompts for it). Org API keys are refused. 403 when PLATFORM_TOKEN is not configured.",
      security: [{ platformToken: [] }],
      responses: {
        200: {
          description: "The dashboard, an HTML page; its scripts and API live under this path.",
          content: {
            "text/html": {
              schema: z.string(),
              example: "<!DOCTYPE html><html>…<title>Loyalty Ledger queues</title>…</html>",
            },
          },
        },
        401: { description: "No or wrong platform token (`WWW-Authenticate: Basic`)." },
        403: { description: "PLATFORM_TOKEN is not configured." },
      },
    }),
    forward,
  );
  app.all("/*", forward);
  return app;
}
