/**
 * Program configuration of tiers: `/v1/tier-sets` (POST, GET, GET/PATCH/DELETE `{id}`) and
 * `/v1/tiers` (POST, GET, GET/PATCH/DELETE `{id}`). Admin writes, each audited in its
 * transaction; admin, pos and finance read. Another org's set or tier is 404, like an unknown one.
 *
 * A ladder the change would leave invalid (no rank-0 base tier at threshold 0, a rank taken,
 * thresholds not increasing with rank) is 400 `validation_failed` naming the field. No request
 * moves a member: a change that can change who qualifies queues the re-evaluation of the set's
 * members on the tiers worker (`reevaluation_job_id`), which needs this process's job producer
 * (503 before anything is written without one).
 */
import { randomUUID } from "node:crypto";
import { createRoute, z } from "@hono/zod-openapi";
import {
  type ConfiguredTier,
  createTier,
  createTierSet,
  deleteTier,
  deleteTierSet,
  getConfiguredTier,
  getTierSet,
  isDomainError,
  listConfiguredTiers,
  listTierSets,
  membershipLimits,
  multiplierBpsOf,
  type TierPatch,
  type TierSet,
  type TierSetPatch,
  tierMetrics,
  updateTier,
  updateTierSet,
} from "../../membership/index.ts";
import { type JobProducer, tierReevaluateJob } from "../../workers/index.ts";
import { actorOf, principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import { requireRole } from "../middleware.ts";
import { IdempotencyHeaders, uuidParam, wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgScopedApp,
  windowOrdered,
  writeGuards,
} from "./common.ts";
import { multiplierText } from "./tiers.ts";

const tierSetIdExample = "4e6a8c0e-2b4d-4f6a-8c0e-2b4d6f8a0c1e";
const tierIdExample = "1d3f5a7c-9e0b-4c2d-8f6a-0b2c4e6a8d1f";
const benefitIdExample = "7a9c1e3f-5b7d-4f9a-9c1e-3f5b7d9f1a2c";
const jobIdExample = "tiers-reevaluate-0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
const dateTime = z.iso.datetime({ offset: true });

/** A multiplier on the wire: a decimal string with up to four places, above 0, at most 100. */
export const multiplierInput = z
  .string()
  .regex(/^[0-9]{1,3}(\.[0-9]{1,4})?$/, 'a decimal string with up to 4 places, e.g. "1.25"')
  .refine((text) => multiplierBpsOf(text) !== null, "must be above 0 and at most 100")
  .openapi({
    description: "A decimal string with up to 4 places (stored in basis points).",
    example: "1.25",
  });

/** The multiplier's basis points, after `multiplierInput` accepted it. */
export function bpsOf(text: string): number {
  const bps = multiplierBpsOf(text);
  if (bps === null) {
    throw new ApiError(400, "validation_failed", "invalid multiplier");
  }
  return bps;
}

/**
 * A domain refusal with field paths (`invalid_input` with `details.issues`) answered as the
 * schema's own refusals are: 400 `validation_failed` at `target`.
 */
export async function asValidation<T>(target: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (
      isDomainError(error) &&
      error.code === "invalid_input" &&
      Array.isArray(error.details?.issues)
    ) {
      throw new ApiError(400, "validation_failed", error.message, {
        target,
        issues: error.details.issues,
      });
    }
    throw error;
  }
}

function producerOf(deps: RouteDeps): JobProducer {
  if (deps.app.jobs === undefined) {
    throw new ApiError(503, "unavailable", "jobs cannot be queued by this process");
  }
  return deps.app.jobs;
}

/** Queues the re-evaluation of a set's members (workers/tiers/reevaluate.ts); its job id. */
export async function queueReevaluation(
  jobs: JobProducer,
  input: { orgId: string; tierSetId: string },
): Promise<string> {
  return jobs.add("tiers", input, {
    name: tierReevaluateJob,
    jobId: `tiers-reevaluate-${randomUUID()}`,
  });
}

