/**
 * The OpenAPI document against a maintained linter and against the server itself: Redocly's
 * recommended-strict rules (every warning an error; examples are validated against their
 * schemas), every operation complete (operationId, examples), the edge's rules stated (405,
 * 415, Idempotency-Key, headers, oneOf), and the server answering what the document says.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { NormalizedProblem } from "@redocly/openapi-core";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallResult, Harness, Json, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, list } from "./support.ts";

const platformToken = "p".repeat(40);
const httpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

let harness: Harness;
let org: TestOrg;
let document: Json;

interface Operation {
  method: string;
  path: string;
  operation: Json;
}

function operations(): Operation[] {
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item ?? {})
      .filter(([method]) => httpMethods.includes(method))
      .map(([method, operation]) => ({ method, path, operation })),
  );
}

function responseHeaders(response: Json | undefined): string[] {
  return Object.keys(response?.headers ?? {});
}

/** Path parameters filled with ids that exist nowhere (every route must still answer). */
function concretePath(path: string): string {
  return path.replace(/\{[^}]+\}/g, () => randomUUID());
}

async function lint(source: Json): Promise<NormalizedProblem[]> {
  // The recommended rules with every warning raised to an error; no rule is turned off.
  const config = await createConfig({ extends: ["recommended-strict"] });
  return lintFromString({ source: JSON.stringify(source), absoluteRef: "openapi.json", config });
}

function describeProblems(problems: NormalizedProblem[]): string[] {
  return problems.map(
    (problem) =>
      `${problem.severity} ${problem.ruleId} at ${problem.location[0]?.pointer ?? "?"}: ${problem.message}`,
  );
}

/** A member token of a member of `org`, for the /v1/me routes (which refuse API keys). */
let memberToken: string;

beforeAll(async () => {
  harness = await createHarness({ platformToken });
  org = await buildTestOrg(harness);
  const enrolled = await call(harness.app, "POST", "/v1/members", {
    key: org.keys.pos,
    body: { external_ref: "openapi-member-app" },
  });
  const session = await call(
    harness.app,
    "POST",
    `/v1/members/${String(enrolled.body.member?.id)}/sessions`,
    { key: org.keys.pos },
  );
  expect(session.status).toBe(201);
  memberToken = String(session.body.token);
  const response = await call(harness.app, "GET", "/openapi.json");
  expect(response.status).toBe(200);
  document = response.body;
});
afterAll(async () => {
  await harness?.close();
});

describe("the OpenAPI document, linted", () => {
  it("has no problem under Redocly's recommended-strict rules", async () => {
    expect(describeProblems(await lint(document))).toEqual([]);
  });

  it("would fail on an example that contradicts its schema", async () => {
    // Proof that the lint above checks examples: plant a float amount in the purchase example.
    const broken = structuredClone(document) as Record<string, Json>;
    const purchase = broken.paths?.["/v1/transactions"]?.post?.requestBody?.content?.[
      "application/json"
    ] as unknown as { example: { amount: unknown } };
    purchase.example.amount = 19.99;
    const problems = await lint(broken as unknown as Json);
    expect(problems.map((problem) => problem.ruleId)).toContain("no-invalid-media-type-examples");
    expect(problems.every((problem) => problem.severity === "error")).toBe(true);
  });
});

