/**
 * Redeeming catalog rewards over HTTP: `POST /v1/members/{id}/redemptions` with a `reward_id`
 * holds the reward's cost and a unit of its stock (409 `out_of_stock` once there is none), a
 * cancel puts the unit back, bad bodies are 400 with field paths and write nothing, unknown and
 * another org's rewards are 404; `GET /v1/me/rewards` gives a member the catalog with the reasons
 * they cannot redeem each reward now, and a member token still opens no org-scoped route.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  countRows,
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
  org = await buildTestOrg(harness, { welcomeBonusPoints: 100 });
  other = await buildTestOrg(harness, { welcomeBonusPoints: 100 });
});
afterAll(async () => harness?.close());

async function createReward(of: TestOrg, body: Record<string, unknown>): Promise<string> {
  const created = await call(harness.app, "POST", "/v1/rewards", { key: of.keys.admin, body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return String(created.body.reward?.id);
}

function redeem(memberId: string, body: Record<string, unknown>, of: TestOrg = org) {
  return call(harness.app, "POST", `/v1/members/${memberId}/redemptions`, {
    key: of.keys.pos,
    body,
  });
}

describe("POST /v1/members/{id}/redemptions with a reward", () => {
  it("holds cost × quantity and a unit of stock, refuses the next, and a cancel puts it back", async () => {
    const rewardId = await createReward(org, {
      name: "Tote bag",
      kind: "item",
      cost_points: 30,
      inventory: 2,
    });
    const first = await enrollOverHttp(harness, org);
    const second = await enrollOverHttp(harness, org);
    const held = await redeem(first.id, {
      reward_id: rewardId,
      quantity: 2,
      external_id: "bag-0001",
    });
    expect(held.status, JSON.stringify(held.body)).toBe(201);
    expect(held.body.redemption).toMatchObject({
      status: "pending",
      points: 60,
      reward_id: rewardId,
      quantity: 2,
    });
    const refused = await redeem(second.id, { reward_id: rewardId, external_id: "bag-0002" });
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe("out_of_stock");
    // Final for its external id.
    expect((await redeem(second.id, { reward_id: rewardId, external_id: "bag-0002" })).status).toBe(
      409,
    );
    const cancelled = await call(
      harness.app,
      "POST",
      `/v1/redemptions/${String(held.body.redemption?.id)}/cancel`,
      { key: org.keys.pos },
    );
    expect(cancelled.status).toBe(200);
    const again = await redeem(second.id, { reward_id: rewardId });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    const listed = await call(
      harness.app,
      "GET",
      `/v1/members/${second.id}/redemptions?status=pending`,
      { key: org.keys.finance },
    );
    expect(list(listed.body.redemptions).map((entry) => entry.reward_id)).toEqual([rewardId]);
  });

  it("refuses bad bodies with field paths, and unknown or foreign rewards with 404", async () => {
    const member = await enrollOverHttp(harness, org);
    const foreign = await createReward(other, { name: "Mug", kind: "item", cost_points: 10 });
    const before = await countRows(harness, "redemptions", org.id);
    const bad: Array<[Record<string, unknown>, string]> = [
      [{}, "points"],
      [{ points: 10, reward_id: foreign }, "points"],
      [{ points: 10, quantity: 2 }, "quantity"],
      [{ reward_id: foreign, quantity: 0 }, "quantity"],
      [{ reward_id: foreign, quantity: 101 }, "quantity"],
      [{ reward_id: "not-a-uuid" }, "reward_id"],
    ];
    for (const [body, path] of bad) {
      const response = await redeem(member.id, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
      expect(JSON.stringify(response.body.error?.details)).toContain(path);
    }
    for (const rewardId of [foreign, "6e8a0c2e-4f6b-4d8a-a0c2-e4f6b8d0a2c4"]) {
      const response = await redeem(member.id, { reward_id: rewardId });
      expect(response.status).toBe(404);
      expect(response.body.error?.code).toBe("not_found");
    }
    expect(await countRows(harness, "redemptions", org.id)).toBe(before);
  });
});

describe("GET /v1/me/rewards", () => {
  it("lists the catalog with what stops this member from redeeming each now", async () => {
    const of = await buildTestOrg(harness, { welcomeBonusPoints: 100 });
    const member = await enrollOverHttp(harness, of);
    const session = await call(harness.app, "POST", `/v1/members/${member.id}/sessions`, {
      key: of.keys.pos,
    });
    const token = String(session.body.token);
    const cheap = await createReward(of, {
      name: "Coffee",
      kind: "item",
      cost_points: 50,
      per_member_limit: 1,
    });
    const dear = await createReward(of, { name: "Kettle", kind: "item", cost_points: 500 });
    const gone = await createReward(of, {
      name: "Poster",
      kind: "item",
      cost_points: 10,
      inventory: 0,
    });
    const later = await createReward(of, {
      name: "Calendar",
      kind: "item",
      cost_points: 10,
      active_from: "2099-01-01T00:00:00Z",
    });
    const reasonsOf = async () => {
      const response = await call(harness.app, "GET", "/v1/me/rewards", { key: token });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return Object.fromEntries(
        list(response.body.rewards).map((entry) => [String(entry.id), entry]),
      );
    };
    const first = await reasonsOf();
    expect(first[cheap]).toMatchObject({ reasons: [], on_hand: null, redeemed: 0 });
    expect(first[dear]?.reasons).toEqual(["insufficient_points"]);
    expect(first[gone]).toMatchObject({ reasons: ["out_of_stock"], on_hand: 0 });
    expect(first[later]?.reasons).toEqual(["not_active"]);

    const mine = await call(harness.app, "POST", "/v1/me/redemptions", {
      key: token,
      body: { reward_id: cheap },
    });
    expect(mine.status, JSON.stringify(mine.body)).toBe(201);
    const second = await reasonsOf();
    expect(second[cheap]).toMatchObject({
      reasons: ["limit_reached"],
      redeemed: 1,
    });

    // The member token reads its org's catalog (GET only), never another org's reward, and
    // writes nothing there.
    const catalog = await call(harness.app, "GET", "/v1/rewards", { key: token });
    expect(catalog.status).toBe(200);
    const listed = (catalog.body.rewards as unknown as Array<{ id: string }>).map((r) => r.id);
    expect(listed).toEqual(expect.arrayContaining([cheap, dear, gone, later]));
    const staffView = await call(harness.app, "GET", "/v1/rewards", { key: of.keys.pos });
    expect(catalog.body).toEqual(staffView.body);
    expect((await call(harness.app, "GET", `/v1/rewards/${cheap}`, { key: token })).status).toBe(
      200,
    );
    const foreign = await createReward(other, { name: "Pen", kind: "item", cost_points: 5 });
    expect((await call(harness.app, "GET", `/v1/rewards/${foreign}`, { key: token })).status).toBe(
      404,
    );
    const write = await call(harness.app, "POST", "/v1/rewards", {
      key: token,
      body: { name: "Free book", kind: "item", cost_points: 1 },
    });
    expect(write.status).toBe(403);
    const [head = "", body = ""] = token.split(".");
    const forged = `${head}.${body}.${"A".repeat(43)}`;
    expect((await call(harness.app, "GET", "/v1/rewards", { key: forged })).status).toBe(401);
    // Logged out: refused at once here too.
    await call(harness.app, "POST", "/v1/me/logout", { key: token });
    expect((await call(harness.app, "GET", "/v1/rewards", { key: token })).status).toBe(401);
  });
});
