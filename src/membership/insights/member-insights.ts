/**
 * Spending insights of one member, computed on read: spend, points and purchase counts per
 * category for the current calendar period (month, quarter or year, in the org's time zone) and
 * the one before, plus the caps the member is close to and the campaigns running for them now.
 *
 * How the numbers are made (README "Spending insights" repeats it):
 * - A purchase counts in the period its `occurred_at` falls in; only posted purchases count. Its
 *   posted refunds count against it there, whenever they happened.
 * - A purchase's shares: each line with an amount, by its category, and the rest of the amount
 *   (what the lines leave, lines without amounts) as uncategorised (category null).
 * - Spend: the purchase's amount less its refunds (at most its amount), split over the shares in
 *   proportion to their amounts: refunds are taken from every category pro rata.
 * - Points: the points the purchase earned less what its refunds took back from the wallet
 *   (`points − shortfall` of each refund), split the same way.
 * - Integer arithmetic: each share gets floor(value × share / amount); what the floors leave goes
 *   to the largest share of the purchase (ties: the category first by code point order, uncategorised
 *   last), so a purchase's categories add up to it exactly.
 * - `purchases`: how many purchases had a share in the category (a fully refunded one included).
 *
 * Bounded cost: one SQL statement aggregates at most `insightPurchasesMax` purchases of the two
 * periods, the newest first (the current period is read before the previous one), through the
 * index on (org, member, occurred_at) of purchases; when more exist, `truncated` says so and the
 * oldest are left out. Refunds are found through their purchase's index. The caps are one ledger
 * lookup of at most (rules + 1) × 3 accounts.
 */
import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import { capAccountId, capsLeft } from "../../ledger/index.ts";
import type { LedgerDeps } from "../deps.ts";
import { activeEarningRules } from "../earning-rules/index.ts";
import { localTimeToInstant } from "../earning-rules/local-time.ts";
import { localDate, periodKey } from "../earning-rules/periods.ts";
import { type CapPeriod, capPeriods, type PeriodCaps } from "../earning-rules/types.ts";
import { DomainError } from "../errors.ts";
import { loadOrgLedger, nowOf } from "../intents/support.ts";
import { insightPurchasesMax } from "../limits.ts";
import { earningCapsOf } from "../orgs/settings.ts";
import { capKey } from "../purchases/earning.ts";
import { members } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

export const insightPeriods = ["month", "quarter", "year"] as const;
export type InsightPeriod = (typeof insightPeriods)[number];

/**
 * A cap is listed in `closeTo` when 0 < left ≤ cap × closeToNumerator / closeToDenominator:
 * half of it or less is left, and it is not yet used up.
 */
export const closeToNumerator = 1n;
export const closeToDenominator = 2n;

export interface PeriodWindow {
  /** "2026-12", "2026-Q4", "2026". */
  label: string;
  /** Half-open [start, end). */
  start: Date;
  end: Date;
}

export interface CategoryInsight {
  /** null: uncategorised. */
  category: string | null;
  spendMinor: bigint;
  points: bigint;
  purchases: number;
}

export interface PeriodInsight extends PeriodWindow {
  categories: CategoryInsight[];
  totals: { spendMinor: bigint; points: bigint; purchases: number };
}

export interface CapCloseTo {
  /** null: the org's overall cap. */
  ruleId: string | null;
  name: string;
  period: CapPeriod;
  cap: bigint;
  left: bigint;
}

export interface CampaignNow {
  ruleId: string;
  name: string;
  endsAt: Date;
}

export interface MemberInsights {
  memberId: string;
  period: InsightPeriod;
  timezone: string;
  current: PeriodInsight;
  previous: PeriodInsight;
  /** More purchases than `insightPurchasesMax` in the two periods: the oldest are left out. */
  truncated: boolean;
  closeTo: CapCloseTo[];
  campaigns: CampaignNow[];
}

const pad = (value: number, width = 2): string => String(value).padStart(width, "0");

