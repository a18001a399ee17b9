/**
 * Members' privacy rights, for the org's admins: `POST /v1/members/{id}/erase` (the right to be
 * forgotten) and `GET /v1/members/{id}/export` (the right of access: everything held about the
 * member, as JSON). Registered on the members sub-app.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createRoute, z } from "@hono/zod-openapi";
import {
  createFieldCipher,
  eraseMember,
  getMember,
  getMemberBalances,
  getMemberHistory,
  listMemberTiers,
} from "../../membership/index.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf } from "../env.ts";
import { purgeIdempotentAnswersMentioning } from "../idempotency.ts";
import { historyPageMax } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import {
  BalancesSchema,
  balancesDto,
  HistoryEntrySchema,
  historyEntryDto,
  IdempotencyHeaders,
  MemberSchema,
  memberDto,
  type uuidParam,
} from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonContent, writeGuards } from "./common.ts";

/** History pages an export reads at most: 50 × 200 = 10,000 entries, then `truncated`. */
const exportHistoryPagesMax = 50;

const ExportSchema = z
  .object({
    exported_at: z.string(),
    member: MemberSchema,
    balances: BalancesSchema,
    tier_history: z.array(
      z.object({ tier_id: z.string(), reason: z.string(), effective_at: z.string() }),
    ),
    history: z.array(HistoryEntrySchema).openapi({ description: "Newest first." }),
    history_truncated: z.boolean().openapi({
      description: `True when the history had more than ${exportHistoryPagesMax * historyPageMax} entries.`,
    }),
  })
  .openapi("MemberExport");

export function registerPrivacyRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: RouteDeps,
  Params: z.ZodObject<{ id: typeof uuidParam }>,
): void {
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/erase",
      operationId: "eraseMember",
      tags: ["members"],
      summary: "Erase a member's personal data",
      description:
        "Irreversibly deletes the member's names, e-mail and phone (ciphertexts and lookup " +
        "hashes): the member can no longer be found by e-mail or phone, profile changes sent " +
        "through `POST /v1/events` are scrubbed, and stored `Idempotency-Key` answers that " +
        "contained the member are purged. The member stays, anonymous, with its external " +
        "reference, tier, ledger and balances. Writes `member.erased` and an audit entry. " +
        "Erasing again answers the member unchanged. Role: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      request: { headers: IdempotencyHeaders, params: Params },
      responses: {
        200: jsonContent(z.object({ member: MemberSchema }), "The member, erased.", {
          member: {
            id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
            external_ref: "card-000123",
            status: "active",
            tier_id: "2b4d6f8a-1c3e-4a5b-8d7f-9e0a1b2c3d4e",
            email: null,
            phone: null,
            first_name: null,
            last_name: null,
            date_of_birth: "1990-04-12",
            preferences: {
              notifications: { email: true, sms: false, push: true },
              marketing_opt_in: false,
            },
            referral_code: "K7M2QX9PTA",
            erased_at: "2026-12-07T10:00:00.000Z",
            created_at: "2026-01-31T12:00:00.000Z",
            updated_at: "2026-12-07T10:00:00.000Z",
          },
        }),
        ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const orgId = principalOf(c).orgId;
      const { member } = await eraseMember(domain, { orgId, memberId: id, actor: actorOf(c) });
      // After the erasure committed; a retry of the erasure (idempotent) purges again.
      await purgeIdempotentAnswersMentioning(
        deps.app.db,
        createFieldCipher(deps.app.secrets.piiEncryptionKey),
        orgId,
        id,
      );
      return c.json({ member: memberDto(member) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/export",
      operationId: "exportMember",
      tags: ["members"],
      summary: "Everything held about a member",
      description:
        "A data subject access request: the member with its personal data, balances, tier " +
        `history and point history (up to ${exportHistoryPagesMax * historyPageMax} entries, ` +
        "newest first), as JSON. Role: admin.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      request: { params: Params },
      responses: {
        200: jsonContent(ExportSchema, "The member's data.", {
          exported_at: "2026-12-07T10:00:00.000Z",
          member: {
            id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
            external_ref: "card-000123",
            status: "active",
            tier_id: "2b4d6f8a-1c3e-4a5b-8d7f-9e0a1b2c3d4e",
            email: "ada@example.org",
            phone: null,
            first_name: "Ada",
            last_name: "Lovelace",
            date_of_birth: "1990-04-12",
            preferences: {
              notifications: { email: true, sms: false, push: true },
              marketing_opt_in: false,
            },
            referral_code: "K7M2QX9PTA",
            erased_at: null,
            created_at: "2026-01-31T12:00:00.000Z",
            updated_at: "2026-01-31T12:00:00.000Z",
          },
          balances: {
            points: { available: 119, pending: 0, lifetime_earned: 119, lifetime_redeemed: 0 },
            stamps: [],
            expiring: [],
          },
          tier_history: [
            {
              tier_id: "2b4d6f8a-1c3e-4a5b-8d7f-9e0a1b2c3d4e",
              reason: "enrollment",
              effective_at: "2026-01-31T12:00:00.000Z",
            },
          ],
          history: [],
          history_truncated: false,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const orgId = principalOf(c).orgId;
      const member = await getMember(domain, { orgId, memberId: id });
      const balances = await getMemberBalances(domain, { orgId, memberId: id });
      const tiers = await listMemberTiers(domain, { orgId, memberId: id });
      const history = [];
      let cursor: string | undefined;
      let truncated = false;
      for (let page = 0; ; page += 1) {
        if (page === exportHistoryPagesMax) {
          truncated = true;
          break;
        }
        const read = await getMemberHistory(domain, {
          orgId,
          memberId: id,
          limit: historyPageMax,
          ...(cursor === undefined ? {} : { cursor }),
        });
        history.push(...read.entries.map(historyEntryDto));
        if (read.nextCursor === null) {
          break;
        }
        cursor = read.nextCursor;
      }
      return c.json(
        {
          exported_at: new Date().toISOString(),
          member: memberDto(member),
          balances: balancesDto(balances),
          tier_history: tiers.map((entry) => ({
            tier_id: entry.tierId,
            reason: entry.reason,
            effective_at: entry.effectiveAt.toISOString(),
          })),
          history,
          history_truncated: truncated,
        },
        200,
      );
    },
  );
}
