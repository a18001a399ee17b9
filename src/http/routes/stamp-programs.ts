/**
 * Stamp programs: `POST`, `GET /v1/stamp-programs`, `GET`, `PATCH`, `DELETE
 * /v1/stamp-programs/{id}`, and a member's cards at `GET /v1/members/{id}/stamp-cards`.
 *
 * Roles: admin creates, changes and deactivates (each write audited in its own transaction); admin,
 * pos and finance read. Another org's program is 404, exactly like an unknown one. Stamps per card
 * and the reward are fixed once created (they are the amounts of the completion transfers): a
 * PATCH naming them is refused with 400 `validation_failed` at that field.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createRoute, z } from "@hono/zod-openapi";
import {
  createStampProgram,
  deactivateStampProgram,
  getMemberStampCards,
  getOrg,
  getStampProgram,
  listStampPrograms,
  type MemberStampCard,
  type StampEarnRuleInput,
  type StampProgram,
  type StampProgramPatch,
  stampDefaultsOf,
  updateStampProgram,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import {
  amountMinorMax,
  categoryLengthMax,
  redemptionPointsMax,
  skuLengthMax,
  stampEarnCategoriesMax,
  stampEarnSkusMax,
  stampProgramNameLengthMax,
  stampsPerCardMax,
} from "../limits.ts";
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

const tags = ["stamp-programs"];
const programIdExample = "3f1d2c4b-7a9e-4f60-9b8d-2e5c1a7f0d34";
const fixedFieldMessage =
  "fixed once the program is created (it is part of the completion transfers): create a new " +
  "program instead";

const ProgramParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The stamp program's id.",
    example: programIdExample,
  }),
});

const dateTime = z.iso.datetime({ offset: true });

const EarnRule = z
  .strictObject({
    per: z.enum(["purchase", "item"]).openapi({
      description:
        "`purchase`: one stamp per qualifying purchase; `item`: one per unit (`quantity`) of " +
        "matching items.",
    }),
    min_amount: z
      .number()
      .int()
      .min(1)
      .max(amountMinorMax)
      .optional()
      .openapi({ description: "Smallest purchase amount that earns, in minor units." }),
    categories: z
      .array(z.string().min(1).max(categoryLengthMax))
      .max(stampEarnCategoriesMax)
      .optional()
      .openapi({ description: "Items of these categories match." }),
    skus: z
      .array(z.string().min(1).max(skuLengthMax))
      .max(stampEarnSkusMax)
      .optional()
      .openapi({ description: "Items with these skus match." }),
  })
  .openapi("StampEarnRule", {
    description:
      "Which purchases earn, and how many stamps. With neither `categories` nor `skus` every " +
      "item matches; otherwise an item matches when its category or its sku is listed, and a " +
      "purchase qualifies only with at least one matching item.",
  });

const StampProgramSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    stamps_per_card: z.number().int(),
    earn: z.object({
      per: z.enum(["purchase", "item"]),
      min_amount: z.number().int().nullable(),
      categories: z.array(z.string()),
      skus: z.array(z.string()),
    }),
    reward: z.object({ points: z.number().int() }),
    active_from: z.string().nullable(),
    active_until: z.string().nullable(),
    active: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("StampProgram");

const windowFields = {
  active_from: dateTime.optional().openapi({
    description: "Purchases whose `occurred_at` is at or after this instant earn (RFC 3339).",
    example: "2026-12-01T00:00:00Z",
  }),
  active_until: dateTime.optional().openapi({
    description: "Purchases whose `occurred_at` is before this instant earn (RFC 3339).",
    example: "2027-01-01T00:00:00Z",
  }),
};

const windowOrder = windowOrdered("active_from", "active_until");

const CreateBody = z
  .strictObject({
    name: z.string().min(1).max(stampProgramNameLengthMax),
    stamps_per_card: z
      .number()
      .int()
      .min(1)
      .max(stampsPerCardMax)
      .optional()
      .openapi({
        description:
          "Stamps that fill a card. Fixed once created. When left out, the org's " +
          "`stamp_defaults.stamps_per_card` setting; without one it is required (400).",
      }),
    earn: EarnRule,
    reward: z
      .strictObject({
        points: z.number().int().min(0).max(redemptionPointsMax).openapi({
          description: "Points credited when a card completes. Fixed once created.",
        }),
      })
      .optional()
      .openapi({
        description:
          "What a full card gives. When left out, `points` is the org's " +
          "`stamp_defaults.reward_points` setting; without one it is required (400).",
      }),
    ...windowFields,
  })
  .superRefine(windowOrder)
  .openapi("CreateStampProgram");

/** A field PATCH refuses, documented so that clients see why. */
const fixedField = (description: string) =>
  z
    .unknown()
    .refine(() => false, fixedFieldMessage)
    .optional()
    .openapi({ description: `${description} Refused: ${fixedFieldMessage}.` });