function startOfMonth(year: number, month: number, timeZone: string): Date {
  // Months before the first or after the twelfth roll into the adjacent year.
  const index = year * 12 + (month - 1);
  const y = Math.floor(index / 12);
  const m = index - y * 12 + 1;
  const start = localTimeToInstant(`${pad(y, 4)}-${pad(m)}-01T00:00:00`, timeZone);
  assert.ok(start.ok, "the first of a month is a local date-time");
  return start.instant;
}

function windowOf(period: InsightPeriod, year: number, month: number, timeZone: string) {
  switch (period) {
    case "month":
      return {
        label: `${pad(year, 4)}-${pad(month)}`,
        start: startOfMonth(year, month, timeZone),
        end: startOfMonth(year, month + 1, timeZone),
      };
    case "quarter": {
      const quarter = Math.floor((month - 1) / 3);
      return {
        label: `${pad(year, 4)}-Q${quarter + 1}`,
        start: startOfMonth(year, quarter * 3 + 1, timeZone),
        end: startOfMonth(year, quarter * 3 + 4, timeZone),
      };
    }
    case "year":
      return {
        label: pad(year, 4),
        start: startOfMonth(year, 1, timeZone),
        end: startOfMonth(year + 1, 1, timeZone),
      };
  }
}

/** The calendar period `now` falls in, in `timeZone`, and the one before it. */
export function periodWindows(
  period: InsightPeriod,
  now: Date,
  timeZone: string,
): { current: PeriodWindow; previous: PeriodWindow } {
  const today = localDate(now, timeZone);
  const current = windowOf(period, today.year, today.month, timeZone);
  const back = period === "month" ? 1 : period === "quarter" ? 3 : 12;
  const index = today.year * 12 + (today.month - 1) - back;
  const previous = windowOf(period, Math.floor(index / 12), (index % 12) + 1, timeZone);
  assert.equal(previous.end.getTime(), current.start.getTime(), "the periods are adjacent");
  assert.ok(current.start.getTime() <= now.getTime() && now.getTime() < current.end.getTime());
  return { current, previous };
}

type AggregateRow = {
  row_kind: "category" | "total" | "truncated";
  period: "current" | "previous" | null;
  category: string | null;
  spend: string | null;
  points: string | null;
  purchases: number | null;
};

/**
 * One statement: the newest `limit` purchases of the two periods, their refunds, their shares
 * (jsonb_array_elements over the lines) and the split described in the module comment, summed
 * per period and category; plus per-period totals and whether purchases were left out. numeric
 * holds the products (amount × points can exceed bigint); `div` truncates, exact for these
 * non-negative values.
 */
