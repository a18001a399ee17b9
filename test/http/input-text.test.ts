/**
 * Text that cannot be stored: U+0000 (Postgres `text` refuses it) and unpaired UTF-16 surrogates
 * (no UTF-8 form; they would be stored as U+FFFD). Sent through every string of every route —
 * body fields, path parameters, query parameters — each is refused with 400 `validation_failed`
 * naming the field, and nothing is written to Postgres or the ledger.
 *
 * The fields are not listed by hand: they are read from the OpenAPI document, so a new route or
 * field is covered (or this test fails, asking for a valid request to start from).
 */
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { serve } from "@hono/node-server";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReconciliation } from "../../src/membership/index.ts";
import { createJobProducer, type JobProducer } from "../../src/workers/index.ts";
import { startWorkers } from "../../src/workers/runtime.ts";
import { deleteKeys } from "../support/redis.ts";
import { testWorkerDeps, waitFor } from "../support/workers.ts";
import type { CallResult, Harness, Json, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
  list,
  redisUrl,
} from "./support.ts";

const platformToken = "platform-token-for-input-text-tests-0123456789";
/** How deep the schema walk follows nested objects; the API's bodies are three levels deep. */
const schemaDepthMax = 16;

/** Strings a JSON body can carry but no column can store faithfully. */
const badBodyText = [
  { name: "NUL", value: "a\u0000b" },
  { name: "lone high surrogate", value: "a\ud800b" },
  { name: "lone low surrogate", value: "\udc00b" },
];
/** Their forms in a URL: a percent-encoded NUL, and a surrogate encoded as if it were UTF-8. */
const badUrlText = [
  { name: "NUL", value: "a%00b" },
  { name: "encoded surrogate", value: "a%ED%A0%80b" },
];

let harness: Harness;
let org: TestOrg;
let member: { id: string; externalRef: string };
let redemptionIds: string[];
let reconciliationId: string;
/** A job of the org in the failed set, for the retry route. */
let failedJobId = "";
let jobs: JobProducer;
const jobsKeyPrefix = `test:input-text:${process.pid}:${randomBytes(4).toString("hex")}:`;
let webhookId: string;
let stampProgramId: string;
let codeId: string;
let rewardId: string;
let earningRuleId: string;
let tierSetId: string;
let tierId: string;
let benefitId: string;
/** Resources the DELETE cases remove, apart from those other cases use. */
let doomedTierSetId: string;
let doomedTierId: string;
let doomedBenefitId: string;
let importId: string;
const purchaseExternalId = "text-test-purchase";

/**
 * `member`: a member token of `member`, minted in the setup; `memberLogout`: a second one, spent
 * by the logout request so that `member` keeps working for every other case.
 */
type Key = "platform" | "admin" | "pos" | "finance" | "member" | "memberLogout" | "none";
let memberTokens: { member: string; memberLogout: string };
interface BaseRequest {
  key: Key;
  /** Values of the path parameters, by name. */
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: Record<string, unknown>;
  /** A body that is not JSON (a file upload), sent as is with its media type. */
  file?: { text: string; contentType: string };
}

