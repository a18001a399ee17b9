/**
 * The member app: issuing member tokens (admin and pos keys only, 404 across orgs, none for a
 * closed or erased member), the /v1/me routes answering the member's own data exactly as the
 * admin routes do, logout, and isolation: a member token opens /v1/me only and an API key never
 * opens /v1/me; forged, expired, tampered and wrongly signed tokens are 401. With Redis down the
 * deny-list cannot be read or written, so /v1/me and logout answer 503 and nothing pretends.
 */
import { createHmac, randomBytes, randomUUID, webcrypto } from "node:crypto";
import { Writable } from "node:stream";
import { sign } from "hono/jwt";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp, list, testRedis } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;
let member: { id: string; externalRef: string };

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  member = await enrollOverHttp(harness, org, {
    email: "ada@example.org",
    first_name: "Ada",
    last_name: "Lovelace",
  });
  const purchase = await call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    body: { external_id: "me-p1", member_id: member.id, amount: 2500, currency: "EUR" },
  });
  expect(purchase.status).toBe(201);
});
afterAll(async () => {
  await harness?.close();
});

async function issue(memberId: string, key: string = org.keys.pos) {
  return call(harness.app, "POST", `/v1/members/${memberId}/sessions`, { key });
}

async function tokenOf(memberId: string): Promise<string> {
  const session = await issue(memberId);
  expect(session.status, JSON.stringify(session.body)).toBe(201);
  return String(session.body.token);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
}

async function signWith(secret: Buffer, claims: Record<string, unknown>): Promise<string> {
  const key = await webcrypto.subtle.importKey(
    "raw",
    secret,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return sign(claims, key, "HS256");
}

function claimsFor(memberId: string, orgId: string, lifetimeSeconds = 900) {
  const now = Math.floor(harness.environment.now().getTime() / 1000);
  return {
    sub: memberId,
    org_id: orgId,
    jti: randomBytes(16).toString("base64url"),
    iat: now,
    exp: now + lifetimeSeconds,
  };
}

describe("POST /v1/members/{id}/sessions", () => {
  it("issues a signed, short-lived token to admin and pos keys, never stored or cached", async () => {
    for (const key of [org.keys.admin, org.keys.pos]) {
      const session = await issue(member.id, key);
      expect(session.status).toBe(201);
      expect(session.headers.get("cache-control")).toBe("no-store");
      const claims = claimsOf(String(session.body.token));
      expect(Object.keys(claims).sort()).toEqual(["exp", "iat", "jti", "org_id", "sub"]);
      expect(claims.sub).toBe(member.id);
      expect(claims.org_id).toBe(org.id);
      expect(Number(claims.exp) - Number(claims.iat)).toBe(900);
      expect(session.body.expires_at).toBe(new Date(Number(claims.exp) * 1000).toISOString());
      const header = JSON.parse(
        Buffer.from(String(session.body.token).split(".")[0] ?? "", "base64url").toString(),
      );
      expect(header.alg).toBe("HS256");
    }
  });

  it("refuses finance keys (403), no key (401), and another org's or an unknown member (404)", async () => {
    expect((await issue(member.id, org.keys.finance)).status).toBe(403);
    expect((await call(harness.app, "POST", `/v1/members/${member.id}/sessions`)).status).toBe(401);
    const foreign = await issue(member.id, other.keys.admin);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error?.code).toBe("not_found");
    expect((await issue(randomUUID())).status).toBe(404);
  });

  it("gives none to a closed or an erased member (422 member_inactive)", async () => {
    const closing = await enrollOverHttp(harness, org);
    const closed = await call(harness.app, "PATCH", `/v1/members/${closing.id}`, {
      key: org.keys.admin,
      body: { status: "closed" },
    });
    expect(closed.status).toBe(200);
    const refused = await issue(closing.id);
    expect(refused.status).toBe(422);
    expect(refused.body.error?.code).toBe("member_inactive");

    const erasing = await enrollOverHttp(harness, org, { email: "gone@example.org" });
    const erased = await call(harness.app, "POST", `/v1/members/${erasing.id}/erase`, {
      key: org.keys.admin,
    });
    expect(erased.status).toBe(200);
    expect((await issue(erasing.id)).body.error?.code).toBe("member_inactive");
  });
});

