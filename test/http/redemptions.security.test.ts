/**
 * Who may redeem: admin and pos keys; finance is 403; no key is 401; another org's key gets
 * 404 for this org's members and redemptions, and the hold stays as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;
let memberId: string;
let redemptionId: string;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  memberId = (await enrollOverHttp(harness, org)).id;
  const hold = await call(harness.app, "POST", `/v1/members/${memberId}/redemptions`, {
    key: org.keys.pos,
    body: { points: 50 },
  });
  redemptionId = String(hold.body.redemption?.id);
});
afterAll(async () => {
  await harness?.close();
});

function routes(): Array<[string, unknown]> {
  return [
    [`/v1/members/${memberId}/redemptions`, { points: 10 }],
    [`/v1/redemptions/${redemptionId}/fulfill`, undefined],
    [`/v1/redemptions/${redemptionId}/cancel`, undefined],
  ];
}

describe("redemptions security", () => {
  it("answers 401 without a key and 403 to finance", async () => {
    for (const [path, body] of routes()) {
      expect((await call(harness.app, "POST", path, { body })).status, path).toBe(401);
      const finance = await call(harness.app, "POST", path, { key: org.keys.finance, body });
      expect(finance.status, path).toBe(403);
    }
  });

  it("answers 404 to another org's admin and pos keys and leaves the hold pending", async () => {
    for (const [path, body] of routes()) {
      for (const key of [other.keys.admin, other.keys.pos]) {
        const response = await call(harness.app, "POST", path, { key, body });
        expect(response.status, path).toBe(404);
        expect(response.body.error?.code).toBe("not_found");
      }
    }
    const balances = await call(harness.app, "GET", `/v1/members/${memberId}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.body.points).toMatchObject({ available: 50, pending: 50 });
  });
});