const PatchBody = z
  .strictObject({
    name: z.string().min(1).max(stampProgramNameLengthMax).optional(),
    earn: EarnRule.optional().openapi({ description: "Replaces the earn rule whole." }),
    active_from: windowFields.active_from.unwrap().nullable().optional().openapi({
      description: "A new start of the window (RFC 3339); `null` opens it.",
    }),
    active_until: windowFields.active_until.unwrap().nullable().optional().openapi({
      description: "A new end of the window (RFC 3339); `null` opens it.",
    }),
    active: z.boolean().optional().openapi({
      description: "`true` reactivates a deactivated program; `false` deactivates it.",
    }),
    stamps_per_card: fixedField("Stamps per card."),
    reward: fixedField("The reward."),
  })
  .superRefine(windowOrder)
  .openapi("UpdateStampProgram");

function earnInput(earn: z.output<typeof EarnRule>): StampEarnRuleInput {
  return {
    per: earn.per,
    amountMinMinor: earn.min_amount === undefined ? null : BigInt(earn.min_amount),
    categories: earn.categories ?? [],
    skus: earn.skus ?? [],
  };
}

function toPatch(body: z.output<typeof PatchBody>): StampProgramPatch {
  const at = (value: string | null | undefined): Date | null | undefined =>
    value === undefined || value === null ? value : new Date(value);
  const activeFrom = at(body.active_from);
  const activeUntil = at(body.active_until);
  return {
    ...(body.name === undefined ? {} : { name: body.name }),
    ...(body.earn === undefined ? {} : { earn: earnInput(body.earn) }),
    ...(activeFrom === undefined ? {} : { activeFrom }),
    ...(activeUntil === undefined ? {} : { activeUntil }),
    ...(body.active === undefined ? {} : { active: body.active }),
  };
}

function stampProgramDto(program: StampProgram): z.output<typeof StampProgramSchema> {
  return {
    id: program.id,
    name: program.name,
    stamps_per_card: wireInteger(program.stampsRequired),
    earn: {
      per: program.earn.per,
      min_amount:
        program.earn.amountMinMinor === null ? null : wireInteger(program.earn.amountMinMinor),
      categories: [...program.earn.categories],
      skus: [...program.earn.skus],
    },
    reward: { points: wireInteger(program.rewardPoints) },
    active_from: program.activeFrom?.toISOString() ?? null,
    active_until: program.activeUntil?.toISOString() ?? null,
    active: program.active,
    created_at: program.createdAt.toISOString(),
    updated_at: program.updatedAt.toISOString(),
  };
}

const programExample: z.output<typeof StampProgramSchema> = {
  id: programIdExample,
  name: "Coffee card",
  stamps_per_card: 10,
  earn: { per: "item", min_amount: 300, categories: ["coffee"], skus: [] },
  reward: { points: 150 },
  active_from: "2026-12-01T00:00:00.000Z",
  active_until: null,
  active: true,
  created_at: "2026-11-20T09:00:00.000Z",
  updated_at: "2026-11-20T09:00:00.000Z",
};

/**
 * The card size and reward of a new program: the body's, else the org's `stamp_defaults`; a field
 * with neither is 400 `validation_failed` at that field, before anything is written.
 */
