/**
 * Earning rules, stored with their versions: an admin creates, lists, reads (any version), edits
 * and deletes them; purchases read the current version of the active ones (`activeEarningRules`)
 * and refunds and history read the versions a purchase recorded (`earningRuleVersion`).
 *
 * A rule is version 1 when created; each edit writes version n + 1 as a new row and never touches
 * the old ones. Deleting is soft: the rule stops applying, every version stays readable. Every
 * write has its audit entry (`earning_rule.created|updated|deleted`, before and after) in its own
 * transaction, and drops this process's cached rules of the org after commit; other processes
 * see the change within `earningRulesCacheTtlMs` (5 s).
 *
 * The HTTP edge converts the wire body (with the org's time zone) and reports field paths; the
 * checks here are the domain's own, for every caller: the rule goes through the same schema as
 * the wire body (`earningRuleBody` then `earningRuleBodySchema`), and a campaign's tiers must be
 * the org's.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { and, asc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import { type AuditActor, platformActor, writeAudit } from "../audit/audit.ts";
import type { Store } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput, loadOrgLedger } from "../intents/support.ts";
import { earningRulesPageMax, earningRulesPerOrgMax, earningRuleVersionsMax } from "../limits.ts";
import { lockOrgForCreation } from "../store/bounded-creation.ts";
import type { DbExecutor } from "../store/db.ts";
import { benefits, earningRules, earningRuleVersions, tiers } from "../store/schema.ts";
import { isUuid } from "../validation.ts";
import {
  type BodyIssue,
  type EarningRuleBody,
  type EarningRuleFields,
  earningRuleBody,
  earningRuleBodySchema,
  storedEarningRule,
  toEarningRule,
} from "./rule-body.ts";
import type { EarningRule, EarningRuleKind } from "./types.ts";

/** A rule as stored: one of its versions, and the rule's dates. */
export interface StoredEarningRule {
  rule: EarningRule;
  createdAt: Date;
  /** When this version was written. */
  updatedAt: Date;
  /** Set when the rule was deleted (it no longer applies). */
  deletedAt: Date | null;
  /** The rule's current version (`rule.version` is older when an old version was asked for). */
  currentVersion: number;
}

function refuse(issues: BodyIssue[]): DomainError {
  const first = issues[0];
  assert.ok(first !== undefined, "a refusal names at least one issue");
  return invalidInput(`${first.path} ${first.message}`, { field: first.path, issues });
}

/** The domain's own check: the rule's canonical body passes the wire's checks. */
function checkRule(rule: EarningRuleFields): EarningRuleBody {
  const parsed = earningRuleBodySchema.safeParse(earningRuleBody(rule));
  if (!parsed.success) {
    throw refuse(
      parsed.error.issues.map((issue) => ({
        path: issue.path.map(String).join("."),
        message: issue.message,
      })),
    );
  }
  const converted = toEarningRule(parsed.data, "UTC");
  if (!converted.ok) {
    throw refuse(converted.issues);
  }
  return parsed.data;
}

/** A campaign's tiers must be tiers of the org: `invalid_input` at `tier_ids` otherwise. */
async function checkTiers(db: DbExecutor, orgId: string, rule: EarningRuleFields): Promise<void> {
  if (rule.kind !== "campaign" || rule.tierIds === null) {
    return;
  }
  const wanted = [...new Set(rule.tierIds)];
  const unknown = refuse([{ path: "tier_ids", message: "names a tier that is not this org's" }]);
  if (!wanted.every(isUuid)) {
    throw unknown;
  }
  const found = await db
    .select({ id: tiers.id })
    .from(tiers)
    .where(and(eq(tiers.orgId, orgId), inArray(tiers.id, wanted)));
  if (found.length !== wanted.length) {
    throw unknown;
  }
}

/** A campaign's benefits must be benefits of the org: `invalid_input` at `benefits` otherwise. */
async function checkBenefits(
  db: DbExecutor,
  orgId: string,
  rule: EarningRuleFields,
): Promise<void> {
  if (rule.kind !== "campaign" || rule.benefitIds.length === 0) {
    return;
  }
  const wanted = [...new Set(rule.benefitIds)];
  const unknown = refuse([{ path: "benefits", message: "names a benefit that is not this org's" }]);
  if (!wanted.every(isUuid)) {
    throw unknown;
  }
  const found = await db
    .select({ id: benefits.id })
    .from(benefits)
    .where(and(eq(benefits.orgId, orgId), inArray(benefits.id, wanted)));
  if (found.length !== wanted.length) {
    throw unknown;
  }
}

