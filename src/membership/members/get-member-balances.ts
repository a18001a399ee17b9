import { walletBalance } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { expiringPoints } from "../expiry/lots.ts";
import { readExpirySchedule } from "../expiry/member-expiry.ts";
import { loadOrgLedger, mapBounded, requireMemberInOrg } from "../intents/support.ts";
import type { MemberBalances, WalletBalance } from "../ledger-types.ts";
import { expiringEntriesMax, ledgerRequestsInFlightMax } from "../limits.ts";
import { stampProgramsOf } from "../stamp-programs/stamp-cards.ts";

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
 * The member's points wallet, a card per stamp program of the org, and the points still to expire
 * under the org's expiry policy (soonest `expiringEntriesMax` expiry times), read from the ledger. A
 * wallet not opened yet (enrollment unfinished, or no stamp earned in a program) reads as zero.
 * Unknown or another org's member: `not_found`.
 *
 * Warm, this reads nothing from Postgres: the org, the member's existence in it and the stamp
 * programs come from the pool's caches (caches.ts; a program created in another process shows
 * within `orgCacheTtlMs`), and the balances from the ledger, which is their only home.
 */
export async function getMemberBalances(
  deps: LedgerDeps,
  input: GetMemberBalancesInput,
): Promise<MemberBalances> {
  const { org, pointsLedger } = await loadOrgLedger(deps, input.orgId);
  await requireMemberInOrg(deps, { orgId: org.id, memberId: input.memberId });
  const member = { id: input.memberId };
  const programs = await stampProgramsOf(deps, org.id);
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
  const { expiry } = org.settings;
  // With a policy, the schedule is the wallet's history replayed (member-expiry.ts): a read of
  // the member's transfers, which the policy `none` skips.
  const schedule =
    expiry.policy === "none"
      ? null
      : await readExpirySchedule(deps.ledger, {
          ledger: pointsLedger,
          memberId: member.id,
          policy: expiry,
        });
  const expiring =
    schedule === null
      ? []
      : expiringPoints(schedule, expiringEntriesMax).map((entry) => ({
          points: entry.points,
          at: new Date(entry.atMs),
        }));
  return {
    points: {
      available: points.available,
      pending: points.pending,
      lifetimeEarned: points.lifetimeEarned,
      lifetimeRedeemed: points.lifetimeRedeemed,
    },
    stamps,
    expiring,
  };
}
