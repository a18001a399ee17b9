/**
 * The operational routes and the cross-cutting edge: liveness, request ids (taken from the
 * caller or made, and on every log line of the request), Prometheus metrics, the OpenAPI 3.1
 * document listing every route with every reference resolvable, the offline docs page, and the
 * error envelope for unknown routes.
 */
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, Json } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp } from "./support.ts";

let harness: Harness;

beforeAll(async () => {
  harness = await createHarness();
});
afterAll(async () => {
  await harness?.close();
});

/** Every route of the API, as OpenAPI paths. */
const routes: Array<[string, string]> = [
  ["post", "/v1/orgs"],
  ["post", "/v1/members"],
  ["get", "/v1/members"],
  ["get", "/v1/members/{id}"],
  ["patch", "/v1/members/{id}"],
  ["get", "/v1/members/{id}/balances"],
  ["get", "/v1/members/{id}/history"],
  ["get", "/v1/members/{id}/tier"],
  ["get", "/v1/members/{id}/tier/explain"],
  ["put", "/v1/members/{id}/tier"],
  ["delete", "/v1/members/{id}/tier/override"],
  ["post", "/v1/members/{id}/redemptions"],
  ["get", "/v1/members/{id}/redemptions"],
  ["put", "/v1/members/{id}/auto-redemption"],
  ["get", "/v1/members/{id}/auto-redemption"],
  ["delete", "/v1/members/{id}/auto-redemption"],
  ["get", "/v1/members/{id}/referrals"],
  ["post", "/v1/members/{id}/adjustments"],
  ["post", "/v1/members/{id}/erase"],
  ["get", "/v1/members/{id}/export"],
  ["post", "/v1/members/{id}/sessions"],
  ["put", "/v1/members/{id}/pin"],
  ["post", "/v1/member-auth/login"],
  ["get", "/v1/me"],
  ["patch", "/v1/me"],
  ["get", "/v1/me/balances"],
  ["get", "/v1/me/history"],
  ["get", "/v1/me/tier"],
  ["get", "/v1/me/benefits"],
  ["get", "/v1/me/insights"],
  ["get", "/v1/me/rewards"],
  ["get", "/v1/me/redemptions"],
  ["post", "/v1/me/redemptions"],
  ["post", "/v1/me/codes/redeem"],
  ["post", "/v1/me/logout"],
  ["post", "/v1/transactions"],
  ["post", "/v1/transactions/batch"],
  ["post", "/v1/transactions/{external_id}/refunds"],
  ["post", "/v1/redemptions/{id}/fulfill"],
  ["post", "/v1/redemptions/{id}/cancel"],
  ["get", "/v1/ledger/trial-balance"],
  ["post", "/v1/ledger/reconciliations"],
  ["get", "/v1/ledger/reconciliations/{id}"],
  ["get", "/v1/ledger/transfers"],
  ["get", "/v1/ledger/balances"],
  ["post", "/v1/events"],
  ["get", "/v1/events/{event_id}"],
  ["get", "/v1/settings"],
  ["patch", "/v1/settings"],
  ["get", "/v1/admin/jobs/failed"],
  ["post", "/v1/admin/jobs/{queue}/{id}/retry"],
  ["get", "/v1/members/{id}/rfm"],
  ["get", "/v1/segments"],
  ["get", "/v1/segments/{name}/members"],
  ["post", "/v1/rfm/rebuild"],
  ["get", "/v1/jobs/{job_id}"],
  ["get", "/admin/queues"],
  ["post", "/v1/webhooks"],
  ["get", "/v1/webhooks"],
  ["delete", "/v1/webhooks/{id}"],
  ["get", "/v1/webhooks/{id}/deliveries"],
  ["get", "/v1/audit"],
  ["post", "/v1/simulate/purchase"],
  ["post", "/v1/simulate/rules"],
  ["post", "/v1/api-keys"],
  ["get", "/v1/api-keys"],
  ["delete", "/v1/api-keys/{id}"],
  ["post", "/v1/stamp-programs"],
  ["get", "/v1/stamp-programs"],
  ["get", "/v1/stamp-programs/{id}"],
  ["patch", "/v1/stamp-programs/{id}"],
  ["delete", "/v1/stamp-programs/{id}"],
  ["get", "/v1/members/{id}/stamp-cards"],
  ["post", "/v1/codes"],
  ["get", "/v1/codes"],
  ["patch", "/v1/codes/{id}"],
  ["post", "/v1/members/{id}/codes/redeem"],
  ["post", "/v1/rewards"],
  ["get", "/v1/rewards"],
  ["get", "/v1/rewards/{id}"],
  ["patch", "/v1/rewards/{id}"],
  ["post", "/v1/earning-rules"],
  ["get", "/v1/earning-rules"],
  ["get", "/v1/earning-rules/{id}"],
  ["patch", "/v1/earning-rules/{id}"],
  ["delete", "/v1/earning-rules/{id}"],
  ["post", "/v1/tier-sets"],
  ["get", "/v1/tier-sets"],
  ["get", "/v1/tier-sets/{id}"],
  ["patch", "/v1/tier-sets/{id}"],
  ["delete", "/v1/tier-sets/{id}"],
  ["post", "/v1/tiers"],
  ["get", "/v1/tiers"],
  ["get", "/v1/tiers/{id}"],
  ["patch", "/v1/tiers/{id}"],
  ["delete", "/v1/tiers/{id}"],
  ["post", "/v1/benefits"],
  ["get", "/v1/benefits"],
  ["get", "/v1/benefits/{id}"],
  ["patch", "/v1/benefits/{id}"],
  ["delete", "/v1/benefits/{id}"],
  ["get", "/v1/members/{id}/benefits"],
  ["get", "/v1/members/{id}/insights"],
  ["post", "/v1/simulate/tiers"],
  ["post", "/v1/imports/members"],
  ["get", "/v1/imports/{id}"],
  ["get", "/health"],
  ["get", "/ready"],
  ["get", "/metrics"],
  ["get", "/openapi.json"],
  ["get", "/docs"],
];

