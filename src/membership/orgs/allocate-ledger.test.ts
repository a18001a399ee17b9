import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../test/support/db.ts";
import { createTestDatabase } from "../../../test/support/db.ts";
import { buildOrg, createTestSecrets } from "../../../test/support/membership.ts";
import type { MembershipDeps } from "../deps.ts";
import { allocateLedger } from "./allocate-ledger.ts";

let database: TestDatabase;
let deps: MembershipDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = { db: database.db, secrets: createTestSecrets() };
});
afterAll(() => database?.close());

describe("allocateLedger", () => {
  it("is idempotent per (org, unit): the org's points ledger comes back unchanged", async () => {
    const { org, pointsLedger } = await buildOrg(deps);
    expect(await allocateLedger(deps, { orgId: org.id, unit: "points" })).toBe(pointsLedger);
    expect(await allocateLedger(deps, { orgId: org.id, unit: "points" })).toBe(pointsLedger);
  });

  it("gives every (org, unit) its own number, unique across orgs", async () => {
    const first = await buildOrg(deps);
    const second = await buildOrg(deps);
    const stamps = "stamps:coffee-card";
    const ledgers = [
      first.pointsLedger,
      second.pointsLedger,
      await allocateLedger(deps, { orgId: first.org.id, unit: stamps }),
      await allocateLedger(deps, { orgId: second.org.id, unit: stamps }),
    ];
    expect(new Set(ledgers).size).toBe(4);
    for (const ledger of ledgers) {
      expect(Number.isInteger(ledger) && ledger >= 1).toBe(true);
    }
  });

  it("concurrent first allocations of one (org, unit) agree on one number", async () => {
    const { org } = await buildOrg(deps);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => allocateLedger(deps, { orgId: org.id, unit: "stamps:race" })),
    );
    expect(new Set(results).size).toBe(1);
    const [row] = await database.sql<{ n: number }[]>`
      select count(*)::int as n from org_ledgers where org_id = ${org.id} and unit = 'stamps:race'`;
    expect(row?.n).toBe(1);
  });

  it("never hands out a number twice, and the database refuses a chosen one", async () => {
    const { org } = await buildOrg(deps);
    await expect(
      database.sql`insert into org_ledgers (ledger, org_id, unit) values (1, ${org.id}, 'stamps:x')`,
    ).rejects.toMatchObject({ code: "428C9" });
  });

  it("asserts the unit is one it knows", async () => {
    const { org } = await buildOrg(deps);
    await expect(allocateLedger(deps, { orgId: org.id, unit: "euros" })).rejects.toThrow(/unit/);
  });
});
