/**
 * The books: the trial balance of each of the org's ledgers. Mounted at /v1/ledger.
 * Roles: finance, admin.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { getTrialBalance } from "../../membership/index.ts";
import { principalOf } from "../env.ts";
import { requireRole } from "../middleware.ts";
import { trialBalanceDto, UnitTrialBalanceSchema } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonContent, orgScopedApp } from "./common.ts";

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

  return app;
}
