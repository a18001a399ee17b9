/** RFM results as the membership module stores and returns them. */
import type { RfmBoundariesStored, RfmSegmentName } from "./segments.ts";

export type RfmMethod = "quintiles" | "thresholds";

/** One member's RFM; scores and recency are null for segment `none`. */
export interface MemberRfmValues {
  recencyDays: number | null;
  frequency: number;
  monetaryMinor: bigint;
  r: number | null;
  f: number | null;
  m: number | null;
  segment: RfmSegmentName;
}

export interface MemberRfm extends MemberRfmValues {
  memberId: string;
  /** When it was computed; null when the member was never scored (segment `none`). */
  computedAt: Date | null;
}

/** The last rebuild of an org: what single-member re-scores score against. */
export interface RfmRun {
  orgId: string;
  method: RfmMethod;
  windowDays: number;
  boundaries: RfmBoundariesStored;
  population: number;
  computedAt: Date;
}

/** The RFM of a member who has none stored: never scored, or no counted purchase. */
export const rfmNone: Readonly<MemberRfmValues> = Object.freeze({
  recencyDays: null,
  frequency: 0,
  monetaryMinor: 0n,
  r: null,
  f: null,
  m: null,
  segment: "none",
});
