/**
 * What one rule would have added over a past period: every posted purchase of the org whose
 * `occurred_at` lies in [from, to) is earned again with this rule alone (the org's base rate,
 * rounding and timezone, the member's tier as it is now), and the rule's own entries are summed,
 * its own caps counted per member and period as the purchases come, in time order. Nothing is
 * written. The purchases are read in pages of bounded size; the period is at most 366 days.
 */
import assert from "node:assert/strict";
import { and, asc, eq, gt, gte, lt, or } from "drizzle-orm";
import type { LedgerDeps } from "../deps.ts";
import { invalidInput, loadOrgLedger } from "../intents/support.ts";
import { earn } from "../purchases/earning.ts";
import { earningItems } from "../purchases/intake-check.ts";
import { locations, members, posTransactions, type StoredItem, tiers } from "../store/schema.ts";
import { earningSettingsOf } from "./index.ts";
import type { EarningRule } from "./types.ts";

export const simulatedPeriodDaysMax = 366;
const pageRows = 1_000;

interface PurchaseRow {
  id: string;
  memberId: string;
  amountMinor: bigint;
  occurredAt: Date;
  items: StoredItem[];
  locationRef: string | null;
  tierId: string;
  multiplierBps: number;
}

export interface RuleSimulation {
  purchasesMatched: number;
  members: number;
  points: bigint;
  purchasesRead: number;
}

export async function simulateRule(
  deps: LedgerDeps,
  input: { orgId: string; rule: EarningRule; from: Date; to: Date },
): Promise<RuleSimulation> {
  const { from, to, rule } = input;
  if (!(from.getTime() < to.getTime())) {
    throw invalidInput("from must be before to", { field: "to" });
  }
  if (to.getTime() - from.getTime() > simulatedPeriodDaysMax * 86_400_000) {
    throw invalidInput(`a simulated period is at most ${simulatedPeriodDaysMax} days`, {
      field: "to",
    });
  }
  const context = await loadOrgLedger(deps, input.orgId);
  const settings = earningSettingsOf(context.org);
  const used = new Map<string, bigint>();
  const matchedMembers = new Set<string>();
  let purchasesMatched = 0;
  let purchasesRead = 0;
  let points = 0n;
  let after: { occurredAt: Date; id: string } | null = null;
  for (;;) {
    const page: PurchaseRow[] = await deps.db
      .select({
        id: posTransactions.id,
        memberId: posTransactions.memberId,
        amountMinor: posTransactions.amountMinor,
        occurredAt: posTransactions.occurredAt,
        items: posTransactions.items,
        locationRef: locations.externalRef,
        tierId: members.tierId,
        multiplierBps: tiers.multiplierBps,
      })
      .from(posTransactions)
      .innerJoin(
        members,
        and(eq(members.orgId, posTransactions.orgId), eq(members.id, posTransactions.memberId)),
      )
      .innerJoin(tiers, and(eq(tiers.orgId, members.orgId), eq(tiers.id, members.tierId)))
      .leftJoin(
        locations,
        and(
          eq(locations.orgId, posTransactions.orgId),
          eq(locations.id, posTransactions.locationId),
        ),
      )
      .where(
        and(
          eq(posTransactions.orgId, input.orgId),
          eq(posTransactions.kind, "purchase"),
          eq(posTransactions.status, "posted"),
          gte(posTransactions.occurredAt, from),
          lt(posTransactions.occurredAt, to),
          after === null
            ? undefined
            : or(
                gt(posTransactions.occurredAt, after.occurredAt),
                and(
                  eq(posTransactions.occurredAt, after.occurredAt),
                  gt(posTransactions.id, after.id),
                ),
              ),
        ),
      )
      .orderBy(asc(posTransactions.occurredAt), asc(posTransactions.id))
      .limit(pageRows);
    for (const purchase of page) {
      purchasesRead += 1;
      const earning = earn({
        purchase: {
          amountMinor: purchase.amountMinor,
          items: earningItems(purchase.items),
          occurredAt: purchase.occurredAt,
          locationRef: purchase.locationRef,
        },
        tier: { id: purchase.tierId, multiplierBps: purchase.multiplierBps },
        org: {
          ...settings,
          earningCaps: null,
          currencyExponent: context.currencyExponent,
          stampPrograms: [],
          rules: [{ ...rule, active: true }],
        },
      });
      if (earning.kind !== "earned") {
        continue;
      }
      const entry = earning.entries.find((candidate) => candidate.ruleId === rule.id);
      if (entry === undefined || entry.points === 0n) {
        continue;
      }
      let amount = entry.points;
      for (const cap of entry.caps) {
        const key = `${purchase.memberId}:${cap.periodKey}`;
        const left = cap.cap - (used.get(key) ?? 0n);
        if (left < amount) {
          amount = left > 0n ? left : 0n;
        }
      }
      for (const cap of entry.caps) {
        const key = `${purchase.memberId}:${cap.periodKey}`;
        used.set(key, (used.get(key) ?? 0n) + amount);
      }
      if (amount > 0n) {
        purchasesMatched += 1;
        matchedMembers.add(purchase.memberId);
        points += amount;
      }
    }
    const last = page[page.length - 1];
    if (page.length < pageRows || last === undefined) {
      break;
    }
    after = { occurredAt: last.occurredAt, id: last.id };
  }
  assert.ok(purchasesMatched <= purchasesRead, "matched purchases were read");
  return { purchasesMatched, members: matchedMembers.size, points, purchasesRead };
}
