import assert from "node:assert/strict";
/**
 * The middleware every request passes through: request id and logger, metrics and the access
 * log line, API key and platform authentication, role checks, and the body size limit.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { matchedRoutes } from "hono/route";
import type { ApiKeyPrincipal, ApiKeyRole } from "../membership/index.ts";
import { authenticateApiKey } from "../membership/index.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { principalOf, RequestLog } from "./env.ts";
import { ApiError } from "./errors.ts";
import { bearerTokenLengthMax, memberTokenLengthMax, requestIdLengthMax } from "./limits.ts";
import type { MemberTokenIssuer } from "./member-token.ts";
import { isUnsafeText, unsafeTextMessage } from "./wire.ts";

export const requestIdHeader = "X-Request-Id";
const requestIdPattern = new RegExp(`^[A-Za-z0-9._:-]{1,${requestIdLengthMax}}$`);
/** The scheme is case-insensitive (`bearer`, `BEARER`), followed by one or more spaces. */
const bearerPattern = /^bearer +([\x21-\x7e]+)$/i;
/** Room for the scheme and the spaces around the token, beyond the token's own bound. */
const authorizationSlack = 32;
/** RFC 6750: the challenge; with `error="invalid_token"` when a token was sent but is unknown. */
const wwwAuthenticate = { "WWW-Authenticate": 'Bearer realm="loyalty"' };
const wwwAuthenticateInvalid = {
  "WWW-Authenticate": 'Bearer realm="loyalty", error="invalid_token"',
};

/** The route template that answered (`/v1/members/:id`), or `unmatched`; a bounded label set. */
export function routeLabel(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c);
  for (let index = routes.length - 1; index >= 0; index -= 1) {
    const route = routes[index];
    // Middleware is registered for every method ("ALL"); handlers name theirs.
    if (route !== undefined && route.method !== "ALL") {
      return route.path;
    }
  }
  return "unmatched";
}

/**
 * Sets a response header. Served by @hono/node-server, it goes straight onto Node's response
 * (`setHeader`, merged when the response is written), before the handler runs: adding it to a
 * finished Fetch `Response` instead turns the server's plain-object headers into a WHATWG
 * `Headers`, whose validation costs as much as a cached read. Under `app.request` (tests) there
 * is no Node response: then `after` sets it on the Fetch response once the handler has answered.
 */
export function setResponseHeader(
  c: Context<AppEnv>,
  name: string,
  value: string,
): { after(): void } {
  const outgoing = c.env?.outgoing;
  if (outgoing !== undefined && !outgoing.headersSent) {
    outgoing.setHeader(name, value);
    return { after() {} };
  }
  return {
    after() {
      c.res.headers.set(name, value);
    },
  };
}

/**
 * First in the chain: takes the caller's `X-Request-Id` when it is a sane token (so a request
 * can be followed across services) or makes one, gives the request a log context that stamps it
 * on every line, and after the answer records the metrics and one access log line.
 */
export function observe(deps: Pick<AppDeps, "logger" | "metrics">): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const startedAt = performance.now();
    const incoming = c.req.header(requestIdHeader);
    const requestId =
      incoming !== undefined && requestIdPattern.test(incoming) ? incoming : randomUUID();
    c.set("requestId", requestId);
    const log = new RequestLog(deps.logger, requestId);
    c.set("log", log);
    const header = setResponseHeader(c, requestIdHeader, requestId);
    await next();
    header.after();
    const seconds = (performance.now() - startedAt) / 1000;
    const labels = { method: c.req.method, route: routeLabel(c), status: String(c.res.status) };
    deps.metrics.httpRequests.inc(labels);
    deps.metrics.httpRequestSeconds.observe(labels, seconds);
    if (deps.logger.isLevelEnabled("info")) {
      log.root.info(
        {
          ...log.bindings,
          ...labels,
          path: c.req.path,
          durationMs: Math.round(seconds * 1e6) / 1000,
        },
        "request",
      );
    }
  };
}

function bearerToken(header: string | undefined): string | null {
  if (header === undefined || header.length > bearerTokenLengthMax + authorizationSlack) {
    return null;
  }
  return bearerPattern.exec(header)?.[1] ?? null;
}

