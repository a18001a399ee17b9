/**
 * A member's tier over HTTP: `GET /v1/members/{id}/tier` and `/tier/explain` after an upgrade,
 * read by every role that reads balances, and 404 for an unknown or another org's member.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { multiplierText } from "../../src/http/routes/tiers.ts";
import { evaluateMemberTier } from "../../src/membership/index.ts";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

let sequence = 0;

async function purchase(memberId: string, amount: number): Promise<void> {
  sequence += 1;
  const response = await call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    headers: { "Idempotency-Key": `tier-purchase-${sequence}` },
    body: { external_id: `tier-${sequence}`, member_id: memberId, amount, currency: "EUR" },
  });
  expect(response.status).toBe(201);
}

describe("GET /v1/members/{id}/tier", () => {
  it("shows the tier, its source, the value, the next tier and no downgrade", async () => {
    const member = await enrollOverHttp(harness, org);
    await purchase(member.id, 120_000);
    await purchase(member.id, 5_000);
    await evaluateMemberTier(harness.deps, { orgId: org.id, memberId: member.id });

    for (const role of ["admin", "pos", "finance"] as const) {
      const response = await call(harness.app, "GET", `/v1/members/${member.id}/tier`, {
        key: org.keys[role],
      });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        tier: { name: "Silver", rank: 1, multiplier: "1.25" },
        source: "earned",
        qualifying: { metric: "points", value: 1_250 },
        next: { tier: { name: "Gold", multiplier: "1.50" }, threshold: 5_000, missing: 3_750 },
        downgrade: null,
      });
    }

    const explain = await call(harness.app, "GET", `/v1/members/${member.id}/tier/explain`, {
      key: org.keys.finance,
    });
    expect(explain.status).toBe(200);
    expect(explain.body).toMatchObject({ member_id: member.id, metric: "points", value: 1_250 });
    const transfers = list(explain.body?.transfers);
    expect(transfers.map((transfer) => [transfer.operation, transfer.amount_counted])).toEqual([
      ["purchase_earn", 1_200],
      ["purchase_earn", 50],
    ]);
  });

  it("answers 404 for an unknown member and for another org's member", async () => {
    const member = await enrollOverHttp(harness, org);
    for (const path of ["tier", "tier/explain"]) {
      const foreign = await call(harness.app, "GET", `/v1/members/${member.id}/${path}`, {
        key: other.keys.admin,
      });
      expect(foreign.status).toBe(404);
      const unknown = await call(
        harness.app,
        "GET",
        `/v1/members/00000000-0000-4000-8000-000000000000/${path}`,
        { key: org.keys.admin },
      );
      expect(unknown.status).toBe(404);
    }
  });

  it("writes multipliers as decimal strings", () => {
    expect(multiplierText(10_000)).toBe("1.00");
    expect(multiplierText(12_500)).toBe("1.25");
    expect(multiplierText(11_250)).toBe("1.125");
    expect(multiplierText(20_000)).toBe("2.00");
    expect(multiplierText(5)).toBe("0.0005");
  });
});
