/**
 * An org's webhooks: create (the signing secret is shown once, then kept only encrypted), list,
 * delete (soft: pending deliveries stop), and the delivery log with every attempt.
 * Another org's webhook and an unknown id are both `not_found`.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { and, desc, eq, inArray, isNull, lt } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { createFieldCipher } from "../store/crypto.ts";
import type { DbExecutor } from "../store/db.ts";
import { isUuid } from "../validation.ts";
import type { WebhookEventType } from "./event-types.ts";
import { isWebhookEventType } from "./event-types.ts";
import { webhookAttempts, webhookDeliveries, webhooks } from "./schema.ts";
import type { WebhookUrlRules } from "./url-rules.ts";
import { webhookUrlProblem } from "./url-rules.ts";

/** Random bytes of a signing key (Standard Webhooks allows 24 to 64). */
export const webhookSecretBytes = 32;
export const webhookSecretPrefix = "whsec_";
/** Live webhooks per org: each event fans out to every one of them. */
export const webhooksPerOrgMax = 50;
export const webhookDeliveriesPageMax = 100;
/** Attempts listed per delivery (newest). */
export const webhookAttemptsListedMax = 50;

export interface Webhook {
  id: string;
  orgId: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  createdAt: Date;
}

export interface CreatedWebhook extends Webhook {
  /** `whsec_<base64 key>`: returned by `createWebhook` only, never stored in clear. */
  secret: string;
}

export interface CreateWebhookInput {
  orgId: string;
  url: string;
  events: readonly string[];
  description?: string | null;
  rules: WebhookUrlRules;
  actor: AuditActor;
}

function secretContext(orgId: string, webhookId: string): string {
  return `webhooks.secret:${orgId}:${webhookId}`;
}

function toWebhook(row: typeof webhooks.$inferSelect): Webhook {
  return {
    id: row.id,
    orgId: row.orgId,
    url: row.url,
    events: row.eventTypes.filter(isWebhookEventType),
    description: row.description,
    createdAt: row.createdAt,
  };
}

export async function createWebhook(
  deps: MembershipDeps,
  input: CreateWebhookInput,
): Promise<CreatedWebhook> {
  const problem = await webhookUrlProblem(input.url, input.rules);
  if (problem !== null) {
    throw new DomainError("invalid_input", `url ${problem}`, { path: "url" });
  }
  const events = [...new Set(input.events)];
  assert.ok(events.length > 0 && events.every(isWebhookEventType), "known event types");
  const live = await deps.db
    .select({ id: webhooks.id })
    .from(webhooks)
    .where(and(eq(webhooks.orgId, input.orgId), isNull(webhooks.deletedAt)))
    .limit(webhooksPerOrgMax);
  if (live.length >= webhooksPerOrgMax) {
    throw new DomainError("conflict", `an org has at most ${webhooksPerOrgMax} webhooks`);
  }
  const id = randomUUID();
  const key = randomBytes(webhookSecretBytes);
  const cipher = createFieldCipher(deps.secrets.piiEncryptionKey);
  const row = await deps.db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(webhooks)
      .values({
        id,
        orgId: input.orgId,
        url: input.url,
        eventTypes: events,
        description: input.description ?? null,
        secretEncrypted: cipher.encrypt(key.toString("base64"), secretContext(input.orgId, id)),
      })
      .returning();
    assert.ok(inserted !== undefined);
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "webhook.created",
      targetType: "webhook",
      targetId: id,
      before: null,
      after: auditView(inserted),
    });
    return inserted;
  });
  return { ...toWebhook(row), secret: `${webhookSecretPrefix}${key.toString("base64")}` };
}

export async function listWebhooks(deps: MembershipDeps, orgId: string): Promise<Webhook[]> {
  const rows = await deps.db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.orgId, orgId), isNull(webhooks.deletedAt)))
    .orderBy(webhooks.createdAt, webhooks.id)
    .limit(webhooksPerOrgMax);
  return rows.map(toWebhook);
}

async function liveWebhook(
  db: DbExecutor,
  orgId: string,
  webhookId: string,
): Promise<typeof webhooks.$inferSelect> {
  const notFound = new DomainError("not_found", "webhook not found", { webhookId });
  if (!isUuid(webhookId)) {
    throw notFound;
  }
  const [row] = await db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.orgId, orgId), eq(webhooks.id, webhookId), isNull(webhooks.deletedAt)));
  if (row === undefined) {
    throw notFound;
  }
  return row;
}

