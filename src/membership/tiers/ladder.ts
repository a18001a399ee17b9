/**
 * What makes a ladder (the tiers of one tier set) valid, as one pure function shared by tier
 * writes and the tier simulation: a rank-0 entry tier with threshold 0 (where every member
 * starts), no two tiers with one rank, and thresholds strictly increasing with rank (a tier that
 * needs no more than the one below could never be told apart). Also the multiplier's wire form.
 */
import { tierMultiplierBpsMax } from "../limits.ts";

export interface LadderRung {
  rank: number;
  threshold: bigint;
}

export interface LadderIssue {
  /** The field, in the wire's words, e.g. "rank" or "tiers.2.threshold". */
  path: string;
  message: string;
}

/**
 * The issues of a ladder, empty when valid. `pathOf(index, field)` names a rung's field as the
 * caller's input does (a single tier write names the field only).
 */
export function ladderIssues(
  rungs: readonly LadderRung[],
  pathOf: (index: number, field: "rank" | "threshold") => string,
): LadderIssue[] {
  const issues: LadderIssue[] = [];
  const seen = new Map<number, number>();
  rungs.forEach((rung, index) => {
    if (seen.has(rung.rank)) {
      issues.push({ path: pathOf(index, "rank"), message: `rank ${rung.rank} is taken` });
    }
    seen.set(rung.rank, index);
  });
  const entry = rungs.findIndex((rung) => rung.rank === 0);
  if (entry === -1) {
    issues.push({ path: pathOf(0, "rank"), message: "a tier set needs a rank-0 base tier" });
  } else if ((rungs[entry] as LadderRung).threshold !== 0n) {
    issues.push({ path: pathOf(entry, "threshold"), message: "the rank-0 base tier needs 0" });
  }
  const order = rungs
    .map((rung, index) => ({ rung, index }))
    .sort((a, b) => a.rung.rank - b.rung.rank);
  for (let i = 1; i < order.length; i++) {
    const below = order[i - 1];
    const above = order[i];
    if (below === undefined || above === undefined || below.rung.rank === above.rung.rank) {
      continue;
    }
    if (above.rung.threshold <= below.rung.threshold) {
      issues.push({
        path: pathOf(above.index, "threshold"),
        message: `must be above ${below.rung.threshold} (the threshold of rank ${below.rung.rank})`,
      });
    }
  }
  return issues;
}

/** A decimal multiplier with up to four places: "1.25" → 12500 basis points; null if not one. */
export function multiplierBpsOf(text: string): number | null {
  const match = /^([0-9]{1,3})(?:\.([0-9]{1,4}))?$/.exec(text);
  if (match === null) {
    return null;
  }
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? "").padEnd(4, "0"));
  const bps = whole * 10_000 + fraction;
  return bps >= 1 && bps <= tierMultiplierBpsMax ? bps : null;
}