/**
 * Authenticated keys, remembered for `ttlMs` so that a busy POS does not cost a Postgres round
 * trip per request. Bounded: when full, the oldest entry goes. Only successful lookups are kept;
 * an unknown or revoked key is asked about every time.
 */
export interface PrincipalCache {
  get(token: string): ApiKeyPrincipal | undefined;
  set(token: string, principal: ApiKeyPrincipal): void;
}

export function createPrincipalCache(options: {
  ttlMs: number;
  entriesMax: number;
  now: () => number;
}): PrincipalCache {
  assert.ok(Number.isInteger(options.ttlMs) && options.ttlMs >= 0, "cache TTL is a whole ms count");
  assert.ok(Number.isInteger(options.entriesMax) && options.entriesMax > 0, "cache is bounded");
  const entries = new Map<string, { principal: ApiKeyPrincipal; expiresAtMs: number }>();
  return {
    get(token) {
      const entry = entries.get(token);
      if (entry === undefined) {
        return undefined;
      }
      if (options.now() >= entry.expiresAtMs) {
        entries.delete(token);
        return undefined;
      }
      return entry.principal;
    },
    set(token, principal) {
      if (options.ttlMs === 0) {
        return;
      }
      entries.delete(token);
      if (entries.size >= options.entriesMax) {
        const oldest = entries.keys().next();
        if (oldest.done !== true) {
          entries.delete(oldest.value);
        }
      }
      entries.set(token, { principal, expiresAtMs: options.now() + options.ttlMs });
      assert.ok(entries.size <= options.entriesMax, "principal cache within its bound");
    },
  };
}

/**
 * A valid member token is a credential for the member's own /v1/me routes only: on an API-key
 * route it is refused with 403 (it is not unknown, it is the wrong kind), never let through.
 */
async function refuseMemberToken(
  header: string | undefined,
  memberTokens: Pick<MemberTokenIssuer, "verify"> | undefined,
): Promise<void> {
  if (
    memberTokens === undefined ||
    header === undefined ||
    header.length > memberTokenLengthMax + 32
  ) {
    return;
  }
  const token = bearerPattern.exec(header)?.[1];
  if (token === undefined || token.split(".").length !== 3) {
    return;
  }
  if ((await memberTokens.verify(token)) !== null) {
    throw new ApiError(
      403,
      "forbidden",
      "a member token reaches only the member's own /v1/me routes; this route needs an API key",
    );
  }
}

/** `Authorization: Bearer <api key>` → the org, role and key acting; 401 otherwise. */
export function authenticate(
  deps: Pick<AppDeps, "db" | "secrets">,
  principals: PrincipalCache,
  memberTokens?: Pick<MemberTokenIssuer, "verify">,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("Authorization");
    const token = bearerToken(header);
    if (token === null) {
      await refuseMemberToken(header, memberTokens);
      throw new ApiError(
        401,
        "unauthorized",
        "send an API key as Authorization: Bearer <key>",
        undefined,
        wwwAuthenticate,
      );
    }
    let principal: ApiKeyPrincipal | null | undefined = principals.get(token);
    if (principal === undefined) {
      principal = await authenticateApiKey(deps, { token });
      if (principal !== null) {
        principals.set(token, principal);
      }
    }
    if (principal === null) {
      await refuseMemberToken(header, memberTokens);
      throw new ApiError(
        401,
        "unauthorized",
        "unknown or revoked API key",
        undefined,
        wwwAuthenticateInvalid,
      );
    }
    c.set("principal", principal);
    c.get("log").bind({ orgId: principal.orgId, keyId: principal.keyId });
    await next();
  };
}

