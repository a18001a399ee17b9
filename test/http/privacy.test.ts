/**
 * Members' privacy rights over HTTP: erasure removes the personal data for good (the member can
 * no longer be found by e-mail, stored answers with it are purged, profile events scrubbed) and
 * keeps the anonymous member with its ledger; export returns everything held; per org, admin only.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findMembersByEmail } from "../../src/membership/index.ts";
import type { TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, type Harness, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness.close());

async function enrolWithPersonalData(ref: string) {
  const enrolled = await call(harness.app, "POST", "/v1/members", {
    key: org.keys.pos,
    headers: { "Idempotency-Key": `enrol-${ref}` },
    body: {
      external_ref: ref,
      email: `${ref}@example.org`,
      phone: "+33 6 12 34 56 78",
      first_name: "Ada",
      last_name: "Lovelace",
    },
  });
  expect(enrolled.status).toBe(201);
  return (enrolled.body.member as unknown as { id: string }).id;
}

/** The whole database as `pg_dump` writes it (data only, as text). */
async function databaseDump(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    "pg_dump",
    ["--data-only", "--no-owner", "--inserts", harness.database.url],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  return stdout;
}

describe("POST /v1/members/{id}/erase", () => {
  it("erases the personal data for good and keeps the anonymous member and its points", async () => {
    const ref = `card-erase-${Date.now()}`;
    const id = await enrolWithPersonalData(ref);
    const purchase = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: { external_id: `${ref}-p1`, member_id: id, amount: 2500, currency: "EUR" },
    });
    expect(purchase.status).toBe(201);
    expect(
      (await findMembersByEmail(harness.deps, { orgId: org.id, email: `${ref}@example.org` })).map(
        (member) => member.id,
      ),
    ).toEqual([id]);
    const before = await call(harness.app, "GET", `/v1/members/${id}/balances`, {
      key: org.keys.admin,
    });

    const erased = await call(harness.app, "POST", `/v1/members/${id}/erase`, {
      key: org.keys.admin,
    });
    expect(erased.status).toBe(200);
    expect(erased.body.member).toMatchObject({
      id,
      external_ref: ref,
      email: null,
      phone: null,
      first_name: null,
      last_name: null,
      erased_at: expect.any(String),
    });

    // Stored in the database: no ciphertext, no lookup hash.
    const [row] = await harness.database.sql<Record<string, unknown>[]>`
      select email_encrypted, phone_encrypted, first_name_encrypted, last_name_encrypted,
        email_hash, phone_hash from members where id = ${id}`;
    expect(Object.values(row ?? { missing: 1 }).every((value) => value === null)).toBe(true);
    // Not found by e-mail any more (it was, before); the ledger and balances stay.
    expect(
      await findMembersByEmail(harness.deps, { orgId: org.id, email: `${ref}@example.org` }),
    ).toEqual([]);
    const after = await call(harness.app, "GET", `/v1/members/${id}/balances`, {
      key: org.keys.admin,
    });
    expect(after.body).toEqual(before.body);
    // The stored answer of the enrolment (it held the e-mail) is gone: the key now runs anew.
    const [stored] = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from idempotency_keys where key = ${`enrol-${ref}`}`;
    expect(stored?.n).toBe(0);
    // Personal data cannot come back; the status still can change.
    const refill = await call(harness.app, "PATCH", `/v1/members/${id}`, {
      key: org.keys.admin,
      body: { email: "back@example.org" },
    });
    expect(refill.status).toBe(409);
    // Idempotent; one event, one audit entry.
    const again = await call(harness.app, "POST", `/v1/members/${id}/erase`, {
      key: org.keys.admin,
    });
    expect(again.status).toBe(200);
    expect(again.body.member).toEqual(erased.body.member);
    const [events] = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from outbox where topic = 'member.erased'
        and payload->>'member_id' = ${id}`;
    expect(events?.n).toBe(1);
    const audit = await call(harness.app, "GET", `/v1/audit?action=member.erased&target_id=${id}`, {
      key: org.keys.finance,
    });
    const entries = list(audit.body.entries) as unknown as Array<Record<string, unknown>>;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      before: { fields_held: ["email", "phone", "first_name", "last_name"] },
      actor_key_id: org.result.apiKeys.admin.id,
    });
    expect(JSON.stringify(entries)).not.toContain("Lovelace");
  });

  it("leaves nothing personal of the member in a pg_dump of the database", async () => {
    const ref = `card-dump-${Date.now()}`;
    const id = await enrolWithPersonalData(ref);
    const profile = await call(harness.app, "POST", "/v1/events", {
      key: org.keys.pos,
      body: {
        event_id: `${ref}-profile`,
        event_type: "customer.updated",
        occurred_at: new Date().toISOString(),
        member_external_ref: ref,
        payload: { email: `${ref}.new@example.org`, first_name: "Augusta" },
      },
    });
    expect(profile.status).toBe(202);
    const [row] = await harness.database.sql<
      { email_hash: Buffer; phone_hash: Buffer; email_encrypted: Buffer }[]
    >`select email_hash, phone_hash, email_encrypted from members where id = ${id}`;
    // What would identify the member: the ciphertexts and lookup hashes as pg_dump writes
    // bytea (hex), and the plain values (stored answers or events would show them).
    const traces = [
      `\\x${row?.email_hash.toString("hex")}`,
      `\\x${row?.phone_hash.toString("hex")}`,
      `\\x${row?.email_encrypted.toString("hex")}`,
      `${ref}@example.org`,
      `${ref}.new@example.org`,
      "Lovelace",
      "Augusta",
    ];
    const before = await databaseDump();
    // The test can fail: before erasure the dump holds the member's hashes and ciphertexts.
    expect(traces.slice(0, 3).every((trace) => before.includes(trace))).toBe(true);

    const erased = await call(harness.app, "POST", `/v1/members/${id}/erase`, {
      key: org.keys.admin,
    });
    expect(erased.status).toBe(200);
    const after = await databaseDump();
    for (const trace of traces) {
      expect(after.includes(trace), trace).toBe(false);
    }
    // The anonymous member is still there, with its external ref.
    expect(after.includes(id)).toBe(true);
  });

  it("scrubs profile events sent for the member and fails one still queued", async () => {
    const ref = `card-erase-events-${Date.now()}`;
    const id = await enrolWithPersonalData(ref);
    const sent = await call(harness.app, "POST", "/v1/events", {
      key: org.keys.pos,
      body: {
        event_id: `${ref}-profile`,
        event_type: "customer.updated",
        occurred_at: new Date().toISOString(),
        member_external_ref: ref,
        payload: { email: "new-address@example.org" },
      },
    });
    expect(sent.status).toBe(202);
    const erased = await call(harness.app, "POST", `/v1/members/${id}/erase`, {
      key: org.keys.admin,
    });
    expect(erased.status).toBe(200);
    const [event] = await harness.database.sql<{ payload: unknown; status: string }[]>`
      select payload, status from inbox_events where event_id = ${`${ref}-profile`}`;
    expect(event).toEqual({ payload: { erased: true }, status: "failed" });
    const status = await call(harness.app, "GET", `/v1/events/${ref}-profile`, {
      key: org.keys.pos,
    });
    expect(status.body).toMatchObject({ status: "failed", error: { code: "member_erased" } });
  });

  it("is for admins of the member's own org", async () => {
    const id = await enrolWithPersonalData(`card-erase-roles-${Date.now()}`);
    for (const key of [org.keys.pos, org.keys.finance]) {
      const response = await call(harness.app, "POST", `/v1/members/${id}/erase`, { key });
      expect(response.status).toBe(403);
    }
    const foreign = await call(harness.app, "POST", `/v1/members/${id}/erase`, {
      key: other.keys.admin,
    });
    expect(foreign.status).toBe(404);
    const kept = await call(harness.app, "GET", `/v1/members/${id}`, { key: org.keys.admin });
    expect(kept.body).toMatchObject({ last_name: "Lovelace", erased_at: null });
  });
});

