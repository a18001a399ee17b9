/**
 * Referrals over HTTP, on real Postgres, Redis and the embedded ledger: every member shows a
 * referral code; enrolling with one records the referral; an unknown code, another org's code
 * and a member's own code are refused with 422 `referral_code_invalid` and nothing is written;
 * GET /v1/members/{id}/referrals lists a member's referrals (admin, pos) and answers 404 for an
 * unknown or another org's member; the referral settings are read and changed through
 * /v1/settings. The bonuses themselves are driven by the workers (test/workers/referrals.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, countRows, createHarness, enrollOverHttp, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness.close());

async function getMember(of: TestOrg, id: string) {
  return call(harness.app, "GET", `/v1/members/${id}`, { key: of.keys.pos });
}

async function referralsOf(of: TestOrg, id: string, key = of.keys.pos) {
  return call(harness.app, "GET", `/v1/members/${id}/referrals`, { key });
}

describe("referrals", () => {
  it("shows each member's code; enrolling with one records a pending referral", async () => {
    const referrer = await enrollOverHttp(harness, org);
    const shown = await getMember(org, referrer.id);
    expect(shown.status).toBe(200);
    const code = String(shown.body.referral_code);
    expect(code).toMatch(/^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{10}$/);

    const referred = await enrollOverHttp(harness, org, {
      referral_code: ` ${code.toLowerCase().slice(0, 5)} ${code.slice(5)} `,
    });
    const referredCode = String((await getMember(org, referred.id)).body.referral_code);
    expect(referredCode).not.toBe(code);

    const listed = await referralsOf(org, referrer.id);
    expect(listed.status).toBe(200);
    expect(list(listed.body.referrals)).toEqual([
      expect.objectContaining({
        referrer_member_id: referrer.id,
        referred_member_id: referred.id,
        status: "pending",
        referrer_points: 0,
        referred_points: 0,
        posted: false,
        purchase_id: null,
        decided_at: null,
      }),
    ]);
    expect(listed.body.referred_by).toBeNull();
    const theirs = await referralsOf(org, referred.id, org.keys.admin);
    expect(theirs.status).toBe(200);
    expect(list(theirs.body.referrals)).toEqual([]);
    expect(theirs.body.referred_by?.referrer_member_id).toBe(referrer.id);
  });

  it("refuses an unknown, a foreign and an own code with 422 and enrols no one", async () => {
    const referrer = await enrollOverHttp(harness, org);
    const foreign = await enrollOverHttp(harness, other);
    const foreignCode = String((await getMember(other, foreign.id)).body.referral_code);
    const ownCode = String((await getMember(org, referrer.id)).body.referral_code);
    const membersBefore = await countRows(harness, "members", org.id);
    const cases = [
      { external_ref: "card-new-1", referral_code: "2222222222" },
      { external_ref: "card-new-2", referral_code: "not a code" },
      { external_ref: "card-new-3", referral_code: foreignCode },
      // The referrer's own code, under the referrer's own external ref.
      { external_ref: referrer.externalRef, referral_code: ownCode },
    ];
    for (const body of cases) {
      const response = await call(harness.app, "POST", "/v1/members", {
        key: org.keys.pos,
        body,
      });
      expect(response.status, JSON.stringify(body)).toBe(422);
      expect(response.body.error?.code).toBe("referral_code_invalid");
      expect(response.body.error?.details?.field).toBe("referral_code");
    }
    expect(await countRows(harness, "members", org.id)).toBe(membersBefore);
    const referrals = await harness.database.sql<{ n: number }[]>`
      select count(*)::int as n from referrals where org_id = ${org.id}
        and referrer_member_id = ${referrer.id}`;
    expect(referrals[0]?.n).toBe(0);
    // An empty or over-long code is bad input, refused at the edge.
    for (const code of ["", "2".repeat(33)]) {
      const response = await call(harness.app, "POST", "/v1/members", {
        key: org.keys.pos,
        body: { external_ref: "card-new-4", referral_code: code },
      });
      expect(response.status).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
    }
  });

  it("answers 404 for an unknown or another org's member, 403 for finance", async () => {
    const member = await enrollOverHttp(harness, org);
    expect((await referralsOf(other, member.id)).status).toBe(404);
    expect((await referralsOf(org, "0b6f3a52-5d1e-4c8e-9a43-7f2d8c1e6b90")).status).toBe(404);
    // A malformed id is unknown too, as for every member route.
    expect((await referralsOf(org, "not-a-uuid")).status).toBe(404);
    expect((await referralsOf(org, member.id, org.keys.finance)).status).toBe(403);
  });

  it("reads and changes the referral settings, replaced whole", async () => {
    const read = await call(harness.app, "GET", "/v1/settings", { key: org.keys.admin });
    expect(read.status).toBe(200);
    expect(read.body.referral).toEqual({
      referrer_points: 0,
      referred_points: 0,
      max_per_referrer_per_month: 0,
      min_purchase_amount: null,
    });
    const changed = await call(harness.app, "PATCH", "/v1/settings", {
      key: org.keys.admin,
      body: {
        referral: {
          referrer_points: 500,
          referred_points: 250,
          max_per_referrer_per_month: 5,
          min_purchase_amount: "2000",
        },
      },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.referral).toEqual({
      referrer_points: 500,
      referred_points: 250,
      max_per_referrer_per_month: 5,
      min_purchase_amount: "2000",
    });
    const bad = await call(harness.app, "PATCH", "/v1/settings", {
      key: org.keys.admin,
      body: {
        referral: { referrer_points: -1, referred_points: 0, max_per_referrer_per_month: 0 },
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe("validation_failed");
  });
});
