/**
 * The books: the trial balance of each of the org's ledgers, reconciliations of Postgres with the
 * ledger (run by the `reconcile` workers), the export of every transfer in a range (streamed) and
 * members' balances at a past instant. Mounted at /v1/ledger. Roles: finance, admin.
 */
import assert from "node:assert/strict";
import { createRoute, z } from "@hono/zod-openapi";
import {
  balancesAtPageDefault,
  balancesAtPageMax,
  exportLedgerTransfers,
  failReconciliation,
  getBalancesAt,
  getReconciliation,
  getTrialBalance,
  startReconciliation,
} from "../../membership/index.ts";
import { reconcileRunJobId } from "../../workers/reconcile/jobs.ts";
import { principalOf } from "../env.ts";
import { ApiError, unavailableHeaders } from "../errors.ts";
import {
  csvHeaderLine,
  csvLine,
  type ExportFormat,
  exportBody,
  exportContentTypes,
  formatInstantNs,
  ndjsonLine,
  parseInstantNs,
} from "../ledger-export.ts";
import { cursorLengthMax, jobEnqueueTimeoutMs } from "../limits.ts";
import { requireRole } from "../middleware.ts";
import {
  IdempotencyHeaders,
  ReconciliationSchema,
  reconciliationDto,
  trialBalanceDto,
  UnitTrialBalanceSchema,
  uuidParam,
  wireInteger,
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

/** Ledger timestamps are u63 nanoseconds: instants from 1970 to April 2262. */
const instantNsMax = 2n ** 63n - 1n;

/** An RFC 3339 instant with up to nanosecond precision, within the ledger's timestamps. */
const instant = z
  .string()
  .max(64)
  .refine(
    (text) => {
      const ns = parseInstantNs(text);
      return ns !== null && ns <= instantNsMax;
    },
    {
      message:
        "an RFC 3339 instant with an offset (up to 9 fractional digits), from 1970 to 2262-04-11",
    },
  );
const unitParam = z.string().min(1).max(80).optional().openapi({
  description:
    'The unit: "points" (default) or "stamps:<program id>", as the trial balance names it.',
  example: "points",
});

function instantNs(text: string): bigint {
  const ns = parseInstantNs(text);
  assert.ok(ns !== null, "instants are validated by the query schema");
  return ns;
}

const TransfersExportQuery = z
  .strictObject({
    from: instant.optional().openapi({
      description:
        "Range start (inclusive) on the ledger's commit timestamp; absent: the first transfer.",
      example: "2026-11-01T00:00:00Z",
    }),
    to: instant.optional().openapi({
      description:
        "Range end (exclusive); absent or later than the export's start: clamped to the " +
        "ledger's last commit + 1 ns. The range used is in the X-Export-Range-* headers.",
      example: "2026-12-01T00:00:00Z",
    }),
    format: z.enum(["csv", "ndjson"]).optional().openapi({
      description: "csv (default; RFC 4180 with a header row) or ndjson (one object per line).",
      example: "csv",
    }),
    unit: unitParam,
  })
  .superRefine((query, context) => {
    if (query.from === undefined || query.to === undefined) {
      return;
    }
    const from = parseInstantNs(query.from);
    const to = parseInstantNs(query.to);
    if (from !== null && to !== null && to < from) {
      context.addIssue({ code: "custom", path: ["to"], message: "to must not be before from" });
    }
  });

const exportRangeHeaders = z.object({
  "X-Export-Range-From": z.string().openapi({
    description: "Start of the range exported (inclusive), RFC 3339 with 9 fractional digits.",
    example: "2026-11-01T00:00:00.000000000Z",
  }),
  "X-Export-Range-To": z.string().openapi({
    description:
      "End of the range exported (exclusive): the `from` of the next export, which then neither " +
      "repeats nor misses a transfer.",
    example: "2026-12-01T00:00:00.000000000Z",
  }),
  "X-Export-Range-From-Timestamp": z.string().openapi({
    description: "The same start as ledger nanoseconds.",
    example: "1793491200000000000",
  }),
  "X-Export-Range-To-Timestamp": z.string().openapi({
    description: "The same end as ledger nanoseconds.",
    example: "1796083200000000000",
  }),
  "X-Export-Range-Clamped": z.string().openapi({
    description: "`true` when `to` was cut back to the ledger's last commit + 1 ns.",
    example: "false",
  }),
  "X-Export-Unit": z.string().openapi({ example: "points" }),
});

const exportExampleRow = {
  timestamp: "2026-11-14T09:30:12.345678901Z",
  timestamp_ns: "1794648612345678901",
  occurred_at: "2026-11-14T09:29:58.000Z",
  operation: "purchase_earn",
  code: 2,
  member_id: "0193a9e6-1111-7000-8000-000000000007",
  debit_account: "issuance",
  credit_account: "wallet:0193a9e6-1111-7000-8000-000000000007",
  amount: "50",
  pending: false,
  post: false,
  void: false,
  pending_id: null,
  transfer_id: "176475880145627374587463926450001842563",
  document_id: "01a1d964-65f0-7c3e-9f2d-6c4e8a1b2d3f",
};

const BalancesAtQuery = z.strictObject({
  at: instant.openapi({
    description:
      "The instant (inclusive): each balance is the one right after the wallet's last transfer " +
      "committed at or before it. Not in the future.",
    example: "2026-11-30T23:59:59.999999999Z",
  }),
  unit: unitParam,
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(balancesAtPageMax)
    .optional()
    .openapi({
      description: `Members per page, 1..${balancesAtPageMax}; ${balancesAtPageDefault} by default.`,
    }),
  cursor: z
    .string()
    .min(1)
    .max(cursorLengthMax)
    .optional()
    .openapi({ description: "`next_cursor` of the previous page." }),
});

const MemberBalanceAtSchema = z.object({
  member_id: z.string(),
  balance: z.number().int().openapi({
    description: "credits_posted − debits_posted: what the member held (holds included).",
  }),
  credits_posted: z.number().int(),
  debits_posted: z.number().int(),
  debits_pending: z
    .number()
    .int()
    .openapi({
      description:
        "Points held by redemptions open after that transfer. A hold that expired later without " +
        "another transfer on the wallet still counts here (expiry writes no history entry).",
    }),
  credits_pending: z.number().int(),
  last_transfer_at: z.string().nullable().openapi({
    description: "Commit time of that transfer (ns precision); null: none yet, all zero.",
  }),
});

const BalancesAtSchema = z
  .object({
    unit: z.string(),
    at: z.string(),
    at_ns: z.string(),
    balances: z.array(MemberBalanceAtSchema),
    next_cursor: z.string().nullable(),
  })
  .openapi("BalancesAt");

/** `at` later than now: the answer could still change, so it is refused. */
function futureInstant(): ApiError {
  return new ApiError(400, "validation_failed", "invalid request query", {
    target: "query",
    issues: [{ path: "at", message: "at must not be in the future" }],
  });
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

  app.openapi(
    createRoute({
      method: "get",
      path: "/transfers",
      operationId: "exportLedgerTransfers",
      tags: ["ledger"],
      summary: "Export transfers",
      description:
        "Every transfer of one unit's ledger with `from <= timestamp < to` on the ledger's " +
        "commit timestamp, oldest first, streamed as CSV or NDJSON in constant memory. `to` is " +
        "clamped to the ledger's last commit + 1 ns when later (or absent), so the range is " +
        "final: exporting `[a, b)` then `[b, c)` returns every transfer exactly once; the exact " +
        "range is in the `X-Export-Range-*` headers. Pending holds in the range are included " +
        "(`pending`), and so are their posts and voids (`post`, `void`, `pending_id`) in the " +
        "range where they were committed; a hold that expires writes no transfer. `occurred_at` " +
        "is the source document's time (a refund reversal carries the refunded purchase's); " +
        "null when the document id holds none. A failure before the first byte is a 503; after " +
        'it, the body ends with a trailer line: NDJSON `{"error":{...,"resume_from"}}`, CSV ' +
        "a line starting `# error:`, and every row before it is complete. Unknown unit: 404. " +
        "Roles: finance, admin.",
      security: apiKeySecurity,
      middleware: requireRole("finance", "admin"),
      request: { query: TransfersExportQuery },
      responses: {
        200: {
          description: "The rows; the range in the headers.",
          headers: exportRangeHeaders,
          content: {
            "text/csv": {
              schema: z.string(),
              example: csvHeaderLine + csvLine(exportExampleRow),
            },
            "application/x-ndjson": {
              schema: z.string(),
              example: ndjsonLine(exportExampleRow),
            },
          },
        },
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const format: ExportFormat = query.format ?? "csv";
      const unit = query.unit ?? "points";
      const exported = await exportLedgerTransfers(deps.domain, {
        orgId: principalOf(c).orgId,
        unit,
        ...(query.from === undefined ? {} : { fromTimestamp: instantNs(query.from) }),
        ...(query.to === undefined ? {} : { toTimestamp: instantNs(query.to) }),
      });
      // The first page is read before answering: a ledger down now is still a 503.
      const first = await exported.pages.next();
      const body = exportBody({
        format,
        timestampFrom: exported.timestampFrom,
        first: first.done === true ? null : first.value,
        rest: exported.pages,
        logger: c.get("log")?.logger,
      });
      const from = formatInstantNs(exported.timestampFrom);
      const to = formatInstantNs(exported.timestampTo);
      const extension = format === "csv" ? "csv" : "ndjson";
      const name = `transfers-${unit.replace(/[^A-Za-z0-9_-]/g, "_")}-${exported.timestampFrom}-${exported.timestampTo}`;
      return c.body(body, 200, {
        "Content-Type": exportContentTypes[format],
        "Content-Disposition": `attachment; filename="${name}.${extension}"`,
        "Cache-Control": "no-store",
        "X-Export-Range-From": from,
        "X-Export-Range-To": to,
        "X-Export-Range-From-Timestamp": exported.timestampFrom.toString(),
        "X-Export-Range-To-Timestamp": exported.timestampTo.toString(),
        "X-Export-Range-Clamped": String(exported.clamped),
        "X-Export-Unit": unit,
      });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/balances",
      operationId: "getBalancesAt",
      tags: ["ledger"],
      summary: "Members' balances at an instant",
      description:
        "Each member's wallet balances on one unit right after the wallet's last transfer " +
        "committed at or before `at` (the wallets' balance history), paged by member. Members " +
        "whose wallet on the unit did not exist at `at` (enrolled later) are absent, so a page " +
        "may hold fewer entries than `limit` and still have a `next_cursor`. A member with a " +
        "wallet but no transfer yet has zeros. Unknown unit: 404. Roles: finance, admin.",
      security: apiKeySecurity,
      middleware: requireRole("finance", "admin"),
      request: { query: BalancesAtQuery },
      responses: {
        200: jsonContent(BalancesAtSchema, "One page of members.", {
          unit: "points",
          at: "2026-11-30T23:59:59.999999999Z",
          at_ns: "1796083199999999999",
          balances: [
            {
              member_id: "0193a9e6-1111-7000-8000-000000000007",
              balance: 119,
              credits_posted: 219,
              debits_posted: 100,
              debits_pending: 0,
              credits_pending: 0,
              last_transfer_at: "2026-11-14T09:30:12.345678901Z",
            },
          ],
          next_cursor: null,
        }),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const at = instantNs(query.at);
      const nowNs = BigInt((deps.domain.clock?.() ?? new Date()).getTime()) * 1_000_000n;
      if (at > nowNs) {
        throw futureInstant();
      }
      const unit = query.unit ?? "points";
      const page = await getBalancesAt(deps.domain, {
        orgId: principalOf(c).orgId,
        unit,
        atTimestamp: at,
        limit: query.limit ?? balancesAtPageDefault,
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
      return c.json(
        {
          unit,
          at: formatInstantNs(at),
          at_ns: at.toString(),
          balances: page.entries.map((entry) => ({
            member_id: entry.memberId,
            balance: wireInteger(entry.creditsPosted - entry.debitsPosted),
            credits_posted: wireInteger(entry.creditsPosted),
            debits_posted: wireInteger(entry.debitsPosted),
            debits_pending: wireInteger(entry.debitsPending),
            credits_pending: wireInteger(entry.creditsPending),
            last_transfer_at:
              entry.entryTimestamp === null ? null : formatInstantNs(entry.entryTimestamp),
          })),
          next_cursor: page.nextCursor,
        },
        200,
      );
    },
  );

  return app;
}
