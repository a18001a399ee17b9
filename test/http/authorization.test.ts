/**
 * `Authorization`: the scheme is case-insensitive (RFC 9110), and a 401 answer carries the same
 * headers as any other answer (X-Request-Id, Content-Type) plus the `WWW-Authenticate: Bearer`
 * challenge. RateLimit-* describe an API key's budget, so they come with every answer to a
 * known key (a 403 included) and with none to a request that has no valid key.
 * Checked over a real socket, where Node writes the headers, as well as in process.
 */
import type { ServerType } from "@hono/node-server";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp } from "./support.ts";

const platformToken = "platform-token-for-authorization-tests-0123";
let harness: Harness;
let org: TestOrg;
let memberId: string;
let server: ServerType;
let base: string;

beforeAll(async () => {
  harness = await createHarness({ platformToken });
  org = await buildTestOrg(harness);
  memberId = (await enrollOverHttp(harness, org)).id;
  server = serve({ fetch: harness.app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await harness?.close();
});

describe("the Authorization scheme", () => {
  it("is case-insensitive, for API keys and the platform token", async () => {
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
      const member = await call(harness.app, "GET", `/v1/members/${memberId}`, {
        headers: { Authorization: `${scheme} ${org.keys.pos}` },
      });
      expect(member.status, scheme).toBe(200);
    }
    const created = await call(harness.app, "POST", "/v1/orgs", {
      headers: { Authorization: `bearer ${platformToken}` },
      body: { name: "Lower Case", slug: "lower-case", currency: "EUR" },
    });
    expect(created.status).toBe(201);
  });

  it("allows several spaces before the token, and nothing else in their place", async () => {
    const spaced = await call(harness.app, "GET", `/v1/members/${memberId}`, {
      headers: { Authorization: `bearer   ${org.keys.pos}` },
    });
    expect(spaced.status).toBe(200);
    for (const header of [
      `Bearer${org.keys.pos}`,
      `Bearer\t${org.keys.pos}`,
      `Basic ${org.keys.pos}`,
      `Bearers ${org.keys.pos}`,
      `Bearer ${org.keys.pos} extra`,
      "Bearer",
    ]) {
      const response = await call(harness.app, "GET", `/v1/members/${memberId}`, {
        headers: { Authorization: header },
      });
      expect(response.status, header).toBe(401);
    }
  });
});

describe("a 401 answer", () => {
  const requestId = "req-401-check";

  async function fetchHeaders(
    path: string,
    init: RequestInit & { headers?: Record<string, string> } = {},
  ): Promise<{ status: number; headers: Headers; body: string }> {
    const response = await fetch(`${base}${path}`, {
      ...init,
      headers: { "X-Request-Id": requestId, ...init.headers },
    });
    return { status: response.status, headers: response.headers, body: await response.text() };
  }

  it("carries every header an authenticated answer carries, but the key's RateLimit-*", async () => {
    const path = `/v1/members/${memberId}`;
    const ok = await fetchHeaders(path, { headers: { Authorization: `Bearer ${org.keys.pos}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("ratelimit-limit")).not.toBeNull();
    const expected = [...ok.headers.keys()].filter((name) => !name.startsWith("ratelimit-"));
    expect(expected).toEqual(expect.arrayContaining(["content-type", "x-request-id"]));

    const cases: Array<{ name: string; headers: Record<string, string>; challenge: string }> = [
      { name: "no header", headers: {}, challenge: 'Bearer realm="loyalty"' },
      {
        name: "another scheme",
        headers: { Authorization: "Basic dXNlcjpwYXNz" },
        challenge: 'Bearer realm="loyalty"',
      },
      {
        name: "unknown key",
        headers: { Authorization: "bearer lk_unknown" },
        challenge: 'Bearer realm="loyalty", error="invalid_token"',
      },
    ];
    for (const { name, headers, challenge } of cases) {
      const refused = await fetchHeaders(path, { headers });
      expect(refused.status, name).toBe(401);
      expect([...refused.headers.keys()], name).toEqual(expect.arrayContaining(expected));
      expect(refused.headers.get("content-type"), name).toBe("application/json");
      expect(refused.headers.get("x-request-id"), name).toBe(requestId);
      expect(refused.headers.get("www-authenticate"), name).toBe(challenge);
      expect(JSON.parse(refused.body).error.code, name).toBe("unauthorized");
    }
  });

  it("on the platform route carries the same headers and the challenge", async () => {
    for (const [authorization, challenge] of [
      [undefined, 'Bearer realm="loyalty"'],
      ["Bearer wrong-platform-token", 'Bearer realm="loyalty", error="invalid_token"'],
    ] as const) {
      const refused = await fetchHeaders("/v1/orgs", {
        method: "POST",
        headers:
          authorization === undefined
            ? { "Content-Type": "application/json" }
            : { "Content-Type": "application/json", Authorization: authorization },
        body: JSON.stringify({ name: "Nope", slug: "nope", currency: "EUR" }),
      });
      expect(refused.status).toBe(401);
      expect(refused.headers.get("content-type")).toBe("application/json");
      expect(refused.headers.get("x-request-id")).toBe(requestId);
      expect(refused.headers.get("www-authenticate")).toBe(challenge);
    }
  });

  it("is unlike a 403, which comes from a known key and so carries its RateLimit-*", async () => {
    const forbidden = await fetchHeaders("/v1/ledger/trial-balance", {
      headers: { Authorization: `Bearer ${org.keys.pos}` },
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get("x-request-id")).toBe(requestId);
    expect(forbidden.headers.get("ratelimit-remaining")).not.toBeNull();
    expect(forbidden.headers.get("www-authenticate")).toBeNull();
  });

  it("in process has the same headers", async () => {
    const refused = await call(harness.app, "GET", `/v1/members/${memberId}`, {
      headers: { "X-Request-Id": requestId },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("x-request-id")).toBe(requestId);
    expect(refused.headers.get("content-type")).toBe("application/json");
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="loyalty"');
  });
});