// ---------------------------------------------------------------------------------------------
// Tier sets
// ---------------------------------------------------------------------------------------------

const TierSetSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    metric: z.enum(tierMetrics),
    window_months: z.number().int(),
    grace_days: z.number().int(),
    earning: z.boolean().openapi({
      description: "The set whose tier multiplier applies to purchases; exactly one per org.",
    }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("TierSet");

const tierSetExample: z.output<typeof TierSetSchema> = {
  id: tierSetIdExample,
  name: "Dining",
  metric: "spend",
  window_months: 12,
  grace_days: 30,
  earning: false,
  created_at: "2026-12-07T09:00:00.000Z",
  updated_at: "2026-12-07T09:00:00.000Z",
};

function tierSetDto(set: TierSet): z.output<typeof TierSetSchema> {
  return {
    id: set.id,
    name: set.name,
    metric: set.metric,
    window_months: set.windowMonths,
    grace_days: set.graceDays,
    earning: set.earning,
    created_at: set.createdAt.toISOString(),
    updated_at: set.updatedAt.toISOString(),
  };
}

const setFields = {
  name: z.string().min(1).max(membershipLimits.tierSetNameLengthMax),
  metric: z.enum(tierMetrics).openapi({
    description: "What qualifies: purchase points net of refunds, or net spend in minor units.",
  }),
  window_months: z.number().int().min(1).max(120).openapi({ description: "The rolling window." }),
  grace_days: z.number().int().min(0).max(3_660).openapi({
    description: "Days a member keeps a tier it no longer qualifies for, after its review date.",
  }),
};

const CreateTierSetBody = z
  .strictObject({
    name: setFields.name,
    metric: setFields.metric.optional().openapi({ description: "`points` when absent." }),
    window_months: setFields.window_months.optional().openapi({ description: "12 when absent." }),
    grace_days: setFields.grace_days.optional().openapi({ description: "30 when absent." }),
    base_tier_name: z.string().min(1).max(membershipLimits.tierNameLengthMax).optional().openapi({
      description: "The name of the rank-0 base tier the set starts with; `Base` when absent.",
    }),
  })
  .openapi("CreateTierSet");

const PatchTierSetBody = z
  .strictObject({
    name: setFields.name.optional(),
    metric: setFields.metric.optional(),
    window_months: setFields.window_months.optional(),
    grace_days: setFields.grace_days.optional(),
    earning: z
      .boolean()
      .optional()
      .openapi({
        description:
          "Only as it already is: moving `earning` to another set is refused (409 " +
          "`invalid_state`), it is not supported yet.",
      }),
  })
  .openapi("PatchTierSet");

const TierSetParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The tier set's id.",
    example: tierSetIdExample,
  }),
});

const reevaluationJob = z
  .string()
  .nullable()
  .openapi({
    description:
      "The job re-evaluating the set's members (follow it with GET /v1/jobs/{job_id}); null " +
      "when the change cannot change who qualifies.",
  });

