/** GET and PATCH /v1/settings: admin only, partial changes, field paths, nothing changed on refusal. */
import { sql } from "drizzle-orm";
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
      rounding: "down",
      earning_caps: { day: null, week: null, month: null },
      stamp_defaults: { stamps_per_card: null, reward_points: null },
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

  it("stores rounding, earning caps, stamp defaults and referral bonuses, audited", async () => {
    const own = await buildTestOrg(harness);
    const response = await call(harness.app, "PATCH", "/v1/settings", {
      key: own.keys.admin,
      body: {
        rounding: "half_up",
        earning_caps: { week: 2000, month: 5000 },
        stamp_defaults: { stamps_per_card: 8 },
        referral: { referrer_points: 200, referred_points: 100, max_per_referrer_per_month: 5 },
      },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body).toMatchObject({
      rounding: "half_up",
      earning_caps: { day: null, week: 2000, month: 5000 },
      stamp_defaults: { stamps_per_card: 8, reward_points: null },
      referral: { referrer_points: 200, referred_points: 100, max_per_referrer_per_month: 5 },
      welcome_bonus_points: 100,
    });
    const audit = await call(harness.app, "GET", "/v1/audit?action=settings.updated", {
      key: own.keys.admin,
    });
    expect(list(audit.body.entries)[0]).toMatchObject({
      before: { rounding: "down", earningCaps: { day: null, week: null, month: null } },
      after: { rounding: "half_up", earningCaps: { day: null, week: 2000, month: 5000 } },
    });

    // Replaced whole: null removes every cap and every default.
    const cleared = await call(harness.app, "PATCH", "/v1/settings", {
      key: own.keys.admin,
      body: { earning_caps: null, stamp_defaults: { reward_points: 50 } },
    });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({
      earning_caps: { day: null, week: null, month: null },
      stamp_defaults: { stamps_per_card: null, reward_points: 50 },
      rounding: "half_up",
    });
  });

  it("refuses invalid additions with their paths and changes nothing", async () => {
    const own = await buildTestOrg(harness);
    const before = await call(harness.app, "GET", "/v1/settings", { key: own.keys.admin });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ rounding: "nearest" }, "rounding"],
      [{ earning_caps: { day: 0 } }, "earning_caps.day"],
      [{ earning_caps: { week: 1.5 } }, "earning_caps.week"],
      [{ earning_caps: { year: 10 } }, "earning_caps"],
      [{ stamp_defaults: { stamps_per_card: 0 } }, "stamp_defaults.stamps_per_card"],
      [{ stamp_defaults: { reward_points: -1 } }, "stamp_defaults.reward_points"],
      [
        { referral: { referrer_points: 10, referred_points: 5 } },
        "referral.max_per_referrer_per_month",
      ],
      [
        { referral: { referrer_points: -1, referred_points: 5, max_per_referrer_per_month: 1 } },
        "referral.referrer_points",
      ],
    ];
    for (const [body, path] of cases) {
      const refused = await call(harness.app, "PATCH", "/v1/settings", {
        key: own.keys.admin,
        body,
      });
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error?.code).toBe("validation_failed");
      expect(
        list(refused.body.error?.details?.issues).map((issue) => String(issue.path)),
        JSON.stringify(body),
      ).toContain(path);
    }
    const after = await call(harness.app, "GET", "/v1/settings", { key: own.keys.admin });
    expect(after.body).toEqual(before.body);
  });

  it("reads a row stored before these settings existed with their defaults", async () => {
    const own = await buildTestOrg(harness);
    await harness.deps.db.execute(
      sql`update orgs set settings = settings - 'rounding' - 'earningCaps' - 'stampDefaults' - 'referral' where id = ${own.id}`,
    );
    const stored = await harness.deps.db.execute(
      sql`select settings ? 'rounding' as has from orgs where id = ${own.id}`,
    );
    expect((stored as unknown as Array<{ has: boolean }>)[0]?.has).toBe(false);
    const response = await call(harness.app, "GET", "/v1/settings", { key: own.keys.admin });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      rounding: "down",
      earning_caps: { day: null, week: null, month: null },
      stamp_defaults: { stamps_per_card: null, reward_points: null },
      referral: { referrer_points: 0, referred_points: 0, max_per_referrer_per_month: 0 },
    });
  });

  it("gives stamp programs their defaults, and requires the fields without one", async () => {
    const own = await buildTestOrg(harness);
    const program = { name: "Coffee card", earn: { per: "purchase" } };
    const refused = await call(harness.app, "POST", "/v1/stamp-programs", {
      key: own.keys.admin,
      body: program,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error?.code).toBe("validation_failed");
    expect(list(refused.body.error?.details?.issues).map((issue) => issue.path)).toEqual([
      "stamps_per_card",
      "reward",
    ]);
    const listed = await call(harness.app, "GET", "/v1/stamp-programs", { key: own.keys.admin });
    expect(list(listed.body.stamp_programs)).toEqual([]);

    const set = await call(harness.app, "PATCH", "/v1/settings", {
      key: own.keys.admin,
      body: { stamp_defaults: { stamps_per_card: 6, reward_points: 75 } },
    });
    expect(set.status).toBe(200);
    const created = await call(harness.app, "POST", "/v1/stamp-programs", {
      key: own.keys.admin,
      body: program,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.stamp_program).toMatchObject({
      stamps_per_card: 6,
      reward: { points: 75 },
    });
    const explicit = await call(harness.app, "POST", "/v1/stamp-programs", {
      key: own.keys.admin,
      body: { ...program, name: "Tea card", stamps_per_card: 3, reward: { points: 0 } },
    });
    expect(explicit.status).toBe(201);
    expect(explicit.body.stamp_program).toMatchObject({
      stamps_per_card: 3,
      reward: { points: 0 },
    });
  });
});
