/**
 * In-process caches of what the hot paths (purchases, balance reads) would otherwise read from
 * Postgres on every request. Only facts that never change, or change rarely and through verbs of
 * this module, are kept; every cache is bounded by entry count; every key starts with the org.
 *
 * What is cached, and how stale it may be (also in docs/consistency.md):
 * - an org's row and points ledger (`orgs`): the ledger number and currency never change; the
 *   settings (earning rate, welcome bonus, hold default) may be up to `orgCacheTtlMs` old;
 * - an org's stamp programs (`stampPrograms`): dropped at once in this process when a program
 *   is created, changed or deactivated here; other processes see it within `orgCacheTtlMs`. A
 *   program's ledger, stamps required and reward never change, so a stale list never posts a
 *   wrong transfer: at worst a purchase in that window earns stamps by the previous earn rules,
 *   window or active flag (none in a program just created);
 * - an org's active earning rules (`earningRules`): dropped at once in this process when a rule
 *   is created, changed or deleted here; other processes see it within `earningRulesCacheTtlMs`
 *   (5 s), so an edit applies to purchases recorded within that time. Each entry carries its
 *   version, which the purchase records, so what was applied is always known;
 * - one version of an earning rule (`earningRuleVersions`): versions never change;
 * - member existence in an org (`members`), a member's finished enrollment (`enrolled`), a
 *   location's number (`locations`, `locationNumbers`) and an opened stamp card (`stampCards`):
 *   members, locations and cards are never deleted nor moved between orgs, and an enrollment
 *   never goes back to pending, so these never go stale;
 * - a member's status and tier multiplier (`memberHints`): only a guess, which the intent insert
 *   re-checks in the same statement, so a suspended member stops earning at once (in every
 *   process) and a new tier applies to the next purchase.
 *
 * One set of caches per database pool, built by the composition and passed in (`deps.caches`),
 * so every use case on that pool sees what any other one invalidated; deps built on a
 * transaction get a private, short-lived set.
 */
import assert from "node:assert/strict";
import type { EarningRule } from "../earning-rules/types.ts";
import type { StampProgram } from "../ledger-types.ts";
import {
  earningRulesCacheTtlMs,
  earningRuleVersionCacheEntriesMax,
  memberCacheEntriesMax,
  orgCacheEntriesMax,
  orgCacheTtlMs,
  placeCacheEntriesMax,
} from "../limits.ts";
import type { LocationRef } from "../orgs/ensure-location.ts";
import type { Org } from "../types.ts";

export interface OrgLedgerContext {
  org: Org;
  pointsLedger: number;
  /** Minor-unit digits of the org's currency (2 for EUR), worked out once per load. */
  currencyExponent: number;
}

/**
 * A map bounded by entry count, oldest insertion evicted first, with an optional time to live.
 * Time is the process's monotonic clock, never the use cases' clock (which tests move).
 */
export class BoundedCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAtMs: number }>();

  constructor(
    readonly entriesMax: number,
    /** Null: entries never expire (immutable facts). */
    readonly ttlMs: number | null,
    /** Milliseconds on a monotonic clock; tests pass their own. */
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    assert.ok(Number.isSafeInteger(entriesMax) && entriesMax >= 1, "cache bound is positive");
    assert.ok(ttlMs === null || (Number.isSafeInteger(ttlMs) && ttlMs >= 1), "ttl is positive");
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    if (entry.expiresAtMs <= this.nowMs()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.entriesMax) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.entries.keys().next();
      assert.ok(oldest.done !== true, "a full cache has an oldest entry");
      this.entries.delete(oldest.value);
    }
    const expiresAtMs = this.ttlMs === null ? Number.POSITIVE_INFINITY : this.nowMs() + this.ttlMs;
    this.entries.set(key, { value, expiresAtMs });
    assert.ok(this.entries.size <= this.entriesMax, "cache within its bound");
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Caches whose values are promises: concurrent misses share one load. */
export class LoadingCache<V> {
  private readonly cache: BoundedCache<Promise<V>>;

