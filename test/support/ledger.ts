/**
 * Test builders for the ledger-backed use cases: deps on a real Postgres database and the
 * embedded ledger engine in memory (never a mock), a clock both stores share, members with a
 * starting balance, and a counter of ledger write requests. Not exported from index.ts.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import {
  AccountFlags,
  type Client,
  CreateAccountStatus,
  CreateTransferStatus,
} from "tigerbeetle-node";
import { createEmbeddedClient, type EmbeddedClient } from "../../src/ledger/index.ts";
import { adjustMemberPoints } from "../../src/membership/adjustments/adjust-member-points.ts";
import { platformActor } from "../../src/membership/audit/audit.ts";
import type { LedgerDeps } from "../../src/membership/deps.ts";
import { enrollMemberWithLedger } from "../../src/membership/members/enroll-member-with-ledger.ts";
import type { CreateOrgInput, CreateOrgResult } from "../../src/membership/orgs/create-org.ts";
import { type OrgSettings, orgSettingsSchema } from "../../src/membership/orgs/settings.ts";
import { createMembershipCaches, invalidateOrgCaches } from "../../src/membership/store/caches.ts";
import type { Db } from "../../src/membership/store/db.ts";
import { orgs } from "../../src/membership/store/schema.ts";
import type { Member } from "../../src/membership/types.ts";
import { buildOrg, createTestSecrets } from "./membership.ts";

export interface LedgerTestEnvironment {
  deps: LedgerDeps;
  /** The engine behind `deps.ledger`. */
  engine: EmbeddedClient;
  /** Moves the clock both Postgres-side code and the ledger read. */
  advanceSeconds(seconds: number): void;
  now(): Date;
}

/** Fresh in-memory ledger and secrets over `db`, with a clock that only moves when told. */
export function createLedgerTestEnvironment(db: Db): LedgerTestEnvironment {
  let nowMs = Date.now();
  const engine = createEmbeddedClient({ clock: () => BigInt(nowMs) * 1_000_000n });
  return {
    deps: {
      db,
      secrets: createTestSecrets(),
      ledger: engine,
      caches: createMembershipCaches(),
      clock: () => new Date(nowMs),
    },
    engine,
    advanceSeconds(seconds: number) {
      assert.ok(Number.isSafeInteger(seconds) && seconds > 0, "the clock only moves forward");
      nowMs += seconds * 1000;
    },
    now: () => new Date(nowMs),
  };
}

/** An org, with `settings` merged into the defaults (written directly: there is no verb yet). */
export async function buildLedgerOrg(
  deps: LedgerDeps,
  options: { org?: Partial<CreateOrgInput>; settings?: Partial<OrgSettings> } = {},
): Promise<CreateOrgResult> {
  const created = await buildOrg(deps, options.org);
  if (options.settings === undefined) {
    return created;
  }
  const settings = orgSettingsSchema.parse({ ...created.org.settings, ...options.settings });
  await deps.db.update(orgs).set({ settings }).where(eq(orgs.id, created.org.id));
  // A direct write, so the cache is told by hand, as a settings verb would.
  invalidateOrgCaches(deps.caches, created.org.id);
  return { ...created, org: { ...created.org, settings } };
}

export function cardNumber(): string {
  return `card-${randomBytes(6).toString("hex")}`;
}

export function externalId(prefix = "pos"): string {
  return `${prefix}-${randomBytes(8).toString("hex")}`;
}

/**
 * A member enrolled end to end (welcome bonus included); with `points`, topped up or down to
 * exactly that available balance by an adjustment.
 */
export async function buildLedgerMember(
  deps: LedgerDeps,
  orgId: string,
  options: { points?: bigint } = {},
): Promise<Member> {
  const { member, welcomeBonus } = await enrollMemberWithLedger(deps, {
    orgId,
    externalRef: cardNumber(),
  });
  if (options.points !== undefined && options.points !== welcomeBonus) {
    const credit = options.points > welcomeBonus;
    await adjustMemberPoints(deps, {
      actor: platformActor,
      orgId,
      memberId: member.id,
      direction: credit ? "credit" : "debit",
      points: credit ? options.points - welcomeBonus : welcomeBonus - options.points,
      reason: "test balance",
      externalId: externalId("adj"),
    });
  }
  return member;
}

export interface CountingClient {
  client: Client;
  /** `createTransfers` requests made through `client` so far. */
  createTransfersCalls(): number;
}

/**
 * The same engine behind a proxy that counts `createTransfers` requests; every call still goes
 * to the real engine, which answers it.
 */
export function countCreateTransfers(engine: Client): CountingClient {
  let calls = 0;
  const client = new Proxy(engine, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === "createTransfers" && typeof value === "function") {
        return (...args: Parameters<Client["createTransfers"]>) => {
          calls += 1;
          return target.createTransfers(...args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { client, createTransfersCalls: () => calls };
}

/**
 * Takes transfer id `id` on the ledger with an unrelated transfer of its own (on a ledger no org
 * uses), so that a document which recorded that id is refused for good when it is posted.
 */
export async function occupyTransferId(ledger: Client, id: bigint): Promise<void> {
  const base = id & ((1n << 64n) - 1n);
  const accounts = [1n, 2n].map((n) => ({
    id: (base << 8n) + n,
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    reserved: 0,
    ledger: 999_999,
    code: 1,
    flags: AccountFlags.none,
    timestamp: 0n,
  }));
  const created = await ledger.createAccounts(accounts);
  for (const result of created) {
    assert.equal(result.status, CreateAccountStatus.created, "scratch accounts are created");
  }
  const [answer] = await ledger.createTransfers([
    {
      id,
      debit_account_id: (base << 8n) + 1n,
      credit_account_id: (base << 8n) + 2n,
      amount: 1n,
      pending_id: 0n,
      user_data_128: 0n,
      user_data_64: 0n,
      user_data_32: 0,
      timeout: 0,
      ledger: 999_999,
      code: 1,
      flags: 0,
      timestamp: 0n,
    },
  ]);
  assert.equal(answer?.status, CreateTransferStatus.created, "the id is taken");
}
