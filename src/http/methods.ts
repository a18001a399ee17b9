/**
 * 405 for a known path called with a method it does not serve, with `Allow` listing those it
 * does (RFC 9110 §15.5.6); an unknown path stays 404.
 *
 * The 405 handlers are registered for exactly the methods a path does not serve, and before the
 * resource sub-apps are mounted: a served method never passes through them (no cost on the hot
 * path), and an unserved one is answered before authentication, since which methods a path
 * serves is public (it is in the OpenAPI document). HEAD is served wherever GET is (Hono answers
 * it with the GET handler, without the body).
 */
import { METHODS } from "node:http";
import type { Hono } from "hono";
import type { AppEnv } from "./env.ts";
import { ApiError } from "./errors.ts";

export const methodNotAllowedExample = "DELETE is not allowed on this path; it serves GET, HEAD";

/** Methods Node's HTTP parser accepts and a route can be asked for (CONNECT never reaches one). */
const requestMethods = METHODS.filter((method) => method !== "CONNECT" && method !== "HEAD");

/** A mounted sub-app's routes, as full paths with the methods their handlers serve. */
export function servedMethods(mounts: Array<[string, Hono<AppEnv>]>): Map<string, Set<string>> {
  const served = new Map<string, Set<string>>();
  for (const [base, app] of mounts) {
    for (const route of app.routes) {
      // Middleware is registered for every method ("ALL"); handlers name theirs.
      if (route.method === "ALL") {
        continue;
      }
      const path = route.path === "/" ? base : `${base === "/" ? "" : base}${route.path}`;
      const methods = served.get(path) ?? new Set<string>();
      methods.add(route.method);
      served.set(path, methods);
    }
  }
  return served;
}

/** The `Allow` value of a path serving `methods`: sorted, with HEAD wherever GET is. */
export function allowHeader(methods: ReadonlySet<string>): string {
  const allowed = new Set(methods);
  if (allowed.has("GET")) {
    allowed.add("HEAD");
  }
  return [...allowed].sort().join(", ");
}

/** True when some URL matches both route paths (same depth, each segment equal or a `:param`). */
export function pathsOverlap(a: string, b: string): boolean {
  const left = a.split("/");
  const right = b.split("/");
  return (
    left.length === right.length &&
    left.every((segment, index) => {
      const other = right[index] ?? "";
      return segment === other || segment.startsWith(":") || other.startsWith(":");
    })
  );
}

/**
 * Registers the 405 answers on `app`; call before mounting the sub-apps. A method that another,
 * overlapping path serves (`/x/:id` and `/x/batch`) gets no 405 handler on either, so a 405 can
 * never shadow a route: such a request that matches no route stays 404, and `Allow` names the
 * methods of the handler's own path only.
 */
export function answerMethodNotAllowed(app: Hono<AppEnv>, served: Map<string, Set<string>>): void {
  for (const [path, methods] of served) {
    const allow = allowHeader(methods);
    const servedNearby = new Set<string>();
    for (const [other, otherMethods] of served) {
      if (other !== path && pathsOverlap(path, other)) {
        for (const method of otherMethods) {
          servedNearby.add(method);
        }
      }
    }
    const unserved = requestMethods.filter(
      (method) => !methods.has(method) && !servedNearby.has(method),
    );
    app.on(unserved, path, (c) => {
      throw methodNotAllowed(c.req.method, allow);
    });
  }
}

/** The 405 answer to `method` on a path serving `allow` (an `Allow` header value). */
export function methodNotAllowed(method: string, allow: string): ApiError {
  return new ApiError(
    405,
    "method_not_allowed",
    `${method} is not allowed on this path; it serves ${allow}`,
    { allowed_methods: allow.split(", ") },
    { Allow: allow },
  );
}
