import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import type { DbExecutor } from "../store/db.ts";
import { type RfmBoundariesStored, type RfmSegmentName, rfmSegmentNames } from "./segments.ts";
import type { MemberRfmValues, RfmMethod } from "./types.ts";

/**
 * Rows per statement while loading a rebuild: each column travels as one array parameter, so a
 * statement's size grows with this, not its parameter count.
 */
export const rfmRowsPerStatementMax = 20_000;

export interface ReplaceOrgRfmInput {
  orgId: string;
  method: RfmMethod;
  windowDays: number;
  boundaries: RfmBoundariesStored;
  /** The rebuild's "now". */
  computedAt: Date;
  /** The population: members with a counted purchase, scored. Everyone else is `none`. */
  rows: ReadonlyArray<MemberRfmValues & { memberId: string }>;
}

/** Serialises rebuilds of one org; re-scores take it shared (save-member-rfm.ts). */
export function rfmLock(orgId: string, mode: "exclusive" | "shared") {
  const key = sql`hashtextextended(${`rfm:${orgId}`}, 0)`;
  return mode === "exclusive"
    ? sql`select pg_advisory_xact_lock(${key})`
    : sql`select pg_advisory_xact_lock_shared(${key})`;
}

/**
 * Writes a rebuild in one transaction: the population's rows, `none` for members who had a
 * segment and left the population, the run (its boundaries), and one `rfm.segment_changed` per
 * member whose segment differs from the one stored. The org's first rebuild announces nothing:
 * there was no segment to change from.
 *
 * Rows go through a temporary table loaded with `unnest` of one array per column (a few
 * statements for 100,000 members), then one statement each checks, announces and upserts. A row
 * written by a re-score after this rebuild's "now" is newer and is kept.
 */
export async function replaceOrgRfm(
  deps: DbDeps,
  input: ReplaceOrgRfmInput,
): Promise<{ changed: number }> {
  assert.ok(Number.isSafeInteger(input.windowDays) && input.windowDays > 0, "window in days");
  for (const row of input.rows) {
    assert.notEqual(row.segment, "none", "the population has segments");
  }
  // A text parameter, cast in SQL: the same on every driver configuration.
  const at = input.computedAt.toISOString();
  const orgId = input.orgId;
  return deps.db.transaction(async (tx) => {
    await tx.execute(rfmLock(orgId, "exclusive"));
    const previous = await tx.execute(sql`select 1 as found from rfm_runs where org_id = ${orgId}`);
    await tx.execute(sql`
      create temporary table rfm_incoming (
        member_id uuid primary key,
        recency_days integer not null,
        frequency integer not null,
        monetary_minor bigint not null,
        r smallint not null,
        f smallint not null,
        m smallint not null,
        segment rfm_segment not null
      ) on commit drop`);
    for (let start = 0; start < input.rows.length; start += rfmRowsPerStatementMax) {
      await loadRows(tx, input.rows.slice(start, start + rfmRowsPerStatementMax));
    }
    await tx.execute(sql`analyze rfm_incoming`);
    // The rows name this org's members (what a foreign key would check, in one join).
    const [known] = await tx.execute<{ n: number }>(sql`
      select count(*)::int as n from rfm_incoming n
      join members m on m.org_id = ${orgId} and m.id = n.member_id`);
    assert.equal(known?.n, input.rows.length, "every scored member is a member of the org");
    let changed = 0;
    if (previous.length > 0) {
      // A member without a row was `none`. Ordered by member, as the relay delivers per member.
      const announced = await tx.execute(sql`
        insert into outbox (org_id, topic, payload)
        select ${orgId}::uuid, 'rfm.segment_changed',
          jsonb_build_object('member_id', member_id, 'from', source, 'to', target)
        from (
          select n.member_id, coalesce(o.segment, 'none') as source, n.segment as target
          from rfm_incoming n
          left join member_rfm o on o.org_id = ${orgId} and o.member_id = n.member_id
          where coalesce(o.segment, 'none') <> n.segment
            and (o.computed_at is null or o.computed_at <= ${at}::timestamptz)
          union all
          select o.member_id, o.segment, 'none'
          from member_rfm o
          where o.org_id = ${orgId} and o.segment <> 'none'
            and o.computed_at <= ${at}::timestamptz
            and not exists (select 1 from rfm_incoming n where n.member_id = o.member_id)
        ) as changes
        order by member_id
        returning 1`);
      changed = announced.length;
    }
    await tx.execute(sql`
      update member_rfm o set recency_days = null, frequency = 0, monetary_minor = 0, r = null,
        f = null, m = null, segment = 'none', computed_at = ${at}::timestamptz
      where o.org_id = ${orgId} and o.segment <> 'none' and o.computed_at <= ${at}::timestamptz
        and not exists (select 1 from rfm_incoming n where n.member_id = o.member_id)`);
    await tx.execute(sql`
      insert into member_rfm (org_id, member_id, recency_days, frequency, monetary_minor, r, f, m,
        segment, computed_at)
      select ${orgId}::uuid, member_id, recency_days, frequency, monetary_minor, r, f, m,
        segment, ${at}::timestamptz
      from rfm_incoming
      on conflict (org_id, member_id) do update set
        recency_days = excluded.recency_days, frequency = excluded.frequency,
        monetary_minor = excluded.monetary_minor, r = excluded.r, f = excluded.f, m = excluded.m,
        segment = excluded.segment, computed_at = excluded.computed_at
      where member_rfm.computed_at <= excluded.computed_at`);
    await tx.execute(sql`
      insert into rfm_runs (org_id, method, window_days, boundaries, population, computed_at)
      values (${orgId}, ${input.method}, ${input.windowDays},
        ${JSON.stringify(input.boundaries)}::jsonb, ${input.rows.length}, ${at}::timestamptz)
      on conflict (org_id) do update set
        method = excluded.method, window_days = excluded.window_days,
        boundaries = excluded.boundaries, population = excluded.population,
        computed_at = excluded.computed_at`);
    return { changed };
  });
}