export function tierSetsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;
  const tags = ["tiers"];

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createTierSet",
      tags,
      summary: "Add a tier set",
      description:
        "A new ladder with its own metric, window and grace, starting with its rank-0 base tier " +
        "(threshold 0, multiplier 1.00); add tiers with POST /v1/tiers. Never the earning set. " +
        "A name taken in the org is 409. Written to the audit log (`tier_set.created`). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateTierSetBody, {
          name: "Dining",
          metric: "spend",
          window_months: 12,
          grace_days: 30,
          base_tier_name: "Diner",
        }),
      },
      responses: {
        201: jsonContent(z.object({ tier_set: TierSetSchema }), "The set.", {
          tier_set: tierSetExample,
        }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const set = await asValidation(
        "body",
        createTierSet(domain, {
          orgId: principalOf(c).orgId,
          name: body.name,
          metric: body.metric ?? "points",
          windowMonths: body.window_months ?? 12,
          graceDays: body.grace_days ?? 30,
          ...(body.base_tier_name === undefined ? {} : { baseTierName: body.base_tier_name }),
          actor: actorOf(c),
        }),
      );
      return c.json({ tier_set: tierSetDto(set) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listTierSets",
      tags,
      summary: "The org's tier sets",
      description: `The earning set first, then by creation (at most ${membershipLimits.tierSetsPerOrgMax}). Roles: admin, pos, finance.`,
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      responses: {
        200: jsonContent(z.object({ tier_sets: z.array(TierSetSchema) }), "The sets.", {
          tier_sets: [
            {
              ...tierSetExample,
              id: tierIdExample,
              name: "Default",
              metric: "points",
              earning: true,
            },
            tierSetExample,
          ],
        }),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const sets = await listTierSets(domain, { orgId: principalOf(c).orgId });
      return c.json({ tier_sets: sets.map(tierSetDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getTierSet",
      tags,
      summary: "Get a tier set",
      description: "Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: TierSetParams },
      responses: {
        200: jsonContent(z.object({ tier_set: TierSetSchema }), "The set.", {
          tier_set: tierSetExample,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const set = await getTierSet(domain, { orgId: principalOf(c).orgId, tierSetId: id });
      return c.json({ tier_set: tierSetDto(set) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/{id}",
      operationId: "updateTierSet",
      tags,
      summary: "Change a tier set",
      description:
        "Only the fields given change. The earning set's metric, window and grace are the " +
        "org's tier settings (GET /v1/settings shows the same values). A new metric or window " +
        "queues the re-evaluation of the set's members; no member moves in the request. " +
        "`earning: true` on another set makes it the earning set in this request: every " +
        "member's tier in the old earning set is kept as their tier there, their tier in this " +
        "set (its base tier when they have none) becomes the one purchases earn with " +
        "(`tier.changed`, reason `earning_set_changed`); overrides and scheduled downgrades are " +
        "cleared; the org's tier settings take this set's metric, window and grace; both sets " +
        "are then re-evaluated by the worker. `earning: false` on the earning set is 409 " +
        "`invalid_state` (make another set earning instead). Written to the audit log " +
        "(`tier_set.updated`, for each set that changed). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: TierSetParams,
        body: jsonBody(PatchTierSetBody, { window_months: 6, grace_days: 14 }),
      },
      responses: {
        200: jsonContent(
          z.object({ tier_set: TierSetSchema, reevaluation_job_id: reevaluationJob }),
          "The set as changed.",
          {
            tier_set: { ...tierSetExample, window_months: 6, grace_days: 14 },
            reevaluation_job_id: jobIdExample,
          },
        ),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const orgId = principalOf(c).orgId;
      const jobs = producerOf(deps);
      const patch: TierSetPatch = {};
      if (body.name !== undefined) {
        patch.name = body.name;
      }
      if (body.metric !== undefined) {
        patch.metric = body.metric;
      }
      if (body.window_months !== undefined) {
        patch.windowMonths = body.window_months;
      }
      if (body.grace_days !== undefined) {
        patch.graceDays = body.grace_days;
      }
      if (body.earning !== undefined) {
        patch.earning = body.earning;
      }
      const { tierSet, reevaluate, previousEarning } = await asValidation(
        "body",
        updateTierSet(domain, { orgId, tierSetId: id, patch, actor: actorOf(c) }),
      );
      // Named in the request, changed or not: a retried request queues the work again.
      const queue = reevaluate || body.metric !== undefined || body.window_months !== undefined;
      if (previousEarning !== null) {
        // The set that stopped earning: its tiers (moved there as they were) follow the set's own
        // rules from now on. The answer carries the earning set's job.
        await queueReevaluation(jobs, { orgId, tierSetId: previousEarning.id });
      }
      const jobId = queue ? await queueReevaluation(jobs, { orgId, tierSetId: tierSet.id }) : null;
      return c.json({ tier_set: tierSetDto(tierSet), reevaluation_job_id: jobId }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      operationId: "deleteTierSet",
      tags,
      summary: "Delete a tier set",
      description:
        "Deletes a set that is not the earning one, with its tiers and the members' tiers in it " +
        "(409 `invalid_state` for the earning set; 409 `conflict` when a promo code or reward " +
        "names one of its tiers as minimum). Written to the audit log (`tier_set.deleted`). " +
        "Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: TierSetParams },
      responses: {
        200: jsonContent(z.object({ deleted: z.object({ id: z.string() }) }), "Deleted.", {
          deleted: { id: tierSetIdExample },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await deleteTierSet(domain, {
        orgId: principalOf(c).orgId,
        tierSetId: id,
        actor: actorOf(c),
      });
      return c.json({ deleted: { id } }, 200);
    },
  );

  return app;
}

// ---------------------------------------------------------------------------------------------
// Tiers
// ---------------------------------------------------------------------------------------------

const ConfiguredTierSchema = z
  .object({
    id: z.string(),
    tier_set_id: z.string(),
    name: z.string(),
    rank: z.number().int(),
    threshold: z.number().int().openapi({
      description: "Qualifying value to reach it: points or minor units, per the set's metric.",
    }),
    multiplier: z.string().openapi({ description: "Earning multiplier, a decimal string." }),
    climbable: z.boolean().openapi({
      description: "False: evaluation never moves a member up into it (overrides only).",
    }),
    immutable: z.boolean().openapi({ description: "Members in it are never re-evaluated." }),
    active_from: z.string().nullable(),
    active_until: z.string().nullable(),
    benefits: z.array(z.string()).openapi({ description: "The ids of the benefits it gives." }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Tier");

const tierExample: z.output<typeof ConfiguredTierSchema> = {
  id: tierIdExample,
  tier_set_id: tierSetIdExample,
  name: "Gourmet",
  rank: 1,
  threshold: 50_000,
  multiplier: "1.25",
  climbable: true,
  immutable: false,
  active_from: null,
  active_until: null,
  benefits: [benefitIdExample],
  created_at: "2026-12-07T09:00:00.000Z",
  updated_at: "2026-12-07T09:00:00.000Z",
};

function tierDto(tier: ConfiguredTier): z.output<typeof ConfiguredTierSchema> {
  return {
    id: tier.id,
    tier_set_id: tier.tierSetId,
    name: tier.name,
    rank: tier.rank,
    threshold: wireInteger(tier.qualifyingPointsMin),
    multiplier: multiplierText(tier.multiplierBps),
    climbable: tier.climbable,
    immutable: tier.immutable,
    active_from: tier.activeFrom?.toISOString() ?? null,
    active_until: tier.activeUntil?.toISOString() ?? null,
    benefits: tier.benefitIds,
    created_at: tier.createdAt.toISOString(),
    updated_at: tier.updatedAt.toISOString(),
  };
}

const tierFields = {
  name: z.string().min(1).max(membershipLimits.tierNameLengthMax),
  rank: z.number().int().min(0).max(255).openapi({ description: "0 is the base tier." }),
  threshold: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  multiplier: multiplierInput,
  climbable: z.boolean(),
  immutable: z.boolean(),
  active_from: dateTime.nullable().openapi({ description: "Descriptive window start." }),
  active_until: dateTime.nullable().openapi({ description: "Descriptive window end." }),
  benefits: z
    .array(uuidParam)
    .max(membershipLimits.benefitsPerTierMax)
    .openapi({ description: "Benefit ids (POST /v1/benefits); replaces the list when given." }),
};

const CreateTierBody = z
  .strictObject({
    tier_set_id: uuidParam.openapi({ description: "The set; unknown or another org's: 404." }),
    name: tierFields.name,
    rank: tierFields.rank,
    threshold: tierFields.threshold,
    multiplier: tierFields.multiplier,
    climbable: tierFields.climbable.optional().openapi({ description: "true when absent." }),
    immutable: tierFields.immutable.optional().openapi({ description: "false when absent." }),
    active_from: tierFields.active_from.optional(),
    active_until: tierFields.active_until.optional(),
    benefits: tierFields.benefits.optional(),
  })
  .superRefine(windowOrdered("active_from", "active_until"))
  .openapi("CreateTier");

const PatchTierBody = z
  .strictObject({
    name: tierFields.name.optional(),
    rank: tierFields.rank.optional(),
    threshold: tierFields.threshold.optional(),
    multiplier: tierFields.multiplier.optional(),
    climbable: tierFields.climbable.optional(),
    immutable: tierFields.immutable.optional(),
    active_from: tierFields.active_from.optional(),
    active_until: tierFields.active_until.optional(),
    benefits: tierFields.benefits.optional(),
  })
  .superRefine(windowOrdered("active_from", "active_until"))
  .openapi("PatchTier");

const TierParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The tier's id.",
    example: tierIdExample,
  }),
});

const TierListQuery = z.object({
  tier_set_id: uuidParam.optional().openapi({
    param: { name: "tier_set_id", in: "query" },
    description: "Only this set's tiers.",
    example: tierSetIdExample,
  }),
});

const DeleteTierQuery = z.object({
  reassign_to: uuidParam.optional().openapi({
    param: { name: "reassign_to", in: "query" },
    description: "Another tier of the same set, where the members holding this one move.",
    example: tierIdExample,
  }),
});

function at(value: string | null | undefined): Date | null | undefined {
  return value === undefined || value === null ? value : new Date(value);
}

const TierEnvelope = z.object({ tier: ConfiguredTierSchema, reevaluation_job_id: reevaluationJob });

export function tiersRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;
  const tags = ["tiers"];

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createTier",
      tags,
      summary: "Add a tier to a tier set",
      description:
        "The ladder it leaves must hold: a rank-0 base tier at threshold 0, no rank taken " +
        "twice, thresholds increasing with rank (else 400 `validation_failed` at the field). " +
        "Queues the re-evaluation of the set's members; no member moves in the request. A name " +
        "taken in the set is 409. Written to the audit log (`tier.created`). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateTierBody, {
          tier_set_id: tierSetIdExample,
          name: "Gourmet",
          rank: 1,
          threshold: 50_000,
          multiplier: "1.25",
          benefits: [benefitIdExample],
        }),
      },
      responses: {
        201: jsonContent(TierEnvelope, "The tier.", {
          tier: tierExample,
          reevaluation_job_id: jobIdExample,
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const orgId = principalOf(c).orgId;
      const jobs = producerOf(deps);
      const { tier } = await asValidation(
        "body",
        createTier(domain, {
          orgId,
          tierSetId: body.tier_set_id,
          name: body.name,
          rank: body.rank,
          threshold: BigInt(body.threshold),
          multiplierBps: bpsOf(body.multiplier),
          climbable: body.climbable ?? true,
          immutable: body.immutable ?? false,
          activeFrom: at(body.active_from) ?? null,
          activeUntil: at(body.active_until) ?? null,
          benefitIds: body.benefits ?? [],
          actor: actorOf(c),
        }),
      );
      const jobId = await queueReevaluation(jobs, { orgId, tierSetId: tier.tierSetId });
      return c.json({ tier: tierDto(tier), reevaluation_job_id: jobId }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listTiers",
      tags,
      summary: "The org's tiers",
      description:
        "Every tier of every set (or of `tier_set_id`), the earning set first, each set by " +
        "rank, with its benefits. Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { query: TierListQuery },
      responses: {
        200: jsonContent(z.object({ tiers: z.array(ConfiguredTierSchema) }), "The tiers.", {
          tiers: [tierExample],
        }),
        ...errorResponses(400, 401, 403, 429, 503),
      },
    }),
    async (c) => {
      const { tier_set_id: tierSetId } = c.req.valid("query");
      const found = await listConfiguredTiers(domain, {
        orgId: principalOf(c).orgId,
        ...(tierSetId === undefined ? {} : { tierSetId }),
      });
      return c.json({ tiers: found.map(tierDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getTier",
      tags,
      summary: "Get a tier",
      description: "Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: TierParams },
      responses: {
        200: jsonContent(z.object({ tier: ConfiguredTierSchema }), "The tier.", {
          tier: tierExample,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const tier = await getConfiguredTier(domain, { orgId: principalOf(c).orgId, tierId: id });
      return c.json({ tier: tierDto(tier) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/{id}",
      operationId: "updateTier",
      tags,
      summary: "Change a tier",
      description:
        "Only the fields given change; `benefits` replaces the list. The ladder is checked as " +
        "on POST. A request naming `threshold`, `rank` or `climbable` queues the re-evaluation " +
        "of the set's members (no member moves in the request); a new `multiplier` applies to " +
        "the next purchase. Written to the audit log (`tier.updated`). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: TierParams,
        body: jsonBody(PatchTierBody, { threshold: 40_000, multiplier: "1.3" }),
      },
      responses: {
        200: jsonContent(TierEnvelope, "The tier as changed.", {
          tier: { ...tierExample, threshold: 40_000, multiplier: "1.30" },
          reevaluation_job_id: jobIdExample,
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const orgId = principalOf(c).orgId;
      const jobs = producerOf(deps);
      const patch: TierPatch = {};
      if (body.name !== undefined) {
        patch.name = body.name;
      }
      if (body.rank !== undefined) {
        patch.rank = body.rank;
      }
      if (body.threshold !== undefined) {
        patch.threshold = BigInt(body.threshold);
      }
      if (body.multiplier !== undefined) {
        patch.multiplierBps = bpsOf(body.multiplier);
      }
      if (body.climbable !== undefined) {
        patch.climbable = body.climbable;
      }
      if (body.immutable !== undefined) {
        patch.immutable = body.immutable;
      }
      if (body.active_from !== undefined) {
        patch.activeFrom = at(body.active_from) ?? null;
      }
      if (body.active_until !== undefined) {
        patch.activeUntil = at(body.active_until) ?? null;
      }
      if (body.benefits !== undefined) {
        patch.benefitIds = body.benefits;
      }
      const { tier, reevaluate } = await asValidation(
        "body",
        updateTier(domain, { orgId, tierId: id, patch, actor: actorOf(c) }),
      );
      const jobId = reevaluate
        ? await queueReevaluation(jobs, { orgId, tierSetId: tier.tierSetId })
        : null;
      return c.json({ tier: tierDto(tier), reevaluation_job_id: jobId }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      operationId: "deleteTier",
      tags,
      summary: "Delete a tier",
      description:
        "Members holding it: 409 `conflict` (with their count), unless `reassign_to` names " +
        "another tier of the same set (else 400 at `reassign_to`): they move there in the same " +
        "transaction, with their tier history, `tier.changed` (reason `reassigned`) and benefit " +
        "events. The rank-0 base tier cannot be deleted (400). Scheduled downgrades to it are " +
        "cancelled and the set's members re-evaluated by the worker. Written to the audit log " +
        "(`tier.deleted`). Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: TierParams, query: DeleteTierQuery },
      responses: {
        200: jsonContent(
          z.object({
            deleted: z.object({ id: z.string() }),
            reassigned: z.number().int().openapi({ description: "Members moved." }),
            reevaluation_job_id: reevaluationJob,
          }),
          "Deleted.",
          { deleted: { id: tierIdExample }, reassigned: 42, reevaluation_job_id: jobIdExample },
        ),
        ...errorResponses(400, 401, 403, 404, 409, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { reassign_to: reassignTo } = c.req.valid("query");
      const orgId = principalOf(c).orgId;
      const jobs = producerOf(deps);
      const { tierSet, reassigned } = await asValidation(
        "query",
        deleteTier(domain, {
          orgId,
          tierId: id,
          ...(reassignTo === undefined ? {} : { reassignTo }),
          actor: actorOf(c),
          now: deps.app.clock?.() ?? new Date(),
        }),
      );
      const jobId = await queueReevaluation(jobs, { orgId, tierSetId: tierSet.id });
      return c.json({ deleted: { id }, reassigned, reevaluation_job_id: jobId }, 200);
    },
  );

  return app;
}