function aggregate(input: {
  orgId: string;
  memberId: string;
  from: Date;
  split: Date;
  to: Date;
  limit: number;
}) {
  const { orgId, memberId, from, split, to, limit } = input;
  return sql`
    with limited as (
      select p.id, p.occurred_at, p.amount_minor::numeric as amount,
             p.points::numeric as points, p.items,
             case when p.occurred_at >= ${split.toISOString()}::timestamptz
                  then 'current' else 'previous' end as period
      from pos_transactions p
      where p.org_id = ${orgId} and p.member_id = ${memberId}
        and p.kind = 'purchase' and p.status = 'posted'
        and p.occurred_at >= ${from.toISOString()}::timestamptz
        and p.occurred_at < ${to.toISOString()}::timestamptz
      -- The index's order alone, so the scan stops after limit + 1 rows (a tie-break on id
      -- would sort every row of the two periods first).
      order by p.occurred_at desc
      limit ${limit + 1}
    ),
    numbered as (
      select *, row_number() over (order by occurred_at desc, id desc) as rn from limited
    ),
    kept as (select * from numbered where rn <= ${limit}),
    refunded as (
      select r.purchase_id, sum(r.amount_minor)::numeric as amount,
             sum(r.points - coalesce(r.shortfall, 0))::numeric as points
      from pos_transactions r
      join kept k on r.org_id = ${orgId} and r.purchase_id = k.id
      where r.kind = 'refund' and r.status = 'posted'
      group by r.purchase_id
    ),
    net as (
      select k.id, k.period, k.amount, k.items,
             k.amount - least(coalesce(f.amount, 0), k.amount) as net_amount,
             greatest(k.points - coalesce(f.points, 0), 0) as net_points
      from kept k left join refunded f on f.purchase_id = k.id
    ),
    lines as (
      select n.id, nullif(item->>'category', '') as category,
             (item->>'amount_minor')::numeric as amount
      from net n cross join lateral jsonb_array_elements(n.items) as item
      where item->>'amount_minor' is not null
    ),
    itemized as (select id, sum(amount) as amount from lines group by id),
    parts as (
      select id, category, amount from lines
      union all
      select n.id, null, n.amount - coalesce(i.amount, 0)
      from net n left join itemized i on i.id = n.id
    ),
    shares as (
      select id, category, sum(amount) as amount from parts
      group by id, category having sum(amount) > 0
    ),
    split as (
      select s.id, s.category, n.period, n.net_amount, n.net_points,
             div(s.amount * n.net_amount, n.amount) as spend_floor,
             div(s.amount * n.net_points, n.amount) as points_floor,
             row_number() over (
               partition by s.id order by s.amount desc, s.category collate "C" asc nulls last
             ) as share_rank
      from shares s join net n on n.id = s.id
    ),
    fixed as (
      select id, category, period,
             spend_floor + case when share_rank = 1
               then net_amount - sum(spend_floor) over (partition by id) else 0 end as spend,
             points_floor + case when share_rank = 1
               then net_points - sum(points_floor) over (partition by id) else 0 end as points
      from split
    )
    select 'category' as row_kind, period, category, sum(spend)::text as spend,
           sum(points)::text as points, count(distinct id)::int as purchases
    from fixed group by period, category
    union all
    select 'total', period, null, sum(net_amount)::text, sum(net_points)::text, count(*)::int
    from net group by period
    union all
    select 'truncated', null, null, null, null, null
    where exists (select 1 from numbered where rn > ${limit})`;
}

function emptyPeriod(window: PeriodWindow): PeriodInsight {
  return { ...window, categories: [], totals: { spendMinor: 0n, points: 0n, purchases: 0 } };
}

function byCategory(a: CategoryInsight, b: CategoryInsight): number {
  // Largest spend first; then by name, uncategorised last.
  if (a.spendMinor !== b.spendMinor) {
    return a.spendMinor > b.spendMinor ? -1 : 1;
  }
  if (a.category === b.category) {
    return 0;
  }
  if (a.category === null) {
    return 1;
  }
  if (b.category === null) {
    return -1;
  }
  return a.category < b.category ? -1 : 1;
}

/**
 * Errors: `not_found` for an unknown org or member, or another org's member.
 */
