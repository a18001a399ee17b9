/**
 * The body a webhook receives for one outbox event: `{id, type, created_at, org_id, data}`, where
 * `data` carries ids and amounts, never personal data (issue 8, section B). Built once per event
 * when it fans out and stored with each delivery, so every attempt sends the very same bytes.
 *
 * `points.*` events carry `balance`: the wallet's available balance right after the posting,
 * read from the wallet's balance history in the ledger (so a late or retried event still tells
 * the balance that posting left). `points` is the signed change: negative for reversals, debit
 * adjustments and expiries. Amounts travel as decimal strings, as in the outbox.
 */
import assert from "node:assert/strict";
import { and, eq } from "drizzle-orm";
import { walletBalance, walletBalanceAfter } from "../../ledger/index.ts";
import type { LedgerDeps } from "../../membership/index.ts";
import { loadOrgLedger } from "../../membership/intents/support.ts";
import type { OutboxPayload, OutboxValue } from "../../membership/store/outbox.ts";
import { adjustments, posTransactions } from "../../membership/store/schema.ts";

/** What the relay hands over for one outbox row (the `events` queue's job data). */
export interface WebhookSourceEvent {
  orgId: string;
  outboxId: string;
  topic: string;
  memberId: string | null;
  payload: Record<string, unknown>;
  createdAt: string;
}

export interface WebhookBody {
  id: string;
  type: string;
  created_at: string;
  org_id: string;
  data: OutboxPayload;
}

/**
 * The `webhook-id` of an event: stable across attempts, re-relays and webhooks, so a receiver
 * can de-duplicate by it.
 */
export function webhookEventId(outboxId: string): string {
  assert.ok(/^[1-9][0-9]*$/.test(outboxId), "an outbox id is a positive integer");
  return `evt_${outboxId}`;
}

function text(payload: Record<string, unknown>, key: string): string | null {
  const value = payload[key];
  return typeof value === "string" ? value : null;
}

function value(payload: Record<string, unknown>, key: string): OutboxValue {
  const found = payload[key];
  return found === undefined ? null : (found as OutboxValue);
}

function negated(amount: string | null): string | null {
  if (amount === null || amount === "0") {
    return amount;
  }
  return amount.startsWith("-") ? amount.slice(1) : `-${amount}`;
}

interface PointsDocument {
  kind: string;
  id: string | null;
  externalId: string | null;
  points: string | null;
  /** The ids of the transfers the document posted, to read the balance after them. */
  transferIds: bigint[];
}

async function pointsDocument(
  deps: LedgerDeps,
  event: WebhookSourceEvent,
): Promise<PointsDocument> {
  const { payload } = event;
  switch (event.topic) {
    case "points.earned":
    case "points.reversed": {
      const id = text(payload, "transaction_id");
      assert.ok(id !== null, `${event.topic} names its transaction`);
      const [row] = await deps.db
        .select({ transferIds: posTransactions.transferIds })
        .from(posTransactions)
        .where(and(eq(posTransactions.orgId, event.orgId), eq(posTransactions.id, id)));
      const earned = event.topic === "points.earned";
      return {
        kind: earned ? "purchase" : "refund",
        id,
        externalId: text(payload, "external_id"),
        points: earned ? text(payload, "points") : negated(text(payload, "points_reversed")),
        transferIds: (row?.transferIds ?? []).map((transferId) => BigInt(transferId)),
      };
    }
    case "points.adjusted": {
      const id = text(payload, "adjustment_id");
      assert.ok(id !== null, "points.adjusted names its adjustment");
      const [row] = await deps.db
        .select({ transferId: adjustments.transferId })
        .from(adjustments)
        .where(and(eq(adjustments.orgId, event.orgId), eq(adjustments.id, id)));
      const points = text(payload, "points");
      return {
        kind: "adjustment",
        id,
        externalId: text(payload, "external_id"),
        points: text(payload, "direction") === "debit" ? negated(points) : points,
        transferIds: row === undefined ? [] : [BigInt(row.transferId)],
      };
    }
    default: {
      // points.expired / points.expiring: written by the expiry job with its own document.
      const document = payload.document;
      const described =
        typeof document === "object" && document !== null && !Array.isArray(document)
          ? (document as Record<string, unknown>)
          : {};
      const transferId = text(payload, "transfer_id");
      const points = text(payload, "points");
      return {
        kind: text(described, "kind") ?? "expiry",
        id: text(described, "id") ?? text(payload, "expiry_id"),
        externalId: text(described, "external_id"),
        points: event.topic === "points.expired" ? negated(points) : points,
        transferIds: transferId === null ? [] : [BigInt(transferId)],
      };
    }
  }
}

