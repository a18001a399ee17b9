/**
 * 100 redemptions at once against one balance never overdraw: the ledger's wallet flag refuses
 * every hold beyond the available points, whatever the interleaving. With 500 points and holds
 * of 10, exactly 50 succeed and 50 are 422 `insufficient_points`; the books balance after.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness, { welcomeBonusPoints: 500 });
});
afterAll(async () => {
  await harness?.close();
});

describe("concurrent redemptions", () => {
  it("never overdraw one balance", async () => {
    const member = await enrollOverHttp(harness, org);
    const responses = await Promise.all(
      Array.from({ length: 100 }, () =>
        call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
          key: org.keys.pos,
          body: { points: 10 },
        }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(50);
    expect(statuses.filter((status) => status === 422)).toHaveLength(50);
    for (const response of responses.filter((each) => each.status === 422)) {
      expect(response.body.error?.code).toBe("insufficient_points");
    }

    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.body.points).toMatchObject({ available: 0, pending: 500 });
    const books = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
      key: org.keys.finance,
    });
    expect(list(books.body.units)[0]).toMatchObject({ balanced: true, pending_redemptions: 500 });
  });
});
