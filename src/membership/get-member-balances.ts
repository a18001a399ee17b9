import { asc, eq } from "drizzle-orm";
import { walletBalance } from "../ledger/index.ts";
import type { LedgerDeps } from "./deps.ts";
import { loadOrgLedger, mapBounded, requireMember } from "./ledger-support.ts";
import type { MemberBalances, WalletBalance } from "./ledger-types.ts";
import { ledgerRequestsInFlightMax, stampProgramsPerOrgMax } from "./limits.ts";
import { stampPrograms } from "./schema.ts";
import { toStampProgram } from "./stamp-cards.ts";

export interface GetMemberBalancesInput {
  orgId: string;
  memberId: string;
}

const emptyWallet: Readonly<WalletBalance> = Object.freeze({
  available: 0n,
  pending: 0n,
  lifetimeEarned: 0n,
  lifetimeRedeemed: 0n,
});

/**
 * The member's points wallet and a card per stamp program of the org, read from the ledger. A
 * wallet not opened yet (enrollment unfinished, or no stamp earned in a program) reads as zero.
 * Unknown or another org's member: `not_found`.
 */
export async function getMemberBalances(
  deps: LedgerDeps,
  input: GetMemberBalancesInput,
): Promise<MemberBalances> {
  const { org, pointsLedger } = await loadOrgLedger(deps.db, input.orgId);
  const member = await requireMember(deps.db, { orgId: org.id, memberId: input.memberId });
  const programs = (
    await deps.db
      .select()
      .from(stampPrograms)
      .where(eq(stampPrograms.orgId, org.id))
      .orderBy(asc(stampPrograms.createdAt), asc(stampPrograms.id))
      .limit(stampProgramsPerOrgMax)
  ).map(toStampProgram);
  const points =
    (await walletBalance(deps.ledger, { ledger: pointsLedger, memberId: member.id })) ??
    emptyWallet;
  const stamps = await mapBounded(programs, ledgerRequestsInFlightMax, async (program) => {
    const card = await walletBalance(deps.ledger, { ledger: program.ledger, memberId: member.id });
    return {
      programId: program.id,
      name: program.name,
      balance: card?.available ?? 0n,
      stampsRequired: program.stampsRequired,
    };
  });
  return { points: { ...points }, stamps };
}
