/**
 * `POST /v1/orgs` is a platform route: disabled (403, saying how to enable it) without
 * PLATFORM_TOKEN; with one, anything but that token, including an org's admin key, is 401.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness } from "./support.ts";
import { buildTestOrg, call, createHarness } from "./support.ts";

const platformToken = "platform-token-for-tests-0123456789";
let harness: Harness;

beforeAll(async () => {
  harness = await createHarness();
});
afterAll(async () => {
  await harness?.close();
});

const body = { name: "Org", slug: "security-org", currency: "EUR" };

describe("POST /v1/orgs security", () => {
  it("is disabled without PLATFORM_TOKEN, and says how to enable it", async () => {
    const response = await call(harness.app, "POST", "/v1/orgs", {
      key: platformToken,
      body,
    });
    expect(response.status).toBe(403);
    expect(response.body.error?.code).toBe("forbidden");
    expect(response.body.error?.message).toContain("PLATFORM_TOKEN");
    expect(response.body.error?.message).toContain("npm run cli -- org create");
  });

  it("accepts only the platform token when one is configured", async () => {
    const app = harness.variant({ platformToken });
    const org = await buildTestOrg(harness);
    const variants: Array<Record<string, string>> = [
      {},
      { Authorization: `Bearer ${org.keys.admin}` },
      { Authorization: `Bearer ${platformToken}x` },
      { Authorization: platformToken },
    ];
    for (const headers of variants) {
      const response = await call(app, "POST", "/v1/orgs", { body, headers });
      expect(response.status, JSON.stringify(headers)).toBe(401);
    }
    const accepted = await call(app, "POST", "/v1/orgs", { key: platformToken, body });
    expect(accepted.status).toBe(201);
  });
});
