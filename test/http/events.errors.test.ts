/**
 * `POST /v1/events` validates everything before storing anything: one malformed event refuses
 * the whole request with its field path (in the batch form and the single form), and the inbox
 * stays empty. Also the bounds: 1..1,000 events, one event id once per request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, countRows, createHarness, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

function transaction(eventId: string, overrides: Record<string, unknown> = {}) {
  return {
    event_id: eventId,
    event_type: "pos.transaction",
    occurred_at: "2026-01-31T12:00:00.000Z",
    member_external_ref: "card-1",
    payload: { external_id: `p-${eventId}`, amount: 1_000, currency: "EUR" },
    ...overrides,
  };
}

async function refused(body: unknown): Promise<string[]> {
  const response = await call(harness.app, "POST", "/v1/events", { key: org.keys.pos, body });
  expect(response.status, JSON.stringify(response.body)).toBe(400);
  expect(response.body.error?.code).toBe("validation_failed");
  return list(response.body.error?.details?.issues).map((issue) => String(issue.path));
}

describe("POST /v1/events refuses malformed events whole", () => {
  it("names the bad field of the bad event and stores none of the request", async () => {
    const paths = await refused({
      events: [
        transaction("e-1"),
        transaction("e-2", {
          payload: { external_id: "p-2", amount: "12.50", currency: "EUR" },
        }),
        transaction("e-3", { event_type: "pos.unknown" }),
      ],
    });
    expect(paths).toEqual(["events.1.payload.amount", "events.2.event_type"]);
    expect(await countRows(harness, "inbox_events", org.id)).toBe(0);
  });

  it("names the field of a single event", async () => {
    expect(await refused(transaction("e-4", { occurred_at: "yesterday" }))).toEqual([
      "occurred_at",
    ]);
    expect(await refused({ ...transaction("e-5"), extra: true })).toEqual([""]);
  });

  it("takes the member from the envelope, exactly one of its two fields", async () => {
    const both = transaction("e-6", { member_id: "0190d7a4-0000-7000-8000-000000000000" });
    const neither = { ...transaction("e-7"), member_external_ref: undefined };
    expect(await refused({ events: [both] })).toEqual(["events.0.member_id"]);
    expect(await refused({ events: [neither] })).toEqual(["events.0.member_id"]);
    // The payload is the purchase less what the envelope carries.
    const inPayload = transaction("e-8", {
      payload: { external_id: "p-8", amount: 1, currency: "EUR", member_id: "x" },
    });
    expect(await refused(inPayload)).toEqual(["payload"]);
    expect(await countRows(harness, "inbox_events", org.id)).toBe(0);
  });

  it("checks each type's payload: refunds name the purchase, profiles carry no status", async () => {
    const refund = {
      ...transaction("e-9"),
      event_type: "pos.refund",
      payload: { external_id: "r-9", amount: 100 },
    };
    expect(await refused(refund)).toEqual(["payload.purchase_external_id"]);
    const profile = {
      ...transaction("e-10"),
      event_type: "customer.updated",
      payload: { status: "closed" },
    };
    expect(await refused(profile)).toEqual(["payload"]);
  });

  it("bounds a request to 1..1,000 events with distinct ids", async () => {
    expect(await refused({ events: [] })).toEqual(["events"]);
    const tooMany = Array.from({ length: 1_001 }, (_, index) => transaction(`m-${index}`));
    expect(await refused({ events: tooMany })).toEqual(["events"]);
    expect(
      await refused({ events: [transaction("d-1"), transaction("d-2"), transaction("d-1")] }),
    ).toEqual(["events.2.event_id"]);
    expect(await countRows(harness, "inbox_events", org.id)).toBe(0);
  });
});
