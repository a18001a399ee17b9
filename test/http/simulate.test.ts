/**
 * POST /v1/simulate/purchase: what a purchase would earn, equal to what recording it then earns
 * (points, breakdown and stamps), with nothing written; the real route's errors, per org.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStampProgram } from "../../src/membership/index.ts";
import type { TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  type Harness,
  ledgerTransferCount,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => harness.close());

interface Simulated {
  member_id: string;
  points_earned: number;
  breakdown: Array<{ kind: string; points: number }>;
  stamps_earned: Array<{ program_id: string; stamps: number }>;
}

async function simulate(body: Record<string, unknown>, key = org.keys.pos) {
  return call(harness.app, "POST", "/v1/simulate/purchase", { key, body });
}

async function rowCount(table: string): Promise<number> {
  const [row] = await harness.database.sql<{ n: number }[]>`
    select count(*)::int as n from ${harness.database.sql(table)}`;
  return row?.n ?? -1;
}

describe("POST /v1/simulate/purchase", () => {
  it("earns exactly what the recorded purchase then earns, and writes nothing", async () => {
    const program = await createStampProgram(harness.deps, {
      orgId: org.id,
      name: "Coffee card",
      stampsRequired: 10n,
      rewardPoints: 50n,
      earn: { per: "item", categories: ["coffee"] },
    });
    const bronze = await enrollOverHttp(harness, org);
    const silver = await enrollOverHttp(harness, org);
    const silverTier = org.result.tiers.find((tier) => tier.rank === 1);
    // Silver (1.25×) by an override: the simulation reads the tier as a purchase does.
    const overridden = await call(harness.app, "PUT", `/v1/members/${silver.id}/tier`, {
      key: org.keys.admin,
      body: { tier_id: silverTier?.id ?? "", reason: "simulation test" },
    });
    expect(overridden.status).toBe(200);

    const purchases = [
      { member_id: bronze.id, amount: 1999 },
      { member_id: silver.id, amount: 1999 },
      { member_external_ref: silver.externalRef, amount: 7, currency: "EUR" },
      {
        member_id: silver.id,
        amount: 4550,
        occurred_at: "2026-11-30T09:15:00Z",
        items: [
          { sku: "LATTE-L", category: "coffee", quantity: 3, amount: 1350 },
          { sku: "BAGEL", category: "bakery", quantity: 1, amount: 300 },
        ],
      },
    ];
    for (const [index, purchase] of purchases.entries()) {
      const transfers = await ledgerTransferCount(harness);
      const documents = await rowCount("pos_transactions");
      const locations = await rowCount("locations");
      const simulated = await simulate({ ...purchase, location: "store-sim" });
      expect(simulated.status, JSON.stringify(simulated.body)).toBe(200);
      const result = simulated.body as unknown as Simulated;
      expect(await ledgerTransferCount(harness)).toBe(transfers);
      expect(await rowCount("pos_transactions")).toBe(documents);
      expect(await rowCount("locations")).toBe(locations);
      expect(result.breakdown.reduce((sum, line) => sum + line.points, 0)).toBe(
        result.points_earned,
      );

      const recorded = await call(harness.app, "POST", "/v1/transactions", {
        key: org.keys.pos,
        body: { currency: "EUR", ...purchase, external_id: `sim-${index}` },
      });
      expect(recorded.status).toBe(201);
      expect(result.points_earned).toBe(recorded.body.points_earned);
      expect(result.stamps_earned).toEqual(
        (
          recorded.body.stamps_earned as unknown as Array<{ program_id: string; stamps: number }>
        ).map((grant) => ({ program_id: grant.program_id, stamps: grant.stamps })),
      );
    }
    // The cases above are not trivial: the tier and the stamps showed.
    const coffee = await simulate(purchases[3] as Record<string, unknown>);
    expect(coffee.body).toMatchObject({
      member_id: silver.id,
      points_earned: 56,
      breakdown: [
        { kind: "base", points: 45 },
        { kind: "tier", points: 11 },
      ],
      stamps_earned: [{ program_id: program.id, stamps: 3 }],
    });
  });

  it("answers the real purchase's errors, for the caller's org only", async () => {
    const member = await enrollOverHttp(harness, org);
    expect((await simulate({ member_id: member.id, amount: 100 }, org.keys.admin)).status).toBe(
      200,
    );
    expect((await simulate({ member_id: member.id, amount: 100 }, org.keys.finance)).status).toBe(
      403,
    );
    expect((await simulate({ member_id: member.id, amount: 100 }, other.keys.pos)).status).toBe(
      404,
    );
    expect(
      (await simulate({ member_id: "00000000-0000-4000-8000-000000000000", amount: 100 })).status,
    ).toBe(404);
    for (const body of [
      { amount: 100 },
      { member_id: member.id, amount: 0 },
      { member_id: member.id, amount: 100, external_id: "x" },
      { member_id: member.id, amount: 100, currency: "USD" },
    ]) {
      const response = await simulate(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    const suspended = await call(harness.app, "PATCH", `/v1/members/${member.id}`, {
      key: org.keys.admin,
      body: { status: "suspended" },
    });
    expect(suspended.status).toBe(200);
    const inactive = await simulate({ member_id: member.id, amount: 100 });
    expect(inactive.status).toBe(422);
    expect(inactive.body.error).toMatchObject({ code: "member_inactive" });
  });
});
