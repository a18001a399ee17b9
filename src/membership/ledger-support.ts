/**
 * Small pieces shared by the ledger-backed use cases: the clock, the request hash that makes a
 * retry recognisable, the org's ledger context, the test seam, and bounded concurrency.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { DbExecutor } from "./db.ts";
import type { IntentRef, IntentStep, LedgerDeps } from "./deps.ts";
import { DomainError, type DomainErrorDetails } from "./errors.ts";
import { toOrg } from "./records.ts";
import { members, orgLedgers, orgs } from "./schema.ts";
import type { Org } from "./types.ts";
import { isUuid } from "./validation.ts";

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

export interface OrgLedgerContext {
  org: Org;
  pointsLedger: number;
}

/** The org and its points ledger; an unknown org is `not_found`. */
export async function loadOrgLedger(db: DbExecutor, orgId: string): Promise<OrgLedgerContext> {
  const notFound = new DomainError("not_found", "org not found", { orgId });
  if (!isUuid(orgId)) {
    throw notFound;
  }
  const [row] = await db
    .select({ org: orgs, pointsLedger: orgLedgers.ledger })
    .from(orgs)
    .innerJoin(orgLedgers, and(eq(orgLedgers.orgId, orgs.id), eq(orgLedgers.unit, "points")))
    .where(eq(orgs.id, orgId))
    .limit(1);
  if (row === undefined) {
    throw notFound;
  }
  assert.ok(row.pointsLedger > 0, "points ledger is allocated");
  return { org: toOrg(row.org), pointsLedger: row.pointsLedger };
}

/** The points ledger of each org named, read once. Every org has one (createOrg allocates it). */
export async function pointsLedgersOf(
  db: DbExecutor,
  orgIds: readonly string[],
): Promise<Map<string, number>> {
  const ledgers = new Map<string, number>();
  for (const orgId of new Set(orgIds)) {
    const [row] = await db
      .select({ ledger: orgLedgers.ledger })
      .from(orgLedgers)
      .where(and(eq(orgLedgers.orgId, orgId), eq(orgLedgers.unit, "points")))
      .limit(1);
    assert.ok(row !== undefined, "every org has a points ledger");
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
