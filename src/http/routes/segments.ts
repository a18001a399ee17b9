/**
 * RFM segmentation: segment counts and members (mounted at /v1/segments), the on-demand rebuild
 * (/v1/rfm) and the status of an org's job (/v1/jobs). A member's own RFM is in members.ts.
 *
 * Roles: admin and finance read segments; admin rebuilds and reads jobs. Another org's job id is
 * 404 like an unknown one: the job's data names its org and is checked on every read.
 */
import { randomUUID } from "node:crypto";
import { createRoute, z } from "@hono/zod-openapi";
import {
  DomainError,
  listSegmentMembers,
  listSegments,
  type MemberRfm,
  rfmSegmentNames,
  segmentMembersPageMax,
} from "../../membership/index.ts";
import type { JobProducer } from "../../workers/index.ts";
import { rfmJobNames, viewJob } from "../../workers/index.ts";
import { principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import { cursorLengthMax } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import { wireInteger } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";

const tags = ["rfm"];
const segmentsPageDefault = 100;
/** Job ids this API hands out: `rfm-rebuild-<uuid>`, nightly ones `rfm-nightly-<day>-<org>`. */
const jobIdPattern = /^rfm-[a-z]+-[0-9a-z-]{1,100}$/;

const SegmentName = z.enum(rfmSegmentNames).openapi({
  description:
    "A segment's display name (URL-encoded in a path), or `none`: no counted purchase in the " +
    "window.",
  example: "Champions",
});

/** A member's RFM on the wire; shared with GET /v1/members/{id}/rfm. */
export const MemberRfmSchema = z
  .object({
    recency_days: z.number().int().nullable().openapi({
      description: "Whole days since the last counted purchase's `occurred_at`; null for `none`.",
    }),
    frequency: z.number().int().openapi({
      description: "Purchases in the window, those refunded in full not counted.",
    }),
    monetary: z.number().int().openapi({
      description: "Net spend in the window, minor units of the org's currency.",
    }),
    r: z.number().int().min(1).max(5).nullable(),
    f: z.number().int().min(1).max(5).nullable(),
    m: z.number().int().min(1).max(5).nullable(),
    segment: SegmentName,
    computed_at: z.string().nullable().openapi({
      description: "When it was computed (rebuild or re-score); null when never scored.",
    }),
  })
  .openapi("MemberRfm");

export const memberRfmExample = {
  recency_days: 3,
  frequency: 7,
  monetary: 50_000,
  r: 4,
  f: 5,
  m: 4,
  segment: "Loyal Customers",
  computed_at: "2026-12-07T02:30:04.120Z",
} satisfies z.output<typeof MemberRfmSchema>;

export function memberRfmDto(rfm: MemberRfm): z.output<typeof MemberRfmSchema> {
  return {
    recency_days: rfm.recencyDays,
    frequency: rfm.frequency,
    monetary: wireInteger(rfm.monetaryMinor),
    r: rfm.r,
    f: rfm.f,
    m: rfm.m,
    segment: rfm.segment,
    computed_at: rfm.computedAt === null ? null : rfm.computedAt.toISOString(),
  };
}

function producerOf(deps: RouteDeps): JobProducer {
  if (deps.app.jobs === undefined) {
    throw new ApiError(503, "unavailable", "jobs cannot be queued by this process");
  }
  return deps.app.jobs;
}

export function segmentsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listSegments",
      tags,
      summary: "RFM segments and their member counts",
      description:
        "Every segment with its member count, as of the last rebuild and the re-scores since " +
        "(each purchase or refund re-scores its member). `none` counts every other member. " +
        "Roles: admin, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "finance"),
      responses: {
        200: jsonContent(
          z.object({
            computed_at: z.string().nullable(),
            segments: z.array(z.object({ name: SegmentName, members: z.number().int() })),
          }),
          "Counts per segment; `computed_at` is the last rebuild (null: never rebuilt).",
          {
            computed_at: "2026-12-07T02:30:04.120Z",
            segments: [
              { name: "Champions", members: 812 },
              { name: "Cannot Lose Them", members: 95 },
              { name: "none", members: 2_304 },
            ],
          },
        ),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const counts = await listSegments(deps.domain, { orgId: principalOf(c).orgId });
      return c.json(
        {
          computed_at: counts.computedAt === null ? null : counts.computedAt.toISOString(),
          segments: counts.segments,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/members",
      operationId: "listSegmentMembers",
      tags,
      summary: "Members of an RFM segment",
      description:
        "The segment's members by member id, with their RFM. The name is the display name, " +
        "URL-encoded (`Cannot%20Lose%20Them`). Page with `cursor`. Roles: admin, finance.",
      security: apiKeySecurity,
      middleware: requireRole("admin", "finance"),
      request: {
        params: z.object({
          name: z
            .string()
            .min(1)
            .max(64)
            .openapi({
              param: { name: "name", in: "path" },
              description: "The segment's display name, URL-encoded.",
              example: "Cannot%20Lose%20Them",
            }),
        }),
        query: z.object({
          limit: z.coerce
            .number()
            .int()
            .min(1)
            .max(segmentMembersPageMax)
            .optional()
            .openapi({ description: `Members per page, default ${segmentsPageDefault}.` }),
          cursor: z
            .string()
            .min(1)
            .max(cursorLengthMax)
            .optional()
            .openapi({ description: "`next_cursor` of the previous page." }),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({
            members: z.array(
              MemberRfmSchema.extend({ member_id: z.string(), external_ref: z.string() }),
            ),
            next_cursor: z.string().nullable(),
          }),
          "One page of the segment's members.",
          {
            members: [
              {
                member_id: "8c2e4f1a-3b5d-4e7f-9a1c-6d8b0e2f4a57",
                external_ref: "card-000123",
                ...memberRfmExample,
                segment: "Cannot Lose Them",
                recency_days: 140,
                r: 2,
                f: 5,
                m: 5,
              },
            ],
            next_cursor: "czEuOGMyZTRmMWEtM2I1ZC00ZTdmLTlhMWMtNmQ4YjBlMmY0YTU3",
          },
        ),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const query = c.req.valid("query");
      const page = await listSegmentMembers(deps.domain, {
        orgId: principalOf(c).orgId,
        segment: name,
        limit: query.limit ?? segmentsPageDefault,
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
      return c.json(
        {
          members: page.members.map((member) => ({
            member_id: member.memberId,
            external_ref: member.externalRef,
            ...memberRfmDto(member),
          })),
          next_cursor: page.nextCursor,
        },
        200,
      );
    },
  );

  return app;
}

export function rfmRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "post",
      path: "/rebuild",
      operationId: "rebuildRfm",
      tags,
      summary: "Rebuild the org's RFM segments now",
      description:
        "Queues a rebuild from the ledger (the nightly one runs at 02:30 UTC). Follow it with " +
        "GET /v1/jobs/{job_id}. Roles: admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["admin"]),
      responses: {
        202: jsonContent(z.object({ job_id: z.string() }), "Queued.", {
          job_id: "rfm-rebuild-5b0e1c7a-2f4d-4a8e-9c3b-7d1f0e6a2b48",
        }),
        ...errorResponses(401, 403, 409, 429, 503),
      },
    }),
    async (c) => {
      const orgId = principalOf(c).orgId;
      // Random ids: another org cannot guess one (and each is checked against its org anyway).
      const jobId = await producerOf(deps).add(
        "rfm",
        { orgId, reason: "on_demand" },
        { name: rfmJobNames.rebuild, jobId: `rfm-rebuild-${randomUUID()}` },
      );
      return c.json({ job_id: jobId }, 202);
    },
  );

  return app;
}

export function jobsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "get",
      path: "/{job_id}",
      operationId: "getJob",
      tags,
      summary: "A job's status",
      description:
        "`queued` (also while a failed attempt waits to be retried), `running`, `completed` " +
        "with its `result`, or `failed` (no attempts left). `progress` is a percentage. Another " +
        "org's job is 404. Roles: admin.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      request: {
        params: z.object({
          job_id: z
            .string()
            .min(1)
            .max(140)
            .openapi({
              param: { name: "job_id", in: "path" },
              example: "rfm-rebuild-5b0e1c7a-2f4d-4a8e-9c3b-7d1f0e6a2b48",
            }),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({
            job_id: z.string(),
            status: z.enum(["queued", "running", "completed", "failed"]),
            progress: z.number().int().min(0).max(100),
            result: z.record(z.string(), z.unknown()).nullable(),
          }),
          "The job.",
          {
            job_id: "rfm-rebuild-5b0e1c7a-2f4d-4a8e-9c3b-7d1f0e6a2b48",
            status: "completed",
            progress: 100,
            result: {
              population: 97_412,
              changed: 1_893,
              transfers_read: 1_009_833,
              computed_at: "2026-12-07T09:14:31.004Z",
            },
          },
        ),
        ...errorResponses(401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { job_id: jobId } = c.req.valid("param");
      const orgId = principalOf(c).orgId;
      const notFound = new DomainError("not_found", "job not found", { jobId });
      if (!jobIdPattern.test(jobId)) {
        throw notFound;
      }
      const producer = producerOf(deps);
      const found = await producer.getJob("rfm", jobId);
      const data: unknown = found?.data;
      if (
        found === undefined ||
        typeof data !== "object" ||
        data === null ||
        (data as { orgId?: unknown }).orgId !== orgId
      ) {
        throw notFound;
      }
      // The state first, then the job read again: a job read before it completed lacks its result.
      const state = await found.getState();
      const job = (await producer.getJob("rfm", jobId)) ?? found;
      const view = viewJob(job, state);
      return c.json({ job_id: jobId, ...view }, 200);
    },
  );

  return app;
}
