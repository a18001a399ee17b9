import { sql } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { writeOutbox } from "../store/outbox.ts";
import { rfmLock } from "./replace-org-rfm.ts";
import type { RfmSegmentName } from "./segments.ts";
import type { MemberRfmValues } from "./types.ts";

export interface SaveMemberRfmInput {
  orgId: string;
  memberId: string;
  values: MemberRfmValues;
  computedAt: Date;
}

/**
 * Stores one member's re-score and, when the segment changed, writes `rfm.segment_changed`
 * `{member_id, from, to}` in the same transaction (no row stored: the member was `none`). A row
 * computed later than `computedAt` is newer and is kept; then nothing changes.
 */
export async function saveMemberRfm(
  deps: DbDeps,
  input: SaveMemberRfmInput,
): Promise<{ from: RfmSegmentName; to: RfmSegmentName; written: boolean }> {
  const { values } = input;
  // A text parameter, cast in SQL: the same on every driver configuration.
  const at = input.computedAt.toISOString();
  return deps.db.transaction(async (tx) => {
    // Shared: re-scores of one org run side by side, but never inside a rebuild's write.
    await tx.execute(rfmLock(input.orgId, "shared"));
    const [stored] = await tx.execute<{ segment: RfmSegmentName; newer: boolean }>(sql`
      select segment, computed_at > ${at}::timestamptz as newer from member_rfm
      where org_id = ${input.orgId} and member_id = ${input.memberId}
      for update`);
    const from: RfmSegmentName = stored?.segment ?? "none";
    if (stored?.newer === true) {
      return { from, to: from, written: false };
    }
    await tx.execute(sql`
      insert into member_rfm (org_id, member_id, recency_days, frequency, monetary_minor, r, f, m,
        segment, computed_at)
      values (${input.orgId}, ${input.memberId}, ${values.recencyDays}, ${values.frequency},
        ${values.monetaryMinor.toString()}::bigint, ${values.r}, ${values.f}, ${values.m}, ${values.segment},
        ${at}::timestamptz)
      on conflict (org_id, member_id) do update set
        recency_days = excluded.recency_days, frequency = excluded.frequency,
        monetary_minor = excluded.monetary_minor, r = excluded.r, f = excluded.f, m = excluded.m,
        segment = excluded.segment, computed_at = excluded.computed_at`);
    if (from !== values.segment) {
      await writeOutbox(tx, [
        {
          orgId: input.orgId,
          topic: "rfm.segment_changed",
          payload: { member_id: input.memberId, from, to: values.segment },
        },
      ]);
    }
    return { from, to: values.segment, written: true };
  });
}