describe("GET /v1/members/{id}/export", () => {
  it("returns the member's data, balances, tier history and point history", async () => {
    const ref = `card-export-${Date.now()}`;
    const id = await enrolWithPersonalData(ref);
    for (const n of [1, 2, 3]) {
      const purchase = await call(harness.app, "POST", "/v1/transactions", {
        key: org.keys.pos,
        body: { external_id: `${ref}-p${n}`, member_id: id, amount: 1000 * n, currency: "EUR" },
      });
      expect(purchase.status).toBe(201);
    }
    const exported = await call(harness.app, "GET", `/v1/members/${id}/export`, {
      key: org.keys.admin,
    });
    expect(exported.status).toBe(200);
    expect(exported.body).toMatchObject({
      member: { id, external_ref: ref, email: `${ref}@example.org`, last_name: "Lovelace" },
      balances: { points: { available: expect.any(Number) } },
      tier_history: [expect.objectContaining({ reason: "enrollment" })],
      history_truncated: false,
    });
    const history = list(exported.body.history);
    // The welcome bonus and three purchases.
    expect(history.length).toBeGreaterThanOrEqual(3);
    for (const key of [org.keys.pos, org.keys.finance]) {
      const response = await call(harness.app, "GET", `/v1/members/${id}/export`, { key });
      expect(response.status).toBe(403);
    }
    const foreign = await call(harness.app, "GET", `/v1/members/${id}/export`, {
      key: other.keys.admin,
    });
    expect(foreign.status).toBe(404);
  });
});
