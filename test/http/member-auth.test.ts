/**
 * PIN login for the member app, on real Postgres and Redis: staff set a member's PIN (audited,
 * never stored or logged in clear); with the org's `member_pin_login` on, the right PIN gets a
 * member token that opens /v1/me; every failure (unknown org, setting off, unknown member, no
 * PIN, wrong PIN, locked, closed) is the same 401 `invalid_credentials`; the 5th attempt without
 * a success locks the PIN for 15 minutes, also when the attempts run in parallel; logins are rate
 * limited per org.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let off: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  off = await buildTestOrg(harness);
  const enabled = await call(harness.app, "PATCH", "/v1/settings", {
    key: org.keys.admin,
    body: { member_pin_login: true },
  });
  expect(enabled.status).toBe(200);
  expect(enabled.body.member_pin_login).toBe(true);
});
afterAll(async () => harness.close());

async function setPin(of: TestOrg, memberId: string, pin: string, key = of.keys.pos) {
  return call(harness.app, "PUT", `/v1/members/${memberId}/pin`, { key, body: { pin } });
}

function login(slug: string, externalRef: string, pin: string) {
  return call(harness.app, "POST", "/v1/member-auth/login", {
    body: { org_slug: slug, external_ref: externalRef, pin },
  });
}

function expectInvalid(response: { status: number; body: unknown }) {
  expect(response.status).toBe(401);
  expect(response.body).toEqual({
    error: { code: "invalid_credentials", message: "invalid credentials" },
  });
}

describe("PIN login", () => {
  it("sets a PIN (audited, hashed) and signs the member in to /v1/me", async () => {
    const member = await enrollOverHttp(harness, org);
    const set = await setPin(org, member.id, "482913");
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ member_id: member.id, pin_set: true });
    const [stored] = await harness.database.sql<{ hash_length: number; salt_length: number }[]>`
      select length(pin_hash) as hash_length, length(pin_salt) as salt_length
      from members where id = ${member.id}`;
    expect(stored).toEqual({ hash_length: 32, salt_length: 16 });
    const audit = await harness.database.sql<{ text: string }[]>`
      select action || coalesce(after::text, '') as text from audit_log
      where org_id = ${org.id} and target_id = ${member.id}`;
    expect(audit.map((entry) => entry.text)).toEqual(['member.pin_set{"pin_set": true}']);

    const signed = await login(org.result.org.slug, member.externalRef, "482913");
    expect(signed.status).toBe(201);
    expect(signed.headers.get("cache-control")).toBe("no-store");
    const me = await call(harness.app, "GET", "/v1/me", { key: String(signed.body.token) });
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(member.id);
  });

  it("answers every failure the same 401", async () => {
    const member = await enrollOverHttp(harness, org);
    const withoutPin = await enrollOverHttp(harness, org);
    const elsewhere = await enrollOverHttp(harness, off);
    expect((await setPin(org, member.id, "1234")).status).toBe(200);
    expect((await setPin(off, elsewhere.id, "1234")).status).toBe(200);
    const slug = org.result.org.slug;
    expectInvalid(await login(slug, member.externalRef, "4321"));
    expectInvalid(await login("no-such-org", member.externalRef, "1234"));
    expectInvalid(await login(slug, "no-such-card", "1234"));
    expectInvalid(await login(slug, withoutPin.externalRef, "1234"));
    // The right PIN of a member whose org has not enabled PIN login.
    expectInvalid(await login(off.result.org.slug, elsewhere.externalRef, "1234"));
    // Another org's member under this org's slug.
    expectInvalid(await login(slug, elsewhere.externalRef, "1234"));
    // A closed member.
    const closed = await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.admin,
      body: { status: "closed" },
    });
    expect(closed.status).toBe(200);
    expectInvalid(await login(slug, member.externalRef, "1234"));
    expect((await setPin(org, member.id, "1234")).status).toBe(422);
  });

  it("locks after 5 attempts without a success, for 15 minutes, even for the right PIN", async () => {
    const member = await enrollOverHttp(harness, org);
    expect((await setPin(org, member.id, "246810")).status).toBe(200);
    const slug = org.result.org.slug;
    // Four wrong PINs, then the right one: the count starts again.
    for (let attempt = 0; attempt < 4; attempt += 1) {
      expectInvalid(await login(slug, member.externalRef, "000000"));
    }
    expect((await login(slug, member.externalRef, "246810")).status).toBe(201);
    // Five wrong PINs in parallel lock the member; the right PIN is refused while locked.
    const attempts = await Promise.all(
      Array.from({ length: 5 }, () => login(slug, member.externalRef, "000000")),
    );
    for (const response of attempts) {
      expectInvalid(response);
    }
    expectInvalid(await login(slug, member.externalRef, "246810"));
    harness.environment.advanceSeconds(15 * 60 - 1);
    expectInvalid(await login(slug, member.externalRef, "246810"));
    harness.environment.advanceSeconds(1);
    expect((await login(slug, member.externalRef, "246810")).status).toBe(201);
  });

  it("lets no more than 5 of many parallel guesses be checked", async () => {
    const member = await enrollOverHttp(harness, org);
    expect((await setPin(org, member.id, "97531")).status).toBe(200);
    const guesses = Array.from({ length: 12 }, (_, index) => String(10_000 + index));
    const answers = await Promise.all(
      guesses.map((guess) => login(org.result.org.slug, member.externalRef, guess)),
    );
    expect(answers.every((answer) => answer.status === 401)).toBe(true);
    const [row] = await harness.database.sql<{ attempts: number; locked: boolean }[]>`
      select pin_attempts as attempts, pin_locked_until is not null as locked
      from members where id = ${member.id}`;
    expect(row).toEqual({ attempts: 5, locked: true });
  });

  it("refuses malformed PINs and other roles, and another org's member is 404", async () => {
    const member = await enrollOverHttp(harness, org);
    for (const pin of ["123", "1234567890123", "12a4", ""]) {
      const response = await setPin(org, member.id, pin);
      expect(response.status).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
    }
    expect((await setPin(org, member.id, "1234", org.keys.finance)).status).toBe(403);
    expect((await setPin(off, member.id, "1234", off.keys.admin)).status).toBe(404);
    const [row] = await harness.database.sql<{ set: boolean }[]>`
      select pin_hash is not null as set from members where id = ${member.id}`;
    expect(row?.set).toBe(false);
    const malformed = await login(org.result.org.slug, member.externalRef, "12");
    expect(malformed.status).toBe(400);
  });
});
