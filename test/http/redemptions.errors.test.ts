/**
 * Redemptions over HTTP, the refusals: not enough points (422), bad points and hold times (400
 * with the path), resolving a redemption the other way or after it expired (409), unknown ids
 * (404). A refused hold leaves the balance as it was.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
  list,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

async function hold(memberId: string, body: Record<string, unknown>) {
  return call(harness.app, "POST", `/v1/members/${memberId}/redemptions`, {
    key: org.keys.pos,
    body,
  });
}

describe("creating a hold", () => {
  it("answers 422 insufficient_points beyond the available balance", async () => {
    const member = await enrollOverHttp(harness, org);
    const response = await hold(member.id, { points: 101 });
    expect(response.status).toBe(422);
    expect(response.body.error?.code).toBe("insufficient_points");
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.body.points).toMatchObject({ available: 100, pending: 0 });
    const exact = await hold(member.id, { points: 100 });
    expect(exact.status).toBe(201);
  });

  it("refuses bad points and hold times with their paths, posting nothing", async () => {
    const member = await enrollOverHttp(harness, org);
    const transfers = await ledgerTransferCount(harness);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ points: 0 }, "points"],
      [{ points: 1.5 }, "points"],
      [{ points: "10" }, "points"],
      [{ points: 10, hold_seconds: 0 }, "hold_seconds"],
      [{ points: 10, hold_seconds: 7 * 24 * 3600 + 1 }, "hold_seconds"],
      [{ points: 10, external_id: "" }, "external_id"],
      [{ points: 10, note: "x" }, ""],
    ];
    for (const [body, path] of cases) {
      const response = await hold(member.id, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(list(response.body.error?.details?.issues).map((issue) => issue.path)).toEqual([path]);
    }
    expect(await ledgerTransferCount(harness)).toBe(transfers);
  });

  it("answers 422 member_inactive for a suspended member", async () => {
    const member = await enrollOverHttp(harness, org);
    await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.admin,
      body: { status: "suspended" },
    });
    const response = await hold(member.id, { points: 10 });
    expect(response.status).toBe(422);
    expect(response.body.error?.code).toBe("member_inactive");
  });

  it("answers 409 when an external id comes back with other points", async () => {
    const member = await enrollOverHttp(harness, org);
    expect((await hold(member.id, { points: 10, external_id: "r-1" })).status).toBe(201);
    const response = await hold(member.id, { points: 20, external_id: "r-1" });
    expect(response.status).toBe(409);
    expect(response.body.error?.code).toBe("conflict");
  });
});

describe("resolving a hold", () => {
  it("answers 409 invalid_state for fulfilling a cancelled one and cancelling a fulfilled one", async () => {
    const member = await enrollOverHttp(harness, org);
    const first = String((await hold(member.id, { points: 10 })).body.redemption?.id);
    const second = String((await hold(member.id, { points: 10 })).body.redemption?.id);
    await call(harness.app, "POST", `/v1/redemptions/${first}/cancel`, { key: org.keys.pos });
    await call(harness.app, "POST", `/v1/redemptions/${second}/fulfill`, { key: org.keys.pos });

    const fulfilCancelled = await call(harness.app, "POST", `/v1/redemptions/${first}/fulfill`, {
      key: org.keys.pos,
    });
    expect(fulfilCancelled.status).toBe(409);
    expect(fulfilCancelled.body.error).toMatchObject({
      code: "invalid_state",
      details: { status: "cancelled" },
    });
    const cancelFulfilled = await call(harness.app, "POST", `/v1/redemptions/${second}/cancel`, {
      key: org.keys.pos,
    });
    expect(cancelFulfilled.status).toBe(409);
  });

  it("answers 409 for a hold that expired, and the points are back", async () => {
    const member = await enrollOverHttp(harness, org);
    const id = String(
      (await hold(member.id, { points: 60, hold_seconds: 60 })).body.redemption?.id,
    );
    harness.environment.advanceSeconds(61);
    const response = await call(harness.app, "POST", `/v1/redemptions/${id}/fulfill`, {
      key: org.keys.pos,
    });
    expect(response.status).toBe(409);
    expect(response.body.error?.details?.status).toBe("expired");
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: org.keys.pos,
    });
    expect(balances.body.points).toMatchObject({ available: 100, pending: 0 });
  });

  it("answers 404 for unknown and malformed ids", async () => {
    for (const id of [randomUUID(), "not-a-uuid"]) {
      for (const action of ["fulfill", "cancel"]) {
        const response = await call(harness.app, "POST", `/v1/redemptions/${id}/${action}`, {
          key: org.keys.pos,
        });
        expect(response.status).toBe(404);
        expect(response.body.error?.code).toBe("not_found");
      }
    }
  });
});
