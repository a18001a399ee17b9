/**
 * Who may send and read events: only pos keys send (admin and finance are 403); pos and admin
 * read, finance does not; no key is 401. Another org's event is 404 exactly like an unknown one,
 * and the same event id in two orgs is two events.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, countRows, createHarness } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

function event(eventId: string) {
  return {
    event_id: eventId,
    event_type: "customer.updated",
    occurred_at: "2026-01-31T12:00:00.000Z",
    member_external_ref: "card-1",
    payload: { first_name: "Ada" },
  };
}

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  const sent = await call(harness.app, "POST", "/v1/events", {
    key: org.keys.pos,
    body: event("mine-1"),
  });
  expect(sent.status).toBe(202);
});
afterAll(async () => {
  await harness?.close();
});

describe("events security", () => {
  it("answers 401 without a key", async () => {
    expect((await call(harness.app, "POST", "/v1/events", { body: event("x") })).status).toBe(401);
    expect((await call(harness.app, "GET", "/v1/events/mine-1")).status).toBe(401);
  });

  it("lets only pos keys send, and pos and admin keys read", async () => {
    for (const key of [org.keys.admin, org.keys.finance]) {
      const response = await call(harness.app, "POST", "/v1/events", { key, body: event("x") });
      expect(response.status).toBe(403);
      expect(response.body.error?.code).toBe("forbidden");
    }
    for (const key of [org.keys.pos, org.keys.admin]) {
      const response = await call(harness.app, "GET", "/v1/events/mine-1", { key });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ event_id: "mine-1", status: "queued" });
    }
    const finance = await call(harness.app, "GET", "/v1/events/mine-1", { key: org.keys.finance });
    expect(finance.status).toBe(403);
    expect(await countRows(harness, "inbox_events", org.id)).toBe(1);
  });

  it("reads an event whose id has reserved characters, sent percent-encoded", async () => {
    const id = "till-3:evt/000123?x#y";
    const sent = await call(harness.app, "POST", "/v1/events", {
      key: org.keys.pos,
      body: event(id),
    });
    expect(sent.status).toBe(202);
    const read = await call(harness.app, "GET", `/v1/events/${encodeURIComponent(id)}`, {
      key: org.keys.pos,
    });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ event_id: id, status: "queued" });
  });

  it("answers 404 for another org's event, as for an unknown one", async () => {
    for (const path of ["/v1/events/mine-1", "/v1/events/never-sent"]) {
      const response = await call(harness.app, "GET", path, { key: other.keys.pos });
      expect(response.status, path).toBe(404);
      expect(response.body.error?.code).toBe("not_found");
    }
  });

  it("keeps event ids apart per org", async () => {
    const theirs = await call(harness.app, "POST", "/v1/events", {
      key: other.keys.pos,
      body: { ...event("mine-1"), payload: { first_name: "Grace" } },
    });
    expect(theirs.status).toBe(202);
    expect(theirs.body).toEqual({ accepted: ["mine-1"], conflicting: [] });
    expect(await countRows(harness, "inbox_events", org.id)).toBe(2);
    expect(await countRows(harness, "inbox_events", other.id)).toBe(1);
  });
});
