/**
 * Processing an org's inbox without the queue around it: events accepted with `acceptEvents` and
 * processed by `processOrgEvents` on a real database and the embedded ledger. Proves the order
 * per member, the outcomes (processed, failed with the use case's code), idempotency by event
 * id, the per-org lock, and that an unavailable ledger leaves events queued for a retry.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { createEmbeddedClient } from "../../ledger/index.ts";
import {
  acceptEvents,
  getInboxEvent,
  getMember,
  getMemberBalances,
  type InboxEventInput,
  listOrgsWithQueuedEvents,
  withInboxLock,
} from "../../membership/index.ts";
import { type IngestDeps, processOrgEvents } from "./process-org-events.ts";

const fixture = useLedgerFixture();

function ingestDeps(): IngestDeps {
  return { ...fixture.environment.deps, logger: pino({ level: "silent" }) };
}

function transaction(
  memberId: string,
  purchaseExternalId: string,
  amount: number,
): InboxEventInput {
  return {
    eventId: externalId("evt"),
    eventType: "pos.transaction",
    occurredAt: fixture.environment.now(),
    location: "store-1",
    memberId,
    memberExternalRef: null,
    payload: { external_id: purchaseExternalId, amount, currency: "EUR" },
  };
}

function refund(memberId: string, purchaseExternalId: string, amount: number): InboxEventInput {
  return {
    eventId: externalId("evt"),
    eventType: "pos.refund",
    occurredAt: fixture.environment.now(),
    location: null,
    memberId,
    memberExternalRef: null,
    payload: {
      purchase_external_id: purchaseExternalId,
      external_id: externalId("refund"),
      amount,
    },
  };
}

async function outboxTopics(orgId: string): Promise<string[]> {
  const rows = await fixture.database.sql<{ topic: string }[]>`
    select topic::text from outbox where org_id = ${orgId} and topic::text like 'event.%'
    order by id`;
  return rows.map((row) => row.topic);
}

describe("processOrgEvents", () => {
  it("processes a purchase and then the refund of it, sent together, in order", async () => {
    const deps = ingestDeps();
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const purchaseId = externalId("purchase");
    const events = [
      transaction(member.id, purchaseId, 5_000),
      refund(member.id, purchaseId, 2_000),
    ];
    const accepted = await acceptEvents(deps, { orgId: org.id, events });
    expect(accepted).toEqual({
      accepted: events.map((event) => event.eventId),
      conflicting: [],
      inserted: 2,
    });
    expect(
      (await getInboxEvent(deps, { orgId: org.id, eventId: events[0]?.eventId ?? "" })).status,
    ).toBe("queued");

    expect(await processOrgEvents(deps, org.id)).toEqual({
      status: "done",
      processed: 2,
      failed: 0,
      more: false,
    });
    const [bought, refunded] = await Promise.all(
      events.map((event) => getInboxEvent(deps, { orgId: org.id, eventId: event.eventId })),
    );
    expect(bought).toMatchObject({ status: "processed", result: { points_earned: "50" } });
    expect(refunded).toMatchObject({
      status: "processed",
      result: { points_to_reverse: "20", points_reversed: "20", shortfall: "0" },
    });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(30n);
    expect(await outboxTopics(org.id)).toEqual(["event.processed", "event.processed"]);
  });

  it("overlaps reads of transactions but runs a refund after every earlier read, in order", async () => {
    const deps = ingestDeps();
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const members = [await buildLedgerMember(deps, org.id), await buildLedgerMember(deps, org.id)];
    // Three reads of transactions (the first purchase in the first), then the refund of that
    // purchase, then two more reads of transactions: 5,001 events, one request at a time.
    const purchases = Array.from({ length: 5_000 }, (_, index) =>
      transaction(members[index % 2]?.id ?? "", `multi-${index}`, 1_000),
    );
    const refundOfFirst = refund(members[0]?.id ?? "", "multi-0", 1_000);
    const events = [...purchases.slice(0, 3_000), refundOfFirst, ...purchases.slice(3_000)];
    for (let start = 0; start < events.length; start += 1_000) {
      await acceptEvents(deps, { orgId: org.id, events: events.slice(start, start + 1_000) });
    }
    expect(await processOrgEvents(deps, org.id)).toMatchObject({
      processed: 5_001,
      failed: 0,
      more: false,
    });
    expect(
      await getInboxEvent(deps, { orgId: org.id, eventId: refundOfFirst.eventId }),
    ).toMatchObject({
      status: "processed",
      result: { points_reversed: "10", shortfall: "0" },
    });
    for (const member of members) {
      const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
      expect(balances.points.available).toBe(member === members[0] ? 2_500n * 10n - 10n : 25_000n);
    }
    // Announced in the order the events were sent.
    const announced = await fixture.database.sql<{ eventId: string }[]>`
      select payload->>'event_id' as "eventId" from outbox
      where org_id = ${org.id} and topic = 'event.processed' order by id`;
    expect(announced.map((row) => row.eventId)).toEqual(events.map((event) => event.eventId));
  });

  it("fails an unknown member's events and a refund the use case refuses, with their codes", async () => {
    const deps = ingestDeps();
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const purchaseId = externalId("purchase");
    const unknown = "0190d7a4-0000-7000-8000-000000000000";
    const events: InboxEventInput[] = [
      transaction(unknown, externalId("purchase"), 1_000),
      { ...refund(member.id, purchaseId, 100), memberId: null, memberExternalRef: "no-such-card" },
      transaction(member.id, purchaseId, 1_000),
      refund(member.id, purchaseId, 1_001),
    ];
    await acceptEvents(deps, { orgId: org.id, events });
    expect(await processOrgEvents(deps, org.id)).toMatchObject({ processed: 1, failed: 3 });
    const outcomes = await Promise.all(
      events.map((event) => getInboxEvent(deps, { orgId: org.id, eventId: event.eventId })),
    );
    expect(outcomes.map((outcome) => [outcome.status, outcome.error?.code ?? null])).toEqual([
      ["failed", "not_found"],
      ["failed", "not_found"],
      ["processed", null],
      ["failed", "refund_exceeds_purchase"],
    ]);
    expect(await outboxTopics(org.id)).toEqual([
      "event.failed",
      "event.failed",
      "event.processed",
      "event.failed",
    ]);
  });

  it("accepts a resend once and processes it once; another body under the id conflicts", async () => {
    const deps = ingestDeps();
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const event = transaction(member.id, externalId("purchase"), 1_000);
    await acceptEvents(deps, { orgId: org.id, events: [event] });
    await processOrgEvents(deps, org.id);

    const resent = await acceptEvents(deps, { orgId: org.id, events: [event] });
    expect(resent).toEqual({ accepted: [event.eventId], conflicting: [], inserted: 0 });
    const changed = { ...event, payload: { ...event.payload, amount: 2_000 } };
    const other = transaction(member.id, externalId("purchase"), 500);
    const conflict = await acceptEvents(deps, { orgId: org.id, events: [changed, other] });
    expect(conflict).toEqual({
      accepted: [other.eventId],
      conflicting: [event.eventId],
      inserted: 1,
    });

    expect(await processOrgEvents(deps, org.id)).toMatchObject({ processed: 1, failed: 0 });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(15n);
    const stored = await getInboxEvent(deps, { orgId: org.id, eventId: event.eventId });
    expect(stored.result).toMatchObject({ points_earned: "10", replayed: false });
  });

  it("applies customer.updated through the member update, by external ref", async () => {
    const deps = ingestDeps();
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const event: InboxEventInput = {
      eventId: externalId("evt"),
      eventType: "customer.updated",
      occurredAt: fixture.environment.now(),
      location: null,
      memberId: null,
      memberExternalRef: member.externalRef,
      payload: { email: "ada@example.org", first_name: "Ada", phone: null },
    };
    await acceptEvents(deps, { orgId: org.id, events: [event] });
    // Stored encrypted, like the member's own columns: no personal data in clear.
    const [stored] = await fixture.database.sql<{ payload: Record<string, unknown> }[]>`
      select payload from inbox_events where org_id = ${org.id} and event_id = ${event.eventId}`;
    expect(Object.keys(stored?.payload ?? {})).toEqual(["encrypted"]);
    expect(JSON.stringify(stored?.payload)).not.toMatch(/ada|Ada/);
    // A resend of the same event is the same event (its hash is of the event as sent).
    expect(await acceptEvents(deps, { orgId: org.id, events: [event] })).toMatchObject({
      accepted: [event.eventId],
      conflicting: [],
      inserted: 0,
    });
    await processOrgEvents(deps, org.id);
    const updated = await getMember(deps, { orgId: org.id, memberId: member.id });
    expect(updated).toMatchObject({ email: "ada@example.org", firstName: "Ada", phone: null });
    expect(await getInboxEvent(deps, { orgId: org.id, eventId: event.eventId })).toMatchObject({
      status: "processed",
      result: { member_id: member.id },
    });
  });

  it("lists the org for the sweep while it has queued events, and not after", async () => {
    const deps = ingestDeps();
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    await acceptEvents(deps, {
      orgId: org.id,
      events: [transaction(member.id, externalId("purchase"), 1_000)],
    });
    expect(await listOrgsWithQueuedEvents(deps, 0)).toContain(org.id);
    // Just accepted: the announcement's to handle, not yet the sweep's.
    expect(await listOrgsWithQueuedEvents(deps, 60_000)).not.toContain(org.id);
    await processOrgEvents(deps, org.id);
    expect(await listOrgsWithQueuedEvents(deps, 0)).not.toContain(org.id);
  });

  it("leaves an org whose lock another worker holds alone", async () => {
    const deps = ingestDeps();
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const event = transaction(member.id, externalId("purchase"), 1_000);
    await acceptEvents(deps, { orgId: org.id, events: [event] });
    const held = await withInboxLock(deps, org.id, () => processOrgEvents(deps, org.id));
    expect(held).toEqual({ locked: true, value: { status: "busy" } });
    expect((await getInboxEvent(deps, { orgId: org.id, eventId: event.eventId })).status).toBe(
      "queued",
    );
    expect(await processOrgEvents(deps, org.id)).toMatchObject({ status: "done", processed: 1 });
  });

  it("keeps events queued when the ledger is unavailable, and posts them once on the retry", async () => {
    const deps = ingestDeps();
    const { org } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const events = [
      transaction(member.id, externalId("purchase"), 1_000),
      transaction(member.id, externalId("purchase"), 2_000),
    ];
    await acceptEvents(deps, { orgId: org.id, events });
    const closed = createEmbeddedClient({});
    await closed.close();
    await expect(processOrgEvents({ ...deps, ledger: closed }, org.id)).rejects.toThrow();
    for (const event of events) {
      expect((await getInboxEvent(deps, { orgId: org.id, eventId: event.eventId })).status).toBe(
        "queued",
      );
    }
    expect(await processOrgEvents(deps, org.id)).toMatchObject({ processed: 2, failed: 0 });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.points.available).toBe(30n);
    expect(await outboxTopics(org.id)).toEqual(["event.processed", "event.processed"]);
  });
});
