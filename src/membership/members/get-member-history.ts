import { and, eq, inArray } from "drizzle-orm";
import { walletHistory } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { invalidInput, loadOrgLedger, requireMember } from "../intents/support.ts";
import type { MemberHistoryPage } from "../ledger-types.ts";
import { historyPageMax } from "../limits.ts";
import { posTransactions } from "../store/schema.ts";
import { parsePurchaseResponse } from "../store/stored-responses.ts";

export interface GetMemberHistoryInput {
  orgId: string;
  memberId: string;
  /** Entries per page, 1..historyPageMax. */
  limit: number;
  /** `nextCursor` of the previous page; absent for the newest page. */
  cursor?: string;
}

const cursorPrefix = "h1.";
const cursorPattern = /^h1\.[1-9][0-9]{0,38}$/;

/** The ledger timestamp the next page starts before, wrapped so callers treat it as opaque. */
function encodeCursor(before: bigint): string {
  return Buffer.from(`${cursorPrefix}${before.toString(10)}`, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): bigint {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  if (!cursorPattern.test(text)) {
    throw invalidInput("cursor is not one this API returned", { field: "cursor" });
  }
  return BigInt(text.slice(cursorPrefix.length));
}

/**
 * The member's points history, newest first, each transfer named by its operation (purchase
 * earn, redemption hold, refund reversal, ...). Unknown or another org's member: `not_found`.
 */
export async function getMemberHistory(
  deps: LedgerDeps,
  input: GetMemberHistoryInput,
): Promise<MemberHistoryPage> {
  if (!Number.isSafeInteger(input.limit) || input.limit < 1 || input.limit > historyPageMax) {
    throw invalidInput("limit out of range", { field: "limit", max: historyPageMax });
  }
  const before = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  const member = await requireMember(deps.db, { orgId: org.id, memberId: input.memberId });
  const page = await walletHistory(deps.ledger, {
    ledger: pointsLedger,
    memberId: member.id,
    limit: input.limit,
    ...(before === undefined ? {} : { before }),
  });
  const purchaseIds = [
    ...new Set(
      page.entries.flatMap((entry) =>
        entry.operation === "purchase_earn" && entry.documentId !== null ? [entry.documentId] : [],
      ),
    ),
  ];
  const stored =
    purchaseIds.length === 0
      ? []
      : await deps.db
          .select({ id: posTransactions.id, response: posTransactions.response })
          .from(posTransactions)
          .where(
            and(
              eq(posTransactions.orgId, org.id),
              eq(posTransactions.kind, "purchase"),
              inArray(posTransactions.id, purchaseIds),
            ),
          );
  const breakdowns = new Map(
    stored.flatMap((row) =>
      row.response === null ? [] : [[row.id, parsePurchaseResponse(row.response).breakdown]],
    ),
  );
  return {
    entries: page.entries.map((entry) => {
      const breakdown =
        entry.operation === "purchase_earn" && entry.documentId !== null
          ? breakdowns.get(entry.documentId)
          : undefined;
      return breakdown === undefined ? entry : { ...entry, breakdown };
    }),
    nextCursor: page.nextBefore === null ? null : encodeCursor(page.nextBefore),
  };
}