describe("GET /health", () => {
  it("answers ok with a request id", async () => {
    const response = await call(harness.app, "GET", "/health");
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: "ok" });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("request ids", () => {
  it("keeps a caller's id, refuses a malformed one, and stamps it on every log line", async () => {
    const lines: Json[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString("utf8")) as Json);
        done();
      },
    });
    const app = harness.variant({ logger: pino({ level: "info" }, sink) });
    const org = await buildTestOrg(harness);
    const response = await call(app, "GET", "/v1/members/not-a-member", {
      key: org.keys.pos,
      headers: { "X-Request-Id": "till-7.req-42" },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get("x-request-id")).toBe("till-7.req-42");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line.requestId).toBe("till-7.req-42");
    }
    expect(lines.at(-1)).toMatchObject({
      msg: "request",
      method: "GET",
      route: "/v1/members/:id",
      status: "404",
      orgId: org.id,
    });

    const forged = await call(app, "GET", "/health", {
      headers: { "X-Request-Id": "bad id\twith spaces" },
    });
    expect(forged.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("errors outside any route", () => {
  it("answers unknown routes with the envelope", async () => {
    const response = await call(harness.app, "GET", "/v2/nothing");
    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      error: { code: "route_not_found", message: "no such route" },
    });
  });
});

describe("GET /metrics", () => {
  it("counts requests by route and status, and transfers posted by code", async () => {
    const org = await buildTestOrg(harness);
    await enrollOverHttp(harness, org);
    await call(harness.app, "GET", "/health");
    const response = await call(harness.app, "GET", "/metrics");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = String(response.body);
    expect(text).toMatch(/http_requests_total\{method="GET",route="\/health",status="200"\} \d+/);
    expect(text).toMatch(
      /http_requests_total\{method="POST",route="\/v1\/members",status="201"\} \d+/,
    );
    expect(text).toContain('http_request_duration_seconds_bucket{le="0.05",method="GET"');
    expect(text).toMatch(/ledger_transfers_posted_total\{code="welcomeBonus"\} [1-9]/);
  });
});

/** Every `$ref` in `value` must point at something in `document`. */
function unresolvedRefs(document: Json, value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const item of value) {
      unresolvedRefs(document, item, found);
    }
  } else if (typeof value === "object" && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      if (key === "$ref" && typeof child === "string") {
        let target: Json | undefined = document;
        for (const part of child.replace(/^#\//, "").split("/")) {
          target = target?.[part];
        }
        if (target === undefined) {
          found.push(child);
        }
      } else {
        unresolvedRefs(document, child, found);
      }
    }
  }
  return found;
}

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document listing every route, with every reference resolvable", async () => {
    const response = await call(harness.app, "GET", "/openapi.json");
    expect(response.status).toBe(200);
    const document = response.body;
    expect(document.openapi).toBe("3.1.0");
    expect(document.info?.title).toBe("Loyalty Ledger");
    for (const [method, path] of routes) {
      const operation = document.paths?.[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(Object.keys(operation?.responses ?? {}).length, path).toBeGreaterThan(0);
    }
    const listed = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
      Object.keys(item ?? {}).map((method) => `${method} ${path}`),
    );
    expect(listed.sort()).toEqual(routes.map(([method, path]) => `${method} ${path}`).sort());
    expect(unresolvedRefs(document, document)).toEqual([]);
    expect(Object.keys(document.components?.securitySchemes ?? {}).sort()).toEqual([
      "apiKey",
      "memberToken",
      "platformToken",
    ]);
    // The request schemas are the validators': strict objects and integer amounts.
    const purchase = document.components?.schemas?.Purchase;
    expect(purchase?.additionalProperties).toBe(false);
    expect(purchase?.properties?.amount).toMatchObject({
      type: "integer",
      minimum: 1,
      maximum: 1_000_000_000_000,
    });
  });
});

describe("GET /docs", () => {
  it("serves the renderer's page and its assets from this server only, under a strict CSP", async () => {
    const response = await call(harness.app, "GET", "/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:|\*|unsafe-eval/);
    const page = String(response.body);
    // Nothing from another origin, no inline script: every script and stylesheet is ours.
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(page).not.toMatch(/<script>/);
    const assets = [...page.matchAll(/(?:src|href)="(docs\/assets\/[^"]+)"/g)].map(
      (match) => `/${match[1]}`,
    );
    expect(assets.length).toBe(3);
    for (const asset of assets) {
      const served = await harness.app.request(asset);
      expect(served.status, asset).toBe(200);
      expect(served.headers.get("content-type"), asset).toMatch(/^text\/(css|javascript)/);
      expect(served.headers.get("cache-control"), asset).toContain("max-age");
      expect((await served.text()).length, asset).toBeGreaterThan(100);
    }
    const bundle = await harness.app.request(assets.find((a) => a.endsWith("bundle.js")) ?? "");
    expect(await bundle.text()).toContain("SwaggerUIBundle");
    const stale = await call(harness.app, "GET", "/docs/assets/0.0.0/swagger-ui-bundle.js");
    expect(stale.status).toBe(404);
    const other = await call(harness.app, "GET", assets[0]?.replace(/[^/]+$/, "index.html") ?? "");
    expect(other.status).toBe(404);
  });
});
