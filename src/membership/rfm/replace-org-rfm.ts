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
  /** Members with a counted purchase (the quintiles' population). */
  population: number;
  /** The rebuild's "now". */
  computedAt: Date;
  /** Every member of the org, `none` included. */
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
 * Writes a rebuild: every member's row, the run (its boundaries), and one `rfm.segment_changed`
 * per member whose segment differs from the one stored, all in one transaction. The org's first
 * rebuild announces nothing: there was no segment to change from.
 *
 * Rows go through a temporary table loaded with `unnest` of one array per column (a few
 * statements for 100,000 members), then one statement each compares, announces and upserts. A
 * row written by a re-score after this rebuild's "now" is newer and is kept.
 */
export async function replaceOrgRfm(
  deps: DbDeps,
  input: ReplaceOrgRfmInput,
): Promise<{ changed: number }> {
  assert.ok(input.population <= input.rows.length, "the population is among the rows");
  assert.ok(Number.isSafeInteger(input.windowDays) && input.windowDays > 0, "window in days");
  // A text parameter, cast in SQL: the same on every driver configuration.
  const at = input.computedAt.toISOString();
  return deps.db.transaction(async (tx) => {
    await tx.execute(rfmLock(input.orgId, "exclusive"));
    const previous = await tx.execute(
      sql`select 1 as found from rfm_runs where org_id = ${input.orgId}`,
    );
    await tx.execute(sql`
      create temporary table rfm_incoming (
        member_id uuid not null,
        recency_days integer,
        frequency integer not null,
        monetary_minor bigint not null,
        r smallint,
        f smallint,
        m smallint,
        segment rfm_segment not null
      ) on commit drop`);
    for (let start = 0; start < input.rows.length; start += rfmRowsPerStatementMax) {
      await loadRows(tx, input.rows.slice(start, start + rfmRowsPerStatementMax));
    }
    let changed = 0;
    if (previous.length > 0) {
      // Members without a stored row were `none`. Ordered by member, as the relay delivers.
      const announced = await tx.execute(sql`
        insert into outbox (org_id, topic, payload)
        select ${input.orgId}::uuid, 'rfm.segment_changed',
          jsonb_build_object('member_id', n.member_id, 'from', coalesce(o.segment, 'none'),
            'to', n.segment)
        from rfm_incoming n
        left join member_rfm o on o.org_id = ${input.orgId} and o.member_id = n.member_id
        where coalesce(o.segment, 'none') <> n.segment
          and (o.computed_at is null or o.computed_at <= ${at}::timestamptz)
        order by n.member_id
        returning 1`);
      changed = announced.length;
    }
    await tx.execute(sql`
      insert into member_rfm (org_id, member_id, recency_days, frequency, monetary_minor, r, f, m,
        segment, computed_at)
      select ${input.orgId}::uuid, member_id, recency_days, frequency, monetary_minor, r, f, m,
        segment, ${at}::timestamptz
      from rfm_incoming
      on conflict (org_id, member_id) do update set
        recency_days = excluded.recency_days, frequency = excluded.frequency,
        monetary_minor = excluded.monetary_minor, r = excluded.r, f = excluded.f, m = excluded.m,
        segment = excluded.segment, computed_at = excluded.computed_at
      where member_rfm.computed_at <= excluded.computed_at`);
    await tx.execute(sql`
      insert into rfm_runs (org_id, method, window_days, boundaries, population, members,
        computed_at)
      values (${input.orgId}, ${input.method}, ${input.windowDays},
        ${JSON.stringify(input.boundaries)}::jsonb, ${input.population}, ${input.rows.length},
        ${at}::timestamptz)
      on conflict (org_id) do update set
        method = excluded.method, window_days = excluded.window_days,
        boundaries = excluded.boundaries, population = excluded.population,
        members = excluded.members, computed_at = excluded.computed_at`);
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
