/**
 * Stamp programs over HTTP, on real Postgres and the embedded ledger: an admin creates, reads,
 * changes and deactivates them (each write audited in its own transaction, a refused one not at
 * all); purchases earn per purchase or per item, above a minimum amount, on matching categories
 * and skus, within a window judged on the purchase's `occurred_at`; a full card completes on the
 * ledger with its reward and the stamps beyond it stay on the next card; a deactivated program
 * earns nothing and its cards stay readable. Another org's ids are 404, wrong roles 403.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Json, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  type Harness,
  ledgerTransferCount,
  list,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness?.close());

interface Program {
  id: string;
  name: string;
  stamps_per_card: number;
  earn: { per: string; min_amount: number | null; categories: string[]; skus: string[] };
  reward: { points: number };
  active_from: string | null;
  active_until: string | null;
  active: boolean;
}

interface Entry {
  action: string;
  actor_key_id: string | null;
  target_type: string;
  target_id: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  request_id: string | null;
}

async function createProgram(of: TestOrg, body: Record<string, unknown>): Promise<Program> {
  const response = await call(harness.app, "POST", "/v1/stamp-programs", {
    key: of.keys.admin,
    body: { name: "Card", stamps_per_card: 10, reward: { points: 0 }, ...body },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.stamp_program as unknown as Program;
}

async function auditOf(of: TestOrg, programId?: string): Promise<Entry[]> {
  const query =
    programId === undefined
      ? "?target_type=stamp_program"
      : `?target_type=stamp_program&target_id=${programId}`;
  const response = await call(harness.app, "GET", `/v1/audit${query}`, { key: of.keys.admin });
  expect(response.status).toBe(200);
  return list(response.body.entries) as unknown as Entry[];
}

let purchaseNumber = 0;

/** Records a purchase of `member` and returns its `stamps_earned`. */
async function buy(
  of: TestOrg,
  memberId: string,
  purchase: {
    amount?: number;
    items?: Array<{ sku: string; category?: string; quantity: number }>;
    occurred_at?: string;
  } = {},
): Promise<Array<{ program_id: string; stamps: number; completed: boolean }>> {
  purchaseNumber += 1;
  const response = await call(harness.app, "POST", "/v1/transactions", {
    key: of.keys.pos,
    body: {
      external_id: `stamps-test-${purchaseNumber}`,
      member_id: memberId,
      amount: purchase.amount ?? 1_000,
      currency: "EUR",
      ...(purchase.occurred_at === undefined ? {} : { occurred_at: purchase.occurred_at }),
      ...(purchase.items === undefined
        ? {}
        : { items: purchase.items.map((item) => ({ ...item, amount: 100 })) }),
    },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return list(response.body.stamps_earned) as unknown as Array<{
    program_id: string;
    stamps: number;
    completed: boolean;
  }>;
}

function stampsIn(
  earned: Array<{ program_id: string; stamps: number }>,
  program: { id: string },
): number {
  return earned.find((grant) => grant.program_id === program.id)?.stamps ?? 0;
}

async function cardsOf(of: TestOrg, memberId: string, key = of.keys.pos): Promise<Json[]> {
  const response = await call(harness.app, "GET", `/v1/members/${memberId}/stamp-cards`, { key });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return list(response.body.stamp_cards);
}

describe("stamp programs: create, read, change, deactivate", () => {
  it("creates, lists, reads, patches and deactivates, each write audited with before and after", async () => {
    const created = await call(harness.app, "POST", "/v1/stamp-programs", {
      key: org.keys.admin,
      headers: { "X-Request-Id": "stamps-test-create" },
      body: {
        name: "Coffee card",
        stamps_per_card: 10,
        earn: { per: "item", min_amount: 300, categories: ["coffee"] },
        reward: { points: 150 },
        active_from: "2026-01-01T00:00:00+01:00",
      },
    });
    expect(created.status).toBe(201);
    const program = created.body.stamp_program as unknown as Program;
    expect(program).toMatchObject({
      name: "Coffee card",
      stamps_per_card: 10,
      earn: { per: "item", min_amount: 300, categories: ["coffee"], skus: [] },
      reward: { points: 150 },
      active_from: "2025-12-31T23:00:00.000Z",
      active_until: null,
      active: true,
    });

    const listed = await call(harness.app, "GET", "/v1/stamp-programs", { key: org.keys.pos });
    expect(listed.status).toBe(200);
    expect(list(listed.body.stamp_programs).map((p) => p.id)).toContain(program.id);
    const read = await call(harness.app, "GET", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.finance,
    });
    expect(read.status).toBe(200);
    expect(read.body.stamp_program).toEqual(created.body.stamp_program);

    const patched = await call(harness.app, "PATCH", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.admin,
      headers: { "X-Request-Id": "stamps-test-patch" },
      body: {
        name: "Coffee & pastry",
        earn: { per: "item", categories: ["coffee", "pastry"], skus: ["SCONE"] },
        active_from: null,
        active_until: "2030-01-01T00:00:00Z",
      },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.stamp_program).toMatchObject({
      id: program.id,
      name: "Coffee & pastry",
      stamps_per_card: 10,
      earn: { per: "item", min_amount: null, categories: ["coffee", "pastry"], skus: ["SCONE"] },
      reward: { points: 150 },
      active_from: null,
      active_until: "2030-01-01T00:00:00.000Z",
      active: true,
    });

    const deactivated = await call(harness.app, "DELETE", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.admin,
    });
    expect(deactivated.status).toBe(200);
    expect(deactivated.body.stamp_program).toMatchObject({ id: program.id, active: false });
    // Again: answered as it is, and nothing more is written.
    const again = await call(harness.app, "DELETE", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.admin,
    });
    expect(again.status).toBe(200);
    expect(again.body.stamp_program).toMatchObject({ active: false });
    const stillListed = await call(harness.app, "GET", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.pos,
    });
    expect(stillListed.body.stamp_program).toMatchObject({ active: false });

    const entries = await auditOf(org, program.id);
    expect(entries.map((entry) => entry.action)).toEqual([
      "stamp_program.deactivated",
      "stamp_program.updated",
      "stamp_program.created",
    ]);
    const [deactivation, update, creation] = entries;
    expect(creation).toMatchObject({
      actor_key_id: org.result.apiKeys.admin.id,
      request_id: "stamps-test-create",
      target_type: "stamp_program",
      before: null,
      after: {
        name: "Coffee card",
        stamps_per_card: 10,
        reward: { points: "150" },
        earn: { per: "item", min_amount: "300", categories: ["coffee"], skus: [] },
        active_from: "2025-12-31T23:00:00.000Z",
        active_until: null,
        active: true,
      },
    });
    expect(update).toMatchObject({
      request_id: "stamps-test-patch",
      before: { name: "Coffee card", active_from: "2025-12-31T23:00:00.000Z" },
      after: {
        name: "Coffee & pastry",
        earn: { min_amount: null, categories: ["coffee", "pastry"], skus: ["SCONE"] },
        active_from: null,
        active_until: "2030-01-01T00:00:00.000Z",
      },
    });
    expect(deactivation).toMatchObject({
      before: { active: true, name: "Coffee & pastry" },
      after: { active: false, name: "Coffee & pastry" },
    });

    // PATCH reactivates.
    const reactivated = await call(harness.app, "PATCH", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.admin,
      body: { active: true },
    });
    expect(reactivated.status).toBe(200);
    expect(reactivated.body.stamp_program).toMatchObject({ active: true });
    expect((await auditOf(org, program.id))[0]).toMatchObject({
      action: "stamp_program.updated",
      before: { active: false },
      after: { active: true },
    });
  });

  it("refuses invalid requests with field paths, and writes nothing for them", async () => {
    const program = await createProgram(org, {
      name: "Visits",
      earn: { per: "purchase" },
      active_until: "2030-01-01T00:00:00Z",
    });
    const programsBefore = await call(harness.app, "GET", "/v1/stamp-programs", {
      key: org.keys.admin,
    });
    const auditBefore = await auditOf(org);
    const transfersBefore = await ledgerTransferCount(harness);
    const valid = {
      name: "Bad",
      stamps_per_card: 5,
      earn: { per: "purchase" },
      reward: { points: 10 },
    };
    const refusedCreates: Array<[Record<string, unknown>, string]> = [
      [{ ...valid, stamps_per_card: 0 }, "stamps_per_card"],
      [{ ...valid, stamps_per_card: 1_001 }, "stamps_per_card"],
      [{ ...valid, stamps_per_card: 2.5 }, "stamps_per_card"],
      [{ ...valid, name: "" }, "name"],
      [{ ...valid, earn: {} }, "earn.per"],
      [{ ...valid, earn: { per: "visit" } }, "earn.per"],
      [{ ...valid, earn: { per: "item", min_amount: 0 } }, "earn.min_amount"],
      [{ ...valid, earn: { per: "item", categories: [""] } }, "earn.categories.0"],
      [{ ...valid, earn: { per: "item", skus: ["x".repeat(65)] } }, "earn.skus.0"],
      [{ ...valid, earn: { per: "item", colour: "red" } }, "earn"],
      [{ ...valid, reward: { points: -1 } }, "reward.points"],
      [{ ...valid, reward: {} }, "reward.points"],
      [{ ...valid, active_from: "yesterday" }, "active_from"],
      [{ ...valid, active_from: "2026-01-01T00:00:00" }, "active_from"],
      [
        { ...valid, active_from: "2026-02-01T00:00:00Z", active_until: "2026-01-01T00:00:00Z" },
        "active_until",
      ],
      [{ ...valid, stamps_required: 5 }, ""],
    ];
    for (const [body, path] of refusedCreates) {
      const response = await call(harness.app, "POST", "/v1/stamp-programs", {
        key: org.keys.admin,
        body,
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
      expect(list(response.body.error?.details?.issues).map((issue) => issue.path)).toContain(path);
    }
    const refusedPatches: Array<[Record<string, unknown>, string]> = [
      [{ stamps_per_card: 12 }, "stamps_per_card"],
      [{ reward: { points: 99 } }, "reward"],
      [{ name: "Renamed", stamps_per_card: 10 }, "stamps_per_card"],
      [{ earn: { categories: ["coffee"] } }, "earn.per"],
      [{ active: "no" }, "active"],
      [{ active_until: "soon" }, "active_until"],
      [
        { active_from: "2031-01-01T00:00:00Z", active_until: "2030-01-01T00:00:00Z" },
        "active_until",
      ],
    ];
    for (const [body, path] of refusedPatches) {
      const response = await call(harness.app, "PATCH", `/v1/stamp-programs/${program.id}`, {
        key: org.keys.admin,
        body,
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
      expect(list(response.body.error?.details?.issues).map((issue) => issue.path)).toContain(path);
    }
    const fixed = await call(harness.app, "PATCH", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.admin,
      body: { stamps_per_card: 12 },
    });
    expect(JSON.stringify(fixed.body.error?.details)).toContain(
      "fixed once the program is created",
    );
    // A start after the stored end shows only merged with the program: refused by the domain.
    const merged = await call(harness.app, "PATCH", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.admin,
      body: { active_from: "2031-01-01T00:00:00Z" },
    });
    expect(merged.status).toBe(400);
    expect(merged.body.error).toMatchObject({
      code: "invalid_input",
      details: { field: "active_until" },
    });

    const programsAfter = await call(harness.app, "GET", "/v1/stamp-programs", {
      key: org.keys.admin,
    });
    expect(programsAfter.body).toEqual(programsBefore.body);
    expect(await auditOf(org)).toEqual(auditBefore);
    expect(await ledgerTransferCount(harness)).toBe(transfersBefore);
  });

  it("answers 404 for another org's and unknown ids, and 403 for the wrong role", async () => {
    const program = await createProgram(org, { earn: { per: "purchase" } });
    const member = await enrollOverHttp(harness, org);
    const auditBefore = await auditOf(org);
    const unknown = "00000000-0000-4000-8000-000000000000";
    for (const id of [program.id, unknown, "not-a-uuid"]) {
      const key = id === program.id ? other.keys.admin : org.keys.admin;
      for (const [method, body] of [
        ["GET", undefined],
        ["PATCH", { name: "Stolen" }],
        ["DELETE", undefined],
      ] as const) {
        const response = await call(harness.app, method, `/v1/stamp-programs/${id}`, {
          key,
          ...(body === undefined ? {} : { body }),
        });
        expect(response.status, `${method} ${id}`).toBe(404);
        expect(response.body.error?.code).toBe("not_found");
      }
    }
    const foreignCards = await call(harness.app, "GET", `/v1/members/${member.id}/stamp-cards`, {
      key: other.keys.admin,
    });
    expect(foreignCards.status).toBe(404);
    const otherList = await call(harness.app, "GET", "/v1/stamp-programs", {
      key: other.keys.admin,
    });
    expect(list(otherList.body.stamp_programs).map((p) => p.id)).not.toContain(program.id);

    for (const role of ["pos", "finance"] as const) {
      const key = org.keys[role];
      const create = await call(harness.app, "POST", "/v1/stamp-programs", {
        key,
        body: { name: "X", stamps_per_card: 2, earn: { per: "purchase" }, reward: { points: 1 } },
      });
      expect(create.status, role).toBe(403);
      const patch = await call(harness.app, "PATCH", `/v1/stamp-programs/${program.id}`, {
        key,
        body: { name: "X" },
      });
      expect(patch.status, role).toBe(403);
      const remove = await call(harness.app, "DELETE", `/v1/stamp-programs/${program.id}`, {
        key,
      });
      expect(remove.status, role).toBe(403);
      for (const path of [
        "/v1/stamp-programs",
        `/v1/stamp-programs/${program.id}`,
        `/v1/members/${member.id}/stamp-cards`,
      ]) {
        expect((await call(harness.app, "GET", path, { key })).status, `${role} ${path}`).toBe(200);
      }
    }
    const unauthenticated = await call(harness.app, "GET", "/v1/stamp-programs");
    expect(unauthenticated.status).toBe(401);
    const read = await call(harness.app, "GET", `/v1/stamp-programs/${program.id}`, {
      key: org.keys.admin,
    });
    expect(read.body.stamp_program).toMatchObject({ name: "Card", active: true });
    expect(await auditOf(org)).toEqual(auditBefore);
  });
});

