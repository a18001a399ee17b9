/**
 * Earning rules: `POST`, `GET /v1/earning-rules`, `GET`, `PATCH`, `DELETE /v1/earning-rules/{id}`.
 *
 * Roles: admin creates, changes and deletes (each write audited in its own transaction); admin and
 * pos read. Another org's rule is 404, exactly like an unknown one. The body's local date-times
 * are read in the org's time zone here, at the edge, so that every refusal (a window ending before
 * it starts included) is a 400 `validation_failed` with its field path, before anything is
 * written. Every edit writes a new version; old versions stay readable with `?version=`.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  type BodyIssue,
  capPeriods,
  createEarningRule,
  DomainError,
  deleteEarningRule,
  earningRuleBody,
  earningRuleBodySchema,
  earningRuleKinds,
  earningRulePatchSchema,
  getEarningRule,
  getOrg,
  listEarningRules,
  membershipLimits,
  mergeRulePatch,
  type PeriodCaps,
  type StoredEarningRule,
  toEarningRule,
  updateEarningRule,
} from "../../membership/index.ts";
import { actorOf, principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import { cursorLengthMax, historyPageDefault } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { IdempotencyHeaders, uuidParam, wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";

const tags = ["earning-rules"];
const ruleIdExample = "6d2e8f14-3b7a-4c59-a1e0-9f4b2c7d8e31";
const seqCursor = /^[1-9][0-9]{0,18}$/;
const pageMax = membershipLimits.earningRulesPageMax;

const RuleParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The earning rule's id.",
    example: ruleIdExample,
  }),
});

const VersionQuery = z.strictObject({
  version: z.coerce.number().int().min(1).max(2_147_483_647).optional().openapi({
    description: "A version to read (1 = as created); the current one when absent.",
    example: 1,
  }),
});

const ListQuery = z.strictObject({
  active: z
    .enum(["true", "false"])
    .optional()
    .openapi({ description: "Only active (`true`) or inactive (`false`) rules." }),
  kind: z.enum(earningRuleKinds).optional().openapi({ description: "Only rules of this kind." }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(pageMax)
    .optional()
    .openapi({ description: `Rules per page, 1..${pageMax}; ${historyPageDefault} by default.` }),
  cursor: z
    .string()
    .min(1)
    .max(cursorLengthMax)
    .regex(seqCursor, "a cursor this route returned")
    .optional()
    .openapi({ description: "`next_cursor` of the previous page." }),
});

const nullableInts = z.array(z.number().int()).nullable();
const nullableTexts = z.array(z.string()).nullable();

const EarningRuleSchema = z
  .object({
    id: z.string(),
    version: z.number().int().openapi({ description: "1 when created, +1 per edit." }),
    name: z.string(),
    kind: z.enum(earningRuleKinds),
    active: z.boolean(),
    priority: z.number().int(),
    stackable: z.boolean(),
    caps: z
      .object({
        per_member: z.object({
          day: z.number().int().optional(),
          week: z.number().int().optional(),
          month: z.number().int().optional(),
        }),
      })
      .nullable()
      .openapi({ description: "The rule's own caps in points per member and period; null: none." }),
    categories: nullableTexts.optional(),
    multiplier: z.string().nullable().optional(),
    skus: z.array(z.string()).optional(),
    points_per_unit: z.number().int().optional(),
    starts_at: z.string().optional().openapi({ description: "UTC instant (RFC 3339)." }),
    ends_at: z.string().optional().openapi({ description: "UTC instant (RFC 3339)." }),
    days_of_week: nullableInts.optional(),
    tier_ids: nullableTexts.optional(),
    locations: nullableTexts.optional(),
    min_spend: z.number().int().nullable().optional(),
    bonus_points: z.number().int().nullable().optional(),
    benefits: z.array(z.string()).nullable().optional().openapi({
      description:
        "Campaigns: benefits members enjoy while it runs for them (`GET /v1/members/{id}/benefits`).",
    }),
    created_at: z.string(),
    updated_at: z.string().openapi({ description: "When this version was written." }),
    deleted_at: z.string().nullable(),
  })
  .openapi("EarningRule", {
    description:
      "The common fields, then the kind's fields at the top level: `category_multiplier` " +
      "(`categories`, `multiplier`), `sku_bonus` (`skus`, `points_per_unit`), `campaign` " +
      "(`starts_at`, `ends_at`, `days_of_week`, `tier_ids`, `locations`, `categories`, " +
      "`min_spend`, and one of `multiplier` and `bonus_points`; unset ones are null).",
  });

const RuleEnvelope = z.object({ earning_rule: EarningRuleSchema });

const ruleExample: z.output<typeof EarningRuleSchema> = {
  id: ruleIdExample,
  version: 1,
  name: "Triple points on coffee",
  kind: "category_multiplier",
  active: true,
  priority: 0,
  stackable: false,
  caps: { per_member: { day: 300 } },
  categories: ["coffee"],
  multiplier: "3",
  created_at: "2026-11-20T09:00:00.000Z",
  updated_at: "2026-11-20T09:00:00.000Z",
  deleted_at: null,
};

const campaignExample: z.output<typeof EarningRuleSchema> = {
  id: "0f3a6c2e-8b1d-4e7f-9a25-c4d6e8f0a1b3",
  version: 2,
  name: "Winter weekends",
  kind: "campaign",
  active: true,
  priority: 10,
  stackable: false,
  caps: null,
  starts_at: "2026-12-31T23:00:00.000Z",
  ends_at: "2027-01-10T22:59:59.000Z",
  days_of_week: [6, 7],
  tier_ids: null,
  locations: null,
  categories: null,
  min_spend: 1000,
  multiplier: "1.5",
  bonus_points: null,
  created_at: "2026-11-20T09:00:00.000Z",
  updated_at: "2026-12-07T09:30:00.000Z",
  deleted_at: null,
};

/**
 * The bodies are the membership module's schemas (the simulation route takes the same rule), so
 * they carry no OpenAPI metadata of their own: the routes' descriptions say what the fields mean.
 */
