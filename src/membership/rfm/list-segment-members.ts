import { and, asc, eq, gt, isNull, or } from "drizzle-orm";
import type { DbDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { invalidInput } from "../intents/support.ts";
import { memberRfm, members } from "../store/schema.ts";
import { isRfmSegmentName } from "./segments.ts";
import { type MemberRfm, rfmNone } from "./types.ts";

/** Largest page of a segment listing. */
export const segmentMembersPageMax = 500;

export interface ListSegmentMembersInput {
  orgId: string;
  /** A display name ("Champions", "Cannot Lose Them", ...) or `none`. */
  segment: string;
  limit: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface SegmentMembersPage {
  members: Array<MemberRfm & { externalRef: string }>;
  nextCursor: string | null;
}

const cursorPrefix = "s1.";
const cursorPattern = /^s1\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The last member id of the page, wrapped so callers treat it as opaque. */
function encodeCursor(memberId: string): string {
  return Buffer.from(`${cursorPrefix}${memberId}`, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  if (!cursorPattern.test(text)) {
    throw invalidInput("cursor is not one this API returned", { field: "cursor" });
  }
  return text.slice(cursorPrefix.length);
}

/** The members of one segment, by member id. An unknown segment name is `not_found`. */
export async function listSegmentMembers(
  deps: DbDeps,
  input: ListSegmentMembersInput,
): Promise<SegmentMembersPage> {
  if (!isRfmSegmentName(input.segment)) {
    throw new DomainError("not_found", "segment not found", { segment: input.segment });
  }
  if (
    !Number.isSafeInteger(input.limit) ||
    input.limit < 1 ||
    input.limit > segmentMembersPageMax
  ) {
    throw invalidInput("limit out of range", { field: "limit", max: segmentMembersPageMax });
  }
  const after = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
  // `none` is also every member without a row (never scored): listed from `members`.
  const none = input.segment === "none";
  const rows = await deps.db
    .select({ memberId: members.id, externalRef: members.externalRef, rfm: memberRfm })
    .from(members)
    [none ? "leftJoin" : "innerJoin"](
      memberRfm,
      and(eq(memberRfm.orgId, members.orgId), eq(memberRfm.memberId, members.id)),
    )
    .where(
      and(
        eq(members.orgId, input.orgId),
        none
          ? or(isNull(memberRfm.memberId), eq(memberRfm.segment, "none"))
          : eq(memberRfm.segment, input.segment),
        after === undefined ? undefined : gt(members.id, after),
      ),
    )
    .orderBy(asc(members.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page[page.length - 1];
  return {
    members: page.map(({ memberId, externalRef, rfm }) => ({
      memberId,
      externalRef,
      ...(rfm === null
        ? { ...rfmNone, computedAt: null }
        : {
            recencyDays: rfm.recencyDays,
            frequency: rfm.frequency,
            monetaryMinor: rfm.monetaryMinor,
            r: rfm.r,
            f: rfm.f,
            m: rfm.m,
            segment: rfm.segment,
            computedAt: rfm.computedAt,
          }),
    })),
    nextCursor:
      rows.length > input.limit && last !== undefined ? encodeCursor(last.memberId) : null,
  };
}
