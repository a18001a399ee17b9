/**
 * The hot paths' caches: bounded by entry count, expiring after their time to live, sharing one
 * load among concurrent misses; a warm balance read sends no statement at all; creating a stamp
 * program shows at once on the same pool, and another pool's (another process's) only once its
 * entry is dropped; a remembered member is re-checked by the insert itself; tenancy holds
 * whatever is cached.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../test/support/db.ts";
import { createTestDatabase } from "../../../test/support/db.ts";
import {
  buildLedgerMember,
  buildLedgerOrg,
  createLedgerTestEnvironment,
  externalId,
  type LedgerTestEnvironment,
} from "../../../test/support/ledger.ts";
import type { LedgerDeps } from "../deps.ts";
import { assignTier } from "../members/assign-tier.ts";
import { getMemberBalances } from "../members/get-member-balances.ts";
import { updateMember } from "../members/update-member.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { createStampProgram } from "../stamp-programs/create-stamp-program.ts";
import {
  BoundedCache,
  createMembershipCaches,
  invalidateOrgCaches,
  LoadingCache,
} from "./caches.ts";
import { type Database, openDatabase } from "./db.ts";

describe("BoundedCache", () => {
  it("expires entries after their time to live, on the clock it is given", () => {
    let now = 1_000;
    const cache = new BoundedCache<string>(10, 5_000, () => now);
    cache.set("org", "settings");
    now += 4_999;
    expect(cache.get("org")).toBe("settings");
    now += 1;
    expect(cache.get("org")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("never holds more than its bound, dropping the oldest entry first", () => {
    const cache = new BoundedCache<number>(3, null);
    for (const [index, key] of ["a", "b", "c", "d"].entries()) {
      cache.set(key, index);
    }
    expect(cache.size).toBe(3);
    expect(cache.has("a")).toBe(false);
    expect([cache.get("b"), cache.get("c"), cache.get("d")]).toEqual([1, 2, 3]);
    // Setting again refreshes the position: "b" is now the newest, "c" the oldest.
    cache.set("b", 10);
    cache.set("e", 4);
    expect(cache.has("c")).toBe(false);
    expect(cache.get("b")).toBe(10);
  });
});

describe("LoadingCache", () => {
  it("shares one load among concurrent misses and forgets a failed one", async () => {
    const cache = new LoadingCache<number>(10, null);
    let loads = 0;
    const load = async () => {
      loads += 1;
      return 42;
    };
    expect(await Promise.all([cache.load("k", load), cache.load("k", load)])).toEqual([42, 42]);
    expect(loads).toBe(1);

    const failing = cache.load("bad", async () => {
      throw new Error("down");
    });
    await expect(failing).rejects.toThrow("down");
    expect(await cache.load("bad", load)).toBe(42);
    expect(loads).toBe(2);
  });
});

describe("the membership caches on a real pool", () => {
  let database: TestDatabase;
  let environment: LedgerTestEnvironment;
  /** A second pool on the same database that counts every statement it sends. */
  let counted: Database;
  let statements = 0;
  let deps: LedgerDeps;

  beforeAll(async () => {
    database = await createTestDatabase();
    environment = createLedgerTestEnvironment(database.db);
    counted = await openDatabase({
      url: database.url,
      poolMax: 2,
      statementTimeoutMs: 5_000,
      onQuery: () => {
        statements += 1;
      },
    });
    // Its own pool, so its own caches, as the composition would build them.
    deps = { ...environment.deps, db: counted.db, caches: createMembershipCaches() };
  });
  afterAll(async () => {
    await counted?.close();
    await environment?.engine.close();
    await database?.close();
  });

  it("reads a warm balance without a single statement", async () => {
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const first = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    statements = 0;
    const again = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(statements).toBe(0);
    expect(again).toEqual(first);
    expect(again.points.available).toBe(100n);
  });

  it("keeps tenancy: a cached member is still unknown to another org", async () => {
    const { org } = await buildLedgerOrg(deps);
    const other = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    await expect(
      getMemberBalances(deps, { orgId: other.org.id, memberId: member.id }),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(
      getMemberBalances(deps, { orgId: org.id, memberId: randomUUID() }),
    ).rejects.toMatchObject({ code: "not_found" });
  });

  it("shows a stamp program created on the same pool at once", async () => {
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    expect((await getMemberBalances(deps, { orgId: org.id, memberId: member.id })).stamps).toEqual(
      [],
    );
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 5n,
      rewardPoints: 10n,
    });
    const balances = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(balances.stamps).toEqual([
      { programId: program.id, name: "Visits", balance: 0n, stampsRequired: 5n },
    ]);
  });

  it("shows another pool's new program only once the cached list is dropped", async () => {
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    // Created through the other pool, as another process would: this pool is not told.
    await createStampProgram(environment.deps, {
      orgId: org.id,
      name: "Elsewhere",
      stampsRequired: 3n,
      rewardPoints: 1n,
    });
    const stale = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(stale.stamps).toEqual([]);
    // What the time to live does after orgCacheTtlMs, done by hand.
    invalidateOrgCaches(deps.caches, org.id);
    const fresh = await getMemberBalances(deps, { orgId: org.id, memberId: member.id });
    expect(fresh.stamps.map((card) => card.name)).toEqual(["Elsewhere"]);
  });

  it("re-checks a remembered member at the insert: a suspension or new tier shows at once", async () => {
    const { org, tiers } = await buildLedgerOrg(deps, { settings: { welcomeBonusPoints: 0 } });
    const member = await buildLedgerMember(deps, org.id);
    const purchase = () =>
      recordPurchase(deps, {
        orgId: org.id,
        externalId: externalId(),
        memberExternalRef: member.externalRef,
        amountMinor: 1_000n,
        currency: "EUR",
      });
    expect((await purchase()).pointsEarned).toBe(10n);
    // Warm, a purchase is two statements: the guarded intent insert and the mark.
    statements = 0;
    expect((await purchase()).pointsEarned).toBe(10n);
    expect(statements).toBe(2);

    // Changed through the other pool, as another process would: this pool's memory is not told.
    const silver = tiers.find((tier) => tier.name === "Silver");
    await assignTier(environment.deps, {
      orgId: org.id,
      memberId: member.id,
      tierId: silver?.id ?? "",
      reason: "test",
    });
    expect((await purchase()).pointsEarned).toBe(12n);

    await updateMember(environment.deps, {
      orgId: org.id,
      memberId: member.id,
      patch: { status: "suspended" },
    });
    await expect(purchase()).rejects.toMatchObject({ code: "member_inactive" });
    const [row] = await database.sql<{ n: number }[]>`
      select count(*)::int as n from pos_transactions where org_id = ${org.id}`;
    expect(row?.n).toBe(3);
  });
});