function ruleOf(id: string, version: number, body: unknown): EarningRule {
  const fields = storedEarningRule(body);
  const rule = { ...fields, id, version } as EarningRule;
  assert.ok(Number.isSafeInteger(version) && version >= 1, "a version is a positive integer");
  return rule;
}

function storedOf(
  row: typeof earningRules.$inferSelect,
  version: typeof earningRuleVersions.$inferSelect,
): StoredEarningRule {
  assert.equal(version.ruleId, row.id, "a version belongs to its rule");
  assert.ok(version.version <= row.currentVersion, "no version beyond the current one");
  const rule = ruleOf(row.id, version.version, version.body);
  assert.equal(rule.kind, row.kind, "a rule's kind never changes");
  if (version.version === row.currentVersion) {
    assert.equal(rule.active, row.active, "the row mirrors its current version's active");
  }
  return {
    rule,
    createdAt: row.createdAt,
    updatedAt: version.createdAt,
    deletedAt: row.deletedAt,
    currentVersion: row.currentVersion,
  };
}

/** The audit log's view of a rule: its version and canonical wire body. */
function auditView(stored: StoredEarningRule): Record<string, unknown> {
  return {
    version: stored.rule.version,
    ...earningRuleBody(stored.rule),
    deleted_at: stored.deletedAt?.toISOString() ?? null,
  };
}

function forget(store: Store, orgId: string): void {
  store.caches.earningRules.delete(orgId);
}

/** Creates a rule, version 1, with its `earning_rule.created` entry. */
export async function createEarningRule(
  store: Store,
  input: { orgId: string; rule: EarningRuleFields; actor?: AuditActor },
): Promise<StoredEarningRule> {
  const body = checkRule(input.rule);
  const { org } = await loadOrgLedger(store, input.orgId);
  await checkTiers(store.db, org.id, input.rule);
  await checkBenefits(store.db, org.id, input.rule);
  const actor = input.actor ?? platformActor;
  const created = await store.db.transaction(async (tx) => {
    await lockOrgForCreation(tx, {
      orgId: org.id,
      table: earningRules,
      orgColumn: earningRules.orgId,
      counted: isNull(earningRules.deletedAt),
      max: earningRulesPerOrgMax,
      what: "earning rules (not deleted)",
    });
    const [row] = await tx
      .insert(earningRules)
      .values({
        id: randomUUID(),
        orgId: org.id,
        kind: input.rule.kind,
        currentVersion: 1,
        active: input.rule.active,
      })
      .returning();
    assert.ok(row !== undefined, "insert into earning_rules returned a row");
    const [version] = await tx
      .insert(earningRuleVersions)
      .values({ orgId: org.id, ruleId: row.id, version: 1, body, actorKeyId: actor.keyId })
      .returning();
    assert.ok(version !== undefined, "insert into earning_rule_versions returned a row");
    const stored = storedOf(row, version);
    await writeAudit(tx, {
      orgId: org.id,
      actor,
      action: "earning_rule.created",
      targetType: "earning_rule",
      targetId: row.id,
      before: null,
      after: auditView(stored),
    });
    return stored;
  });
  forget(store, org.id);
  return created;
}

export interface ListEarningRulesInput {
  orgId: string;
  active?: boolean;
  kind?: EarningRuleKind;
  /** Include deleted rules (false by default). */
  deleted?: boolean;
  /** The `seq` cursor of the previous page's last rule. */
  afterSeq?: bigint;
  limit: number;
}

/** The org's rules, oldest first, one page; `nextSeq` when more may follow. */
export async function listEarningRules(
  store: Pick<Store, "db">,
  input: ListEarningRulesInput,
): Promise<{ rules: StoredEarningRule[]; nextSeq: bigint | null }> {
  assert.ok(
    Number.isSafeInteger(input.limit) && input.limit >= 1 && input.limit <= earningRulesPageMax,
    "a page of rules is bounded",
  );
  if (!isUuid(input.orgId)) {
    return { rules: [], nextSeq: null };
  }
  const conditions = [eq(earningRules.orgId, input.orgId)];
  if (input.deleted !== true) {
    conditions.push(isNull(earningRules.deletedAt));
  }
  if (input.active !== undefined) {
    conditions.push(eq(earningRules.active, input.active));
  }
  if (input.kind !== undefined) {
    conditions.push(eq(earningRules.kind, input.kind));
  }
  if (input.afterSeq !== undefined) {
    conditions.push(gt(earningRules.seq, input.afterSeq));
  }
  const rows = await store.db
    .select({ rule: earningRules, version: earningRuleVersions })
    .from(earningRules)
    .innerJoin(
      earningRuleVersions,
      and(
        eq(earningRuleVersions.orgId, earningRules.orgId),
        eq(earningRuleVersions.ruleId, earningRules.id),
        eq(earningRuleVersions.version, earningRules.currentVersion),
      ),
    )
    .where(and(...conditions))
    .orderBy(asc(earningRules.seq))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    rules: page.map((row) => storedOf(row.rule, row.version)),
    nextSeq: rows.length > input.limit && last !== undefined ? last.rule.seq : null,
  };
}