describe("earning stamps", () => {
  it("earns per purchase or per item, above a minimum, on matching categories and skus", async () => {
    const shop = await buildTestOrg(harness);
    const visits = await createProgram(shop, { earn: { per: "purchase" } });
    const coffeeVisits = await createProgram(shop, {
      earn: { per: "purchase", categories: ["coffee"] },
    });
    const units = await createProgram(shop, { earn: { per: "item" } });
    const coffeeUnits = await createProgram(shop, {
      earn: { per: "item", categories: ["coffee"], skus: ["SCONE"] },
    });
    const big = await createProgram(shop, { earn: { per: "purchase", min_amount: 2_000 } });
    const member = await enrollOverHttp(harness, shop);

    const basket = await buy(shop, member.id, {
      amount: 1_999,
      items: [
        { sku: "LATTE", category: "coffee", quantity: 3 },
        { sku: "SCONE", category: "bakery", quantity: 2 },
        { sku: "JUICE", quantity: 1 },
      ],
    });
    expect(stampsIn(basket, visits)).toBe(1);
    expect(stampsIn(basket, coffeeVisits)).toBe(1);
    expect(stampsIn(basket, units)).toBe(6);
    expect(stampsIn(basket, coffeeUnits)).toBe(5);
    expect(stampsIn(basket, big)).toBe(0);

    const noCoffee = await buy(shop, member.id, {
      amount: 2_000,
      items: [{ sku: "JUICE", category: "drinks", quantity: 2 }],
    });
    expect(stampsIn(noCoffee, visits)).toBe(1);
    expect(stampsIn(noCoffee, coffeeVisits)).toBe(0);
    expect(stampsIn(noCoffee, units)).toBe(2);
    expect(stampsIn(noCoffee, coffeeUnits)).toBe(0);
    expect(stampsIn(noCoffee, big)).toBe(1);

    const cards = await cardsOf(shop, member.id, shop.keys.finance);
    const card = (program: Program) =>
      cards.find((entry) => String(entry.program_id) === program.id);
    expect(card(visits)).toMatchObject({ stamps: 2, stamps_per_card: 10, completions: 0 });
    expect(card(units)).toMatchObject({ stamps: 8, active: true });
    expect(card(coffeeUnits)).toMatchObject({ stamps: 5 });
    expect(card(big)).toMatchObject({ stamps: 1 });
  });

  it("earns only for purchases whose occurred_at is inside the window, back-dated ones included", async () => {
    const shop = await buildTestOrg(harness);
    const spring = await createProgram(shop, {
      earn: { per: "purchase" },
      active_from: "2025-03-01T00:00:00Z",
      active_until: "2025-04-01T00:00:00Z",
    });
    const member = await enrollOverHttp(harness, shop);
    const inside = await buy(shop, member.id, { occurred_at: "2025-03-15T12:00:00Z" });
    expect(stampsIn(inside, spring)).toBe(1);
    const first = await buy(shop, member.id, { occurred_at: "2025-03-01T00:00:00Z" });
    expect(stampsIn(first, spring)).toBe(1);
    const before = await buy(shop, member.id, { occurred_at: "2025-02-28T23:59:59Z" });
    expect(stampsIn(before, spring)).toBe(0);
    const atEnd = await buy(shop, member.id, { occurred_at: "2025-04-01T00:00:00Z" });
    expect(stampsIn(atEnd, spring)).toBe(0);
    const now = await buy(shop, member.id);
    expect(stampsIn(now, spring)).toBe(0);
    expect(await cardsOf(shop, member.id)).toEqual([
      {
        program_id: spring.id,
        name: "Card",
        active: true,
        stamps: 2,
        stamps_per_card: 10,
        completions: 0,
      },
    ]);
  });

  it("completes a full card with its reward and keeps the stamps beyond it for the next card", async () => {
    // No welcome bonus and no base rate: the points wallet holds the rewards only.
    const shop = await buildTestOrg(harness, { welcomeBonusPoints: 0, baseRatePointsPerUnit: 0 });
    const program = await createProgram(shop, {
      stamps_per_card: 5,
      earn: { per: "item" },
      reward: { points: 40 },
    });
    const member = await enrollOverHttp(harness, shop);
    const earned = await buy(shop, member.id, {
      items: [{ sku: "LATTE", category: "coffee", quantity: 7 }],
    });
    expect(earned).toEqual([{ program_id: program.id, stamps: 7, completed: true }]);
    expect(await cardsOf(shop, member.id)).toEqual([
      {
        program_id: program.id,
        name: "Card",
        active: true,
        stamps: 2,
        stamps_per_card: 5,
        completions: 1,
      },
    ]);
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: shop.keys.pos,
    });
    expect(balances.body.points).toMatchObject({ available: 40, lifetime_earned: 40 });

    // Three more fill the second card exactly: 2 + 3 = 5, completed, nothing left.
    const next = await buy(shop, member.id, { items: [{ sku: "LATTE", quantity: 3 }] });
    expect(next).toEqual([{ program_id: program.id, stamps: 3, completed: true }]);
    expect(await cardsOf(shop, member.id)).toMatchObject([{ stamps: 0, completions: 2 }]);
    const after = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: shop.keys.pos,
    });
    expect(after.body.points).toMatchObject({ available: 80 });
    const trial = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
      key: shop.keys.finance,
    });
    for (const unit of list(trial.body.units)) {
      expect(unit.balanced, String(unit.unit)).toBe(true);
    }
  });

  it("earns nothing in a deactivated program, whose cards stay readable", async () => {
    const shop = await buildTestOrg(harness);
    const program = await createProgram(shop, { earn: { per: "purchase" } });
    const member = await enrollOverHttp(harness, shop);
    expect(stampsIn(await buy(shop, member.id), program)).toBe(1);
    const removed = await call(harness.app, "DELETE", `/v1/stamp-programs/${program.id}`, {
      key: shop.keys.admin,
    });
    expect(removed.status).toBe(200);
    expect(await buy(shop, member.id)).toEqual([]);
    expect(await cardsOf(shop, member.id)).toEqual([
      {
        program_id: program.id,
        name: "Card",
        active: false,
        stamps: 1,
        stamps_per_card: 10,
        completions: 0,
      },
    ]);
    const balances = await call(harness.app, "GET", `/v1/members/${member.id}/balances`, {
      key: shop.keys.pos,
    });
    expect(list(balances.body.stamps).map((card) => card.program_id)).toContain(program.id);
    // A member who never earned there has no card at all.
    const newcomer = await enrollOverHttp(harness, shop);
    expect(await cardsOf(shop, newcomer.id)).toEqual([]);
  });
});