/** Soft delete: no new deliveries, and pending ones are not attempted again. */
export async function deleteWebhook(
  deps: MembershipDeps,
  input: { orgId: string; webhookId: string; actor: AuditActor },
): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const row = await liveWebhook(tx, input.orgId, input.webhookId);
    const [deleted] = await tx
      .update(webhooks)
      .set({ deletedAt: new Date() })
      .where(
        and(eq(webhooks.orgId, input.orgId), eq(webhooks.id, row.id), isNull(webhooks.deletedAt)),
      )
      .returning({ id: webhooks.id });
    if (deleted === undefined) {
      // Deleted by a concurrent request meanwhile: that one is the action (and its entry).
      return;
    }
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "webhook.deleted",
      targetType: "webhook",
      targetId: row.id,
      before: auditView(row),
      after: null,
    });
  });
}

/** What the audit log keeps of a webhook: never its secret. */
function auditView(row: typeof webhooks.$inferSelect): Record<string, unknown> {
  return { url: row.url, events: row.eventTypes, description: row.description };
}

/** The signing key of a webhook (the bytes after `whsec_`), decrypted. */
export function webhookSigningKey(
  deps: Pick<MembershipDeps, "secrets">,
  row: Pick<typeof webhooks.$inferSelect, "id" | "orgId" | "secretEncrypted">,
): Buffer {
  const cipher = createFieldCipher(deps.secrets.piiEncryptionKey);
  const key = Buffer.from(
    cipher.decrypt(row.secretEncrypted, secretContext(row.orgId, row.id)),
    "base64",
  );
  assert.equal(key.length, webhookSecretBytes, "a signing key has its full length");
  return key;
}

export interface WebhookAttempt {
  eventId: string;
  attemptedAt: Date;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  nextRetryAt: Date | null;
}

export interface WebhookDelivery {
  id: string;
  eventId: string;
  eventType: string;
  memberId: string | null;
  status: "pending" | "delivered" | "dead";
  attempts: number;
  firstAttemptAt: Date | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
  attemptLog: WebhookAttempt[];
}

/** Newest first; `cursor` is the `next_cursor` of the previous page. */
export async function listWebhookDeliveries(
  deps: MembershipDeps,
  input: { orgId: string; webhookId: string; limit: number; cursor?: string | undefined },
): Promise<{ deliveries: WebhookDelivery[]; nextCursor: string | null }> {
  assert.ok(Number.isInteger(input.limit) && input.limit >= 1);
  assert.ok(input.limit <= webhookDeliveriesPageMax);
  if (input.cursor !== undefined && !/^[1-9][0-9]{0,18}$/.test(input.cursor)) {
    throw new DomainError("invalid_input", "unreadable cursor", { path: "cursor" });
  }
  // A deleted webhook's log stays readable by its id.
  const notFound = new DomainError("not_found", "webhook not found", {
    webhookId: input.webhookId,
  });
  if (!isUuid(input.webhookId)) {
    throw notFound;
  }
  const [hook] = await deps.db
    .select({ id: webhooks.id })
    .from(webhooks)
    .where(and(eq(webhooks.orgId, input.orgId), eq(webhooks.id, input.webhookId)));
  if (hook === undefined) {
    throw notFound;
  }
  const conditions = [
    eq(webhookDeliveries.orgId, input.orgId),
    eq(webhookDeliveries.webhookId, hook.id),
  ];
  if (input.cursor !== undefined) {
    conditions.push(lt(webhookDeliveries.id, BigInt(input.cursor)));
  }
  const rows = await deps.db
    .select()
    .from(webhookDeliveries)
    .where(and(...conditions))
    .orderBy(desc(webhookDeliveries.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const attempts =
    page.length === 0
      ? []
      : await deps.db
          .select()
          .from(webhookAttempts)
          .where(
            inArray(
              webhookAttempts.deliveryId,
              page.map((row) => row.id),
            ),
          )
          .orderBy(webhookAttempts.deliveryId, desc(webhookAttempts.id));
  const byDelivery = new Map<bigint, Array<typeof webhookAttempts.$inferSelect>>();
  for (const attempt of attempts) {
    const list = byDelivery.get(attempt.deliveryId) ?? [];
    if (list.length < webhookAttemptsListedMax) {
      list.push(attempt);
    }
    byDelivery.set(attempt.deliveryId, list);
  }
  const deliveries = page.map((row) => ({
    id: row.id.toString(),
    eventId: row.eventId,
    eventType: row.eventType,
    memberId: row.memberId,
    status: row.status,
    attempts: row.attempts,
    firstAttemptAt: row.firstAttemptAt,
    nextAttemptAt: row.status === "pending" ? row.nextAttemptAt : null,
    createdAt: row.createdAt,
    attemptLog: (byDelivery.get(row.id) ?? []).map((attempt) => ({
      eventId: row.eventId,
      attemptedAt: attempt.attemptedAt,
      statusCode: attempt.statusCode,
      durationMs: attempt.durationMs,
      error: attempt.error,
      nextRetryAt: attempt.nextRetryAt,
    })),
  }));
  const last = page[page.length - 1];
  return {
    deliveries,
    nextCursor: rows.length > input.limit && last !== undefined ? last.id.toString() : null,
  };
}
