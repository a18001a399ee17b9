import assert from "node:assert/strict";
import { and, asc, eq } from "drizzle-orm";
import { walletBalance } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { mapBounded, requireMemberInOrg } from "../intents/support.ts";
import { ledgerRequestsInFlightMax, stampProgramsPerOrgMax } from "../limits.ts";
import { stampCards, stampPrograms } from "../store/schema.ts";

/** A member's card in one program. */
export interface MemberStampCard {
  programId: string;
  name: string;
  /** The program's; an inactive program's card is listed, and earns no more stamps. */
  active: boolean;
  /** Stamps on the card now, read from the ledger. */
  stamps: bigint;
  stampsRequired: bigint;
  /** Cards this member has completed in the program. */
  completions: number;
}

/**
 * The member's stamp cards, one per program they have earned a stamp in (active or not), oldest
 * program first. Stamps come from the ledger, the completion count from `stamp_cards`. Unknown or
 * another org's member: `not_found`.
 */
export async function getMemberStampCards(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string },
): Promise<MemberStampCard[]> {
  await requireMemberInOrg(deps, input);
  const rows = await deps.db
    .select({
      programId: stampPrograms.id,
      name: stampPrograms.name,
      active: stampPrograms.active,
      ledger: stampPrograms.ledger,
      stampsRequired: stampPrograms.stampsRequired,
      completions: stampCards.completions,
    })
    .from(stampCards)
    .innerJoin(
      stampPrograms,
      and(eq(stampPrograms.orgId, stampCards.orgId), eq(stampPrograms.id, stampCards.programId)),
    )
    .where(and(eq(stampCards.orgId, input.orgId), eq(stampCards.memberId, input.memberId)))
    .orderBy(asc(stampPrograms.createdAt), asc(stampPrograms.id))
    .limit(stampProgramsPerOrgMax + 1);
  assert.ok(rows.length <= stampProgramsPerOrgMax, "one card per program at most");
  return mapBounded(rows, ledgerRequestsInFlightMax, async (row) => {
    const wallet = await walletBalance(deps.ledger, {
      ledger: row.ledger,
      memberId: input.memberId,
    });
    // A card is recorded once its wallet is open (ensureStampWallets), so it has one.
    assert.ok(wallet !== null, "a recorded card has a stamp wallet");
    assert.ok(wallet.available >= 0n, "a card never holds negative stamps");
    return {
      programId: row.programId,
      name: row.name,
      active: row.active,
      stamps: wallet.available,
      stampsRequired: BigInt(row.stampsRequired),
      completions: row.completions,
    };
  });
}