describe("every operation", () => {
  it("has a unique operationId, a summary, an example request body and example responses", () => {
    const ids = new Set<string>();
    const all = operations();
    expect(all.length).toBeGreaterThanOrEqual(19);
    for (const { method, path, operation } of all) {
      const name = `${method} ${path}`;
      expect(operation.operationId, name).toMatch(/^[a-z][A-Za-z]+$/);
      ids.add(String(operation.operationId));
      expect(String(operation.summary ?? ""), name).not.toBe("");
      for (const media of Object.values(operation.requestBody?.content ?? {})) {
        expect(media.example, `${name} request example`).toBeDefined();
      }
      const examples = Object.values(operation.responses ?? {}).flatMap((response) =>
        Object.values(response.content ?? {}).map((media) => media.example),
      );
      expect(examples.length, name).toBeGreaterThan(0);
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        for (const media of Object.values(response.content ?? {})) {
          expect(media.example, `${name} ${status} example`).toBeDefined();
        }
      }
    }
    expect(ids.size).toBe(all.length);
  });

  it("states the edge's statuses and headers", () => {
    expect(list(document.servers).length).toBeGreaterThan(0);
    for (const { method, path, operation } of operations()) {
      const name = `${method} ${path}`;
      const responses = operation.responses ?? {};
      expect(responseHeaders(responses["405"]), name).toContain("Allow");
      expect(responses["500"], name).toBeDefined();
      for (const [status, response] of Object.entries(responses)) {
        expect(responseHeaders(response), `${name} ${status}`).toContain("X-Request-Id");
      }
      const security = list(operation.security);
      // The member app's PIN login is public by nature: it is how a member gets a credential.
      if (security.length === 0 && path !== "/v1/member-auth/login") {
        expect(path, "only operational routes are public").not.toMatch(/^\/v1\//);
      }
      if (security.some((entry) => entry.apiKey !== undefined)) {
        expect(responseHeaders(responses["401"]), name).toContain("WWW-Authenticate");
        expect(responses["429"], name).toBeDefined();
        expect(responseHeaders(responses["429"]), name).toContain("Retry-After");
        for (const [status, response] of Object.entries(responses)) {
          if (status !== "401" && status !== "405") {
            expect(responseHeaders(response), `${name} ${status}`).toContain("RateLimit-Remaining");
          }
        }
      }
      if (operation.requestBody !== undefined) {
        // The one file upload takes its file as it is; every other body is JSON.
        expect(Object.keys(operation.requestBody.content ?? {}), name).toEqual(
          path === "/v1/imports/members"
            ? ["text/csv", "application/x-ndjson"]
            : ["application/json"],
        );
        expect(responses["415"], name).toBeDefined();
        expect(responses["413"], name).toBeDefined();
      }
      const parameters = operation.parameters === undefined ? [] : list(operation.parameters);
      const idempotencyKey = parameters.find(
        (parameter) =>
          String(parameter.name) === "idempotency-key" && String(parameter.in) === "header",
      );
      if (idempotencyKey !== undefined) {
        expect(responses["409"], name).toBeDefined();
        expect(responses["400"], name).toBeDefined();
        for (const [status, response] of Object.entries(responses)) {
          if (status.startsWith("2")) {
            expect(responseHeaders(response), `${name} ${status}`).toContain(
              "Idempotency-Replayed",
            );
          }
        }
      }
      const unavailable = responses["503"]?.content?.["application/json"]?.schema?.$ref;
      if (String(unavailable) === "#/components/schemas/Error") {
        expect(responseHeaders(responses["503"]), name).toContain("Retry-After");
      }
    }
    expect(document.paths?.["/health"]?.get?.security).toEqual([]);
    expect(document.paths?.["/v1/transactions/batch"]?.post?.responses?.["409"]).toBeDefined();
  });
});

describe("the document states exactly one of member_id / member_external_ref", () => {
  it("as a oneOf of the two required fields, which the server enforces", async () => {
    const purchase = document.components?.schemas?.Purchase;
    expect(purchase?.oneOf).toEqual([
      { required: ["member_id"] },
      { required: ["member_external_ref"] },
    ]);
    const base = { external_id: `oneof-${randomUUID()}`, amount: 100, currency: "EUR" };
    for (const body of [
      base,
      { ...base, member_id: randomUUID(), member_external_ref: "card-1" },
    ]) {
      const response = await call(harness.app, "POST", "/v1/transactions", {
        key: org.keys.pos,
        body,
      });
      expect(response.status).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
    }
  });
});

describe("405 Method Not Allowed", () => {
  it("answers every documented path's other methods with Allow naming the documented ones", async () => {
    for (const [path, item] of Object.entries(document.paths ?? {})) {
      const documented = Object.keys(item ?? {})
        .filter((method) => httpMethods.includes(method))
        .map((method) => method.toUpperCase());
      const expected = new Set(documented);
      if (expected.has("GET")) {
        expected.add("HEAD");
      }
      const unserved = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].filter(
        (method) => !expected.has(method),
      );
      expect(unserved.length, path).toBeGreaterThan(0);
      for (const method of unserved) {
        // No credentials: which methods a path serves is public, and said before authentication.
        const response = await call(harness.app, method, concretePath(path));
        expect(response.status, `${method} ${path}`).toBe(405);
        expect(response.headers.get("allow"), `${method} ${path}`).toBe(
          [...expected].sort().join(", "),
        );
        expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
        expect(response.body.error?.code).toBe("method_not_allowed");
      }
    }
  });

  it("names the methods of several routes, serves HEAD where GET is, and leaves unknown paths 404", async () => {
    const member = await call(harness.app, "DELETE", `/v1/members/${randomUUID()}`);
    expect(member.status).toBe(405);
    expect(member.headers.get("allow")).toBe("GET, HEAD, PATCH");
    expect(member.body.error?.details?.allowed_methods).toEqual(["GET", "HEAD", "PATCH"]);
    const purchase = await call(harness.app, "GET", "/v1/transactions");
    expect(purchase.headers.get("allow")).toBe("POST");
    const batch = await call(harness.app, "PUT", "/v1/transactions/batch", {
      key: org.keys.pos,
      body: { transactions: [] },
    });
    expect([batch.status, batch.headers.get("allow")]).toEqual([405, "POST"]);
    const health = await call(harness.app, "POST", "/health");
    expect([health.status, health.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    const head = await harness.app.request("/health", { method: "HEAD" });
    expect(head.status).toBe(200);
    const unknown = await call(harness.app, "DELETE", "/v1/nothing-here");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.code).toBe("route_not_found");
  });
});

