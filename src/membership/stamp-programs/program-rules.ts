/**
 * What a stamp program may be configured with, checked once for creation and for every change:
 * the earn rule (per purchase or per item, a minimum amount, categories and skus) and the window
 * in which purchases earn. The HTTP edge validates the same bounds with field paths; these checks
 * are the domain's own, for every other caller, and for what only the merged program shows (a
 * window whose start a change moved past its stored end).
 */
import { invalidInput } from "../intents/support.ts";
import type { StampEarnRule, StampProgram } from "../ledger-types.ts";
import {
  amountMinorMax,
  categoryLengthMax,
  skuLengthMax,
  stampEarnCategoriesMax,
  stampEarnSkusMax,
} from "../limits.ts";

/** An earn rule as a caller gives it: absent lists are empty, an absent minimum is none. */
export interface StampEarnRuleInput {
  per: "purchase" | "item";
  amountMinMinor?: bigint | null;
  categories?: readonly string[];
  skus?: readonly string[];
}

/** The rule checked and normalised (duplicates dropped, order kept); throws `invalid_input`. */
export function checkEarnRule(input: StampEarnRuleInput): StampEarnRule {
  if (input.per !== "purchase" && input.per !== "item") {
    throw invalidInput("earn.per is purchase or item", { field: "earn.per" });
  }
  const amountMinMinor = input.amountMinMinor ?? null;
  if (amountMinMinor !== null && (amountMinMinor < 1n || amountMinMinor > amountMinorMax)) {
    throw invalidInput("earn.min_amount out of range", { field: "earn.min_amount" });
  }
  const categories = checkNames(input.categories ?? [], {
    field: "earn.categories",
    countMax: stampEarnCategoriesMax,
    lengthMax: categoryLengthMax,
  });
  const skus = checkNames(input.skus ?? [], {
    field: "earn.skus",
    countMax: stampEarnSkusMax,
    lengthMax: skuLengthMax,
  });
  return { per: input.per, amountMinMinor, categories, skus };
}

function checkNames(
  names: readonly string[],
  bounds: { field: string; countMax: number; lengthMax: number },
): string[] {
  if (names.length > bounds.countMax) {
    throw invalidInput(`${bounds.field}: at most ${bounds.countMax}`, { field: bounds.field });
  }
  for (const name of names) {
    if (name.length === 0 || name.length > bounds.lengthMax) {
      throw invalidInput(`${bounds.field}: a name of 1 to ${bounds.lengthMax} characters`, {
        field: bounds.field,
      });
    }
  }
  return [...new Set(names)];
}

/** Throws `invalid_input` unless the window is open on a side or starts before it ends. */
export function checkWindow(window: { activeFrom: Date | null; activeUntil: Date | null }): void {
  for (const [field, at] of [
    ["active_from", window.activeFrom],
    ["active_until", window.activeUntil],
  ] as const) {
    if (at !== null && Number.isNaN(at.getTime())) {
      throw invalidInput(`${field} is not a date`, { field });
    }
  }
  if (
    window.activeFrom !== null &&
    window.activeUntil !== null &&
    window.activeFrom.getTime() >= window.activeUntil.getTime()
  ) {
    throw invalidInput("active_until must be after active_from", {
      field: "active_until",
      issues: [{ path: "active_until", message: "must be after active_from" }],
    });
  }
}

/**
 * What the audit log keeps of a program: its configuration in the wire's words, amounts as
 * decimal strings (JSON has no bigint), times in RFC 3339.
 */
export function stampProgramAuditView(program: StampProgram): Record<string, unknown> {
  return {
    name: program.name,
    stamps_per_card: Number(program.stampsRequired),
    reward: { points: program.rewardPoints.toString() },
    earn: {
      per: program.earn.per,
      min_amount: program.earn.amountMinMinor?.toString() ?? null,
      categories: [...program.earn.categories],
      skus: [...program.earn.skus],
    },
    active_from: program.activeFrom?.toISOString() ?? null,
    active_until: program.activeUntil?.toISOString() ?? null,
    active: program.active,
  };
}
