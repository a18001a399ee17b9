/**
 * GET /v1/members/{id}/redemptions: a member's redemptions, newest first, by status, paged; the
 * org's own only.
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
afterAll(async () => harness.close());

describe("GET /v1/members/{id}/redemptions", () => {
  it("lists a member's redemptions newest first, by status, page by page", async () => {
    const member = await enrollOverHttp(harness, org);
    const neighbour = await enrollOverHttp(harness, org);
    const made: string[] = [];
    for (const points of [10, 20, 30]) {
      // A second apart: ids are time-ordered (UUIDv7), and this clock moves only when told.
      harness.environment.advanceSeconds(1);
      const created = await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
        key: org.keys.pos,
        body: { points, external_id: `list-${member.id}-${points}` },
      });
      expect(created.status).toBe(201);
      made.push((created.body.redemption as unknown as { id: string }).id);
    }
    await call(harness.app, "POST", `/v1/members/${neighbour.id}/redemptions`, {
      key: org.keys.pos,
      body: { points: 5 },
    });
    const fulfilled = await call(harness.app, "POST", `/v1/redemptions/${made[0]}/fulfill`, {
      key: org.keys.pos,
    });
    expect(fulfilled.status).toBe(200);

    const path = `/v1/members/${member.id}/redemptions`;
    const all = await call(harness.app, "GET", path, { key: org.keys.finance });
    expect(all.status).toBe(200);
    expect(list(all.body.redemptions).map((r) => (r as unknown as { id: string }).id)).toEqual(
      [...made].reverse(),
    );
    const pending = await call(harness.app, "GET", `${path}?status=pending`, { key: org.keys.pos });
    expect(
      list(pending.body.redemptions).map((r) => (r as unknown as { points: number }).points),
    ).toEqual([30, 20]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "?limit=1" : `?limit=1&cursor=${cursor}`;
      const page = await call(harness.app, "GET", `${path}${query}`, { key: org.keys.admin });
      expect(page.status).toBe(200);
      seen.push(...list(page.body.redemptions).map((r) => (r as unknown as { id: string }).id));
      cursor = page.body.next_cursor as unknown as string | null;
    } while (cursor !== null);
    expect(seen).toEqual([...made].reverse());
  });

  it("answers 404 for another org's or an unknown member and 400 for a bad query", async () => {
    const member = await enrollOverHttp(harness, org);
    const path = `/v1/members/${member.id}/redemptions`;
    expect((await call(harness.app, "GET", path, { key: other.keys.admin })).status).toBe(404);
    const unknown = "/v1/members/00000000-0000-4000-8000-000000000000/redemptions";
    expect((await call(harness.app, "GET", unknown, { key: org.keys.admin })).status).toBe(404);
    for (const query of ["?status=lost", "?limit=0", "?limit=101", "?cursor=abc"]) {
      const response = await call(harness.app, "GET", `${path}${query}`, { key: org.keys.admin });
      expect(response.status, query).toBe(400);
    }
    const empty = await call(harness.app, "GET", path, { key: org.keys.admin });
    expect(empty.body).toEqual({ redemptions: [], next_cursor: null });
  });
});