const CreateBody = earningRuleBodySchema;
const createBodyDescription =
  "The body: `{name, kind, active?, priority?, stackable?, caps?, ...the kind's fields}`. " +
  'Multipliers are decimal strings with at most 4 decimal places ("3", "1.5"), above 1 and ' +
  "at most 100. Points (`points_per_unit`, `bonus_points`, `caps.per_member.day|week|month`) " +
  "are JSON integers from 1 to 10^15; `min_spend` is in minor units. Date-times are RFC 3339 " +
  'with an offset, or local without one ("2026-01-10T23:59:59"), then read in the org\'s time ' +
  "zone (`timezone` of `GET /v1/settings`): a local time skipped by a daylight-saving change " +
  "is shifted forward by the gap, one that happens twice is the earlier; answers give UTC " +
  "instants. `days_of_week` are ISO days (1 = Monday … 7 = Sunday) in the org's time zone. " +
  "Defaults: `active` true, `priority` 0, `stackable` false, no caps.";

const PatchBody = earningRulePatchSchema.refine(
  (body) => Object.values(body).some((value) => value !== undefined),
  "names at least one field",
);

function capsDto(caps: PeriodCaps | null): z.output<typeof EarningRuleSchema>["caps"] {
  if (caps === null) {
    return null;
  }
  const perMember: { day?: number; week?: number; month?: number } = {};
  for (const period of capPeriods) {
    const cap = caps[period];
    if (cap !== null) {
      perMember[period] = wireInteger(cap);
    }
  }
  return { per_member: perMember };
}

function ruleDto(stored: StoredEarningRule): z.output<typeof EarningRuleSchema> {
  const body = earningRuleBody(stored.rule);
  return {
    id: stored.rule.id,
    version: stored.rule.version,
    ...body,
    active: stored.rule.active,
    priority: stored.rule.priority,
    stackable: stored.rule.stackable,
    caps: capsDto(stored.rule.caps),
    created_at: stored.createdAt.toISOString(),
    updated_at: stored.updatedAt.toISOString(),
    deleted_at: stored.deletedAt?.toISOString() ?? null,
  };
}

function refused(issues: BodyIssue[]): ApiError {
  return new ApiError(400, "validation_failed", "invalid request body", {
    target: "body",
    issues,
  });
}