/** A valid request per operation, which each case spoils in exactly one string. */
function baseRequests(): Record<string, BaseRequest> {
  const purchase = {
    external_id: "text-test-new-purchase",
    member_id: member.id,
    amount: 1000,
    currency: "EUR",
    occurred_at: "2026-01-31T12:00:00.000Z",
    location: "store-1",
    items: [{ sku: "coffee", category: "drinks", quantity: 1, amount: 1000 }],
  };
  return {
    "get /health": { key: "none" },
    "get /ready": { key: "none" },
    "get /metrics": { key: "none" },
    "get /openapi.json": { key: "none" },
    "get /docs": { key: "none" },
    "post /v1/orgs": {
      key: "platform",
      body: { name: "Text Test", slug: "text-test", currency: "EUR", timezone: "Europe/Paris" },
    },
    "post /v1/members": {
      key: "pos",
      body: {
        external_ref: "text-test-card",
        email: "text@example.com",
        phone: "+33 1 23 45 67 89",
        first_name: "Ada",
        last_name: "Lovelace",
      },
    },
    "get /v1/members": { key: "pos", query: { external_ref: member.externalRef } },
    "get /v1/members/{id}": { key: "pos", params: { id: member.id } },
    "post /v1/members/{id}/sessions": { key: "pos", params: { id: member.id } },
    "get /v1/me": { key: "member" },
    "patch /v1/me": {
      key: "member",
      body: {
        email: "me@example.com",
        phone: "+1 555 0101",
        first_name: "Grace",
        last_name: "Hopper",
      },
    },
    "get /v1/me/balances": { key: "member" },
    "get /v1/me/history": { key: "member", query: { limit: "10" } },
    "get /v1/me/tier": { key: "member" },
    "get /v1/me/benefits": { key: "member" },
    "get /v1/me/insights": { key: "member", query: { period: "quarter" } },
    "get /v1/me/rewards": { key: "member" },
    "get /v1/me/redemptions": { key: "member", query: { status: "pending", limit: "5" } },
    "post /v1/me/redemptions": {
      key: "member",
      body: { points: 1, external_id: "text-test-me-redemption", hold_seconds: 600 },
    },
    "post /v1/me/codes/redeem": { key: "member", body: { code: "text-me" } },
    // Before the member is erased below; it spends its own token (see `Key`).
    "post /v1/me/logout": { key: "memberLogout" },
    "patch /v1/members/{id}": {
      key: "admin",
      params: { id: member.id },
      body: {
        email: "new@example.com",
        phone: "+1 555 0100",
        first_name: "Grace",
        last_name: "Hopper",
        status: "active",
      },
    },
    "get /v1/members/{id}/balances": { key: "finance", params: { id: member.id } },
    "get /v1/members/{id}/history": {
      key: "finance",
      params: { id: member.id },
      query: { limit: "10" },
    },
    "get /v1/members/{id}/tier": { key: "finance", params: { id: member.id } },
    "get /v1/members/{id}/insights": {
      key: "pos",
      params: { id: member.id },
      query: { period: "year" },
    },
    "get /v1/members/{id}/tier/explain": { key: "finance", params: { id: member.id } },
    "put /v1/members/{id}/tier": {
      key: "admin",
      params: { id: member.id },
      body: {
        tier_id: org.result.tiers.find((tier) => tier.rank === 1)?.id ?? "",
        reason: "text test",
        expires_at: new Date(harness.environment.now().getTime() + 30 * 86_400_000).toISOString(),
      },
    },
    "delete /v1/members/{id}/tier/override": { key: "admin", params: { id: member.id } },
    "put /v1/members/{id}/auto-redemption": {
      key: "admin",
      params: { id: member.id },
      body: { reward_id: rewardId, threshold_points: 500 },
    },
    "get /v1/members/{id}/auto-redemption": { key: "admin", params: { id: member.id } },
    "delete /v1/members/{id}/auto-redemption": { key: "admin", params: { id: member.id } },
    "get /v1/members/{id}/redemptions": {
      key: "finance",
      params: { id: member.id },
      query: { status: "pending", limit: "10" },
    },
    "get /v1/members/{id}/referrals": { key: "pos", params: { id: member.id } },
    "put /v1/members/{id}/pin": { key: "pos", params: { id: member.id }, body: { pin: "482913" } },
    "post /v1/member-auth/login": {
      key: "none",
      body: { org_slug: org.result.org.slug, external_ref: member.externalRef, pin: "482913" },
    },
    "post /v1/members/{id}/redemptions": {
      key: "pos",
      params: { id: member.id },
      body: { points: 1, external_id: "text-test-redemption", hold_seconds: 600 },
    },
    "post /v1/members/{id}/erase": { key: "admin", params: { id: member.id } },
    "get /v1/members/{id}/export": { key: "admin", params: { id: member.id } },
    "post /v1/members/{id}/adjustments": {
      key: "admin",
      params: { id: member.id },
      body: { external_id: "text-test-adjustment", points: 5, reason: "text test" },
    },
    "post /v1/api-keys": {
      key: "admin",
      body: { role: "pos", name: "text test", expires_at: "2999-01-01T00:00:00Z" },
    },
    "get /v1/api-keys": { key: "admin" },
    "delete /v1/api-keys/{id}": { key: "admin", params: { id: org.result.apiKeys.pos.id } },
    "post /v1/simulate/rules": {
      key: "admin",
      body: {
        rule: { name: "text test", kind: "sku_bonus", skus: ["SKU-1"], points_per_unit: 1 },
        from: "2026-01-01T00:00:00Z",
        to: "2026-02-01T00:00:00Z",
      },
    },
    "post /v1/simulate/purchase": {
      key: "pos",
      body: {
        member_id: member.id,
        amount: 100,
        currency: "EUR",
        location: "text-test-store",
        items: [{ sku: "SKU-1", category: "coffee", quantity: 1, amount: 100 }],
      },
    },
    "post /v1/stamp-programs": {
      key: "admin",
      body: {
        name: "Text card",
        stamps_per_card: 5,
        earn: { per: "item", min_amount: 100, categories: ["drinks"], skus: ["coffee"] },
        reward: { points: 10 },
        active_from: "2026-01-01T00:00:00Z",
        active_until: "2030-01-01T00:00:00Z",
      },
    },
    "get /v1/stamp-programs": { key: "finance" },
    "get /v1/stamp-programs/{id}": { key: "pos", params: { id: stampProgramId } },
    "patch /v1/stamp-programs/{id}": {
      key: "admin",
      params: { id: stampProgramId },
      body: {
        name: "Text card, renamed",
        earn: { per: "purchase", categories: ["drinks"], skus: ["coffee"] },
        active_from: "2026-01-01T00:00:00Z",
        active_until: null,
        active: true,
      },
    },
    "delete /v1/stamp-programs/{id}": { key: "admin", params: { id: stampProgramId } },
    "get /v1/members/{id}/stamp-cards": { key: "finance", params: { id: member.id } },
    "post /v1/codes": {
      key: "admin",
      body: {
        code: "TEXT-CODE",
        points: 5,
        max_uses_total: 10,
        once_per_member: true,
        valid_from: "2026-01-01T00:00:00Z",
        valid_until: "2030-01-01T00:00:00Z",
        min_tier_id: org.result.tiers.find((tier) => tier.rank === 0)?.id ?? "",
      },
    },
    "get /v1/codes": { key: "admin" },
    "patch /v1/codes/{id}": {
      key: "admin",
      params: { id: codeId },
      body: {
        valid_from: null,
        valid_until: "2030-01-01T00:00:00Z",
        max_uses_total: 5,
        active: true,
      },
    },
    "post /v1/members/{id}/codes/redeem": {
      key: "pos",
      params: { id: member.id },
      body: { code: "text-setup" },
    },
    "post /v1/rewards": {
      key: "admin",
      body: {
        name: "Text voucher",
        description: "Five off",
        kind: "voucher",
        cost_points: 50,
        value_minor: 500,
        inventory: 10,
        min_tier_id: org.result.tiers.find((tier) => tier.rank === 0)?.id ?? "",
        active_from: "2026-01-01T00:00:00Z",
        active_until: "2030-01-01T00:00:00Z",
        per_member_limit: 1,
      },
    },
    "get /v1/rewards": { key: "pos" },
    // The file is the body (CSV or NDJSON, not JSON): its text is checked row by row
    // (test/http/imports.test.ts); here only the URL's strings are spoiled.
    "post /v1/imports/members": {
      key: "admin",
      file: { text: "external_ref\ntext-import-2\n", contentType: "text/csv" },
    },
    "get /v1/imports/{id}": { key: "admin", params: { id: importId } },
    "get /v1/rewards/{id}": { key: "pos", params: { id: rewardId } },
    "patch /v1/rewards/{id}": {
      key: "admin",
      params: { id: rewardId },
      body: {
        name: "Text voucher, renamed",
        description: "Six off",
        cost_points: 60,
        value_minor: 600,
        inventory: null,
        min_tier_id: org.result.tiers.find((tier) => tier.rank === 0)?.id ?? "",
        active_from: "2026-01-01T00:00:00Z",
        active_until: null,
        per_member_limit: 2,
      },
    },
    "post /v1/earning-rules": {
      key: "admin",
      body: {
        name: "Text campaign",
        kind: "campaign",
        starts_at: "2026-01-01T00:00:00",
        ends_at: "2030-01-01T00:00:00Z",
        days_of_week: [6, 7],
        tier_ids: [org.result.tiers.find((tier) => tier.rank === 0)?.id ?? ""],
        locations: ["store-1"],
        categories: ["coffee"],
        multiplier: "1.5",
      },
    },
    "get /v1/earning-rules": {
      key: "pos",
      query: { active: "true", kind: "campaign", limit: "10", cursor: "1" },
    },
    "get /v1/earning-rules/{id}": {
      key: "pos",
      params: { id: earningRuleId },
      query: { version: "1" },
    },
    "patch /v1/earning-rules/{id}": {
      key: "admin",
      params: { id: earningRuleId },
      body: {
        name: "Text campaign, renamed",
        starts_at: "2026-02-01T00:00:00",
        ends_at: "2030-02-01T00:00:00Z",
        tier_ids: [org.result.tiers.find((tier) => tier.rank === 0)?.id ?? ""],
        locations: ["store-2"],
        categories: ["tea"],
        multiplier: "2",
        bonus_points: null,
      },
    },
    "delete /v1/earning-rules/{id}": { key: "admin", params: { id: earningRuleId } },
    "post /v1/tier-sets": {
      key: "admin",
      body: {
        name: "Text set",
        metric: "spend",
        window_months: 6,
        grace_days: 3,
        base_tier_name: "Text base",
      },
    },
    "get /v1/tier-sets": { key: "pos" },
    "get /v1/tier-sets/{id}": { key: "pos", params: { id: tierSetId } },
    "patch /v1/tier-sets/{id}": {
      key: "admin",
      params: { id: tierSetId },
      body: {
        name: "Text set, renamed",
        metric: "points",
        window_months: 3,
        grace_days: 1,
        earning: false,
      },
    },
    "delete /v1/tier-sets/{id}": { key: "admin", params: { id: doomedTierSetId } },
    "post /v1/tiers": {
      key: "admin",
      body: {
        tier_set_id: tierSetId,
        name: "Text tier",
        rank: 5,
        threshold: 900_000,
        multiplier: "1.5",
        climbable: true,
        immutable: false,
        active_from: "2026-01-01T00:00:00Z",
        active_until: "2030-01-01T00:00:00Z",
        benefits: [benefitId],
      },
    },
    "get /v1/tiers": { key: "pos", query: { tier_set_id: tierSetId } },
    "get /v1/tiers/{id}": { key: "pos", params: { id: tierId } },
    "patch /v1/tiers/{id}": {
      key: "admin",
      params: { id: tierId },
      body: {
        name: "Text tier, renamed",
        rank: 1,
        threshold: 700_000,
        multiplier: "1.25",
        climbable: true,
        immutable: false,
        active_from: null,
        active_until: "2030-01-01T00:00:00Z",
        benefits: [benefitId],
      },
    },
    "delete /v1/tiers/{id}": {
      key: "admin",
      params: { id: doomedTierId },
      query: { reassign_to: tierId },
    },
    "post /v1/benefits": {
      key: "admin",
      body: {
        name: "Text perk",
        description: "Text",
        kind: "points_multiplier",
        value: "2",
        active_from: "2026-01-01T00:00:00Z",
        active_until: "2030-01-01T00:00:00Z",
      },
    },
    "get /v1/benefits": { key: "pos" },
    "get /v1/benefits/{id}": { key: "pos", params: { id: benefitId } },
    "patch /v1/benefits/{id}": {
      key: "admin",
      params: { id: benefitId },
      body: {
        name: "Text perk, renamed",
        description: "Text",
        active_from: null,
        active_until: null,
      },
    },
    "delete /v1/benefits/{id}": { key: "admin", params: { id: doomedBenefitId } },
    "get /v1/members/{id}/benefits": { key: "pos", params: { id: member.id } },
    "post /v1/simulate/tiers": {
      key: "admin",
      body: {
        tier_set_id: tierSetId,
        tiers: [{ name: "Text base", rank: 0, threshold: 0, multiplier: "1" }],
      },
    },
    "get /v1/audit": {
      key: "finance",
      query: { action: "settings.updated", target_type: "settings", target_id: "x" },
    },
    "post /v1/transactions": { key: "pos", body: purchase },
    "post /v1/transactions/batch": { key: "pos", body: { transactions: [purchase] } },
    "post /v1/transactions/{external_id}/refunds": {
      key: "pos",
      params: { external_id: purchaseExternalId },
      body: { external_id: "text-test-refund", amount: 100 },
    },
    "post /v1/redemptions/{id}/fulfill": { key: "pos", params: { id: redemptionIds[0] ?? "" } },
    "post /v1/redemptions/{id}/cancel": { key: "pos", params: { id: redemptionIds[1] ?? "" } },
    "get /v1/ledger/trial-balance": { key: "finance" },
    "get /v1/ledger/transfers": {
      key: "finance",
      query: {
        from: "2026-01-01T00:00:00Z",
        to: "2026-02-01T00:00:00.000000001Z",
        format: "ndjson",
        unit: "points",
      },
    },
    "get /v1/ledger/balances": {
      key: "finance",
      query: {
        at: "2026-01-31T23:59:59.999999999Z",
        unit: "points",
        limit: "10",
        cursor: member.id,
      },
    },
    "get /v1/settings": { key: "admin" },
    "patch /v1/settings": {
      key: "admin",
      body: {
        tier_metric: "points",
        rfm: {
          method: "thresholds",
          window_days: 365,
          thresholds: {
            recency_days: [7, 30, 90, 180],
            frequency: [2, 4, 8, 16],
            monetary_minor: ["1000", "5000", "20000", "100000"],
          },
        },
        expiry: { policy: "lots", months: 12 },
      },
    },
    "get /v1/admin/jobs/failed": { key: "admin", query: { queue: "tiers", limit: "10" } },
    "post /v1/admin/jobs/{queue}/{id}/retry": {
      key: "admin",
      params: { queue: "tiers", id: failedJobId },
    },
    "get /admin/queues": { key: "platform" },
    "post /v1/ledger/reconciliations": { key: "finance" },
    "get /v1/ledger/reconciliations/{id}": {
      key: "finance",
      params: { id: reconciliationId },
    },
    "post /v1/events": {
      key: "pos",
      body: {
        events: [
          {
            event_id: "text-test-event",
            event_type: "pos.transaction",
            occurred_at: "2026-01-31T12:00:00.000Z",
            location: "store-1",
            member_id: member.id,
            payload: {
              external_id: "text-test-event-purchase",
              amount: 1000,
              currency: "EUR",
              items: purchase.items,
            },
          },
        ],
      },
    },
    "get /v1/events/{event_id}": { key: "pos", params: { event_id: "text-test-event" } },
    "get /v1/members/{id}/rfm": { key: "finance", params: { id: member.id } },
    "get /v1/segments": { key: "admin" },
    "get /v1/segments/{name}/members": {
      key: "admin",
      params: { name: "Champions" },
      query: { limit: "10" },
    },
    "post /v1/rfm/rebuild": { key: "admin" },
    "get /v1/jobs/{job_id}": {
      key: "admin",
      params: { job_id: rebuildJobId },
    },
    "post /v1/webhooks": {
      key: "admin",
      body: { url: "https://hooks.example.com/text", events: ["points.earned"], description: "t" },
    },
    "get /v1/webhooks": { key: "admin" },
    "delete /v1/webhooks/{id}": { key: "admin", params: { id: webhookId } },
    "get /v1/webhooks/{id}/deliveries": {
      key: "admin",
      params: { id: webhookId },
      query: { limit: "10", cursor: "1" },
    },
  };
}

interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
}

interface Operation {
  method: string;
  path: string;
  parameters: Array<{ name: string; in: string }>;
  bodySchema: SchemaNode | undefined;
}

function operations(document: Json): Operation[] {
  const found: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) {
      const parameters = Array.isArray(operation.parameters)
        ? (operation.parameters as unknown as Array<{ name: string; in: string }>)
        : [];
      const bodySchema = operation.requestBody?.content?.["application/json"]?.schema as
        | SchemaNode
        | undefined;
      found.push({ method, path, parameters, bodySchema });
    }
  }
  return found;
}

/** Paths (arrays at index 0) of every string the schema allows, through refs and unions. */
function stringFields(
  schemas: Record<string, SchemaNode>,
  node: SchemaNode,
  path: Array<string | number> = [],
): Array<Array<string | number>> {
  expect(path.length, "schema nested deeper than the walk follows").toBeLessThan(schemaDepthMax);
  if (node.$ref !== undefined) {
    const target = schemas[node.$ref.replace("#/components/schemas/", "")];
    expect(target, `unresolved ${node.$ref}`).toBeDefined();
    return stringFields(schemas, target as SchemaNode, path);
  }
  const fields: Array<Array<string | number>> = [];
  const types = Array.isArray(node.type) ? node.type : [node.type];
  if (types.includes("string") || node.enum?.some((value) => typeof value === "string")) {
    fields.push(path);
  }
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    fields.push(...stringFields(schemas, child, [...path, name]));
  }
  if (node.items !== undefined) {
    fields.push(...stringFields(schemas, node.items, [...path, 0]));
  }
  for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) {
    fields.push(...stringFields(schemas, branch, path));
  }
  const unique = new Map(fields.map((field) => [field.join("."), field]));
  return [...unique.values()];
}