  constructor(entriesMax: number, ttlMs: number | null, nowMs?: () => number) {
    this.cache = new BoundedCache(entriesMax, ttlMs, nowMs);
  }

  load(key: string, load: () => Promise<V>): Promise<V> {
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      return cached;
    }
    const loading = load();
    this.cache.set(key, loading);
    loading.catch(() => {
      // Only forget our own promise: an invalidation may already have replaced it.
      if (this.cache.get(key) === loading) {
        this.cache.delete(key);
      }
    });
    return loading;
  }

  delete(key: string): void {
    this.cache.delete(key);
  }
}

/** What a purchase needs to know of its member, as last read (see `memberHints`). */
export interface MemberHint {
  id: string;
  orgId: string;
  externalRef: string;
  status: string;
  /** The member's tier in the earning set (campaigns may be limited to tiers). */
  tierId: string;
  multiplierBps: number;
}

export interface MembershipCaches {
  /** org id → the org and its points ledger. */
  orgs: LoadingCache<OrgLedgerContext>;
  /** org id → the org's points ledger (immutable once allocated). */
  pointsLedgers: BoundedCache<number>;
  /** org id → every stamp program of the org, oldest first. */
  stampPrograms: LoadingCache<readonly StampProgram[]>;
  /** org id → the current version of each active, non-deleted earning rule. */
  earningRules: LoadingCache<readonly EarningRule[]>;
  /** "org:rule:version" → that version of the rule (immutable). */
  earningRuleVersions: BoundedCache<EarningRule>;
  /** "org:member" → the member exists in that org. */
  members: BoundedCache<true>;
  /**
   * "org:id:<id>" and "org:ref:<ref>" → an active member's id, ref and tier multiplier when last
   * read. A guess, never trusted: the intent insert re-checks it in the same statement.
   */
  memberHints: BoundedCache<MemberHint>;
  /** "org:member" → the member's enrollment is posted (the points wallet is open). */
  enrolled: BoundedCache<true>;
  /** "org:ref" → the location with that external ref. */
  locations: BoundedCache<LocationRef>;
  /** "org:location id" → the location's number. */
  locationNumbers: BoundedCache<number>;
  /** "org:program:member" → the stamp card is recorded and its wallet open. */
  stampCards: BoundedCache<true>;
}

/**
 * A fresh set of caches: one per database pool, built by the composition (createApp, the bench,
 * the test environment) and passed in `LedgerDeps.caches`; deps on a transaction get their own
 * short-lived set (recovery), so nothing a rolled-back transaction saw is remembered.
 */
export function createMembershipCaches(): MembershipCaches {
  return {
    orgs: new LoadingCache(orgCacheEntriesMax, orgCacheTtlMs),
    pointsLedgers: new BoundedCache(orgCacheEntriesMax, null),
    stampPrograms: new LoadingCache(orgCacheEntriesMax, orgCacheTtlMs),
    earningRules: new LoadingCache(orgCacheEntriesMax, earningRulesCacheTtlMs),
    earningRuleVersions: new BoundedCache(earningRuleVersionCacheEntriesMax, null),
    members: new BoundedCache(memberCacheEntriesMax, null),
    memberHints: new BoundedCache(memberCacheEntriesMax, null),
    enrolled: new BoundedCache(memberCacheEntriesMax, null),
    locations: new BoundedCache(placeCacheEntriesMax, null),
    locationNumbers: new BoundedCache(placeCacheEntriesMax, null),
    stampCards: new BoundedCache(memberCacheEntriesMax, null),
  };
}

/**
 * Forgets what is cached about an org's settings and stamp programs, in this process. Called by
 * the verbs that change them, after their commit.
 */
export function invalidateOrgCaches(caches: MembershipCaches, orgId: string): void {
  caches.orgs.delete(orgId);
  caches.stampPrograms.delete(orgId);
}

export function memberKey(orgId: string, memberId: string): string {
  return `${orgId}:${memberId}`;
}