export function earningRulesRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createEarningRule",
      tags,
      summary: "Create an earning rule",
      description:
        "A `category_multiplier` (matching lines earn the extra base × (multiplier − 1)), a " +
        "`sku_bonus` (`points_per_unit` per unit sold) or a `campaign` (a window " +
        "[`starts_at`, `ends_at`) judged on the purchase's `occurred_at`, with optional days, " +
        "tiers, locations, categories and minimum spend, and exactly one of `multiplier` and " +
        "`bonus_points`; a campaign wholly in the past may be created, for back-dated " +
        "purchases). The rule is version 1. Written to the audit log " +
        "(`earning_rule.created`). Role: admin. " +
        createBodyDescription,
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateBody, {
          name: "Triple points on coffee",
          kind: "category_multiplier",
          categories: ["coffee"],
          multiplier: "3",
          caps: { per_member: { day: 300 } },
        }),
      },
      responses: {
        201: jsonContent(RuleEnvelope, "The rule, version 1.", { earning_rule: ruleExample }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const { orgId } = principalOf(c);
      const org = await getOrg(domain, { orgId });
      const converted = toEarningRule(body, org.timezone);
      if (!converted.ok) {
        throw refused(converted.issues);
      }
      const stored = await createEarningRule(domain, {
        orgId,
        rule: converted.rule,
        actor: actorOf(c),
      });
      return c.json({ earning_rule: ruleDto(stored) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listEarningRules",
      tags,
      summary: "The org's earning rules",
      description:
        "Every rule not deleted, current version, oldest first, paged with `cursor`; filter " +
        "with `active` and `kind`. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos"),
      request: { query: ListQuery },
      responses: {
        200: jsonContent(
          z.object({
            earning_rules: z.array(EarningRuleSchema),
            next_cursor: z.string().nullable(),
          }),
          "One page of rules.",
          { earning_rules: [ruleExample, campaignExample], next_cursor: null },
        ),
        ...errorResponses(400, 401, 403, 429, 503),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await listEarningRules(domain, {
        orgId: principalOf(c).orgId,
        limit: query.limit ?? historyPageDefault,
        ...(query.active === undefined ? {} : { active: query.active === "true" }),
        ...(query.kind === undefined ? {} : { kind: query.kind }),
        ...(query.cursor === undefined ? {} : { afterSeq: BigInt(query.cursor) }),
      });
      return c.json(
        {
          earning_rules: page.rules.map(ruleDto),
          next_cursor: page.nextSeq === null ? null : page.nextSeq.toString(),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getEarningRule",
      tags,
      summary: "Get an earning rule, or one of its versions",
      description:
        "The current version, or `?version=` (every version stays readable, also after the " +
        "rule is deleted: purchases record the versions they used). A version the rule never " +
        "had is 404. Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos"),
      request: { params: RuleParams, query: VersionQuery },
      responses: {
        200: jsonContent(RuleEnvelope, "The rule.", { earning_rule: ruleExample }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { version } = c.req.valid("query");
      const stored = await getEarningRule(domain, {
        orgId: principalOf(c).orgId,
        ruleId: id,
        ...(version === undefined ? {} : { version }),
      });
      return c.json({ earning_rule: ruleDto(stored) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/{id}",
      operationId: "updateEarningRule",
      tags,
      summary: "Change an earning rule (a new version)",
      description:
        "Only the fields given change; `null` clears an optional one (`caps`, a campaign's " +
        "`days_of_week`, `tier_ids`, `locations`, `categories`, `min_spend`, and the one of " +
        "`multiplier` and `bonus_points` it stops using). Local date-times are read in the " +
        "org's time zone, as for `POST`. The merged rule is " +
        "checked whole, as for `POST` (400 `validation_failed` with field paths, a field of " +
        "another kind included); `kind` cannot change. Writes version n + 1; version n stays " +
        "readable. A deleted rule cannot change (409 `invalid_state`); two edits racing from " +
        "the same version: the second is 409 `conflict` (read the rule and retry). Applies to " +
        "purchases recorded after it (other API processes may use the previous version for up " +
        "to 5 s). Written to the audit log (`earning_rule.updated`, before and after). " +
        "Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: RuleParams,
        body: jsonBody(PatchBody, { multiplier: "1.5", ends_at: "2027-01-10T23:59:59" }),
      },
      responses: {
        200: jsonContent(RuleEnvelope, "The rule as changed, its new version.", {
          earning_rule: campaignExample,
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const patch = c.req.valid("json");
      const { orgId } = principalOf(c);
      const current = await getEarningRule(domain, { orgId, ruleId: id });
      if (current.deletedAt !== null) {
        throw new DomainError("invalid_state", "a deleted earning rule cannot change", {
          ruleId: id,
        });
      }
      const merged = mergeRulePatch(earningRuleBody(current.rule), patch);
      if (!merged.ok) {
        throw refused(merged.issues);
      }
      const org = await getOrg(domain, { orgId });
      const converted = toEarningRule(merged.body, org.timezone);
      if (!converted.ok) {
        throw refused(converted.issues);
      }
      const stored = await updateEarningRule(domain, {
        orgId,
        ruleId: id,
        baseVersion: current.rule.version,
        rule: converted.rule,
        actor: actorOf(c),
      });
      return c.json({ earning_rule: ruleDto(stored) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      operationId: "deleteEarningRule",
      tags,
      summary: "Delete an earning rule",
      description:
        "The rule stops applying (other API processes may still apply it for up to 5 s) and " +
        "leaves the listing; it and every version stay readable by id, with `deleted_at` set. " +
        "Deleting it again answers it as it is. Written to the audit log " +
        "(`earning_rule.deleted`). Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: RuleParams },
      responses: {
        200: jsonContent(RuleEnvelope, "The rule, deleted.", {
          earning_rule: { ...ruleExample, deleted_at: "2026-12-07T09:30:00.000Z" },
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const stored = await deleteEarningRule(domain, {
        orgId: principalOf(c).orgId,
        ruleId: id,
        actor: actorOf(c),
      });
      return c.json({ earning_rule: ruleDto(stored) }, 200);
    },
  );

  return app;
}