/** A deep copy of `body` with `value` at `path`, creating what is missing on the way. */
function withValue(body: unknown, path: Array<string | number>, value: string): unknown {
  const copy = structuredClone(body ?? {}) as Record<string | number, unknown>;
  let node: Record<string | number, unknown> = copy;
  path.forEach((step, index) => {
    if (index === path.length - 1) {
      node[step] = value;
      return;
    }
    const next = path[index + 1];
    node[step] ??= typeof next === "number" ? [] : {};
    node = node[step] as Record<string | number, unknown>;
  });
  return copy;
}

function keyOf(key: Key): string | undefined {
  if (key === "member" || key === "memberLogout") {
    return memberTokens[key];
  }
  return key === "none" ? undefined : key === "platform" ? platformToken : org.keys[key];
}

function url(
  template: string,
  params: Record<string, string>,
  query: Record<string, string>,
): string {
  const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => params[name] ?? "");
  const search = Object.entries(query)
    .map(([name, value]) => `${encodeURIComponent(name)}=${value}`)
    .join("&");
  return search === "" ? path : `${path}?${search}`;
}

function encodeAll(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [name, encodeURIComponent(value)]),
  );
}

interface Case {
  operation: string;
  field: string;
  target: "body" | "path" | "query";
  send(): Promise<CallResult>;
}

