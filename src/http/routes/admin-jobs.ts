/**
 * An org admin's view of its own failed jobs: the list, and a retry. Mounted at /v1/admin/jobs.
 * Jobs of every org share the queues; each job's data names its org, and only the caller's jobs
 * are listed or retried (another org's job id is 404, exactly like an unknown one). Operators
 * see every org's jobs on the dashboard at /admin/queues.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Job } from "bullmq";
import { DomainError } from "../../membership/index.ts";
import { isQueueName, type JobProducer, queueNames } from "../../workers/index.ts";
import { principalOf } from "../env.ts";
import { ApiError } from "../errors.ts";
import { requireRole } from "../middleware.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonContent, orgScopedApp } from "./common.ts";

const tags = ["jobs"];
/** Failed jobs looked at per queue (newest first) when listing: bounds the cost of a request. */
export const failedJobsScannedMax = 5_000;
const scanPage = 500;
const listDefault = 50;
const listMax = 200;

const JobSchema = z
  .object({
    queue: z.enum(queueNames),
    id: z.string(),
    name: z.string(),
    state: z.string(),
    attempts_made: z.number().int(),
    failed_reason: z.string().nullable(),
    failed_at: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi("Job");

const jobExample: z.output<typeof JobSchema> = {
  queue: "webhooks",
  id: "delivery-5b0e6c1a-2f1d-4c8e-9a41-7d3b2e9f0c11",
  name: "deliver",
  state: "failed",
  attempts_made: 25,
  failed_reason: "receiver answered 500",
  failed_at: "2026-02-01T09:30:00.000Z",
  data: {
    orgId: "2a4c6e8a-0c2e-4f6a-8c0e-2a4c6e8a0c2e",
    deliveryId: "5b0e6c1a-2f1d-4c8e-9a41-7d3b2e9f0c11",
  },
};

function jobDto(
  queue: (typeof queueNames)[number],
  job: Job,
  state: string,
): z.output<typeof JobSchema> {
  return {
    queue,
    id: String(job.id),
    name: job.name,
    state,
    attempts_made: job.attemptsMade,
    failed_reason:
      job.failedReason === undefined || job.failedReason === "" ? null : job.failedReason,
    failed_at:
      state === "failed" && job.finishedOn !== undefined
        ? new Date(job.finishedOn).toISOString()
        : null,
    data: job.data as Record<string, unknown>,
  };
}

function producerOf(jobs: JobProducer | undefined): JobProducer {
  if (jobs === undefined) {
    throw new ApiError(503, "unavailable", "this process has no job queues");
  }
  return jobs;
}

/** Redis unreachable: the outcome of a retry is unknown, and a list cannot be read. */
async function withRedis<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError || error instanceof DomainError) {
      throw error;
    }
    throw new ApiError(503, "unavailable", "the job queues (Redis) did not answer; retry later");
  }
}

const QueueParam = z
  .enum(queueNames)
  .openapi({ param: { name: "queue", in: "path" }, example: "webhooks" });

export function adminJobsRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "get",
      path: "/failed",
      operationId: "listFailedJobs",
      tags,
      summary: "List the org's failed jobs",
      description:
        "Jobs of this org that used up their attempts (e.g. dead webhook deliveries), newest " +
        `first, from the newest ${failedJobsScannedMax} failed jobs of each queue. Admin keys only.`,
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      request: {
        query: z.strictObject({
          queue: z
            .enum(queueNames)
            .optional()
            .openapi({ description: "One queue; every queue when absent.", example: "webhooks" }),
          limit: z.coerce.number().int().min(1).max(listMax).optional().openapi({ example: 50 }),
        }),
      },
      responses: {
        200: jsonContent(z.object({ jobs: z.array(JobSchema) }), "The failed jobs.", {
          jobs: [jobExample],
        }),
        ...errorResponses(400, 401, 403, 429, 503),
      },
    }),
    async (c) => {
      const { queue, limit } = c.req.valid("query");
      const orgId = principalOf(c).orgId;
      const jobs = producerOf(deps.app.jobs);
      const wanted = limit ?? listDefault;
      const found: z.output<typeof JobSchema>[] = [];
      await withRedis(async () => {
        for (const name of queue === undefined ? queueNames : [queue]) {
          for (
            let start = 0;
            start < failedJobsScannedMax && found.length < wanted;
            start += scanPage
          ) {
            const page = await jobs.queue(name).getFailed(start, start + scanPage - 1);
            for (const job of page) {
              if ((job.data as { orgId?: unknown }).orgId === orgId && found.length < wanted) {
                found.push(jobDto(name, job as Job, "failed"));
              }
            }
            if (page.length < scanPage) {
              break;
            }
          }
        }
      });
      return c.json({ jobs: found }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/{queue}/{id}/retry",
      operationId: "retryJob",
      tags,
      summary: "Retry one of the org's failed jobs",
      description:
        "Moves the failed job back to waiting with its attempts reset. 404 for an unknown job or " +
        "another org's; 409 `invalid_state` when the job is not in the failed state. Admin keys only.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      request: {
        params: z.object({
          queue: QueueParam,
          id: z
            .string()
            .min(1)
            .max(200)
            .openapi({ param: { name: "id", in: "path" }, example: jobExample.id }),
        }),
      },
      responses: {
        200: jsonContent(z.object({ job: JobSchema }), "The job, waiting to run again.", {
          job: { ...jobExample, state: "waiting", failed_at: null },
        }),
        ...errorResponses(401, 403, 404, 409, 429, 503),
      },
    }),
    async (c) => {
      const { queue, id } = c.req.valid("param");
      const orgId = principalOf(c).orgId;
      const jobs = producerOf(deps.app.jobs);
      if (!isQueueName(queue)) {
        throw new DomainError("not_found", "job not found");
      }
      const job = await withRedis(() => jobs.getJob(queue, id));
      if (job === undefined || (job.data as { orgId?: unknown }).orgId !== orgId) {
        throw new DomainError("not_found", "job not found");
      }
      const state = await withRedis(() => job.getState());
      if (state !== "failed") {
        throw new DomainError("invalid_state", `the job is ${state}, not failed`, { state });
      }
      await withRedis(() =>
        job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true }),
      );
      return c.json({ job: jobDto(queue, job, "waiting") }, 200);
    },
  );

  return app;
}
