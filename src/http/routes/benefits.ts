/**
 * Benefits: `POST`, `GET /v1/benefits`, `GET`, `PATCH` and `DELETE /v1/benefits/{id}` (admin
 * writes, each audited in its transaction; admin and pos read), attached to tiers through a
 * tier's `benefits`; and `GET /v1/members/{id}/benefits`, a member's active benefits with where
 * each comes from. A `points_multiplier` is descriptive: the earning function does not apply it.
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  listSourcedMemberBenefits,
  type SourcedBenefit,
} from "../../membership/earning-rules/campaign-benefits.ts";
import {
  type Benefit,
  type BenefitPatch,
  benefitKinds,
  createBenefit,
  deleteBenefit,
  getBenefit,
  listBenefits,
  membershipLimits,
  updateBenefit,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf } from "../env.ts";
import { requireRole } from "../middleware.ts";
import { IdempotencyHeaders, uuidParam } from "../wire.ts";
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
import { asValidation, bpsOf, multiplierInput } from "./tier-config.ts";
import { multiplierText } from "./tiers.ts";

const tags = ["benefits"];
const benefitIdExample = "7a9c1e3f-5b7d-4f9a-9c1e-3f5b7d9f1a2c";
const dateTime = z.iso.datetime({ offset: true });

const BenefitSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    kind: z.enum(benefitKinds),
    value: z.string().nullable().openapi({
      description: "A points multiplier's factor, a decimal string; null for a perk.",
    }),
    active_from: z.string().nullable(),
    active_until: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Benefit");

const benefitExample: z.output<typeof BenefitSchema> = {
  id: benefitIdExample,
  name: "Free coffee refill",
  description: "One refill per visit.",
  kind: "perk",
  value: null,
  active_from: null,
  active_until: null,
  created_at: "2026-12-07T09:00:00.000Z",
  updated_at: "2026-12-07T09:00:00.000Z",
};

function benefitDto(benefit: Benefit): z.output<typeof BenefitSchema> {
  return {
    id: benefit.id,
    name: benefit.name,
    description: benefit.description,
    kind: benefit.kind,
    value: benefit.valueBps === null ? null : multiplierText(benefit.valueBps),
    active_from: benefit.activeFrom?.toISOString() ?? null,
    active_until: benefit.activeUntil?.toISOString() ?? null,
    created_at: benefit.createdAt.toISOString(),
    updated_at: benefit.updatedAt.toISOString(),
  };
}

const fields = {
  name: z.string().min(1).max(membershipLimits.benefitNameLengthMax),
  description: z.string().max(membershipLimits.benefitDescriptionLengthMax).nullable(),
  value: multiplierInput.nullable().openapi({
    description: 'Required for a `points_multiplier` (e.g. "2"), refused for a `perk`.',
  }),
  active_from: dateTime.nullable().openapi({ description: "Active from this instant." }),
  active_until: dateTime.nullable().openapi({ description: "Active before this instant." }),
};

const CreateBody = z
  .strictObject({
    name: fields.name,
    description: fields.description.optional(),
    kind: z.enum(benefitKinds),
    value: fields.value.optional(),
    active_from: fields.active_from.optional(),
    active_until: fields.active_until.optional(),
  })
  .superRefine(windowOrdered("active_from", "active_until"))
  .openapi("CreateBenefit");

const PatchBody = z
  .strictObject({
    name: fields.name.optional(),
    description: fields.description.optional(),
    value: fields.value.optional(),
    active_from: fields.active_from.optional(),
    active_until: fields.active_until.optional(),
  })
  .superRefine(windowOrdered("active_from", "active_until"))
  .openapi("PatchBenefit");

const BenefitParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The benefit's id.",
    example: benefitIdExample,
  }),
});

function at(value: string | null | undefined): Date | null | undefined {
  return value === undefined || value === null ? value : new Date(value);
}

function bpsOrNull(value: string | null | undefined): number | null | undefined {
  return value === undefined || value === null ? value : bpsOf(value);
}

export function benefitsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createBenefit",
      tags,
      summary: "Describe a benefit",
      description:
        "A `perk` (described only) or a `points_multiplier` with its `value` (descriptive in " +
        "this version: the earning function does not apply it). Attach it to tiers with their " +
        "`benefits`. Written to the audit log (`benefit.created`). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateBody, {
          name: "Free coffee refill",
          description: "One refill per visit.",
          kind: "perk",
        }),
      },
      responses: {
        201: jsonContent(z.object({ benefit: BenefitSchema }), "The benefit.", {
          benefit: benefitExample,
        }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const benefit = await asValidation(
        "body",
        createBenefit(domain, {
          orgId: principalOf(c).orgId,
          name: body.name,
          description: body.description ?? null,
          kind: body.kind,
          valueBps: bpsOrNull(body.value) ?? null,
          activeFrom: at(body.active_from) ?? null,
          activeUntil: at(body.active_until) ?? null,
          actor: actorOf(c),
        }),
      );
      return c.json({ benefit: benefitDto(benefit) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listBenefits",
      tags,
      summary: "The org's benefits",
      description: `Every benefit, oldest first (at most ${membershipLimits.benefitsPerOrgMax}). Roles: admin, pos.`,
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos"),
      responses: {
        200: jsonContent(z.object({ benefits: z.array(BenefitSchema) }), "The benefits.", {
          benefits: [benefitExample],
        }),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const found = await listBenefits(domain, { orgId: principalOf(c).orgId });
      return c.json({ benefits: found.map(benefitDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getBenefit",
      tags,
      summary: "Get a benefit",
      description: "Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos"),
      request: { params: BenefitParams },
      responses: {
        200: jsonContent(z.object({ benefit: BenefitSchema }), "The benefit.", {
          benefit: benefitExample,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const benefit = await getBenefit(domain, { orgId: principalOf(c).orgId, benefitId: id });
      return c.json({ benefit: benefitDto(benefit) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/{id}",
      operationId: "updateBenefit",
      tags,
      summary: "Change a benefit",
      description:
        "Only the fields given change; `null` clears an optional one. `kind` cannot change: " +
        "a body naming it is 400. Written to the audit log (`benefit.updated`). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: BenefitParams,
        body: jsonBody(PatchBody, { description: "Two refills per visit." }),
      },
      responses: {
        200: jsonContent(z.object({ benefit: BenefitSchema }), "The benefit as changed.", {
          benefit: { ...benefitExample, description: "Two refills per visit." },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const patch: BenefitPatch = {};
      if (body.name !== undefined) {
        patch.name = body.name;
      }
      if (body.description !== undefined) {
        patch.description = body.description;
      }
      const value = bpsOrNull(body.value);
      if (value !== undefined) {
        patch.valueBps = value;
      }
      if (body.active_from !== undefined) {
        patch.activeFrom = at(body.active_from) ?? null;
      }
      if (body.active_until !== undefined) {
        patch.activeUntil = at(body.active_until) ?? null;
      }
      const benefit = await asValidation(
        "body",
        updateBenefit(domain, {
          orgId: principalOf(c).orgId,
          benefitId: id,
          patch,
          actor: actorOf(c),
        }),
      );
      return c.json({ benefit: benefitDto(benefit) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      operationId: "deleteBenefit",
      tags,
      summary: "Delete a benefit",
      description:
        "Deletes it and detaches it from every tier; no event is written for the members who " +
        "held it. Written to the audit log (`benefit.deleted`, with the tiers it was on). " +
        "Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: BenefitParams },
      responses: {
        200: jsonContent(z.object({ deleted: z.object({ id: z.string() }) }), "Deleted.", {
          deleted: { id: benefitIdExample },
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await deleteBenefit(domain, {
        orgId: principalOf(c).orgId,
        benefitId: id,
        actor: actorOf(c),
      });
      return c.json({ deleted: { id } }, 200);
    },
  );

  return app;
}

export const MemberBenefitSchema = BenefitSchema.omit({ created_at: true, updated_at: true })
  .extend({
    source: z
      .union([
        z.object({ type: z.literal("tier"), tier_id: z.string(), tier_set_id: z.string() }),
        z.object({ type: z.literal("campaign"), rule_id: z.string() }),
      ])
      .openapi({
        description:
          "Where it comes from: a tier the member holds (in which set), or a campaign (an " +
          "earning rule) running for the member now.",
      }),
  })
  .openapi("MemberBenefit");

export function memberBenefitDto(benefit: SourcedBenefit): z.output<typeof MemberBenefitSchema> {
  return {
    id: benefit.benefitId,
    name: benefit.name,
    description: benefit.description,
    kind: benefit.kind,
    value: benefit.valueBps === null ? null : multiplierText(benefit.valueBps),
    active_from: benefit.activeFrom?.toISOString() ?? null,
    active_until: benefit.activeUntil?.toISOString() ?? null,
    source:
      benefit.source.type === "tier"
        ? {
            type: "tier",
            tier_id: benefit.source.tierId,
            tier_set_id: benefit.source.tierSetId,
          }
        : { type: "campaign", rule_id: benefit.source.ruleId },
  };
}

export const memberBenefitsExample: { benefits: Array<z.output<typeof MemberBenefitSchema>> } = {
  benefits: [
    {
      id: benefitIdExample,
      name: "Free coffee refill",
      description: "One refill per visit.",
      kind: "perk",
      value: null,
      active_from: null,
      active_until: null,
      source: {
        type: "tier",
        tier_id: "1d3f5a7c-9e0b-4c2d-8f6a-0b2c4e6a8d1f",
        tier_set_id: "4e6a8c0e-2b4d-4f6a-8c0e-2b4d6f8a0c1e",
      },
    },
  ],
};

/** `GET /v1/members/{id}/benefits`, on the members sub-app with its `{id}` parameter schema. */
export function registerMemberBenefitRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/benefits",
      operationId: "listMemberBenefits",
      tags: ["members"],
      summary: "A member's active benefits",
      description:
        "The benefits active now of the tiers the member holds, one per set (the earning " +
        "set's tier, and in each other set its tier there or the set's base tier), with the " +
        "tier each comes from; then those of the campaigns running for the member now (their " +
        "window, days and tiers). Roles: admin, pos.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos"),
      request: { params: Params },
      responses: {
        200: jsonContent(
          z.object({ benefits: z.array(MemberBenefitSchema) }),
          "The benefits.",
          memberBenefitsExample,
        ),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const found = await listSourcedMemberBenefits(deps.domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
      });
      return c.json({ benefits: found.map(memberBenefitDto) }, 200);
    },
  );
}