function cases(document: Json): Case[] {
  const base = baseRequests();
  const schemas = (document.components?.schemas ?? {}) as unknown as Record<string, SchemaNode>;
  const all: Case[] = [];
  for (const operation of operations(document)) {
    const name = `${operation.method} ${operation.path}`;
    const request = base[name];
    expect(request, `no valid request to start from for ${name}: add one`).toBeDefined();
    if (request === undefined) {
      continue;
    }
    const params = encodeAll(request.params ?? {});
    const query = encodeAll(request.query ?? {});
    const send = (
      path: string,
      body: unknown,
      idempotencyKey: string,
    ): (() => Promise<CallResult>) => {
      const key = keyOf(request.key);
      return () =>
        call(harness.app, operation.method.toUpperCase(), path, {
          ...(key === undefined ? {} : { key }),
          ...(body === undefined ? {} : { body }),
          // A refused request must not leave its Idempotency-Key behind either.
          ...(operation.method === "post"
            ? { headers: { "Idempotency-Key": idempotencyKey } }
            : {}),
        });
    };
    for (const bad of badUrlText) {
      const parameters = [
        ...operation.parameters.filter((parameter) => parameter.in === "path"),
        ...operation.parameters.filter((parameter) => parameter.in === "query"),
        // A parameter no route reads is refused all the same.
        { name: "note", in: "query" },
      ];
      for (const parameter of parameters) {
        const target = parameter.in === "path" ? "path" : "query";
        const path =
          target === "path"
            ? url(operation.path, { ...params, [parameter.name]: bad.value }, query)
            : url(operation.path, params, { ...query, [parameter.name]: bad.value });
        all.push({
          operation: name,
          field: `${target} ${parameter.name} (${bad.name})`,
          target,
          send: send(path, request.body, `text-${all.length}`),
        });
      }
    }
    const fields =
      operation.bodySchema === undefined ? [] : stringFields(schemas, operation.bodySchema);
    for (const bad of badBodyText) {
      for (const field of fields) {
        all.push({
          operation: name,
          field: `body ${field.join(".")} (${bad.name})`,
          target: "body",
          send: send(
            url(operation.path, params, query),
            withValue(request.body, field, bad.value),
            `text-${all.length}`,
          ),
        });
      }
    }
  }
  return all;
}