/** 403 unless the calling key has one of `roles`. */
export function requireRole(...roles: ApiKeyRole[]): MiddlewareHandler<AppEnv> {
  const allowed = new Set(roles);
  const message = `this route needs a key with role ${roles.join(" or ")}`;
  return async (c, next) => {
    const { role } = principalOf(c);
    if (!allowed.has(role)) {
      throw new ApiError(403, "forbidden", message, { role, allowed_roles: roles });
    }
    await next();
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * `Authorization: Bearer $PLATFORM_TOKEN` for platform routes. Without a configured token the
 * route is disabled: 403, saying how to enable it. Compared in constant time over digests, so
 * neither the content nor the length of the token leaks through timing.
 */
export function platformAuth(platformToken: string | undefined): MiddlewareHandler<AppEnv> {
  const expected = platformToken === undefined ? undefined : digest(platformToken);
  return async (c, next) => {
    if (expected === undefined) {
      throw new ApiError(
        403,
        "forbidden",
        "creating orgs over HTTP is disabled: set PLATFORM_TOKEN (at least 32 characters, e.g. " +
          "`openssl rand -hex 32`) and restart to enable it, or run " +
          "`npm run cli -- org create --name <name> --slug <slug> --currency <code>`",
      );
    }
    const token = bearerToken(c.req.header("Authorization"));
    if (token === null || !timingSafeEqual(digest(token), expected)) {
      throw new ApiError(
        401,
        "unauthorized",
        "send the platform token as Authorization: Bearer <token>",
        undefined,
        token === null ? wwwAuthenticate : wwwAuthenticateInvalid,
      );
    }
    await next();
  };
}

/**
 * The body limit, answering with the error envelope. A body with a `Content-Length` (what every
 * POS client sends) is judged by that header alone, as Hono's `bodyLimit` would, but without
 * touching `c.req.raw.body`: that would build a full WHATWG `Request` with a web stream over the
 * socket, where the Node adapter otherwise reads the body straight into a buffer. A chunked body
 * goes through Hono's `bodyLimit`, which counts its bytes as they arrive.
 */
export function limitBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  const tooLarge = (): never => {
    throw new ApiError(413, "payload_too_large", `the body exceeds ${maxBytes} bytes`, {
      max_bytes: maxBytes,
    });
  };
  const counting = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    const length = c.req.header("content-length");
    if (length !== undefined && c.req.header("transfer-encoding") === undefined) {
      // Node's parser has already refused a malformed or repeated Content-Length.
      if (Number(length) > maxBytes) {
        tooLarge();
      }
      await next();
      return;
    }
    await counting(c, next);
  };
}

/** A path segment or query component, percent-decoded; `undefined` when not valid UTF-8. */
function decodeComponent(component: string, plusIsSpace: boolean): string | undefined {
  const text = plusIsSpace ? component.replaceAll("+", " ") : component;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The parameter a path segment fills in a route template (`/v1/members/:id` → `id`). */
function pathParameterName(template: string, segmentIndex: number, segmentCount: number): string {
  const segments = template.split("/");
  const segment = segments.length === segmentCount ? segments[segmentIndex] : undefined;
  return segment?.startsWith(":") === true ? (segment.slice(1).split("{")[0] ?? "") : "";
}

function unsafeUrlIssue(c: Context<AppEnv>): { target: string; path: string } | undefined {
  const url = new URL(c.req.url);
  const segments = url.pathname.split("/");
  for (let index = 0; index < segments.length; index += 1) {
    const decoded = decodeComponent(segments[index] ?? "", false);
    if (decoded === undefined || isUnsafeText(decoded)) {
      return {
        target: "path",
        path: pathParameterName(routeLabel(c), index, segments.length),
      };
    }
  }
  for (const pair of url.search.slice(1).split("&")) {
    const separator = pair.indexOf("=");
    const name = decodeComponent(separator === -1 ? pair : pair.slice(0, separator), true);
    const value = separator === -1 ? "" : decodeComponent(pair.slice(separator + 1), true);
    if (name === undefined || value === undefined || isUnsafeText(name) || isUnsafeText(value)) {
      return { target: "query", path: name !== undefined && !isUnsafeText(name) ? name : "" };
    }
  }
  return undefined;
}

/**
 * Refuses a URL whose path or query carries text no route can store: a percent-encoded NUL
 * (`%00`), or bytes that are not UTF-8 (how an unpaired surrogate arrives, e.g. `%ED%A0%80`;
 * the router would otherwise pass it on still encoded). 400 naming the parameter. Body strings
 * are checked by the validation hook. Only URLs with a `%` are examined, so the hot paths pay
 * one `includes`.
 */
export function refuseUnsafeUrl(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.url.includes("%")) {
      const issue = unsafeUrlIssue(c);
      if (issue !== undefined) {
        throw new ApiError(400, "validation_failed", `invalid request ${issue.target}`, {
          target: issue.target,
          issues: [
            {
              path: issue.path,
              message: `${unsafeTextMessage}, and must be percent-encoded UTF-8`,
            },
          ],
        });
      }
    }
    await next();
  };
}