async function readRuleRow(
  db: DbExecutor,
  input: { orgId: string; ruleId: string; forUpdate?: boolean },
): Promise<typeof earningRules.$inferSelect> {
  const notFound = new DomainError("not_found", "earning rule not found", {
    ruleId: input.ruleId,
  });
  if (!isUuid(input.ruleId) || !isUuid(input.orgId)) {
    throw notFound;
  }
  const query = db
    .select()
    .from(earningRules)
    .where(and(eq(earningRules.orgId, input.orgId), eq(earningRules.id, input.ruleId)));
  const [row] = input.forUpdate === true ? await query.for("update") : await query;
  if (row === undefined) {
    throw notFound;
  }
  return row;
}

async function readVersionRow(
  db: DbExecutor,
  input: { orgId: string; ruleId: string; version: number },
): Promise<typeof earningRuleVersions.$inferSelect | undefined> {
  const [row] = await db
    .select()
    .from(earningRuleVersions)
    .where(
      and(
        eq(earningRuleVersions.orgId, input.orgId),
        eq(earningRuleVersions.ruleId, input.ruleId),
        eq(earningRuleVersions.version, input.version),
      ),
    );
  return row;
}

/**
 * One of the org's rules, deleted ones included: the current version, or `version`. Unknown and
 * another org's rules, and versions the rule never had, are `not_found`.
 */
export async function getEarningRule(
  store: Pick<Store, "db">,
  input: { orgId: string; ruleId: string; version?: number },
): Promise<StoredEarningRule> {
  const row = await readRuleRow(store.db, input);
  const wanted = input.version ?? row.currentVersion;
  const version =
    Number.isSafeInteger(wanted) && wanted >= 1 && wanted <= row.currentVersion
      ? await readVersionRow(store.db, { orgId: row.orgId, ruleId: row.id, version: wanted })
      : undefined;
  if (version === undefined) {
    throw new DomainError("not_found", "earning rule version not found", {
      ruleId: row.id,
      version: wanted,
    });
  }
  return storedOf(row, version);
}

/**
 * Writes the next version of a rule: `rule` whole (the edge merges a PATCH into the version it
 * read, `baseVersion`). Under the rule's row lock; a rule changed since `baseVersion` is a
 * `conflict` (read it again), a deleted one `invalid_state`, another kind `invalid_input`.
 */
export async function updateEarningRule(
  store: Store,
  input: {
    orgId: string;
    ruleId: string;
    baseVersion: number;
    rule: EarningRuleFields;
    actor: AuditActor;
  },
): Promise<StoredEarningRule> {
  const body = checkRule(input.rule);
  await checkTiers(store.db, input.orgId, input.rule);
  await checkBenefits(store.db, input.orgId, input.rule);
  const updated = await store.db.transaction(async (tx) => {
    const row = await readRuleRow(tx, { ...input, forUpdate: true });
    if (row.deletedAt !== null) {
      throw new DomainError("invalid_state", "a deleted earning rule cannot change", {
        ruleId: row.id,
      });
    }
    if (row.currentVersion !== input.baseVersion) {
      throw new DomainError("conflict", "the earning rule changed meanwhile: read it again", {
        ruleId: row.id,
        version: row.currentVersion,
      });
    }
    if (row.kind !== input.rule.kind) {
      throw refuse([{ path: "kind", message: "fixed once the rule is created" }]);
    }
    if (row.currentVersion >= earningRuleVersionsMax) {
      throw new DomainError(
        "invalid_state",
        `an earning rule has at most ${earningRuleVersionsMax} versions: create a new rule`,
        { ruleId: row.id },
      );
    }
    const beforeVersion = await readVersionRow(tx, {
      orgId: row.orgId,
      ruleId: row.id,
      version: row.currentVersion,
    });
    assert.ok(beforeVersion !== undefined, "a rule's current version exists");
    const before = storedOf(row, beforeVersion);
    const next = row.currentVersion + 1;
    const [version] = await tx
      .insert(earningRuleVersions)
      .values({
        orgId: row.orgId,
        ruleId: row.id,
        version: next,
        body,
        actorKeyId: input.actor.keyId,
      })
      .returning();
    assert.ok(version !== undefined, "insert into earning_rule_versions returned a row");
    const [changed] = await tx
      .update(earningRules)
      .set({ currentVersion: next, active: input.rule.active, updatedAt: version.createdAt })
      .where(and(eq(earningRules.orgId, row.orgId), eq(earningRules.id, row.id)))
      .returning();
    assert.ok(changed !== undefined, "a locked rule is updated");
    const after = storedOf(changed, version);
    assert.equal(after.rule.version, before.rule.version + 1, "an edit adds one version");
    await writeAudit(tx, {
      orgId: row.orgId,
      actor: input.actor,
      action: "earning_rule.updated",
      targetType: "earning_rule",
      targetId: row.id,
      before: auditView(before),
      after: auditView(after),
    });
    return after;
  });
  forget(store, input.orgId);
  return updated;
}

