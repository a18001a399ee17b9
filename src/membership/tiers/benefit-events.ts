/**
 * `benefit.applied` / `benefit.revoked`: when a member's tier changes, the benefits the new tier
 * gives that the old one did not are applied, and the reverse revoked, each as an outbox event in
 * the transaction that changes the tier. Only benefits active at the change count.
 */
import { and, asc, eq, gt, inArray, isNull, lte, or } from "drizzle-orm";
import type { DbExecutor } from "../store/db.ts";
import { type OutboxEvent, writeOutbox } from "../store/outbox.ts";
import { benefits, tierBenefits } from "../store/schema.ts";

export interface TierRef {
  id: string;
  tierSetId: string;
}

/** A benefit row is active at `now` when `now` is in [active_from, active_until). */
export function benefitActiveAt(now: Date) {
  return and(
    or(isNull(benefits.activeFrom), lte(benefits.activeFrom, now)),
    or(isNull(benefits.activeUntil), gt(benefits.activeUntil, now)),
  );
}

/** The benefits a move from `from` to `to` (two tiers of one set) applies and revokes. */
export interface BenefitChanges {
  orgId: string;
  applied: Array<{ benefitId: string; name: string; kind: string; tier: TierRef }>;
  revoked: Array<{ benefitId: string; name: string; kind: string; tier: TierRef }>;
}

export async function benefitChanges(
  tx: DbExecutor,
  args: { orgId: string; from: TierRef; to: TierRef; now: Date },
): Promise<BenefitChanges> {
  const { from, to } = args;
  const changes: BenefitChanges = { orgId: args.orgId, applied: [], revoked: [] };
  if (from.id === to.id) {
    return changes;
  }
  const rows = await tx
    .select({
      tierId: tierBenefits.tierId,
      benefitId: benefits.id,
      name: benefits.name,
      kind: benefits.kind,
    })
    .from(tierBenefits)
    .innerJoin(
      benefits,
      and(eq(benefits.orgId, tierBenefits.orgId), eq(benefits.id, tierBenefits.benefitId)),
    )
    .where(
      and(
        eq(tierBenefits.orgId, args.orgId),
        inArray(tierBenefits.tierId, [from.id, to.id]),
        benefitActiveAt(args.now),
      ),
    )
    .orderBy(asc(benefits.id));
  const before = new Set(rows.filter((row) => row.tierId === from.id).map((row) => row.benefitId));
  const after = new Set(rows.filter((row) => row.tierId === to.id).map((row) => row.benefitId));
  for (const row of rows) {
    const { benefitId, name, kind } = row;
    if (row.tierId === to.id && !before.has(benefitId)) {
      changes.applied.push({ benefitId, name, kind, tier: to });
    }
    if (row.tierId === from.id && !after.has(benefitId)) {
      changes.revoked.push({ benefitId, name, kind, tier: from });
    }
  }
  return changes;
}

/** The outbox events of `changes` for one member: revocations first, then applications. */
export function benefitEvents(changes: BenefitChanges, memberId: string): OutboxEvent[] {
  const event = (
    topic: "benefit.applied" | "benefit.revoked",
    change: BenefitChanges["applied"][number],
  ): OutboxEvent => ({
    orgId: changes.orgId,
    topic,
    payload: {
      member_id: memberId,
      benefit_id: change.benefitId,
      name: change.name,
      kind: change.kind,
      source: { type: "tier", tier_id: change.tier.id, tier_set_id: change.tier.tierSetId },
    },
  });
  return [
    ...changes.revoked.map((change) => event("benefit.revoked", change)),
    ...changes.applied.map((change) => event("benefit.applied", change)),
  ];
}

/** Writes the events of one member's move from `from` to `to`. */
export async function writeBenefitEvents(
  tx: DbExecutor,
  args: { orgId: string; memberId: string; from: TierRef; to: TierRef; now: Date },
): Promise<void> {
  const changes = await benefitChanges(tx, args);
  await writeOutbox(tx, benefitEvents(changes, args.memberId));
}
