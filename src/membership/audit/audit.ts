/**
 * The audit log: who did what to which object, with the object before and after. Every admin
 * action writes its entry inside its own transaction (`writeAudit(tx, …)`), so an action and its
 * entry commit together or not at all; the table refuses UPDATE, DELETE and TRUNCATE.
 */
import assert from "node:assert/strict";
import { and, desc, eq, gte, lt, type SQL } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import type { DbExecutor } from "../store/db.ts";
import { auditLog } from "../store/schema.ts";

/** Who acts: the API key (null for the platform itself) and the request it came in. */
export interface AuditActor {
  keyId: string | null;
  requestId: string | null;
}

/** The platform acting on its own (org creation, the command-line tool, tests). */
export const platformActor: AuditActor = { keyId: null, requestId: null };

export const auditActions = [
  "settings.updated",
  "webhook.created",
  "webhook.deleted",
  "member.points_adjusted",
  "api_key.created",
  "api_key.revoked",
  "member.erased",
  "stamp_program.created",
  "stamp_program.updated",
  "stamp_program.deactivated",
  "member.tier_overridden",
  "member.tier_override_cleared",
  "code.created",
  "code.updated",
  "reward.created",
  "reward.updated",
  "earning_rule.created",
  "earning_rule.updated",
  "earning_rule.deleted",
  "tier_set.created",
  "tier_set.updated",
  "tier_set.deleted",
  "tier.created",
  "tier.updated",
  "tier.deleted",
  "benefit.created",
  "benefit.updated",
  "benefit.deleted",
  "auto_redemption.set",
  "auto_redemption.cleared",
  "import.created",
  "member.pin_set",
] as const;
export type AuditAction = (typeof auditActions)[number];

export interface AuditEntryInput {
  orgId: string;
  actor: AuditActor;
  action: AuditAction;
  targetType: string;
  targetId: string;
  /** The object as it was (null when created), and as it is now (null when deleted). */
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface AuditEntry {
  id: string;
  seq: bigint;
  at: Date;
  actorKeyId: string | null;
  action: string;
  targetType: string;
  targetId: string;
  before: unknown;
  after: unknown;
  requestId: string | null;
}

/** Writes one entry; call it with the transaction of the action it records. */
export async function writeAudit(tx: DbExecutor, entry: AuditEntryInput): Promise<void> {
  assert.ok(entry.targetId.length > 0, "an audit entry names its target");
  assert.ok(entry.before !== null || entry.after !== null, "an entry records a change");
  await tx.insert(auditLog).values({
    orgId: entry.orgId,
    actorKeyId: entry.actor.keyId,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    before: entry.before,
    after: entry.after,
    requestId: entry.actor.requestId,
  });
}

export interface ListAuditInput {
  orgId: string;
  from?: Date;
  to?: Date;
  action?: string;
  targetType?: string;
  targetId?: string;
  limit: number;
  /** The `seq` of the last entry of the previous page (newest first). */
  beforeSeq?: bigint;
}

export const auditPageMax = 500;

/** The org's entries, newest first, `[from, to)`, filtered; one page and whether more follow. */
export async function listAudit(
  deps: DbDeps,
  input: ListAuditInput,
): Promise<{ entries: AuditEntry[]; more: boolean }> {
  assert.ok(Number.isInteger(input.limit) && input.limit >= 1 && input.limit <= auditPageMax);
  const conditions: Array<SQL | undefined> = [
    eq(auditLog.orgId, input.orgId),
    input.from === undefined ? undefined : gte(auditLog.at, input.from),
    input.to === undefined ? undefined : lt(auditLog.at, input.to),
    input.action === undefined ? undefined : eq(auditLog.action, input.action),
    input.targetType === undefined ? undefined : eq(auditLog.targetType, input.targetType),
    input.targetId === undefined ? undefined : eq(auditLog.targetId, input.targetId),
    input.beforeSeq === undefined ? undefined : lt(auditLog.seq, input.beforeSeq),
  ];
  const rows = await deps.db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(desc(auditLog.seq))
    .limit(input.limit + 1);
  return {
    entries: rows.slice(0, input.limit).map((row) => ({
      id: row.id,
      seq: row.seq,
      at: row.at,
      actorKeyId: row.actorKeyId,
      action: row.action,
      targetType: row.targetType,
      targetId: row.targetId,
      before: row.before,
      after: row.after,
      requestId: row.requestId,
    })),
    more: rows.length > input.limit,
  };
}
