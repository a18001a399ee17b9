/**
 * The rewards catalog: `POST`, `GET /v1/rewards`, `GET` and `PATCH /v1/rewards/{id}`.
 *
 * Roles: admin creates and changes (each write audited in its own transaction); admin and pos
 * read. Another org's reward is 404, exactly like an unknown one. `kind` is fixed once created: a
 * PATCH naming it is refused with 400 `validation_failed` at that field. Rewards are redeemed
 * through `POST /v1/members/{id}/redemptions` with a `reward_id` (members.ts); members read the
 * catalog through `GET /v1/me/rewards` (me.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  createReward,
  getReward,
  listRewards,
  membershipLimits,
  type Reward,
  type RewardPatch,
  rewardKinds,
  updateReward,
} from "../../membership/index.ts";
import { actorOf, principalOf } from "../env.ts";
import { amountMinorMax, redemptionPointsMax } from "../limits.ts";
import { IdempotencyHeaders, uuidParam, wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonBody,
  jsonContent,
  orgOf,
  orgScopedApp,
  requireRoleOrMember,
  windowOrdered,
  writeGuards,
} from "./common.ts";

const tags = ["rewards"];
const rewardIdExample = "8c2f4e1a-6b3d-4a9e-b7c5-0d1e2f3a4b5c";
const tierIdExample = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const dateTime = z.iso.datetime({ offset: true });
const countMax = membershipLimits.rewardCountMax;

const RewardParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The reward's id.",
    example: rewardIdExample,
  }),
});

export const RewardSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    kind: z.enum(rewardKinds),
    cost_points: z.number().int(),
    value_minor: z.number().int().nullable(),
    inventory: z.number().int().nullable().openapi({
      description:
        "Units offered in all (on hand, held by pending redemptions, given out); null: unlimited.",
    }),
    min_tier_id: z.string().nullable(),
    active_from: z.string().nullable(),
    active_until: z.string().nullable(),
    per_member_limit: z.number().int().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Reward");

const RewardEnvelope = z.object({ reward: RewardSchema });

export const rewardExample: z.output<typeof RewardSchema> = {
  id: rewardIdExample,
  name: "€5 voucher",
  description: "Five euros off any purchase.",
  kind: "voucher",
  cost_points: 500,
  value_minor: 500,
  inventory: 1000,
  min_tier_id: null,
  active_from: "2026-12-01T00:00:00.000Z",
  active_until: "2027-01-01T00:00:00.000Z",
  per_member_limit: 2,
  created_at: "2026-11-20T09:00:00.000Z",
  updated_at: "2026-11-20T09:00:00.000Z",
};

const fields = {
  name: z.string().min(1).max(membershipLimits.rewardNameLengthMax),
  description: z.string().max(membershipLimits.rewardDescriptionLengthMax).openapi({
    description: "Shown to members.",
  }),
  cost_points: z.number().int().min(1).max(redemptionPointsMax).openapi({
    description: "Points a member spends on one.",
  }),
  value_minor: z
    .number()
    .int()
    .min(1)
    .max(amountMinorMax)
    .openapi({
      description:
        "What a voucher or cashback is worth, in minor units of the org's currency: required " +
        "for them, refused for an item.",
    }),
  inventory: z
    .number()
    .int()
    .min(0)
    .max(countMax)
    .openapi({
      description:
        "Units offered in all; `null` or absent: unlimited. The units are stocked on the org's " +
        "inventory ledger: raising it stocks the difference, lowering it withdraws units on " +
        "hand, never those held by pending redemptions or given out (the answer then shows the " +
        "inventory where it stopped).",
    }),
  min_tier_id: uuidParam.openapi({
    description: "One of the org's tiers: members ranking below it may not have the reward.",
  }),
  active_from: dateTime.openapi({
    description: "Offered from this instant (RFC 3339 with offset); open when absent.",
  }),
  active_until: dateTime.openapi({
    description: "Offered before this instant (RFC 3339 with offset); open when absent.",
  }),
  per_member_limit: z.number().int().min(1).max(countMax).openapi({
    description: "Times one member may have it; no limit when absent.",
  }),
};

const windowOrder = windowOrdered("active_from", "active_until");

const CreateBody = z
  .strictObject({
    name: fields.name,
    description: fields.description.optional(),
    kind: z.enum(rewardKinds).openapi({
      description:
        "`item`: a thing handed over; `voucher` and `cashback`: worth `value_minor`. Fixed once " +
        "created.",
    }),
    cost_points: fields.cost_points,
    value_minor: fields.value_minor.optional(),
    inventory: fields.inventory.nullable().optional(),
    min_tier_id: fields.min_tier_id.optional(),
    active_from: fields.active_from.optional(),
    active_until: fields.active_until.optional(),
    per_member_limit: fields.per_member_limit.optional(),
  })
  .superRefine((body, context) => {
    if (body.kind === "item" && body.value_minor !== undefined) {
      context.addIssue({
        code: "custom",
        path: ["value_minor"],
        message: "is not allowed for an item",
      });
    }
    if (body.kind !== "item" && body.value_minor === undefined) {
      context.addIssue({
        code: "custom",
        path: ["value_minor"],
        message: `is required for a ${body.kind}`,
      });
    }
    windowOrder(body, context);
  })
  .openapi("CreateReward");

const kindFixedMessage = "fixed once the reward is created: create a new reward instead";

const PatchBody = z
  .strictObject({
    name: fields.name.optional(),
    description: fields.description.nullable().optional(),
    cost_points: fields.cost_points.optional(),
    value_minor: fields.value_minor.nullable().optional(),
    inventory: fields.inventory.nullable().optional(),
    min_tier_id: fields.min_tier_id.nullable().optional(),
    active_from: fields.active_from.nullable().optional(),
    active_until: fields.active_until.nullable().optional(),
    per_member_limit: fields.per_member_limit.nullable().optional(),
    kind: z
      .unknown()
      .refine(() => false, kindFixedMessage)
      .optional()
      .openapi({ description: `Refused: ${kindFixedMessage}.` }),
  })
  .superRefine(windowOrder)
  .openapi("UpdateReward");

function at(value: string | null | undefined): Date | null | undefined {
  return value === undefined || value === null ? value : new Date(value);
}

function big(value: number | null | undefined): bigint | null | undefined {
  return value === undefined || value === null ? value : BigInt(value);
}

function toPatch(body: z.output<typeof PatchBody>): RewardPatch {
  const patch: RewardPatch = {};
  const entries: Array<[keyof RewardPatch, unknown]> = [
    ["name", body.name],
    ["description", body.description],
    ["costPoints", big(body.cost_points)],
    ["valueMinor", big(body.value_minor)],
    ["inventory", big(body.inventory)],
    ["minTierId", body.min_tier_id],
    ["activeFrom", at(body.active_from)],
    ["activeUntil", at(body.active_until)],
    ["perMemberLimit", body.per_member_limit],
  ];
  for (const [key, value] of entries) {
    if (value !== undefined) {
      Object.assign(patch, { [key]: value });
    }
  }
  return patch;
}

export function rewardDto(reward: Reward): z.output<typeof RewardSchema> {
  return {
    id: reward.id,
    name: reward.name,
    description: reward.description,
    kind: reward.kind,
    cost_points: wireInteger(reward.costPoints),
    value_minor: reward.valueMinor === null ? null : wireInteger(reward.valueMinor),
    inventory: reward.inventory === null ? null : wireInteger(reward.inventory),
    min_tier_id: reward.minTierId,
    active_from: reward.activeFrom?.toISOString() ?? null,
    active_until: reward.activeUntil?.toISOString() ?? null,
    per_member_limit: reward.perMemberLimit,
    created_at: reward.createdAt.toISOString(),
    updated_at: reward.updatedAt.toISOString(),
  };
}

export function rewardsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps, { memberReads: true });
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createReward",
      tags,
      summary: "Add a reward to the catalog",
      description:
        "What members may spend `cost_points` on: an `item`, or a `voucher` or `cashback` worth " +
        "`value_minor`. Optional: a stock (`inventory`, unlimited when absent or `null`), a " +
        "minimum tier (`min_tier_id`, one of the org's tiers, else 400 at that field), a window " +
        "[`active_from`, `active_until`) and a `per_member_limit`. A limited inventory is " +
        "stocked on the org's inventory ledger; redemptions (`POST " +
        "/v1/members/{id}/redemptions` with `reward_id`) hold its units. Written to the audit log " +
        "(`reward.created`). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateBody, {
          name: "€5 voucher",
          description: "Five euros off any purchase.",
          kind: "voucher",
          cost_points: 500,
          value_minor: 500,
          inventory: 1000,
          active_from: "2026-12-01T00:00:00Z",
          active_until: "2027-01-01T00:00:00Z",
          per_member_limit: 2,
        }),
      },
      responses: {
        201: jsonContent(RewardEnvelope, "The reward.", { reward: rewardExample }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const reward = await createReward(domain, {
        orgId: principalOf(c).orgId,
        name: body.name,
        description: body.description ?? null,
        kind: body.kind,
        costPoints: BigInt(body.cost_points),
        valueMinor: big(body.value_minor) ?? null,
        inventory: big(body.inventory) ?? null,
        minTierId: body.min_tier_id ?? null,
        activeFrom: at(body.active_from) ?? null,
        activeUntil: at(body.active_until) ?? null,
        perMemberLimit: body.per_member_limit ?? null,
        actor: actorOf(c),
      });
      return c.json({ reward: rewardDto(reward) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listRewards",
      tags,
      summary: "The org's rewards catalog",
      description:
        `Every reward, oldest first (at most ${membershipLimits.rewardsPerOrgMax} per org), ` +
        "whether or not its window is open. Roles: admin, pos, and member tokens (the member's " +
        "org's catalog; `GET /v1/me/rewards` adds what this member can redeem now).",
      security: [...apiKeySecurity, { memberToken: [] }],
      middleware: requireRoleOrMember("admin", "pos"),
      responses: {
        200: jsonContent(z.object({ rewards: z.array(RewardSchema) }), "The rewards.", {
          rewards: [rewardExample],
        }),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const found = await listRewards(domain, { orgId: orgOf(c) });
      return c.json({ rewards: found.map(rewardDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getReward",
      tags,
      summary: "Get a reward",
      description: "Roles: admin, pos, and member tokens (their org's rewards).",
      security: [...apiKeySecurity, { memberToken: [] }],
      middleware: requireRoleOrMember("admin", "pos"),
      request: { params: RewardParams },
      responses: {
        200: jsonContent(RewardEnvelope, "The reward.", { reward: rewardExample }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const reward = await getReward(domain, { orgId: orgOf(c), rewardId: id });
      return c.json({ reward: rewardDto(reward) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/{id}",
      operationId: "updateReward",
      tags,
      summary: "Change a reward",
      description:
        "Only the fields given change; `null` clears an optional one (`description`, " +
        "`inventory`: unlimited, `min_tier_id`, a window side, `per_member_limit`). `kind` " +
        "cannot change: a request naming it is 400 `validation_failed` at that field. The " +
        "merged reward is checked: a voucher or cashback keeps a `value_minor`, an item never " +
        "has one, and a window ends after it starts (400 `invalid_input` naming the field when " +
        "only the stored values show it). Written to the audit log (`reward.updated`, before " +
        "and after). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: RewardParams,
        body: jsonBody(PatchBody, {
          cost_points: 450,
          inventory: null,
          min_tier_id: tierIdExample,
          active_until: null,
        }),
      },
      responses: {
        200: jsonContent(RewardEnvelope, "The reward as changed.", {
          reward: {
            ...rewardExample,
            cost_points: 450,
            inventory: null,
            min_tier_id: tierIdExample,
            active_until: null,
            updated_at: "2026-12-07T09:30:00.000Z",
          },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const reward = await updateReward(domain, {
        orgId: principalOf(c).orgId,
        rewardId: id,
        patch: toPatch(body),
        actor: actorOf(c),
      });
      return c.json({ reward: rewardDto(reward) }, 200);
    },
  );

  return app;
}