async function loadRows(
  tx: DbExecutor,
  rows: ReadonlyArray<MemberRfmValues & { memberId: string }>,
): Promise<void> {
  await tx.execute(sql`
    insert into rfm_incoming
    select * from unnest(
      ${arrayLiteral(rows.map((row) => row.memberId))}::uuid[],
      ${arrayLiteral(rows.map((row) => row.recencyDays))}::integer[],
      ${arrayLiteral(rows.map((row) => row.frequency))}::integer[],
      ${arrayLiteral(rows.map((row) => row.monetaryMinor))}::bigint[],
      ${arrayLiteral(rows.map((row) => row.r))}::smallint[],
      ${arrayLiteral(rows.map((row) => row.f))}::smallint[],
      ${arrayLiteral(rows.map((row) => row.m))}::smallint[],
      ${arrayLiteral(rows.map((row) => segmentElement(row.segment)))}::rfm_segment[])`);
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Segment names contain spaces: quoted, and known, so nothing else can reach the literal. */
function segmentElement(segment: RfmSegmentName): string {
  assert.ok(rfmSegmentNames.includes(segment), "a known segment");
  return `"${segment}"`;
}

/**
 * A Postgres array literal of values that need no escaping: integers, UUIDs and quoted segment
 * names (asserted), NULL for null. One text parameter instead of a parameter per value.
 */
function arrayLiteral(values: ReadonlyArray<string | number | bigint | null>): string {
  const elements = values.map((value) => {
    if (value === null) {
      return "NULL";
    }
    if (typeof value === "number") {
      assert.ok(Number.isSafeInteger(value), "integers only");
      return String(value);
    }
    if (typeof value === "bigint") {
      return value.toString(10);
    }
    assert.ok(uuidPattern.test(value) || /^"[A-Za-z ]+"$/.test(value), "no escaping needed");
    return value;
  });
  return `{${elements.join(",")}}`;
}
