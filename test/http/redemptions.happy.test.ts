/**
 * Redemptions over HTTP, the paths that succeed: a hold moves points from available to pending,
 * fulfilling spends them, cancelling gives them back, and a retry with the same `external_id`
 * returns the same redemption without holding twice.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp } from "./support.ts";

let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

async function points(memberId: string) {
  const response = await call(harness.app, "GET", `/v1/members/${memberId}/balances`, {
    key: org.keys.pos,
  });
  return response.body.points;
}

describe("redemptions", () => {
  it("holds points, then fulfils them", async () => {
    const member = await enrollOverHttp(harness, org);
    const hold = await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
      key: org.keys.pos,
      body: { points: 40, hold_seconds: 600 },
    });
    expect(hold.status).toBe(201);
    expect(hold.body.redemption).toMatchObject({
      member_id: member.id,
      status: "pending",
      points: 40,
      external_id: null,
    });
    const expiresInMs =
      Date.parse(String(hold.body.redemption?.expires_at)) - harness.environment.now().getTime();
    expect(expiresInMs).toBeGreaterThan(590_000);
    expect(expiresInMs).toBeLessThanOrEqual(600_000);
    expect(await points(member.id)).toMatchObject({ available: 60, pending: 40 });

    const id = String(hold.body.redemption?.id);
    const fulfilled = await call(harness.app, "POST", `/v1/redemptions/${id}/fulfill`, {
      key: org.keys.admin,
    });
    expect(fulfilled.status).toBe(200);
    expect(fulfilled.body.redemption).toMatchObject({ id, status: "fulfilled" });
    expect(fulfilled.body.redemption?.resolved_at).not.toBeNull();
    expect(await points(member.id)).toEqual({
      available: 60,
      pending: 0,
      lifetime_earned: 100,
      lifetime_redeemed: 40,
    });

    const again = await call(harness.app, "POST", `/v1/redemptions/${id}/fulfill`, {
      key: org.keys.pos,
    });
    expect(again.status).toBe(200);
    expect(await points(member.id)).toMatchObject({ available: 60, lifetime_redeemed: 40 });
  });

  it("cancels a hold, giving the points back", async () => {
    const member = await enrollOverHttp(harness, org);
    const hold = await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
      key: org.keys.admin,
      body: { points: 100 },
    });
    expect(await points(member.id)).toMatchObject({ available: 0, pending: 100 });
    const id = String(hold.body.redemption?.id);
    const cancelled = await call(harness.app, "POST", `/v1/redemptions/${id}/cancel`, {
      key: org.keys.pos,
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.redemption?.status).toBe("cancelled");
    expect(await points(member.id)).toMatchObject({ available: 100, pending: 0 });
  });

  it("returns the same redemption for a retry with its external id", async () => {
    const member = await enrollOverHttp(harness, org);
    const body = { points: 30, external_id: "kiosk-7:reward-1" };
    const first = await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
      key: org.keys.pos,
      body,
    });
    const retry = await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
      key: org.keys.pos,
      body,
    });
    expect(retry.status).toBe(201);
    expect(retry.body.redemption?.id).toBe(first.body.redemption?.id);
    expect(await points(member.id)).toMatchObject({ available: 70, pending: 30 });
  });
});