describe("415 Unsupported Media Type", () => {
  it("answers every operation with a JSON body when the body is sent as another type", async () => {
    const withBody = operations().filter(({ operation }) => operation.requestBody !== undefined);
    expect(withBody.length).toBeGreaterThanOrEqual(7);
    for (const { method, path, operation } of withBody) {
      const example = operation.requestBody?.content?.["application/json"]?.example;
      // The first key whose role the route allows: a refused role is answered 403 before 415.
      let response: CallResult | undefined;
      for (const key of path === "/v1/orgs"
        ? [platformToken]
        : path === "/v1/me" || path.startsWith("/v1/me/")
          ? [memberToken]
          : [org.keys.pos, org.keys.admin, org.keys.finance]) {
        response = await call(harness.app, method.toUpperCase(), concretePath(path), {
          key,
          rawBody: JSON.stringify(example),
          headers: { "Content-Type": "text/plain" },
        });
        if (response.status !== 403) {
          break;
        }
      }
      assert.ok(response !== undefined);
      expect(response.status, `${method} ${path}`).toBe(415);
      expect(response.body.error?.code).toBe("unsupported_media_type");
      expect(Object.keys(operation.responses?.["415"] ?? {})).not.toHaveLength(0);
    }
  });
});

describe("Idempotency-Key", () => {
  it("is refused exactly when the documented schema refuses it", async () => {
    const schema = document.paths?.["/v1/members"]?.post?.parameters
      ? list(document.paths?.["/v1/members"]?.post?.parameters).find(
          (parameter) => String(parameter.name) === "idempotency-key",
        )?.schema
      : undefined;
    expect(schema).toMatchObject({ minLength: 1, maxLength: 255 });
    const pattern = new RegExp(String(schema?.pattern));
    const documentedValid = (key: string) =>
      key.length >= Number(schema?.minLength) &&
      key.length <= Number(schema?.maxLength) &&
      pattern.test(key);
    const candidates = [
      randomUUID(),
      "till-3:0001",
      "k".repeat(255),
      "k".repeat(256),
      "two words",
      "tab\there",
      "caf\u00e9",
    ];
    for (const key of candidates) {
      const response = await call(harness.app, "POST", "/v1/members", {
        key: org.keys.pos,
        headers: { "Idempotency-Key": key },
        body: { external_ref: `idem-${randomUUID()}` },
      });
      expect(response.status, JSON.stringify(key)).toBe(documentedValid(key) ? 201 : 400);
    }
  });

  it("answers 409 on the batch route when a key is reused for another batch", async () => {
    const key = randomUUID();
    const batch = (externalId: string) => ({
      transactions: [
        { external_id: externalId, member_external_ref: "nobody", amount: 100, currency: "EUR" },
      ],
    });
    const first = await call(harness.app, "POST", "/v1/transactions/batch", {
      key: org.keys.pos,
      headers: { "Idempotency-Key": key },
      body: batch(`b-${randomUUID()}`),
    });
    expect(first.status).toBe(200);
    const reused = await call(harness.app, "POST", "/v1/transactions/batch", {
      key: org.keys.pos,
      headers: { "Idempotency-Key": key },
      body: batch(`b-${randomUUID()}`),
    });
    expect(reused.status).toBe(409);
    expect(reused.body.error?.code).toBe("idempotency_key_reused");
  });
});