/**
 * Deletes a rule (soft): it stops applying, its versions stay readable. Deleting a deleted rule
 * answers it as it is, writing nothing.
 */
export async function deleteEarningRule(
  store: Store,
  input: { orgId: string; ruleId: string; actor: AuditActor },
): Promise<StoredEarningRule> {
  const deleted = await store.db.transaction(async (tx) => {
    const row = await readRuleRow(tx, { ...input, forUpdate: true });
    const current = await readVersionRow(tx, {
      orgId: row.orgId,
      ruleId: row.id,
      version: row.currentVersion,
    });
    assert.ok(current !== undefined, "a rule's current version exists");
    const before = storedOf(row, current);
    if (row.deletedAt !== null) {
      return before;
    }
    const [changed] = await tx
      .update(earningRules)
      .set({ deletedAt: sql`now()` })
      .where(and(eq(earningRules.orgId, row.orgId), eq(earningRules.id, row.id)))
      .returning();
    assert.ok(changed !== undefined && changed.deletedAt !== null, "a locked rule is deleted");
    const after = storedOf(changed, current);
    await writeAudit(tx, {
      orgId: row.orgId,
      actor: input.actor,
      action: "earning_rule.deleted",
      targetType: "earning_rule",
      targetId: row.id,
      before: auditView(before),
      after: auditView(after),
    });
    return after;
  });
  forget(store, input.orgId);
  return deleted;
}

/**
 * The current version of every active, non-deleted rule of the org, by descending priority, then
 * oldest first. Cached per pool for `earningRulesCacheTtlMs` (store/caches.ts): an edit in
 * another process applies to purchases within that time.
 */
export function activeEarningRules(store: Store, orgId: string): Promise<readonly EarningRule[]> {
  if (!isUuid(orgId)) {
    return Promise.resolve([]);
  }
  return store.caches.earningRules.load(orgId, async () => {
    const rows = await store.db
      .select({ rule: earningRules, version: earningRuleVersions })
      .from(earningRules)
      .innerJoin(
        earningRuleVersions,
        and(
          eq(earningRuleVersions.orgId, earningRules.orgId),
          eq(earningRuleVersions.ruleId, earningRules.id),
          eq(earningRuleVersions.version, earningRules.currentVersion),
        ),
      )
      .where(
        and(
          eq(earningRules.orgId, orgId),
          eq(earningRules.active, true),
          isNull(earningRules.deletedAt),
        ),
      )
      .orderBy(asc(earningRules.seq))
      .limit(earningRulesPerOrgMax);
    const rules = rows.map((row) => storedOf(row.rule, row.version).rule);
    for (const rule of rules) {
      assert.ok(rule.active, "only active rules apply");
    }
    // Stable: equal priorities keep creation order.
    return Object.freeze(rules.sort((a, b) => b.priority - a.priority));
  });
}

/**
 * One version of one of the org's rules (deleted rules' included), as purchases recorded it; null
 * when there is no such version. Versions never change: cached without expiry.
 */
export async function earningRuleVersion(
  store: Store,
  orgId: string,
  ruleId: string,
  version: number,
): Promise<EarningRule | null> {
  if (!isUuid(orgId) || !isUuid(ruleId) || !Number.isSafeInteger(version) || version < 1) {
    return null;
  }
  const key = `${orgId}:${ruleId}:${version}`;
  const cached = store.caches.earningRuleVersions.get(key);
  if (cached !== undefined) {
    return cached;
  }
  const row = await readVersionRow(store.db, { orgId, ruleId, version });
  if (row === undefined) {
    return null;
  }
  const rule = ruleOf(ruleId, version, row.body);
  store.caches.earningRuleVersions.set(key, rule);
  return rule;
}
