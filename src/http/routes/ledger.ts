/**
 * The books: the trial balance of each of the org's ledgers, and reconciliations of Postgres
 * with the ledger (run by the `reconcile` workers). Mounted at /v1/ledger. Roles: finance, admin.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  failReconciliation,
  getReconciliation,
  getTrialBalance,
  startReconciliation,
} from "../../membership/index.ts";
import { reconcileRunJobId } from "../../workers/reconcile/jobs.ts";
import { principalOf } from "../env.ts";
import { ApiError, unavailableHeaders } from "../errors.ts";
import { jobEnqueueTimeoutMs } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import {
  IdempotencyHeaders,
  ReconciliationSchema,
  reconciliationDto,
  trialBalanceDto,
  UnitTrialBalanceSchema,
  uuidParam,
} from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import {
  apiKeySecurity,
  errorResponses,
  jsonContent,
  orgScopedApp,
  writeGuards,
} from "./common.ts";

const reconciliationIdExample = "0193a9e8-5c1e-7b3a-9f2d-6c4e8a1b2d3f";
const ReconciliationParams = z.object({
  id: uuidParam.openapi({ param: { name: "id", in: "path" }, example: reconciliationIdExample }),
});

/** 503 when no job can be enqueued: the route needs the workers' queue. */
function queueUnavailable(): ApiError {
  return new ApiError(
    503,
    "unavailable",
    "the job queue is unavailable; retry later",
    undefined,
    unavailableHeaders,
  );
}

/**
 * `promise`, or a rejection after `timeoutMs`. A late outcome is dropped: an enqueue that lands
 * after its run was recorded failed finds the run finished, and its job changes nothing.
 */
async function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

const reconciliationExample = {
  id: reconciliationIdExample,
  status: "mismatches" as const,
  trigger: "manual" as const,
  checked: { documents: 1250, transfers: 1490, wallets: 120 },
  mismatches: [
    {
      kind: "amount_mismatch",
      document: {
        kind: "purchase",
        id: "0193a9e7-0f00-7000-8000-00000000002a",
        external_id: "till-3-000042",
        member_id: "0193a9e6-1111-7000-8000-000000000007",
      },
      transfer_id: "176475880145627374587463926450001842563",
      expected: "51",
      actual: "50",
    },
  ],
  mismatch_count: 1,
  error: null,
  started_at: "2026-01-31T02:30:00.000Z",
  finished_at: "2026-01-31T02:30:04.000Z",
};

/** A balance line of the example. */
function line(
  debitsPosted: number,
  creditsPosted: number,
  debitsPending: number,
  creditsPending: number,
) {
  return {
    debits_posted: debitsPosted,
    credits_posted: creditsPosted,
    debits_pending: debitsPending,
    credits_pending: creditsPending,
  };
}

export function ledgerRoutes(deps: RouteDeps) {
  const app = orgScopedApp(deps);

  app.openapi(
    createRoute({
      method: "get",
      path: "/trial-balance",
      operationId: "getTrialBalance",
      tags: ["ledger"],
      summary: "Trial balance",
      description:
        "Per unit (points, then each stamp program): every control account and all member " +
        "wallets together, with debits and credits posted and pending, whether the ledger " +
        "balances, and the outstanding liability (points members hold). Roles: finance, admin.",
      security: apiKeySecurity,
      middleware: requireRole("finance", "admin"),
      responses: {
        200: jsonContent(z.object({ units: z.array(UnitTrialBalanceSchema) }), "Per unit.", {
          units: [
            {
              unit: "points",
              name: null,
              ledger: 1,
              controls: {
                issuance: line(0, 219, 0, 0),
                redemption: line(100, 0, 0, 0),
              },
              members: { ...line(100, 0, 100, 0), count: 1 },
              earning_caps: { ...line(0, 0, 0, 0), count: 0 },
              totals: line(219, 219, 100, 100),
              balanced: true,
              outstanding_liability: 119,
              pending_redemptions: 100,
            },
          ],
        }),
        ...errorResponses(401, 403, 429, 503),
      },
    }),
    async (c) => {
      const units = await getTrialBalance(deps.domain, { orgId: principalOf(c).orgId });
      return c.json({ units: units.map(trialBalanceDto) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/reconciliations",
      operationId: "startReconciliation",
      tags: ["ledger"],
      summary: "Start a reconciliation",
      description:
        "Records a reconciliation of the org, `running`, and enqueues its job: every posted " +
        "document is compared with the ledger's transfers by their recorded ids (points, spend, " +
        "member), every enrolled member with their wallet, and intents pending longer than " +
        "5 minutes are flagged. Read the outcome at `GET /v1/ledger/reconciliations/{id}`. " +
        "503 when the job queue is unavailable. Roles: finance, admin.",
      security: apiKeySecurity,
      middleware: writeGuards(deps, ["finance", "admin"]),
      request: { headers: IdempotencyHeaders },
      responses: {
        202: jsonContent(z.object({ id: z.string() }), "The run, recorded and enqueued.", {
          id: reconciliationIdExample,
        }),
        ...errorResponses(400, 401, 403, 409, 413, 429, 503),
      },
    }),
    async (c) => {
      const { orgId } = principalOf(c);
      const { jobs } = deps.app;
      if (jobs === undefined) {
        throw queueUnavailable();
      }
      const run = await startReconciliation(deps.domain, { orgId });
      const reconciliationId = run.id;
      try {
        await within(
          jobs.add(
            "reconcile",
            { orgId, reconciliationId },
            { name: "reconcile-run", jobId: reconcileRunJobId(reconciliationId) },
          ),
          jobEnqueueTimeoutMs,
        );
      } catch (error) {
        // Nothing will run it: the run ends failed, and the caller may start another.
        c.get("log")?.logger.error({ err: error, reconciliationId }, "could not enqueue");
        await failReconciliation(deps.domain, {
          orgId,
          reconciliationId,
          error: "the job could not be enqueued",
        });
        throw queueUnavailable();
      }
      return c.json({ id: reconciliationId }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/reconciliations/{id}",
      operationId: "getReconciliation",
      tags: ["ledger"],
      summary: "A reconciliation",
      description:
        "Its status (`running`, `clean`, `mismatches`, `failed`), what was compared, and the " +
        "first 1,000 mismatches (`mismatch_count` counts them all). Another org's id is 404. " +
        "Roles: finance, admin.",
      security: apiKeySecurity,
      middleware: requireRole("finance", "admin"),
      request: { params: ReconciliationParams },
      responses: {
        200: jsonContent(ReconciliationSchema, "The reconciliation.", reconciliationExample),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const run = await getReconciliation(deps.domain, {
        orgId: principalOf(c).orgId,
        reconciliationId: id,
      });
      return c.json(reconciliationDto(run), 200);
    },
  );

  return app;
}
