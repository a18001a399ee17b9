/**
 * The audit log: `GET /v1/audit` (admin, finance), the org's entries newest first. Entries are
 * written by the admin actions themselves, in their own transactions; nothing here writes.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { auditPageMax, listAudit } from "../../membership/index.ts";
import { principalOf } from "../env.ts";
import { cursorLengthMax, historyPageDefault } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonContent, orgScopedApp } from "./common.ts";

const dateTime = z.iso.datetime({ offset: true });
const seqCursor = /^[1-9][0-9]{0,18}$/;

const AuditQuery = z.object({
  from: dateTime.optional().openapi({
    description: "Entries at or after this instant (RFC 3339).",
    example: "2026-12-01T00:00:00Z",
  }),
  to: dateTime.optional().openapi({ description: "Entries before this instant (RFC 3339)." }),
  action: z.string().min(1).max(64).optional().openapi({ example: "settings.updated" }),
  target_type: z.string().min(1).max(64).optional().openapi({ example: "webhook" }),
  target_id: z.string().min(1).max(128).optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(auditPageMax)
    .optional()
    .openapi({ description: `Entries per page, default ${historyPageDefault}.` }),
  cursor: z
    .string()
    .min(1)
    .max(cursorLengthMax)
    .regex(seqCursor, "a cursor this route returned")
    .optional()
    .openapi({ description: "`next_cursor` of the previous page." }),
});

const AuditEntrySchema = z
  .object({
    id: z.string(),
    at: z.string(),
    actor_key_id: z.string().nullable().openapi({
      description: "The API key that acted; null for the platform (org creation, the CLI).",
    }),
    action: z.string(),
    target_type: z.string(),
    target_id: z.string(),
    before: z.unknown().openapi({ description: "The object before; null when created." }),
    after: z.unknown().openapi({ description: "The object after; null when deleted." }),
    request_id: z.string().nullable(),
  })
  .openapi("AuditEntry");

const auditExample = {
  entries: [
    {
      id: "3f1c2b7e-9d4a-4c6b-8e2f-1a3b5c7d9e0f",
      at: "2026-12-07T09:30:00.000Z",
      actor_key_id: "5b7d9f1a-2c4e-4a6b-8d0f-1e3a5c7b9d2f",
      action: "settings.updated",
      target_type: "settings",
      target_id: "1d3f5b7a-9c2e-4b6d-8f0a-2c4e6a8b0d1f",
      before: { tierMetric: "points" },
      after: { tierMetric: "spend" },
      request_id: "req-7f3a",
    },
  ],
  next_cursor: null,
};

export function auditRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listAuditEntries",
      tags: ["audit"],
      summary: "The org's audit log",
      description:
        "Every admin action (settings, webhooks, point adjustments, …) with who acted (the API " +
        "key), in which request, and the object before and after, newest first. Filters combine; " +
        "`from` is inclusive, `to` exclusive. Entries can never be changed or removed: the " +
        "database refuses it. Roles: admin, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "finance"),
      request: { query: AuditQuery },
      responses: {
        200: jsonContent(
          z.object({ entries: z.array(AuditEntrySchema), next_cursor: z.string().nullable() }),
          "A page of entries.",
          auditExample,
        ),
        ...errorResponses(400, 401, 403, 429, 503),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await listAudit(deps.domain, {
        orgId: principalOf(c).orgId,
        limit: query.limit ?? historyPageDefault,
        ...(query.from === undefined ? {} : { from: new Date(query.from) }),
        ...(query.to === undefined ? {} : { to: new Date(query.to) }),
        ...(query.action === undefined ? {} : { action: query.action }),
        ...(query.target_type === undefined ? {} : { targetType: query.target_type }),
        ...(query.target_id === undefined ? {} : { targetId: query.target_id }),
        ...(query.cursor === undefined ? {} : { beforeSeq: BigInt(query.cursor) }),
      });
      const last = page.entries.at(-1);
      return c.json(
        {
          entries: page.entries.map((entry) => ({
            id: entry.id,
            at: entry.at.toISOString(),
            actor_key_id: entry.actorKeyId,
            action: entry.action,
            target_type: entry.targetType,
            target_id: entry.targetId,
            before: entry.before,
            after: entry.after,
            request_id: entry.requestId,
          })),
          next_cursor: page.more && last !== undefined ? last.seq.toString() : null,
        },
        200,
      );
    },
  );
  return app;
}