describe("/v1/me", () => {
  it("answers the member's own data, equal to the admin routes' answers", async () => {
    const token = await tokenOf(member.id);
    for (const [mine, admin] of [
      ["/v1/me", `/v1/members/${member.id}`],
      ["/v1/me/balances", `/v1/members/${member.id}/balances`],
      ["/v1/me/history?limit=5", `/v1/members/${member.id}/history?limit=5`],
      ["/v1/me/tier", `/v1/members/${member.id}/tier`],
    ] as const) {
      const own = await call(harness.app, "GET", mine, { key: token });
      const reference = await call(harness.app, "GET", admin, { key: org.keys.admin });
      expect(own.status, mine).toBe(200);
      expect(reference.status, admin).toBe(200);
      expect(own.body, mine).toEqual(reference.body);
    }
    const me = await call(harness.app, "GET", "/v1/me", { key: token });
    expect(me.body.id).toBe(member.id);
    expect(me.body.email).toBe("ada@example.org");
    const history = await call(harness.app, "GET", "/v1/me/history", { key: token });
    expect(history.body.entries?.[0]?.operation).toBeDefined();
  });

  it("holds points, lists the member's own redemptions and redeems a promo code", async () => {
    const mine = await enrollOverHttp(harness, org);
    const token = await tokenOf(mine.id);
    const held = await call(harness.app, "POST", "/v1/me/redemptions", {
      key: token,
      body: { points: 40, external_id: `app-${mine.id}` },
    });
    expect(held.status, JSON.stringify(held.body)).toBe(201);
    expect(held.body.redemption).toMatchObject({
      member_id: mine.id,
      points: 40,
      status: "pending",
    });
    const tooMuch = await call(harness.app, "POST", "/v1/me/redemptions", {
      key: token,
      body: { points: 1_000_000 },
    });
    expect(tooMuch.status).toBe(422);
    // Another member's redemption is not in this member's list.
    await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
      key: org.keys.pos,
      body: { points: 1 },
    });
    const listed = await call(harness.app, "GET", "/v1/me/redemptions", { key: token });
    const reference = await call(harness.app, "GET", `/v1/members/${mine.id}/redemptions`, {
      key: org.keys.admin,
    });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual(reference.body);
    // The hold, and the refused one (a refusal is recorded, final for its external id); both in
    // one millisecond of this test's clock, so in either order.
    expect(
      list(listed.body.redemptions)
        .map((r) => {
          const { points, status } = r as unknown as { points: number; status: string };
          return [points, status];
        })
        .sort(),
    ).toEqual([
      [1_000_000, "failed"],
      [40, "pending"],
    ]);

    const created = await call(harness.app, "POST", "/v1/codes", {
      key: org.keys.admin,
      body: { code: `APP-${mine.id.slice(0, 8)}`, points: 25, once_per_member: true },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const redeemed = await call(harness.app, "POST", "/v1/me/codes/redeem", {
      key: token,
      body: { code: `app-${mine.id.slice(0, 8)}` },
    });
    expect(redeemed.status, JSON.stringify(redeemed.body)).toBe(201);
    expect(redeemed.body).toMatchObject({ points: 25 });
    const twice = await call(harness.app, "POST", "/v1/me/codes/redeem", {
      key: token,
      body: { code: `app-${mine.id.slice(0, 8)}` },
    });
    expect(twice.status).toBe(409);
    const unknown = await call(harness.app, "POST", "/v1/me/codes/redeem", {
      key: token,
      body: { code: "NO-SUCH-CODE" },
    });
    expect(unknown.status).toBe(404);
    // An API key reaches none of these.
    const withKey = await call(harness.app, "GET", "/v1/me/redemptions", { key: org.keys.admin });
    expect(withKey.status).toBe(401);
  });

  it("validates the history query with field paths", async () => {
    const token = await tokenOf(member.id);
    const bad = await call(harness.app, "GET", "/v1/me/history?limit=0", { key: token });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.details?.issues?.[0]?.path).toBe("limit");
  });

  it("PATCH sets the member's date of birth and notification and marketing preferences", async () => {
    const own = await enrollOverHttp(harness, org);
    const token = await tokenOf(own.id);
    const fresh = await call(harness.app, "GET", "/v1/me", { key: token });
    expect(fresh.body).toMatchObject({
      date_of_birth: null,
      preferences: {
        notifications: { email: false, sms: false, push: false },
        marketing_opt_in: false,
      },
    });
    const patched = await call(harness.app, "PATCH", "/v1/me", {
      key: token,
      body: {
        date_of_birth: "1990-04-12",
        preferences: { notifications: { email: true, push: true }, marketing_opt_in: true },
      },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    // Merged: a later change of one flag keeps the others.
    const again = await call(harness.app, "PATCH", "/v1/me", {
      key: token,
      body: { preferences: { notifications: { push: false } } },
    });
    expect(again.body).toMatchObject({
      date_of_birth: "1990-04-12",
      preferences: {
        notifications: { email: true, sms: false, push: false },
        marketing_opt_in: true,
      },
    });
    // Stored encrypted like the other personal data.
    const [row] = await harness.database.sql<{ date_of_birth_encrypted: Buffer | null }[]>`
      select date_of_birth_encrypted from members where id = ${own.id}`;
    expect(row?.date_of_birth_encrypted?.toString("utf8").includes("1990")).toBe(false);
    for (const bad of [
      { date_of_birth: "2999-01-01" },
      { date_of_birth: "12/04/1990" },
      { preferences: { sms: true } },
    ]) {
      const refused = await call(harness.app, "PATCH", "/v1/me", { key: token, body: bad });
      expect(refused.status, JSON.stringify(bad)).toBe(400);
    }
    // Erasure removes both.
    const erased = await call(harness.app, "POST", `/v1/members/${own.id}/erase`, {
      key: org.keys.admin,
    });
    expect(erased.body.member).toMatchObject({
      date_of_birth: null,
      preferences: {
        notifications: { email: false, sms: false, push: false },
        marketing_opt_in: false,
      },
    });
  });

  it("PATCH changes only the caller's personal data, never status", async () => {
    const bystander = await enrollOverHttp(harness, org, { first_name: "Bystander" });
    const before = await call(harness.app, "GET", `/v1/members/${bystander.id}`, {
      key: org.keys.admin,
    });
    const token = await tokenOf(member.id);
    const patched = await call(harness.app, "PATCH", "/v1/me", {
      key: token,
      body: { first_name: "Augusta", phone: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.first_name).toBe("Augusta");
    expect(patched.body.id).toBe(member.id);
    const admin = await call(harness.app, "GET", `/v1/members/${member.id}`, {
      key: org.keys.admin,
    });
    expect(admin.body).toEqual(patched.body);
    const after = await call(harness.app, "GET", `/v1/members/${bystander.id}`, {
      key: org.keys.admin,
    });
    expect(after.body).toEqual(before.body);
    const status = await call(harness.app, "PATCH", "/v1/me", {
      key: token,
      body: { status: "closed" },
    });
    expect(status.status).toBe(400);
    expect(status.body.error?.code).toBe("validation_failed");
    const email = await call(harness.app, "PATCH", "/v1/me", {
      key: token,
      body: { email: "not an email" },
    });
    expect(email.status).toBe(400);
    expect(email.body.error?.details?.issues?.[0]?.path).toBe("email");
  });

  it("logout makes that token 401 at once; another token of the member still works", async () => {
    const first = await tokenOf(member.id);
    const second = await tokenOf(member.id);
    const logout = await call(harness.app, "POST", "/v1/me/logout", { key: first });
    expect(logout.status).toBe(204);
    const after = await call(harness.app, "GET", "/v1/me", { key: first });
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toContain("invalid_token");
    expect((await call(harness.app, "POST", "/v1/me/logout", { key: first })).status).toBe(401);
    expect((await call(harness.app, "GET", "/v1/me", { key: second })).status).toBe(200);
    // Kept under the app's key prefix, no longer than the token would have lived.
    const jti = String(claimsOf(first).jti);
    const ttl = await harness.redis.ttl(`${harness.redisKeyPrefix}member-token:revoked:${jti}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(901);
  });

  it("refuses a token once its member is closed or erased (401)", async () => {
    for (const change of ["close", "erase"] as const) {
      const target = await enrollOverHttp(harness, org, { email: `${change}@example.org` });
      const token = await tokenOf(target.id);
      expect((await call(harness.app, "GET", "/v1/me", { key: token })).status).toBe(200);
      const done =
        change === "close"
          ? await call(harness.app, "PATCH", `/v1/members/${target.id}`, {
              key: org.keys.admin,
              body: { status: "closed" },
            })
          : await call(harness.app, "POST", `/v1/members/${target.id}/erase`, {
              key: org.keys.admin,
            });
      expect(done.status).toBe(200);
      const refused = await call(harness.app, "GET", "/v1/me", { key: token });
      expect(refused.status, change).toBe(401);
      expect(
        (await call(harness.app, "PATCH", "/v1/me", { key: token, body: { first_name: "X" } }))
          .status,
      ).toBe(401);
    }
  });
});

describe("isolation", () => {
  it("refuses expired, wrongly signed, alg none, RS256-labelled, tampered and malformed tokens", async () => {
    const valid = await tokenOf(member.id);
    const [header = "", payload = "", signature = ""] = valid.split(".");
    const expired = await signWith(harness.memberTokenSecret, {
      ...claimsFor(member.id, org.id),
      iat: Math.floor(harness.environment.now().getTime() / 1000) - 1000,
      exp: Math.floor(harness.environment.now().getTime() / 1000) - 100,
    });
    const wrongSecret = await signWith(randomBytes(32), claimsFor(member.id, org.id));
    const none = `${base64url({ alg: "none", typ: "JWT" })}.${payload}.`;
    const rsHeader = base64url({ alg: "RS256", typ: "JWT" });
    const rs256 = `${rsHeader}.${payload}.${createHmac("sha256", harness.memberTokenSecret)
      .update(`${rsHeader}.${payload}`)
      .digest("base64url")}`;
    const someoneElse = await enrollOverHttp(harness, org);
    const tampered = `${header}.${base64url({ ...claimsOf(valid), sub: someoneElse.id })}.${signature}`;
    const otherOrg = `${header}.${base64url({ ...claimsOf(valid), org_id: other.id })}.${signature}`;
    const extraClaim = await signWith(harness.memberTokenSecret, {
      ...claimsFor(member.id, org.id),
      role: "admin",
    });
    const tooLong = await signWith(harness.memberTokenSecret, claimsFor(member.id, org.id, 90_000));
    const unknownMember = await signWith(
      harness.memberTokenSecret,
      claimsFor(randomUUID(), org.id),
    );
    const foreignPair = await signWith(harness.memberTokenSecret, claimsFor(member.id, other.id));
    const refused = {
      expired,
      wrongSecret,
      none,
      rs256,
      tampered,
      otherOrg,
      extraClaim,
      tooLong,
      unknownMember,
      foreignPair,
      malformed: "not.a.jwt",
      twoParts: `${header}.${payload}`,
      apiKey: org.keys.admin,
    };
    for (const [name, token] of Object.entries(refused)) {
      for (const [method, path] of [
        ["GET", "/v1/me"],
        ["GET", "/v1/me/balances"],
        ["POST", "/v1/me/logout"],
      ] as const) {
        const response = await call(harness.app, method, path, { key: token });
        expect(response.status, `${name} ${method} ${path}`).toBe(401);
        expect(response.body.error?.code).toBe("unauthorized");
      }
    }
    expect((await call(harness.app, "GET", "/v1/me")).status).toBe(401);
    // The same claims, properly signed, work: the refusals above are about the token alone.
    const fresh = await signWith(harness.memberTokenSecret, claimsFor(member.id, org.id));
    expect((await call(harness.app, "GET", "/v1/me", { key: fresh })).status).toBe(200);
  });

  it("expires with the app's clock", async () => {
    const token = await tokenOf(member.id);
    harness.environment.advanceSeconds(901);
    expect((await call(harness.app, "GET", "/v1/me", { key: token })).status).toBe(401);
  });

  it("a member token opens no API-key route, not even its own member's (403)", async () => {
    const token = await tokenOf(member.id);
    const someoneElse = await enrollOverHttp(harness, org);
    for (const [method, path] of [
      ["GET", `/v1/members/${member.id}`],
      ["GET", `/v1/members/${member.id}/balances`],
      ["GET", `/v1/members/${someoneElse.id}`],
      ["POST", `/v1/members/${member.id}/sessions`],
      ["POST", "/v1/transactions"],
      ["GET", "/v1/settings"],
      ["GET", "/v1/api-keys"],
      ["GET", "/v1/audit"],
      ["GET", "/v1/ledger/trial-balance"],
    ] as const) {
      const response = await call(harness.app, method, path, { key: token });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body.error?.code).toBe("forbidden");
    }
    // A forged token is no credential at all: 401 there too.
    const [header = "", payload = ""] = token.split(".");
    const forged = `${header}.${payload}.${"A".repeat(43)}`;
    expect((await call(harness.app, "GET", "/v1/settings", { key: forged })).status).toBe(401);
  });
});

describe("logging", () => {
  it("never writes a token to the log, issued, used, refused or logged out", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    });
    const app = harness.variant({ logger: pino({ level: "trace" }, sink) });
    const session = await call(app, "POST", `/v1/members/${member.id}/sessions`, {
      key: org.keys.pos,
    });
    const token = String(session.body.token);
    expect((await call(app, "GET", "/v1/me", { key: token })).status).toBe(200);
    expect((await call(app, "POST", "/v1/me/logout", { key: token })).status).toBe(204);
    expect((await call(app, "GET", "/v1/me", { key: token })).status).toBe(401);
    expect(lines.length).toBeGreaterThan(3);
    const [, , signature = ""] = token.split(".");
    for (const line of lines) {
      expect(line).not.toContain(signature);
    }
    // The access lines of accepted member requests name the member, by id only.
    expect(lines.some((line) => line.includes(`"memberId":"${member.id}"`))).toBe(true);
  });
});

describe("with Redis down", () => {
  it("answers 503 to /v1/me and to logout, and the token is not logged out", async () => {
    const token = await tokenOf(member.id);
    const deadRedis = testRedis("redis://127.0.0.1:1");
    deadRedis.on("error", () => undefined);
    try {
      const app = harness.variant({ redis: deadRedis });
      const read = await call(app, "GET", "/v1/me", { key: token });
      expect(read.status).toBe(503);
      expect(read.body.error?.code).toBe("unavailable");
      expect(read.headers.get("retry-after")).not.toBeNull();
      const logout = await call(app, "POST", "/v1/me/logout", { key: token });
      expect(logout.status).toBe(503);
    } finally {
      deadRedis.disconnect();
    }
    // Nothing was recorded: the token still works where Redis answers.
    expect((await call(harness.app, "GET", "/v1/me", { key: token })).status).toBe(200);
  });
});
