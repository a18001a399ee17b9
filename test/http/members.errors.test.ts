/**
 * Members over HTTP, the refusals: duplicates, unknown ids, each field's bound and one past it,
 * unknown fields, malformed bodies and queries. Every refusal leaves Postgres and the ledger as
 * they were.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  countRows,
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

/** Runs `request`, expects `status`, and checks nothing was written anywhere. */
async function refusedWithoutWrites(
  request: () => ReturnType<typeof call>,
  status: number,
): Promise<Awaited<ReturnType<typeof call>>> {
  const members = await countRows(harness, "members", org.id);
  const outbox = await countRows(harness, "outbox", org.id);
  const keys = await countRows(harness, "idempotency_keys", org.id);
  const transfers = await ledgerTransferCount(harness);
  const response = await request();
  expect(response.status).toBe(status);
  expect(await countRows(harness, "members", org.id)).toBe(members);
  expect(await countRows(harness, "outbox", org.id)).toBe(outbox);
  expect(await countRows(harness, "idempotency_keys", org.id)).toBe(keys);
  expect(await ledgerTransferCount(harness)).toBe(transfers);
  return response;
}

function issuePaths(body: Awaited<ReturnType<typeof call>>["body"]): string[] {
  return list(body.error?.details?.issues).map((issue) => String(issue.path));
}

describe("POST /v1/members refusals", () => {
  it("answers 409 for a duplicate external ref, writing nothing more", async () => {
    const member = await enrollOverHttp(harness, org);
    const response = await refusedWithoutWrites(
      () =>
        call(harness.app, "POST", "/v1/members", {
          key: org.keys.pos,
          body: { external_ref: member.externalRef },
          headers: { "Idempotency-Key": randomUUID() },
        }),
      409,
    );
    expect(response.body.error).toMatchObject({ code: "conflict" });
  });

  it("accepts an external ref at its bound and refuses one past it with the field's path", async () => {
    const atBound = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      body: { external_ref: "r".repeat(128) },
    });
    expect(atBound.status).toBe(201);
    const pastBound = await refusedWithoutWrites(
      () =>
        call(harness.app, "POST", "/v1/members", {
          key: org.keys.pos,
          body: { external_ref: "s".repeat(129) },
        }),
      400,
    );
    expect(pastBound.body.error).toMatchObject({
      code: "validation_failed",
      details: { target: "body" },
    });
    expect(issuePaths(pastBound.body)).toEqual(["external_ref"]);
  });

  it("refuses unknown fields, bad e-mails and wrong types, naming each path", async () => {
    const response = await refusedWithoutWrites(
      () =>
        call(harness.app, "POST", "/v1/members", {
          key: org.keys.pos,
          body: { external_ref: 42, email: "not-an-email", nickname: "x" },
        }),
      400,
    );
    expect(issuePaths(response.body).sort()).toEqual(["", "email", "external_ref"]);
    const unknown = list(response.body.error?.details?.issues).find(
      (issue) => String(issue.path) === "",
    );
    expect(unknown?.message).toContain("nickname");
  });

  it("answers malformed JSON with 400 and a missing content type with 415", async () => {
    const malformed = await refusedWithoutWrites(
      () => call(harness.app, "POST", "/v1/members", { key: org.keys.pos, rawBody: "{oops" }),
      400,
    );
    expect(malformed.body.error?.code).toBe("malformed_json");
    const untyped = await refusedWithoutWrites(
      () =>
        call(harness.app, "POST", "/v1/members", {
          key: org.keys.pos,
          rawBody: JSON.stringify({ external_ref: "x" }),
          headers: { "Content-Type": "text/plain" },
        }),
      415,
    );
    expect(untyped.body.error?.code).toBe("unsupported_media_type");
  });
});

describe("reads of unknown members", () => {
  it("answers 404 for an unknown id, a non-UUID id and an unknown external ref", async () => {
    for (const path of [
      `/v1/members/${randomUUID()}`,
      "/v1/members/not-a-uuid",
      `/v1/members/${randomUUID()}/balances`,
      `/v1/members/${randomUUID()}/history`,
      "/v1/members?external_ref=no-such-card",
    ]) {
      const response = await call(harness.app, "GET", path, { key: org.keys.admin });
      expect(response.status, path).toBe(404);
      expect(response.body.error?.code, path).toBe("not_found");
    }
  });

  it("answers 400 without external_ref, for unknown query parameters and bad pages", async () => {
    const member = await enrollOverHttp(harness, org);
    const cases: Array<[string, string]> = [
      ["/v1/members", "external_ref"],
      ["/v1/members?external_ref=a&extra=1", ""],
      [`/v1/members/${member.id}/history?limit=0`, "limit"],
      [`/v1/members/${member.id}/history?limit=201`, "limit"],
      [`/v1/members/${member.id}/history?limit=2.5`, "limit"],
    ];
    for (const [path, field] of cases) {
      const response = await call(harness.app, "GET", path, { key: org.keys.admin });
      expect(response.status, path).toBe(400);
      expect(response.body.error?.details?.target, path).toBe("query");
      expect(issuePaths(response.body), path).toEqual([field]);
    }
    const atBound = await call(harness.app, "GET", `/v1/members/${member.id}/history?limit=200`, {
      key: org.keys.admin,
    });
    expect(atBound.status).toBe(200);
  });

  it("answers 400 invalid_input for a cursor this API did not issue", async () => {
    const member = await enrollOverHttp(harness, org);
    const response = await call(
      harness.app,
      "GET",
      `/v1/members/${member.id}/history?cursor=forged`,
      { key: org.keys.admin },
    );
    expect(response.status).toBe(400);
    expect(response.body.error?.code).toBe("invalid_input");
  });
});

describe("PATCH refusals", () => {
  it("answers 409 invalid_state when changing a closed member", async () => {
    const member = await enrollOverHttp(harness, org);
    const closed = await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.admin,
      body: { status: "closed" },
    });
    expect(closed.status).toBe(200);
    const response = await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.admin,
      body: { first_name: "Too late" },
    });
    expect(response.status).toBe(409);
    expect(response.body.error?.code).toBe("invalid_state");
  });

  it("refuses an unknown status and unknown fields", async () => {
    const member = await enrollOverHttp(harness, org);
    const response = await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.admin,
      body: { status: "deleted", external_ref: "new" },
    });
    expect(response.status).toBe(400);
    expect(issuePaths(response.body).sort()).toEqual(["", "status"]);
  });
});
