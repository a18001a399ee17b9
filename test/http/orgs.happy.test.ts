/**
 * `POST /v1/orgs` with the platform token: the org with its settings and one working key per
 * role, shown once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness } from "./support.ts";
import { call, createHarness } from "./support.ts";

const platformToken = "platform-token-for-tests-0123456789";
let harness: Harness;

beforeAll(async () => {
  harness = await createHarness({ platformToken });
});
afterAll(async () => {
  await harness?.close();
});

describe("POST /v1/orgs", () => {
  it("creates an org whose three keys work with their roles", async () => {
    const response = await call(harness.app, "POST", "/v1/orgs", {
      key: platformToken,
      body: { name: "Bakery Ltd", slug: "bakery-ltd", currency: "GBP", timezone: "Europe/London" },
    });
    expect(response.status).toBe(201);
    expect(response.body.org).toMatchObject({
      name: "Bakery Ltd",
      slug: "bakery-ltd",
      currency: "GBP",
      timezone: "Europe/London",
      settings: {
        base_rate_points_per_unit: 1,
        welcome_bonus_points: 100,
        hold_seconds_default: 900,
      },
    });
    const keys = response.body.api_keys;
    const admin = String(keys?.admin);
    const pos = String(keys?.pos);
    const finance = String(keys?.finance);
    expect(new Set([admin, pos, finance]).size).toBe(3);

    const enrolled = await call(harness.app, "POST", "/v1/members", {
      key: pos,
      body: { external_ref: "card-1" },
    });
    expect(enrolled.status).toBe(201);
    const books = await call(harness.app, "GET", "/v1/ledger/trial-balance", { key: finance });
    expect(books.status).toBe(200);
    const suspend = await call(
      harness.app,
      "PATCH",
      `/v1/members/${String(enrolled.body.member?.id)}`,
      { key: admin, body: { status: "suspended" } },
    );
    expect(suspend.status).toBe(200);
  });

  it("defaults the time zone to UTC", async () => {
    const response = await call(harness.app, "POST", "/v1/orgs", {
      key: platformToken,
      body: { name: "Kiosk", slug: "kiosk-utc", currency: "EUR" },
    });
    expect(response.status).toBe(201);
    expect(response.body.org?.timezone).toBe("UTC");
  });
});