async function withStampDefaults(
  deps: RouteDeps,
  orgId: string,
  body: z.output<typeof CreateBody>,
): Promise<{ stampsRequired: bigint; rewardPoints: bigint }> {
  let defaults: ReturnType<typeof stampDefaultsOf> = { stampsPerCard: null, rewardPoints: null };
  if (body.stamps_per_card === undefined || body.reward === undefined) {
    defaults = stampDefaultsOf((await getOrg(deps.domain, { orgId })).settings);
  }
  const stampsRequired =
    body.stamps_per_card === undefined ? defaults.stampsPerCard : BigInt(body.stamps_per_card);
  const rewardPoints =
    body.reward === undefined ? defaults.rewardPoints : BigInt(body.reward.points);
  const issues: Array<{ path: string; message: string }> = [];
  if (stampsRequired === null) {
    issues.push({
      path: "stamps_per_card",
      message: "is required: the org has no stamp_defaults.stamps_per_card setting",
    });
  }
  if (rewardPoints === null) {
    issues.push({
      path: "reward",
      message: "is required: the org has no stamp_defaults.reward_points setting",
    });
  }
  if (stampsRequired === null || rewardPoints === null) {
    throw new ApiError(400, "validation_failed", "invalid request body", {
      target: "body",
      issues,
    });
  }
  return { stampsRequired, rewardPoints };
}

const ProgramEnvelope = z.object({ stamp_program: StampProgramSchema });