/** Rows of every table, by name: what "nothing was written" is checked against. */
async function tableCounts(): Promise<Record<string, number>> {
  const sql = harness.database.sql;
  const tables = await sql<{ name: string }[]>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`;
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(name)}`;
    counts[name] = row?.n ?? -1;
  }
  return counts;
}

/** A job of the org, queued (no worker runs it here) so GET /v1/jobs/{job_id} has one to read. */
let rebuildJobId = "";

beforeAll(async () => {
  // Routes that enqueue need a job producer; nothing runs the jobs, their keys go with the file.
  jobs = createJobProducer({ redisUrl, keyPrefix: jobsKeyPrefix });
  harness = await createHarness({ platformToken, jobs });
  org = await buildTestOrg(harness);
  reconciliationId = (await startReconciliation(harness.deps, { orgId: org.id })).id;
  // One failed job of the org: a worker whose processor throws takes it, with one attempt.
  const failing = await startWorkers(testWorkerDeps(harness.deps, jobs), {
    redisUrl,
    queues: ["tiers"],
    schedulers: false,
    processors: {
      tiers: {
        process: async () => {
          throw new Error("planted failure");
        },
      },
    },
  });
  await failing.ready();
  failedJobId = await jobs.add("tiers", { orgId: org.id }, { options: { attempts: 1 } });
  await waitFor(async () => (await jobs.queue("tiers").getFailedCount()) === 1, {
    what: "the planted failed job",
  });
  await failing.close(5_000);
  member = await enrollOverHttp(harness, org);
  // PIN login on, and the member's PIN set: the login case starts from a login that succeeds.
  const pinLogin = await call(harness.app, "PATCH", "/v1/settings", {
    key: org.keys.admin,
    body: { member_pin_login: true },
  });
  expect(pinLogin.status).toBe(200);
  const pin = await call(harness.app, "PUT", `/v1/members/${member.id}/pin`, {
    key: org.keys.pos,
    body: { pin: "482913" },
  });
  expect(pin.status).toBe(200);
  const mint = async (): Promise<string> => {
    const session = await call(harness.app, "POST", `/v1/members/${member.id}/sessions`, {
      key: org.keys.pos,
    });
    expect(session.status).toBe(201);
    return String(session.body.token);
  };
  memberTokens = { member: await mint(), memberLogout: await mint() };
  const rebuild = await call(harness.app, "POST", "/v1/rfm/rebuild", { key: org.keys.admin });
  expect(rebuild.status).toBe(202);
  rebuildJobId = String(rebuild.body.job_id);
  const purchase = await call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    body: { external_id: purchaseExternalId, member_id: member.id, amount: 5000, currency: "EUR" },
  });
  expect(purchase.status).toBe(201);
  redemptionIds = [];
  for (const externalId of ["text-hold-1", "text-hold-2"]) {
    const hold = await call(harness.app, "POST", `/v1/members/${member.id}/redemptions`, {
      key: org.keys.pos,
      body: { points: 1, external_id: externalId },
    });
    expect(hold.status).toBe(201);
    redemptionIds.push(String(hold.body.redemption?.id));
  }
  const webhook = await call(harness.app, "POST", "/v1/webhooks", {
    key: org.keys.admin,
    body: { url: "https://hooks.example.com/text", events: ["member.enrolled"] },
  });
  expect(webhook.status).toBe(201);
  webhookId = String(webhook.body.webhook?.id);
  const program = await call(harness.app, "POST", "/v1/stamp-programs", {
    key: org.keys.admin,
    body: {
      name: "Text visits",
      stamps_per_card: 3,
      earn: { per: "purchase" },
      reward: { points: 1 },
    },
  });
  expect(program.status).toBe(201);
  stampProgramId = String(program.body.stamp_program?.id);
  const code = await call(harness.app, "POST", "/v1/codes", {
    key: org.keys.admin,
    body: { code: "TEXT-SETUP", points: 5, once_per_member: true },
  });
  expect(code.status).toBe(201);
  codeId = String(code.body.code?.id);
  const reward = await call(harness.app, "POST", "/v1/rewards", {
    key: org.keys.admin,
    body: { name: "Text setup reward", kind: "voucher", cost_points: 10, value_minor: 100 },
  });
  expect(reward.status).toBe(201);
  rewardId = String(reward.body.reward?.id);
  const rule = await call(harness.app, "POST", "/v1/earning-rules", {
    key: org.keys.admin,
    body: {
      name: "Text setup rule",
      kind: "campaign",
      starts_at: "2026-01-01T00:00:00Z",
      ends_at: "2027-01-01T00:00:00Z",
      bonus_points: 10,
    },
  });
  expect(rule.status).toBe(201);
  earningRuleId = String(rule.body.earning_rule?.id);
  const benefit = await call(harness.app, "POST", "/v1/benefits", {
    key: org.keys.admin,
    body: { name: "Text setup perk", kind: "perk" },
  });
  expect(benefit.status).toBe(201);
  benefitId = String(benefit.body.benefit?.id);
  const tierSet = await call(harness.app, "POST", "/v1/tier-sets", {
    key: org.keys.admin,
    body: { name: "Text setup set" },
  });
  expect(tierSet.status).toBe(201);
  tierSetId = String(tierSet.body.tier_set?.id);
  const tier = await call(harness.app, "POST", "/v1/tiers", {
    key: org.keys.admin,
    body: {
      tier_set_id: tierSetId,
      name: "Text setup tier",
      rank: 1,
      threshold: 100,
      multiplier: "1.1",
    },
  });
  expect(tier.status).toBe(201);
  tierId = String(tier.body.tier?.id);
  const make = async (path: string, body: Record<string, unknown>): Promise<Json> => {
    const made = await call(harness.app, "POST", path, { key: org.keys.admin, body });
    expect(made.status).toBe(201);
    return made.body;
  };
  doomedTierSetId = String((await make("/v1/tier-sets", { name: "Text doomed set" })).tier_set?.id);
  doomedTierId = String(
    (
      await make("/v1/tiers", {
        tier_set_id: tierSetId,
        name: "Text doomed tier",
        rank: 2,
        threshold: 800_000,
        multiplier: "1.2",
      })
    ).tier?.id,
  );
  doomedBenefitId = String(
    (await make("/v1/benefits", { name: "Text doomed perk", kind: "perk" })).benefit?.id,
  );
  const imported = await call(harness.app, "POST", "/v1/imports/members", {
    key: org.keys.admin,
    rawBody: "external_ref\ntext-import-1\n",
    headers: { "Content-Type": "text/csv" },
  });
  expect(imported.status).toBe(202);
  importId = String(imported.body.import_id);
  // Another code for the member app's route: one member redeems a code once.
  const appCode = await call(harness.app, "POST", "/v1/codes", {
    key: org.keys.admin,
    body: { code: "TEXT-ME", points: 5, once_per_member: true },
  });
  expect(appCode.status).toBe(201);
});
afterAll(async () => {
  await harness?.close();
  await jobs?.close();
  const cleaner = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await deleteKeys(cleaner, jobsKeyPrefix).catch(() => undefined);
  await cleaner.quit().catch(() => cleaner.disconnect());
});