describe("the examples", () => {
  /** The documented request example of an operation. */
  function requestExample(path: string, method: string): Record<string, unknown> {
    const example = document.paths?.[path]?.[method]?.requestBody?.content?.["application/json"]
      ?.example as unknown;
    expect(example, `${method} ${path}`).toBeDefined();
    return structuredClone(example) as Record<string, unknown>;
  }

  /** The answer is documented for the operation, with the documented example's fields. */
  function expectDocumented(
    path: string,
    method: string,
    answer: { status: number; body: Json },
  ): void {
    const documented = document.paths?.[path]?.[method]?.responses?.[String(answer.status)];
    expect(documented, `${method} ${path} answered ${answer.status}`).toBeDefined();
    const example = documented?.content?.["application/json"]?.example;
    expect(Object.keys(answer.body).sort(), `${method} ${path}`).toEqual(
      Object.keys(example ?? {}).sort(),
    );
  }

  it("are requests the server accepts, answered with the documented status and fields", async () => {
    const run = async (
      method: string,
      path: string,
      concrete: string,
      options: { key: string; body?: unknown },
    ) => {
      const answer = await call(harness.app, method.toUpperCase(), concrete, options);
      expectDocumented(path, method, answer);
      return answer;
    };
    const created = await run("post", "/v1/orgs", "/v1/orgs", {
      key: platformToken,
      body: requestExample("/v1/orgs", "post"),
    });
    expect(created.status).toBe(201);
    const keys = created.body.api_keys;
    const pos = String(keys?.pos);
    const enrolled = await run("post", "/v1/members", "/v1/members", {
      key: pos,
      body: requestExample("/v1/members", "post"),
    });
    expect(enrolled.status).toBe(201);
    const memberId = String(enrolled.body.member?.id);
    const member = `/v1/members/${memberId}`;
    await run("get", "/v1/members", "/v1/members?external_ref=card-000123", { key: pos });
    await run("get", "/v1/members/{id}", member, { key: pos });
    await run("patch", "/v1/members/{id}", member, {
      key: pos,
      body: requestExample("/v1/members/{id}", "patch"),
    });
    const purchase = await run("post", "/v1/transactions", "/v1/transactions", {
      key: pos,
      body: requestExample("/v1/transactions", "post"),
    });
    expect(purchase.status).toBe(201);
    const batch = requestExample("/v1/transactions/batch", "post");
    (batch.transactions as Array<Record<string, unknown>>)[0] = {
      ...(batch.transactions as Array<Record<string, unknown>>)[0],
      external_id: "store-7:till-3:000122",
    };
    const batched = await run("post", "/v1/transactions/batch", "/v1/transactions/batch", {
      key: pos,
      body: batch,
    });
    expect(list(batched.body.results).map((result) => String(result.status))).toEqual([
      "created",
      "error",
    ]);
    const refund = await run(
      "post",
      "/v1/transactions/{external_id}/refunds",
      "/v1/transactions/store-7:till-3:000123/refunds",
      { key: pos, body: requestExample("/v1/transactions/{external_id}/refunds", "post") },
    );
    expect(refund.status).toBe(201);
    const redeem = requestExample("/v1/members/{id}/redemptions", "post");
    const held = await run("post", "/v1/members/{id}/redemptions", `${member}/redemptions`, {
      key: pos,
      body: redeem,
    });
    expect(held.status).toBe(201);
    const fulfilled = await run(
      "post",
      "/v1/redemptions/{id}/fulfill",
      `/v1/redemptions/${String(held.body.redemption?.id)}/fulfill`,
      { key: pos },
    );
    expect(fulfilled.status).toBe(200);
    const second = await run("post", "/v1/members/{id}/redemptions", `${member}/redemptions`, {
      key: pos,
      body: { ...redeem, points: 10, external_id: "store-7:till-3:redeem-0010" },
    });
    const cancelled = await run(
      "post",
      "/v1/redemptions/{id}/cancel",
      `/v1/redemptions/${String(second.body.redemption?.id)}/cancel`,
      { key: pos },
    );
    expect(cancelled.status).toBe(200);
    for (const [path, concrete] of [
      ["/v1/members/{id}/balances", `${member}/balances`],
      ["/v1/members/{id}/history", `${member}/history`],
      ["/v1/ledger/trial-balance", "/v1/ledger/trial-balance"],
    ] as const) {
      const read = await run("get", path, concrete, { key: String(keys?.finance) });
      expect(read.status, path).toBe(200);
    }
  });
});