export function stampProgramsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createStampProgram",
      tags,
      summary: "Create a stamp program",
      description:
        "A stamp card with its own ledger. Purchases earn stamps as `earn` says, while their " +
        "`occurred_at` is within [`active_from`, `active_until`); a card holding " +
        "`stamps_per_card` stamps completes at once, on the ledger, crediting `reward.points`, " +
        "and stamps beyond it stay on the next card. `stamps_per_card` and `reward` are fixed " +
        "once created. Written to the audit log (`stamp_program.created`). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        headers: IdempotencyHeaders,
        body: jsonBody(CreateBody, {
          name: "Coffee card",
          stamps_per_card: 10,
          earn: { per: "item", min_amount: 300, categories: ["coffee"] },
          reward: { points: 150 },
          active_from: "2026-12-01T00:00:00Z",
        }),
      },
      responses: {
        201: jsonContent(ProgramEnvelope, "The program.", { stamp_program: programExample }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const { orgId } = principalOf(c);
      const { stampsRequired, rewardPoints } = await withStampDefaults(deps, orgId, body);
      const program = await createStampProgram(domain, {
        orgId,
        name: body.name,
        stampsRequired,
        rewardPoints,
        earn: earnInput(body.earn),
        activeFrom: body.active_from === undefined ? null : new Date(body.active_from),
        activeUntil: body.active_until === undefined ? null : new Date(body.active_until),
        actor: actorOf(c),
      });
      return c.json({ stamp_program: stampProgramDto(program) }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listStampPrograms",
      tags,
      summary: "The org's stamp programs",
      description:
        "Every program, active or deactivated, oldest first (an org has at most 16). " +
        "Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      responses: {
        200: jsonContent(
          z.object({ stamp_programs: z.array(StampProgramSchema) }),
          "The programs.",
          { stamp_programs: [programExample] },
        ),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const programs = await listStampPrograms(domain, { orgId: principalOf(c).orgId });
      return c.json({ stamp_programs: programs.map(stampProgramDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getStampProgram",
      tags,
      summary: "Get a stamp program",
      description: "Active or deactivated. Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: ProgramParams },
      responses: {
        200: jsonContent(ProgramEnvelope, "The program.", { stamp_program: programExample }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const program = await getStampProgram(domain, {
        orgId: principalOf(c).orgId,
        programId: id,
      });
      return c.json({ stamp_program: stampProgramDto(program) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/{id}",
      operationId: "updateStampProgram",
      tags,
      summary: "Change a stamp program",
      description:
        "Only the fields given change: `name`, `earn` (replaced whole), the window " +
        "(`active_from`, `active_until`; `null` opens a side) and `active`. `stamps_per_card` " +
        "and `reward` cannot change: they are the amounts of the card completions on the " +
        "ledger, so a request naming them is refused with 400 `validation_failed` at that " +
        "field. A window ending before it starts is 400 too: `invalid_input` naming " +
        "`active_until` when only the stored bound shows it. A change applies to purchases " +
        "recorded after it (other API processes may use the previous rules for a few " +
        "seconds); stamps already earned stay. Written to the audit log " +
        "(`stamp_program.updated`, before and after). Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: {
        params: ProgramParams,
        body: jsonBody(PatchBody, {
          name: "Coffee & pastry card",
          earn: { per: "item", categories: ["coffee", "pastry"] },
          active_until: "2027-06-30T00:00:00Z",
        }),
      },
      responses: {
        200: jsonContent(ProgramEnvelope, "The program as changed.", {
          stamp_program: {
            ...programExample,
            name: "Coffee & pastry card",
            earn: { per: "item", min_amount: null, categories: ["coffee", "pastry"], skus: [] },
            active_until: "2027-06-30T00:00:00.000Z",
            updated_at: "2026-12-07T09:30:00.000Z",
          },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const program = await updateStampProgram(domain, {
        orgId: principalOf(c).orgId,
        programId: id,
        patch: toPatch(body),
        actor: actorOf(c),
      });
      return c.json({ stamp_program: stampProgramDto(program) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      operationId: "deactivateStampProgram",
      tags,
      summary: "Deactivate a stamp program",
      description:
        "No purchase earns stamps in it any more (other API processes may still grant them for " +
        "a few seconds); members' cards and their stamps stay readable, and nothing is deleted. " +
        "A program already inactive is answered as it is. `PATCH` with `active: true` " +
        "reactivates it. Written to the audit log (`stamp_program.deactivated`). Role: admin.",
      security: apiKeySecurity,
      middleware: [requireRole("admin")] as const,
      request: { params: ProgramParams },
      responses: {
        200: jsonContent(ProgramEnvelope, "The program, inactive.", {
          stamp_program: {
            ...programExample,
            active: false,
            updated_at: "2026-12-07T09:30:00.000Z",
          },
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const program = await deactivateStampProgram(domain, {
        orgId: principalOf(c).orgId,
        programId: id,
        actor: actorOf(c),
      });
      return c.json({ stamp_program: stampProgramDto(program) }, 200);
    },
  );

  return app;
}

const StampCardSchema = z
  .object({
    program_id: z.string(),
    name: z.string(),
    active: z.boolean().openapi({ description: "Whether the program still grants stamps." }),
    stamps: z.number().int().openapi({ description: "Stamps on the card now." }),
    stamps_per_card: z.number().int(),
    completions: z.number().int().openapi({ description: "Cards completed so far." }),
  })
  .openapi("StampCard");

function stampCardDto(card: MemberStampCard): z.output<typeof StampCardSchema> {
  return {
    program_id: card.programId,
    name: card.name,
    active: card.active,
    stamps: wireInteger(card.stamps),
    stamps_per_card: wireInteger(card.stampsRequired),
    completions: card.completions,
  };
}

/** `GET /v1/members/{id}/stamp-cards`, on the members sub-app. */
export function registerStampCardRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/stamp-cards",
      operationId: "getMemberStampCards",
      tags,
      summary: "A member's stamp cards",
      description:
        "One card per program the member has earned a stamp in, deactivated programs' " +
        "included, oldest program first: the stamps on it now (from the ledger) and how many " +
        "cards were completed. Roles: admin, pos, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "pos", "finance"),
      request: { params: Params },
      responses: {
        200: jsonContent(z.object({ stamp_cards: z.array(StampCardSchema) }), "The cards.", {
          stamp_cards: [
            {
              program_id: programIdExample,
              name: "Coffee card",
              active: true,
              stamps: 7,
              stamps_per_card: 10,
              completions: 2,
            },
          ],
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const cards = await getMemberStampCards(deps.domain, {
        orgId: principalOf(c).orgId,
        memberId: id,
      });
      return c.json({ stamp_cards: cards.map(stampCardDto) }, 200);
    },
  );
}