/** `points.*` data: `{member_id, points, balance, document: {kind, id, external_id}}`. */
async function pointsData(deps: LedgerDeps, event: WebhookSourceEvent): Promise<OutboxPayload> {
  const memberId = text(event.payload, "member_id");
  assert.ok(memberId !== null, `${event.topic} names its member`);
  const document = await pointsDocument(deps, event);
  const { pointsLedger } = await loadOrgLedger(deps, event.orgId);
  let balance = await walletBalanceAfter(deps.ledger, {
    ledger: pointsLedger,
    memberId,
    transferIds: document.transferIds,
  });
  if (balance === null) {
    // Nothing of this document is on the wallet (0 points, or a notice such as points.expiring):
    // the balance as it stands.
    balance =
      (await walletBalance(deps.ledger, { ledger: pointsLedger, memberId }))?.available ?? 0n;
  }
  return {
    member_id: memberId,
    points: document.points,
    balance: balance.toString(),
    document: { kind: document.kind, id: document.id, external_id: document.externalId },
  };
}

function pick(payload: Record<string, unknown>, keys: readonly string[]): OutboxPayload {
  const picked: OutboxPayload = {};
  for (const key of keys) {
    picked[key] = value(payload, key);
  }
  return picked;
}

/** The `data` of one event, by type. */
export async function webhookEventData(
  deps: LedgerDeps,
  event: WebhookSourceEvent,
): Promise<OutboxPayload> {
  const { payload } = event;
  if (event.topic.startsWith("points.")) {
    return pointsData(deps, event);
  }
  if (event.topic.startsWith("redemption.")) {
    const status = event.topic.slice("redemption.".length);
    return {
      ...pick(payload, ["member_id", "redemption_id", "points"]),
      status: status === "created" ? "pending" : status,
    };
  }
  if (event.topic.startsWith("event.")) {
    const outcome = event.topic === "event.processed" ? "result" : "error";
    return pick(payload, ["event_id", "status", outcome]);
  }
  switch (event.topic) {
    case "member.enrolled":
      return {
        ...pick(payload, ["member_id", "external_ref"]),
        welcome_bonus: value(payload, "welcome_bonus_points"),
        // Members brought by an import say so (and what they brought); others are unchanged.
        ...(payload.source === "import"
          ? pick(payload, ["source", "import_id", "opening_points"])
          : {}),
      };
    case "member.updated":
      return pick(payload, ["member_id", "external_ref", "changed", "status"]);
    case "member.erased":
      return pick(payload, ["member_id", "external_ref", "erased_at"]);
    case "stamp_card.completed":
      return pick(payload, ["member_id", "program_id", "completion", "reward_points"]);
    case "tier.changed":
      return pick(payload, ["member_id", "from", "to", "reason", "qualifying_value"]);
    case "benefit.applied":
    case "benefit.revoked":
      return pick(payload, ["member_id", "benefit_id", "name", "kind", "source"]);
    case "rfm.segment_changed":
      return pick(payload, ["member_id", "from", "to"]);
    case "referral.rewarded":
      return pick(payload, [
        "referral_id",
        "referrer_member_id",
        "referred_member_id",
        "status",
        "referrer_points",
        "referred_points",
        "purchase_id",
      ]);
    default:
      assert.fail(`no webhook data for topic ${event.topic}`);
  }
}

/** The exact body (JSON text) of an event: what is signed and sent on every attempt. */
export async function webhookBody(deps: LedgerDeps, event: WebhookSourceEvent): Promise<string> {
  const body: WebhookBody = {
    id: webhookEventId(event.outboxId),
    type: event.topic,
    created_at: new Date(event.createdAt).toISOString(),
    org_id: event.orgId,
    data: await webhookEventData(deps, event),
  };
  return JSON.stringify(body);
}
