/**
 * The per-key rate limit in Redis: RateLimit-* headers on every answer, 429 with Retry-After
 * past the limit, one budget per key; and when Redis cannot answer the limiter fails open:
 * requests go through without the headers, and a counter records it.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, testRedis } from "./support.ts";

let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness({ rateLimit: { requests: 3, windowSeconds: 60 } });
  org = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

describe("rate limit", () => {
  it("counts down in the headers, then answers 429 with Retry-After", async () => {
    for (const remaining of [2, 1, 0]) {
      const response = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
        key: org.keys.finance,
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("ratelimit-limit")).toBe("3");
      expect(response.headers.get("ratelimit-remaining")).toBe(String(remaining));
      const reset = Number(response.headers.get("ratelimit-reset"));
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
    }
    const limited = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
      key: org.keys.finance,
    });
    expect(limited.status).toBe(429);
    expect(limited.body.error?.code).toBe("rate_limited");
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    // Another key of the same org has its own budget.
    const admin = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
      key: org.keys.admin,
    });
    expect(admin.status).toBe(200);
    expect(admin.headers.get("ratelimit-remaining")).toBe("2");
  });

  it("refuses a limited write without running it", async () => {
    const fresh = await buildTestOrg(harness);
    for (let index = 0; index < 3; index += 1) {
      await call(harness.app, "GET", "/v1/members?external_ref=x", { key: fresh.keys.pos });
    }
    const response = await call(harness.app, "POST", "/v1/members", {
      key: fresh.keys.pos,
      body: { external_ref: "card-limited" },
    });
    expect(response.status).toBe(429);
    const [row] = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from members where org_id = ${fresh.id}`;
    expect(row?.n).toBe(0);
  });

  it("fails open when Redis is unreachable", async () => {
    const deadRedis = testRedis("redis://127.0.0.1:1");
    deadRedis.on("error", () => undefined);
    try {
      const app = harness.variant({ redis: deadRedis });
      const fresh = await buildTestOrg(harness);
      const failures = async () =>
        (await harness.metrics.rateLimitFailures.get()).values[0]?.value ?? 0;
      const before = await failures();
      for (let index = 0; index < 5; index += 1) {
        const response = await call(app, "GET", "/v1/ledger/trial-balance", {
          key: fresh.keys.finance,
        });
        expect(response.status).toBe(200);
        expect(response.headers.get("ratelimit-limit")).toBeNull();
      }
      expect((await failures()) - before).toBe(5);
    } finally {
      deadRedis.disconnect();
    }
  });
});

describe("served by Node (the production path)", () => {
  it("carries the request id and the RateLimit headers on answers, errors and 429s", async () => {
    const limited = await createHarness({ rateLimit: { requests: 2, windowSeconds: 60 } });
    const server = serve({ fetch: limited.app.fetch, hostname: "127.0.0.1", port: 0 });
    try {
      await new Promise<void>((resolve) => server.once("listening", () => resolve()));
      const { port } = server.address() as AddressInfo;
      const fresh = await buildTestOrg(limited);
      const get = (path: string, headers: Record<string, string> = {}) =>
        fetch(`http://127.0.0.1:${port}${path}`, {
          headers: { Authorization: `Bearer ${fresh.keys.finance}`, ...headers },
        });

      const ok = await get("/v1/ledger/trial-balance", { "X-Request-Id": "till-1.req-1" });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("x-request-id")).toBe("till-1.req-1");
      expect(ok.headers.get("ratelimit-limit")).toBe("2");
      expect(ok.headers.get("ratelimit-remaining")).toBe("1");
      expect(ok.headers.get("content-type")).toMatch(/^application\/json/);

      const missing = await get("/v1/members/00000000-0000-4000-8000-000000000000");
      expect(missing.status).toBe(403);
      expect(missing.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(missing.headers.get("ratelimit-remaining")).toBe("0");

      const refused = await get("/v1/ledger/trial-balance");
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).not.toBeNull();
      expect(refused.headers.get("ratelimit-remaining")).toBe("0");
      expect(refused.headers.get("x-request-id")).not.toBeNull();
      // Each header once: Node's and the Fetch response's are merged, not appended.
      expect(refused.headers.get("ratelimit-limit")).toBe("2");
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
        "rate_limited",
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await limited.close();
    }
  });
});