describe("NUL and unpaired surrogates", () => {
  it("are refused in every string of every route, naming the field, and write nothing", async () => {
    const document = (await call(harness.app, "GET", "/openapi.json")).body;
    const all = cases(document);
    // Every route with input is reached: body fields of the writes, every path parameter.
    expect(all.some((c) => c.field.startsWith("body transactions.0.items.0.sku"))).toBe(true);
    expect(all.some((c) => c.field.startsWith("path external_id"))).toBe(true);
    expect(all.length).toBeGreaterThan(150);

    const tablesBefore = await tableCounts();
    const transfersBefore = await ledgerTransferCount(harness);
    const memberBefore = await call(harness.app, "GET", `/v1/members/${member.id}`, {
      key: org.keys.admin,
    });

    const failures: string[] = [];
    for (const testCase of all) {
      const response = await testCase.send();
      const error = response.body.error;
      const issues = error?.details?.issues;
      const named = (Array.isArray(issues) ? list(issues) : []).some(
        (issue) =>
          String(issue.message).includes("U+0000") &&
          testCase.field.startsWith(`${testCase.target} ${String(issue.path)} (`),
      );
      if (
        response.status !== 400 ||
        String(error?.code) !== "validation_failed" ||
        String(error?.details?.target) !== testCase.target ||
        !named
      ) {
        failures.push(
          `${testCase.operation} ${testCase.field}: ${response.status} ${JSON.stringify(response.body)}`,
        );
      }
    }
    expect(failures).toEqual([]);

    expect(await tableCounts()).toEqual(tablesBefore);
    expect(await ledgerTransferCount(harness)).toBe(transfersBefore);
    const memberAfter = await call(harness.app, "GET", `/v1/members/${member.id}`, {
      key: org.keys.admin,
    });
    expect(memberAfter.body).toEqual(memberBefore.body);
  });

  it("leave paired surrogates (emoji) and other characters alone, stored as sent", async () => {
    const name = "Zoë 😀 名前";
    const enrolled = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      body: { external_ref: "text-test-emoji-😀", first_name: name },
    });
    expect(enrolled.status).toBe(201);
    const read = await call(harness.app, "GET", `/v1/members/${String(enrolled.body.member?.id)}`, {
      key: org.keys.pos,
    });
    expect(read.body.first_name).toBe(name);
    expect(read.body.external_ref).toBe("text-test-emoji-😀");
  });

  it("are refused in a property name too", async () => {
    const response = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      body: { external_ref: "text-test-key", "first\u0000name": "Ada" },
    });
    expect(response.status).toBe(400);
    expect(list(response.body.error?.details?.issues).map((issue) => issue.message)).toContain(
      "a property name must not contain U+0000 (NUL) or an unpaired UTF-16 surrogate",
    );
  });

  it("starts every case from a request the server accepts", async () => {
    // Proof that the 400s above come from the one spoiled string, not from the rest.
    for (const [name, request] of Object.entries(baseRequests())) {
      const [method = "", template = ""] = name.split(" ");
      const key = keyOf(request.key);
      const response = await call(
        harness.app,
        method.toUpperCase(),
        url(template, encodeAll(request.params ?? {}), encodeAll(request.query ?? {})),
        {
          ...(key === undefined ? {} : { key }),
          ...(request.body === undefined ? {} : { body: request.body }),
          ...(request.file === undefined
            ? {}
            : {
                rawBody: request.file.text,
                headers: { "Content-Type": request.file.contentType },
              }),
        },
      );
      expect(response.status, `${name}: ${JSON.stringify(response.body)}`).toBeLessThan(300);
    }
  });

  it("cannot arrive in a header: Node's parser refuses NUL before the app runs", async () => {
    const server = serve({ fetch: harness.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    const { port } = server.address() as { port: number };
    const tablesBefore = await tableCounts();
    const body = JSON.stringify({ external_ref: "text-test-header" });
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let received = "";
      socket.on("data", (chunk) => {
        received += chunk.toString("latin1");
      });
      socket.on("end", () => resolve(received));
      socket.on("error", reject);
      socket.write(
        "POST /v1/members HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
          `Authorization: Bearer ${org.keys.pos}\r\nContent-Type: application/json\r\n` +
          `Idempotency-Key: a\u0000b\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      );
    });
    await new Promise((resolve) => server.close(resolve));
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(await tableCounts()).toEqual(tablesBefore);
  });
});
