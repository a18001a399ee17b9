/**
 * `PUT`, `GET` and `DELETE /v1/members/{id}/auto-redemption` over HTTP: admin keys only, each
 * write audited, bad bodies 400 with field paths and nothing written, another org's member or
 * reward 404 like unknown ones.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  type Harness,
  list,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness?.close());

async function rewardOf(of: TestOrg): Promise<string> {
  const created = await call(harness.app, "POST", "/v1/rewards", {
    key: of.keys.admin,
    body: { name: "Auto-cashback", kind: "cashback", cost_points: 100, value_minor: 500 },
  });
  expect(created.status).toBe(201);
  return String(created.body.reward?.id);
}

describe("/v1/members/{id}/auto-redemption", () => {
  it("sets, reads and clears it, audited, for admin keys only", async () => {
    const member = await enrollOverHttp(harness, org);
    const rewardId = await rewardOf(org);
    const path = `/v1/members/${member.id}/auto-redemption`;
    const body = { reward_id: rewardId, threshold_points: 1_000 };
    expect((await call(harness.app, "GET", path, { key: org.keys.admin })).status).toBe(404);
    for (const key of [org.keys.pos, org.keys.finance]) {
      expect((await call(harness.app, "PUT", path, { key, body })).status).toBe(403);
      expect((await call(harness.app, "GET", path, { key })).status).toBe(403);
    }
    const set = await call(harness.app, "PUT", path, { key: org.keys.admin, body });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.auto_redemption).toMatchObject({
      member_id: member.id,
      reward_id: rewardId,
      threshold_points: 1_000,
    });
    const read = await call(harness.app, "GET", path, { key: org.keys.admin });
    expect(read.body.auto_redemption).toMatchObject({ threshold_points: 1_000 });
    expect((await call(harness.app, "DELETE", path, { key: org.keys.admin })).status).toBe(204);
    expect((await call(harness.app, "DELETE", path, { key: org.keys.admin })).status).toBe(404);
    expect((await call(harness.app, "GET", path, { key: org.keys.admin })).status).toBe(404);
    const audit = await call(
      harness.app,
      "GET",
      `/v1/audit?target_type=member&target_id=${member.id}`,
      { key: org.keys.admin },
    );
    expect(list(audit.body.entries).map((entry) => entry.action)).toEqual([
      "auto_redemption.cleared",
      "auto_redemption.set",
    ]);
  });

  it("refuses bad bodies with field paths, and another org's member or reward with 404", async () => {
    const member = await enrollOverHttp(harness, org);
    const foreignMember = await enrollOverHttp(harness, other);
    const rewardId = await rewardOf(org);
    const foreignReward = await rewardOf(other);
    const path = `/v1/members/${member.id}/auto-redemption`;
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ reward_id: rewardId }, "threshold_points"],
      [{ reward_id: rewardId, threshold_points: 0 }, "threshold_points"],
      [{ reward_id: rewardId, threshold_points: 1.5 }, "threshold_points"],
      [{ reward_id: "nope", threshold_points: 10 }, "reward_id"],
      [{ reward_id: rewardId, threshold_points: 10, extra: 1 }, "extra"],
    ];
    for (const [body, field] of bad) {
      const response = await call(harness.app, "PUT", path, { key: org.keys.admin, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
      expect(JSON.stringify(response.body.error?.details)).toContain(field);
    }
    const foreign = await call(harness.app, "PUT", path, {
      key: org.keys.admin,
      body: { reward_id: foreignReward, threshold_points: 10 },
    });
    expect(foreign.status).toBe(404);
    const otherMember = await call(
      harness.app,
      "PUT",
      `/v1/members/${foreignMember.id}/auto-redemption`,
      { key: org.keys.admin, body: { reward_id: rewardId, threshold_points: 10 } },
    );
    expect(otherMember.status).toBe(404);
    expect((await call(harness.app, "GET", path, { key: org.keys.admin })).status).toBe(404);
  });
});
