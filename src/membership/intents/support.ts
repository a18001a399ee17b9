/**
 * Small pieces shared by the ledger-backed use cases: the clock, the request hash that makes a
 * retry recognisable, the org's ledger context, the test seam, and bounded concurrency.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { currencyExponent } from "../../ledger/index.ts";
import type { IntentRef, IntentStep, LedgerDeps, Store } from "../deps.ts";
import { DomainError, type DomainErrorDetails } from "../errors.ts";
import { memberKey, type OrgLedgerContext } from "../store/caches.ts";
import type { DbExecutor } from "../store/db.ts";
import { toOrg } from "../store/records.ts";
import { members, orgLedgers, orgs } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

export function nowOf(deps: Pick<LedgerDeps, "clock">): Date {
  const now = deps.clock?.() ?? new Date();
  assert.ok(!Number.isNaN(now.getTime()), "the clock returned an invalid date");
  return now;
}

export function invalidInput(message: string, details: DomainErrorDetails): DomainError {
  return new DomainError("invalid_input", message, details);
}

/** The test seam of `LedgerDeps`; a no-op in production. */
export async function interrupt(deps: LedgerDeps, step: IntentStep, ref: IntentRef): Promise<void> {
  if (deps.interrupt !== undefined) {
    await deps.interrupt(step, ref);
  }
}

export type Canonical =
  | string
  | number
  | boolean
  | bigint
  | null
  | Canonical[]
  | { [key: string]: Canonical };

/** JSON with keys sorted at every level and bigints as decimal strings: one text per request. */
export function canonicalJson(value: Canonical): string {
  if (value === null || typeof value === "string" || typeof value === "boolean") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    assert.ok(Number.isSafeInteger(value), "canonical numbers are safe integers");
    return JSON.stringify(value);
  }
  if (typeof value === "bigint") {
    return JSON.stringify(value.toString());
  }
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(",")}]`;
  }
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as Canonical)}`).join(",")}}`;
}

/** SHA-256 (hex) of the canonical request. A retry must hash the same, or it is a conflict. */
export function requestHash(request: { kind: string } & { [key: string]: Canonical }): string {
  return createHash("sha256").update(canonicalJson(request)).digest("hex");
}

/** A ledger timestamp (ns since the epoch) as a Date (ms precision). */
export function dateOfLedgerTimestamp(timestampNs: bigint): Date {
  assert.ok(timestampNs > 0n, "ledger timestamps are positive");
  return new Date(Number(timestampNs / 1_000_000n));
}

export type { OrgLedgerContext };

/**
 * The org and its points ledger; an unknown org is `not_found`. Cached per pool (caches.ts): the
 * settings may be up to `orgCacheTtlMs` old, the ledger number and currency never change.
 */
export async function loadOrgLedger(store: Store, orgId: string): Promise<OrgLedgerContext> {
  if (!isUuid(orgId)) {
    throw new DomainError("not_found", "org not found", { orgId });
  }
  const { db, caches } = store;
  return caches.orgs.load(orgId, async () => {
    const context = await readOrgLedger(db, orgId);
    caches.pointsLedgers.set(orgId, context.pointsLedger);
    return context;
  });
}

async function readOrgLedger(db: DbExecutor, orgId: string): Promise<OrgLedgerContext> {
  const [row] = await db
    .select({ org: orgs, pointsLedger: orgLedgers.ledger })
    .from(orgs)
    .innerJoin(orgLedgers, and(eq(orgLedgers.orgId, orgs.id), eq(orgLedgers.unit, "points")))
    .where(eq(orgs.id, orgId))
    .limit(1);
  if (row === undefined) {
    throw new DomainError("not_found", "org not found", { orgId });
  }
  assert.ok(row.pointsLedger > 0, "points ledger is allocated");
  const org = toOrg(row.org);
  // Shared by every caller while cached: nobody may change it.
  Object.freeze(org.settings);
  return Object.freeze({
    org: Object.freeze(org),
    pointsLedger: row.pointsLedger,
    currencyExponent: currencyExponent(org.currency),
  });
}

/**
 * The points ledger of each org named. Every org has one (createOrg allocates it) and it never
 * changes, so each is read from Postgres once per pool.
 */
export async function pointsLedgersOf(
  store: Store,
  orgIds: readonly string[],
): Promise<Map<string, number>> {
  const { db } = store;
  const { pointsLedgers } = store.caches;
  const ledgers = new Map<string, number>();
  for (const orgId of new Set(orgIds)) {
    const cached = pointsLedgers.get(orgId);
    if (cached !== undefined) {
      ledgers.set(orgId, cached);
      continue;
    }
    const [row] = await db
      .select({ ledger: orgLedgers.ledger })
      .from(orgLedgers)
      .where(and(eq(orgLedgers.orgId, orgId), eq(orgLedgers.unit, "points")))
      .limit(1);
    assert.ok(row !== undefined, "every org has a points ledger");
    assert.ok(row.ledger > 0, "points ledger is allocated");
    pointsLedgers.set(orgId, row.ledger);
    ledgers.set(orgId, row.ledger);
  }
  return ledgers;
}

/**
 * Maps `items` through `task` with at most `inFlightMax` promises pending at once, keeping order.
 * For ledger calls that cannot be batched into one request.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  inFlightMax: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  assert.ok(Number.isInteger(inFlightMax) && inFlightMax >= 1, "in-flight bound is positive");
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await task(items[index] as T, index);
    }
  };
  const workers = Math.min(inFlightMax, items.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

/** Decimal string of a u128 id, as kept in `transfer_ids`. */
export function idText(id: bigint): string {
  assert.ok(id > 0n, "transfer ids are positive");
  return id.toString(10);
}

/** The org's member's id and status; unknown and another org's are the same `not_found`. */
export async function requireMember(
  db: DbExecutor,
  input: { orgId: string; memberId: string },
): Promise<{ id: string; status: "active" | "suspended" | "closed" }> {
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId) || !isUuid(input.orgId)) {
    throw notFound;
  }
  const [row] = await db
    .select({ id: members.id, status: members.status })
    .from(members)
    .where(and(eq(members.orgId, input.orgId), eq(members.id, input.memberId)))
    .limit(1);
  if (row === undefined) {
    throw notFound;
  }
  return row;
}

/**
 * Checks that the member exists in the org, without its status: enough for reads. A member is
 * never deleted nor moved to another org, so a positive answer is cached for good (per pool);
 * a negative one is not (the id may be enrolled later). Unknown and another org's: `not_found`.
 */
export async function requireMemberInOrg(
  store: Store,
  input: { orgId: string; memberId: string },
): Promise<void> {
  const key = memberKey(input.orgId, input.memberId);
  const { members: known } = store.caches;
  if (known.has(key)) {
    return;
  }
  await requireMember(store.db, input);
  known.set(key, true);
}
