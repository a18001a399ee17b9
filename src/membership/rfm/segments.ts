/**
 * The vocabulary of RFM segmentation shared by its store, its routes and the rfm worker that
 * computes it (src/workers/rfm/scoring.ts holds the scoring rules and the segment table).
 */

/** Segment names as they travel (display names); `none`: no counted purchase in the window. */
export const rfmSegmentNames = [
  "Champions",
  "Loyal Customers",
  "Potential Loyalist",
  "New Customers",
  "Promising",
  "Need Attention",
  "About To Sleep",
  "At Risk",
  "Cannot Lose Them",
  "Hibernating",
  "Lost",
  "none",
] as const;
export type RfmSegmentName = (typeof rfmSegmentNames)[number];

export function isRfmSegmentName(value: string): value is RfmSegmentName {
  return (rfmSegmentNames as readonly string[]).includes(value);
}

/**
 * A run's boundaries as stored in `rfm_runs.boundaries`: inclusive bounds for scores 2..5
 * (index 0 is score 2), null where no member can reach the score; amounts as decimal strings.
 */
export interface RfmBoundariesStored {
  recency_days_max: Array<number | null>;
  frequency_min: Array<number | null>;
  monetary_minor_min: Array<string | null>;
}
