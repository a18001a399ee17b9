/** GET and PATCH /v1/settings: admin only, partial changes, field paths, nothing changed on refusal. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestOrg, call, createHarness, type Harness, list, type TestOrg } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness.close());

describe("/v1/settings", () => {
  it("reads the defaults of a new org", async () => {
    const response = await call(harness.app, "GET", "/v1/settings", { key: org.keys.admin });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      base_rate_points_per_unit: 1,
      welcome_bonus_points: 100,
      hold_seconds_default: 900,
      tier_metric: "points",
      tier_window_months: 12,
      tier_downgrade_grace_days: 30,
      rfm: { method: "quintiles", window_days: 365 },
      expiry: "none",
      referral: {
        referrer_points: 0,
        referred_points: 0,
        max_per_referrer_per_month: 0,
        min_purchase_amount: null,
      },
      member_pin_login: false,
      timezone: "UTC",
    });
  });

  it("changes the org's time zone, audited, and refuses one that is not IANA", async () => {
    const bad = await call(harness.app, "PATCH", "/v1/settings", {
      key: other.keys.admin,
      body: { timezone: "Mars/Olympus_Mons" },
    });
    expect(bad.status).toBe(400);
    expect(list(bad.body.error?.details?.issues)[0]?.path).toBe("timezone");
    const changed = await call(harness.app, "PATCH", "/v1/settings", {
      key: other.keys.admin,
      body: { timezone: "Europe/Paris" },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.timezone).toBe("Europe/Paris");
    const audit = await call(harness.app, "GET", "/v1/audit?action=settings.updated", {
      key: other.keys.admin,
    });
    expect(list(audit.body.entries)[0]).toMatchObject({
      before: { timezone: "UTC" },
      after: { timezone: "Europe/Paris" },
    });
    const reset = await call(harness.app, "PATCH", "/v1/settings", {
      key: other.keys.admin,
      body: { timezone: "UTC" },
    });
    expect(reset.status).toBe(200);
  });

  it("changes only the fields named, for the caller's org only", async () => {
    const thresholds = {
      recency_days: [7, 30, 90, 180],
      frequency: [2, 4, 8, 16],
      monetary_minor: ["1000", "5000", "20000", "100000"],
    };
    const response = await call(harness.app, "PATCH", "/v1/settings", {
      key: org.keys.admin,
      body: {
        tier_metric: "spend",
        tier_downgrade_grace_days: 0,
        rfm: { method: "thresholds", window_days: 180, thresholds },
        expiry: { policy: "lots", months: 24 },
      },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      welcome_bonus_points: 100,
      tier_metric: "spend",
      tier_window_months: 12,
      tier_downgrade_grace_days: 0,
      rfm: { method: "thresholds", window_days: 180, thresholds },
      expiry: { policy: "lots", months: 24 },
    });
    const again = await call(harness.app, "GET", "/v1/settings", { key: org.keys.admin });
    expect(again.body).toEqual(response.body);
    const theirs = await call(harness.app, "GET", "/v1/settings", { key: other.keys.admin });
    expect(theirs.body.tier_metric).toBe("points");
    expect(theirs.body.expiry).toBe("none");
  });

  it("refuses an invalid field with its path and changes nothing", async () => {
    const before = await call(harness.app, "GET", "/v1/settings", { key: org.keys.admin });
    const response = await call(harness.app, "PATCH", "/v1/settings", {
      key: org.keys.admin,
      body: {
        tier_window_months: 6,
        rfm: {
          method: "thresholds",
          window_days: 365,
          thresholds: {
            recency_days: [30, 7, 90, 180],
            frequency: [2, 4, 8, 16],
            monetary_minor: ["1", "2", "3", "4"],
          },
        },
      },
    });
    expect(response.status).toBe(400);
    expect(response.body.error?.code).toBe("validation_failed");
    expect(list(response.body.error?.details?.issues).map((issue) => String(issue.path))).toContain(
      "rfm.thresholds.recency_days",
    );
    for (const body of [
      { expiry: { policy: "lots", months: 0 } },
      { tier_metric: "visits" },
      { colour: "red" },
    ]) {
      const refused = await call(harness.app, "PATCH", "/v1/settings", {
        key: org.keys.admin,
        body,
      });
      expect(refused.status).toBe(400);
    }
    const after = await call(harness.app, "GET", "/v1/settings", { key: org.keys.admin });
    expect(after.body).toEqual(before.body);
  });

  it("is for admin keys only", async () => {
    for (const key of [org.keys.pos, org.keys.finance]) {
      expect((await call(harness.app, "GET", "/v1/settings", { key })).status).toBe(403);
      expect(
        (await call(harness.app, "PATCH", "/v1/settings", { key, body: { tier_window_months: 3 } }))
          .status,
      ).toBe(403);
    }
    expect((await call(harness.app, "GET", "/v1/settings")).status).toBe(401);
  });
});
