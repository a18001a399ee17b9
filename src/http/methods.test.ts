/** The 405 answers on a small app: Allow, HEAD beside GET, and never shadowing another route. */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "./env.ts";
import { errorResponse } from "./errors.ts";
import { allowHeader, answerMethodNotAllowed, pathsOverlap, servedMethods } from "./methods.ts";

function app(): Hono<AppEnv> {
  const things = new Hono<AppEnv>();
  things.get("/:id", (c) => c.text("one"));
  things.patch("/:id", (c) => c.text("patched"));
  things.post("/batch", (c) => c.text("batch"));
  things.post("/", (c) => c.text("created"));
  const root = new Hono<AppEnv>();
  root.onError((error, c) => {
    const { status, body, headers } = errorResponse(error, console as never);
    return c.json(body, status, headers);
  });
  const mounts: Array<[string, Hono<AppEnv>]> = [["/things", things]];
  answerMethodNotAllowed(root, servedMethods(mounts));
  for (const [path, routes] of mounts) {
    root.route(path, routes);
  }
  return root;
}

describe("405 Method Not Allowed", () => {
  it("lists the served methods, with HEAD where GET is", async () => {
    const response = await app().request("/things", { method: "DELETE" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    expect(allowHeader(new Set(["PATCH", "GET"]))).toBe("GET, HEAD, PATCH");
  });

  it("never shadows a route that an overlapping path serves", async () => {
    const served = app();
    expect(await (await served.request("/things/batch", { method: "POST" })).text()).toBe("batch");
    expect(await (await served.request("/things/7", { method: "GET" })).text()).toBe("one");
    expect((await served.request("/things/batch", { method: "DELETE" })).status).toBe(405);
    // POST is served on /things/batch, so /things/7 gets no 405 for it: a plain 404.
    expect((await served.request("/things/7", { method: "POST" })).status).toBe(404);
    expect(pathsOverlap("/things/:id", "/things/batch")).toBe(true);
    expect(pathsOverlap("/things/:id", "/things/:id/refunds")).toBe(false);
    expect(pathsOverlap("/a/b", "/a/c")).toBe(false);
  });
});