export async function getMemberInsights(
  deps: LedgerDeps,
  input: {
    orgId: string;
    memberId: string;
    period: InsightPeriod;
    /** Purchases read at most; `insightPurchasesMax` unless a test lowers it. */
    purchasesMax?: number;
  },
): Promise<MemberInsights> {
  const { orgId, memberId, period } = input;
  const purchasesMax = input.purchasesMax ?? insightPurchasesMax;
  assert.ok(
    Number.isSafeInteger(purchasesMax) && purchasesMax >= 1 && purchasesMax <= insightPurchasesMax,
    "a bound on the purchases read",
  );
  assert.ok(insightPeriods.includes(period), "a known insight period");
  const context = await loadOrgLedger(deps, orgId);
  const notFound = new DomainError("not_found", "member not found", { memberId });
  if (!isUuid(memberId)) {
    throw notFound;
  }
  const [member] = await deps.db
    .select({ tierId: members.tierId })
    .from(members)
    .where(and(eq(members.orgId, orgId), eq(members.id, memberId)))
    .limit(1);
  if (member === undefined) {
    throw notFound;
  }
  const timeZone = context.org.timezone;
  const now = nowOf(deps);
  const windows = periodWindows(period, now, timeZone);
  const rows = await deps.db.execute<AggregateRow>(
    aggregate({
      orgId,
      memberId,
      from: windows.previous.start,
      split: windows.current.start,
      to: windows.current.end,
      limit: purchasesMax,
    }),
  );
  const periods = {
    current: emptyPeriod(windows.current),
    previous: emptyPeriod(windows.previous),
  };
  let truncated = false;
  for (const row of rows as unknown as AggregateRow[]) {
    if (row.row_kind === "truncated") {
      truncated = true;
      continue;
    }
    assert.ok(row.period === "current" || row.period === "previous", "a row names its period");
    assert.ok(row.spend !== null && row.points !== null && row.purchases !== null);
    const target = periods[row.period];
    const spendMinor = BigInt(row.spend);
    const points = BigInt(row.points);
    assert.ok(spendMinor >= 0n && points >= 0n, "spend and points are not negative");
    if (row.row_kind === "total") {
      target.totals = { spendMinor, points, purchases: row.purchases };
    } else {
      target.categories.push({
        category: row.category,
        spendMinor,
        points,
        purchases: row.purchases,
      });
    }
  }
  for (const insight of [periods.current, periods.previous]) {
    insight.categories.sort(byCategory);
    const spend = insight.categories.reduce((sum, entry) => sum + entry.spendMinor, 0n);
    const points = insight.categories.reduce((sum, entry) => sum + entry.points, 0n);
    assert.equal(spend, insight.totals.spendMinor, "categories add up to the spend");
    assert.equal(points, insight.totals.points, "categories add up to the points");
  }

  const rules = await activeEarningRules(deps, orgId);
  const wanted: Array<Omit<CapCloseTo, "left"> & { key: string }> = [];
  const capsOf = (caps: PeriodCaps | null, ruleId: string | null, name: string) => {
    for (const capPeriod of capPeriods) {
      const cap = caps?.[capPeriod] ?? null;
      if (cap === null) {
        continue;
      }
      const key = capKey({
        scope: ruleId === null ? "overall" : "rule",
        ruleId,
        period: capPeriod,
        cap,
        periodKey: periodKey(capPeriod, now, timeZone),
      });
      wanted.push({ ruleId, name, period: capPeriod, cap, key });
    }
  };
  for (const rule of rules) {
    capsOf(rule.caps, rule.id, rule.name);
  }
  capsOf(earningCapsOf(context.org.settings), null, "Overall earning cap");
  const accounts = wanted.map((entry) => ({
    ledger: context.pointsLedger,
    memberId,
    key: entry.key,
    cap: entry.cap,
  }));
  const left = await capsLeft(deps.ledger, accounts);
  const closeTo: CapCloseTo[] = [];
  wanted.forEach((entry, index) => {
    const account = accounts[index];
    assert.ok(account !== undefined);
    const remaining = left.get(capAccountId(account)) ?? entry.cap;
    if (remaining > 0n && remaining * closeToDenominator <= entry.cap * closeToNumerator) {
      closeTo.push({
        ruleId: entry.ruleId,
        name: entry.name,
        period: entry.period,
        cap: entry.cap,
        left: remaining,
      });
    }
  });

  const campaigns: CampaignNow[] = [];
  for (const rule of rules) {
    if (
      rule.kind === "campaign" &&
      rule.active &&
      rule.startsAt.getTime() <= now.getTime() &&
      now.getTime() < rule.endsAt.getTime() &&
      (rule.tierIds === null || rule.tierIds.includes(member.tierId))
    ) {
      campaigns.push({ ruleId: rule.id, name: rule.name, endsAt: rule.endsAt });
    }
  }
  campaigns.sort((a, b) => a.endsAt.getTime() - b.endsAt.getTime());

  return {
    memberId,
    period,
    timezone: timeZone,
    current: periods.current,
    previous: periods.previous,
    truncated,
    closeTo,
    campaigns,
  };
}
