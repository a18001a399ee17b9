/**
 * `Idempotency-Key` on POST: a replay answers the stored response (Idempotency-Replayed: true)
 * and writes nothing; the same key with another body, or while the first request is still
 * running, is 409; keys are per org; errors are not stored, so a failed request can be retried;
 * stored answers are encrypted at rest (new orgs' API keys are in them).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyBodyText } from "../../src/http/idempotency.ts";
import type { Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  countRows,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
} from "./support.ts";

const platformToken = "platform-token-for-idempotency-tests";
/** Polls for a condition another connection makes true; bounded, not a timing assertion. */
const pollAttemptsMax = 500;
let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness({ platformToken });
  org = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

describe("Idempotency-Key", () => {
  it("replays the stored answer and writes nothing the second time", async () => {
    const key = randomUUID();
    const body = { external_ref: "card-idem-1", email: "idem@example.com" };
    const first = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      body,
      headers: { "Idempotency-Key": key },
    });
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotency-replayed")).toBeNull();
    const members = await countRows(harness, "members", org.id);
    const transfers = await ledgerTransferCount(harness);

    const replay = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      body,
      headers: { "Idempotency-Key": key },
    });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotency-replayed")).toBe("true");
    expect(replay.body).toEqual(first.body);
    expect(await countRows(harness, "members", org.id)).toBe(members);
    expect(await ledgerTransferCount(harness)).toBe(transfers);

    // The stored answer holds personal data; it is encrypted at rest.
    const [row] = await harness.database.sql<{ body: Buffer }[]>`
      select response_body as body from idempotency_keys where key = ${key}`;
    expect(row?.body.toString("latin1")).not.toContain("idem@example.com");
  });

  it("answers 409 for the same key with another body, and for another path", async () => {
    const key = randomUUID();
    const first = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      body: { external_ref: "card-idem-2" },
      headers: { "Idempotency-Key": key },
    });
    expect(first.status).toBe(201);
    const members = await countRows(harness, "members", org.id);
    const other = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      body: { external_ref: "card-idem-3" },
      headers: { "Idempotency-Key": key },
    });
    expect(other.status).toBe(409);
    expect(other.body.error?.code).toBe("idempotency_key_reused");
    const elsewhere = await call(
      harness.app,
      "POST",
      `/v1/members/${String(first.body.member?.id)}/redemptions`,
      {
        key: org.keys.pos,
        body: { external_ref: "card-idem-2" },
        headers: { "Idempotency-Key": key },
      },
    );
    expect(elsewhere.status).toBe(409);
    expect(await countRows(harness, "members", org.id)).toBe(members);
  });

  it("answers 409 to a duplicate that arrives while the first is still running", async () => {
    const key = randomUUID();
    const sql = harness.database.sql;
    // Hold inserts into members so the first enrolment waits inside its use case.
    const blocker = await sql.reserve();
    let first: ReturnType<typeof call> | undefined;
    try {
      await blocker`begin`;
      await blocker`lock table members in exclusive mode`;
      first = call(harness.app, "POST", "/v1/members", {
        key: org.keys.pos,
        body: { external_ref: "card-in-flight" },
        headers: { "Idempotency-Key": key },
      });
      let inFlight = false;
      for (let attempt = 0; attempt < pollAttemptsMax && !inFlight; attempt += 1) {
        const waiting = await sql<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'
            and query ilike '%insert into "members"%'`;
        inFlight = (waiting[0]?.n ?? 0) > 0;
        if (!inFlight) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
      expect(inFlight).toBe(true);

      const duplicate = await call(harness.app, "POST", "/v1/members", {
        key: org.keys.pos,
        body: { external_ref: "card-in-flight" },
        headers: { "Idempotency-Key": key },
      });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.error?.code).toBe("idempotency_request_in_flight");
    } finally {
      await blocker`rollback`;
      blocker.release();
    }
    const settled = await first;
    expect(settled?.status).toBe(201);
    const replay = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      body: { external_ref: "card-in-flight" },
      headers: { "Idempotency-Key": key },
    });
    expect(replay.headers.get("idempotency-replayed")).toBe("true");
    expect(replay.body).toEqual(settled?.body);
  });

  it("does not store errors, so the same key can be retried once the cause is fixed", async () => {
    const member = await enrollOverHttp(harness, org);
    const key = randomUUID();
    const body = { points: 150 };
    const refused = await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
      key: org.keys.pos,
      body,
      headers: { "Idempotency-Key": key },
    });
    expect(refused.status).toBe(422);
    const [stored] = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from idempotency_keys where key = ${key}`;
    expect(stored?.n).toBe(0);

    await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: { external_id: "top-up", member_id: member.id, amount: 10_000, currency: "EUR" },
    });
    const retried = await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
      key: org.keys.pos,
      body,
      headers: { "Idempotency-Key": key },
    });
    expect(retried.status).toBe(201);
    expect(retried.headers.get("idempotency-replayed")).toBeNull();
  });

  it("keeps keys per org: another org may use the same key for its own request", async () => {
    const key = randomUUID();
    const other = await buildTestOrg(harness);
    for (const target of [org, other]) {
      const response = await call(harness.app, "POST", "/v1/members", {
        key: target.keys.pos,
        body: { external_ref: "card-shared-key" },
        headers: { "Idempotency-Key": key },
      });
      expect(response.status).toBe(201);
      expect(response.headers.get("idempotency-replayed")).toBeNull();
    }
  });

  it("replays a new org's keys exactly, without storing them in clear", async () => {
    const key = randomUUID();
    const body = { name: "Replay Org", slug: "replay-org", currency: "EUR" };
    const first = await call(harness.app, "POST", "/v1/orgs", {
      key: platformToken,
      body,
      headers: { "Idempotency-Key": key },
    });
    expect(first.status).toBe(201);
    const replay = await call(harness.app, "POST", "/v1/orgs", {
      key: platformToken,
      body,
      headers: { "Idempotency-Key": key },
    });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotency-replayed")).toBe("true");
    expect(replay.body.api_keys).toEqual(first.body.api_keys);
    const [row] = await harness.database.sql<{ body: Buffer; org: string | null }[]>`
      select response_body as body, org_id as org from idempotency_keys where key = ${key}`;
    expect(row?.org).toBeNull();
    expect(row?.body.toString("latin1")).not.toContain(String(first.body.api_keys?.admin));
  });

  it("refuses a malformed key with 400 and runs nothing", async () => {
    const members = await countRows(harness, "members", org.id);
    for (const key of ["", "x".repeat(256), "has space", "é"]) {
      const response = await call(harness.app, "POST", "/v1/members", {
        key: org.keys.pos,
        body: { external_ref: "card-bad-key" },
        headers: { "Idempotency-Key": key },
      });
      expect(response.status, JSON.stringify(key)).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
    }
    expect(await countRows(harness, "members", org.id)).toBe(members);
  });

  it("hashes the parsed body: reordered keys and other spacing are the same request", async () => {
    const member = await enrollOverHttp(harness, org);
    const key = randomUUID();
    const first = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      rawBody: JSON.stringify({
        external_id: "idem-canonical-1",
        member_id: member.id,
        amount: 2500,
        currency: "EUR",
        items: [{ sku: "beans", quantity: 2, amount: 2500 }],
      }),
      headers: { "Idempotency-Key": key },
    });
    expect(first.status).toBe(201);
    const transactions = await countRows(harness, "pos_transactions", org.id);
    const transfers = await ledgerTransferCount(harness);

    // The same purchase: keys in another order at both levels, indented, a number as 2.0e0.
    const reordered = `{
      "items": [ { "amount": 2500, "quantity": 2.0e0, "sku": "beans" } ],
      "currency": "EUR",   "amount": 2500,
      "member_id": ${JSON.stringify(member.id)}, "external_id": "idem-\u0063anonical-1"
    }`;
    const replay = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      rawBody: reordered,
      headers: { "Idempotency-Key": key },
    });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotency-replayed")).toBe("true");
    expect(replay.body).toEqual(first.body);
    expect(await countRows(harness, "pos_transactions", org.id)).toBe(transactions);
    expect(await ledgerTransferCount(harness)).toBe(transfers);

    // A body that differs in one nested value is another request.
    const changed = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      rawBody: reordered.replace('"amount": 2500, "quantity"', '"amount": 2400, "quantity"'),
      headers: { "Idempotency-Key": key },
    });
    expect(changed.status).toBe(409);
    expect(changed.body.error?.code).toBe("idempotency_key_reused");
    expect(changed.headers.get("idempotency-replayed")).toBeNull();
    expect(await countRows(harness, "pos_transactions", org.id)).toBe(transactions);
    expect(await ledgerTransferCount(harness)).toBe(transfers);
  });

  it("tells a JSON body from the same text sent as another media type", async () => {
    const json = idempotencyBodyText("application/json; charset=utf-8", '{"b":1, "a":2}');
    expect(json).toBe('json:{"a":2,"b":1}');
    expect(idempotencyBodyText("application/json", '{"a":2,"b":1}')).toBe(json);
    expect(idempotencyBodyText("text/plain", '{"a":2,"b":1}')).not.toBe(json);
    expect(idempotencyBodyText("application/json", "{not json")).toBe("bytes:{not json");
    // Deeper than any request schema: hashed by its bytes rather than walked.
    const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;
    expect(idempotencyBodyText("application/json", deep)).toBe(`bytes:${deep}`);
  });
});
