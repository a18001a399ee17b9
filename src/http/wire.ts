/**
 * The wire format: zod schemas for requests and responses (the OpenAPI document is generated
 * from these same objects) and the mapping from domain values to snake_case DTOs.
 *
 * Amounts and points travel as JSON integers. Inputs are refused unless they are integers
 * (no floats, no strings); outputs are bigints in the domain and are converted here, once,
 * asserting they are safe integers. Every documented bound keeps them far below 2^53: a
 * purchase is at most 10^12 minor units and a transfer at most 10^15 points.
 */
import assert from "node:assert/strict";
import { z } from "@hono/zod-openapi";
import type {
  HistoryEntry,
  Member,
  MemberBalances,
  Org,
  OrgSettings,
  PurchaseOutcome,
  Reconciliation,
  Redemption,
  ReferralSettings,
  UnitTrialBalance,
  WalletBalance,
} from "../membership/index.ts";
import { referralSettingsOf } from "../membership/index.ts";
import type { EarningLine } from "../membership/purchases/earning.ts";
import type { ValidationIssue } from "./errors.ts";
import {
  amountMinorMax,
  amountMinorMin,
  categoryLengthMax,
  emailLengthMax,
  externalIdLengthMax,
  externalRefLengthMax,
  idempotencyKeyLengthMax,
  idLengthMax,
  itemQuantityMax,
  personNameLengthMax,
  phoneLengthMax,
  skuLengthMax,
} from "./limits.ts";

/** A bigint from the domain as a JSON number; beyond 2^53 − 1 it would silently lose digits. */
export function wireInteger(value: bigint): number {
  assert.ok(value >= BigInt(Number.MIN_SAFE_INTEGER), "integer below the safe range");
  assert.ok(value <= BigInt(Number.MAX_SAFE_INTEGER), "integer above the safe range");
  return Number(value);
}

/** A ledger timestamp (ns since the epoch) as an ISO-8601 instant (ms precision). */
export function wireLedgerTime(timestampNs: bigint): string {
  assert.ok(timestampNs > 0n, "ledger timestamps are positive");
  return new Date(Number(timestampNs / 1_000_000n)).toISOString();
}

/** camelCase → snake_case, for names that come from code (account names). */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

// Text that cannot be stored.

/**
 * What every string of a request must not contain: U+0000, which Postgres `text` refuses (the
 * request would fail half-way), and an unpaired UTF-16 surrogate (`"\ud800"` is valid JSON),
 * which has no UTF-8 form and would be stored silently replaced by U+FFFD, so the member's name or
 * the purchase's id read back would not be what was sent.
 */
export const unsafeTextMessage = "must not contain U+0000 (NUL) or an unpaired UTF-16 surrogate";
const anySurrogate = /[\ud800-\udfff]/;
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** No request schema nests deeper; zod has refused deeper input before it is searched. */
const unsafeTextDepthMax = 32;

export function isUnsafeText(text: string): boolean {
  // The plain character class first: most text has no surrogate at all (no emoji).
  return text.includes("\u0000") || (anySurrogate.test(text) && loneSurrogate.test(text));
}

/**
 * Every string in `value` (a parsed request part: body, query, path parameters), values and
 * property names alike, that `isUnsafeText`, as validation issues with dotted paths
 * (`transactions.3.items.0.sku`); at most `issuesMax`. Paths are only built for an issue, so a
 * clean batch of a thousand purchases costs a test per string and no allocation per field.
 */
export function unsafeTextIssues(value: unknown, issuesMax: number): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const path: string[] = [];
  const visit = (node: unknown): void => {
    if (issues.length >= issuesMax) {
      return;
    }
    if (typeof node === "string") {
      if (isUnsafeText(node)) {
        issues.push({ path: path.join("."), message: unsafeTextMessage });
      }
      return;
    }
    if (typeof node !== "object" || node === null || path.length >= unsafeTextDepthMax) {
      return;
    }
    if (Array.isArray(node)) {
      for (let index = 0; index < node.length; index += 1) {
        path.push(String(index));
        visit(node[index]);
        path.pop();
      }
      return;
    }
    for (const key of Object.keys(node)) {
      if (isUnsafeText(key)) {
        issues.push({ path: path.join("."), message: `a property name ${unsafeTextMessage}` });
        continue;
      }
      path.push(key);
      visit((node as Record<string, unknown>)[key]);
      path.pop();
    }
  };
  visit(value);
  assert.ok(issues.length <= issuesMax, "unsafe text issues within their bound");
  return issues;
}

// Shared pieces.

export const uuidParam = z.string().min(1).max(idLengthMax);
export const minorAmount = z.number().int().min(amountMinorMin).max(amountMinorMax).openapi({
  description: "Minor units of the org's currency (cents), an integer.",
  example: 1999,
});
export const externalId = z.string().min(1).max(externalIdLengthMax);
export const externalRef = z.string().min(1).max(externalRefLengthMax);
export const instant = z
  .string()
  .openapi({ format: "date-time", example: "2026-01-31T12:00:00.000Z" });

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "insufficient_points" }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi("Error");

/** `Idempotency-Key`: printable ASCII without spaces (the middleware refuses anything else). */
export const idempotencyKeyPattern = /^[\x21-\x7e]+$/;

export const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(idempotencyKeyLengthMax)
    .regex(idempotencyKeyPattern, "printable ASCII characters without spaces")
    .optional()
    .openapi({
      description:
        `1 to ${idempotencyKeyLengthMax} printable ASCII characters without spaces (a UUID ` +
        "fits). Makes the POST safe to retry: a 2xx answer is stored for 24 h and replayed, " +
        "marked `Idempotency-Replayed: true`; the same key with another request, or while the " +
        "first is still running, is 409. Error answers are not stored: retrying them runs again.",
      example: "5f0c1c9e-8d1b-4a43-9d0c-6a4c1e8b2f10",
    }),
});

// Orgs.

const RfmSettingsSchema = z
  .union([
    z.object({ method: z.literal("quintiles"), window_days: z.number().int() }),
    z.object({
      method: z.literal("thresholds"),
      window_days: z.number().int(),
      thresholds: z.object({
        recency_days: z.array(z.number().int()),
        frequency: z.array(z.number().int()),
        monetary_minor: z.array(z.string()),
      }),
    }),
  ])
  .openapi("RfmSettings");

const ExpirySettingsSchema = z
  .union([
    z.literal("none"),
    z.object({ policy: z.enum(["inactivity", "lots"]), months: z.number().int() }),
  ])
  .openapi("ExpirySettings");

const ReferralSettingsSchema = z
  .object({
    referrer_points: z.number().int(),
    referred_points: z.number().int(),
    max_per_referrer_per_month: z.number().int(),
    min_purchase_amount: z.string().nullable().openapi({
      description: "Minor units a purchase must reach to qualify; null: any purchase.",
    }),
  })
  .openapi("ReferralSettings");

export const OrgSettingsSchema = z
  .object({
    base_rate_points_per_unit: z.number().int(),
    welcome_bonus_points: z.number().int(),
    hold_seconds_default: z.number().int(),
    tier_metric: z.enum(["points", "spend"]),
    tier_window_months: z.number().int(),
    tier_downgrade_grace_days: z.number().int(),
    rfm: RfmSettingsSchema,
    expiry: ExpirySettingsSchema,
    rounding: z.enum(["down", "half_up", "up"]).openapi({
      description: "How each earning entry's fractional points are rounded, once per entry.",
    }),
    earning_caps: z
      .object({
        day: z.number().int().nullable(),
        week: z.number().int().nullable(),
        month: z.number().int().nullable(),
      })
      .openapi({
        description:
          "Points one member may earn per day, week (from Monday) and month of the org's " +
          "timezone, across all earning; null: no cap for that period.",
      }),
    stamp_defaults: z
      .object({
        stamps_per_card: z.number().int().nullable(),
        reward_points: z.number().int().nullable(),
      })
      .openapi({
        description:
          "Used by `POST /v1/stamp-programs` when the body leaves `stamps_per_card` or " +
          "`reward` out; null: no default (the field is then required).",
      }),
    referral: ReferralSettingsSchema,
    member_pin_login: z.boolean().openapi({
      description: "Members may sign in with a PIN (`POST /v1/member-auth/login`).",
    }),
    timezone: z.string().openapi({
      description:
        "The org's IANA time zone: where its days, weeks and months begin (campaign windows " +
        "and caps given without an offset are read in it).",
      example: "Europe/Paris",
    }),
  })
  .openapi("OrgSettings");

export function settingsDto(
  settings: OrgSettings,
  timezone: string,
): z.infer<typeof OrgSettingsSchema> {
  const rfm = settings.rfm;
  return {
    timezone,
    base_rate_points_per_unit: settings.baseRatePointsPerUnit,
    welcome_bonus_points: settings.welcomeBonusPoints,
    hold_seconds_default: settings.holdSecondsDefault,
    tier_metric: settings.tierMetric,
    tier_window_months: settings.tierWindowMonths,
    tier_downgrade_grace_days: settings.tierDowngradeGraceDays,
    rfm:
      rfm.method === "quintiles"
        ? { method: "quintiles", window_days: rfm.windowDays }
        : {
            method: "thresholds",
            window_days: rfm.windowDays,
            thresholds: {
              recency_days: rfm.thresholds.recencyDays,
              frequency: rfm.thresholds.frequency,
              monetary_minor: rfm.thresholds.monetaryMinor,
            },
          },
    expiry:
      settings.expiry.policy === "none"
        ? "none"
        : { policy: settings.expiry.policy, months: settings.expiry.months },
    rounding: settings.rounding,
    earning_caps: { ...settings.earningCaps },
    stamp_defaults: {
      stamps_per_card: settings.stampDefaults.stampsPerCard,
      reward_points: settings.stampDefaults.rewardPoints,
    },
    referral: referralSettingsDto(referralSettingsOf({ settings })),
    member_pin_login: settings.memberPinLogin,
  };
}

function referralSettingsDto(referral: ReferralSettings): z.infer<typeof ReferralSettingsSchema> {
  return {
    referrer_points: referral.referrerPoints,
    referred_points: referral.referredPoints,
    max_per_referrer_per_month: referral.maxPerReferrerPerMonth,
    min_purchase_amount: referral.minPurchaseAmountMinor ?? null,
  };
}

export const OrgSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    currency: z.string(),
    timezone: z.string(),
    settings: OrgSettingsSchema,
    created_at: instant,
  })
  .openapi("Org");

export function orgDto(org: Org): z.infer<typeof OrgSchema> {
  return {
    id: org.id,
    name: org.name,
    slug: org.slug,
    currency: org.currency,
    timezone: org.timezone,
    settings: settingsDto(org.settings, org.timezone),
    created_at: org.createdAt.toISOString(),
  };
}

// Members.

export const MemberSchema = z
  .object({
    id: z.string(),
    external_ref: z.string(),
    status: z.enum(["active", "suspended", "closed"]),
    tier_id: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    first_name: z.string().nullable(),
    last_name: z.string().nullable(),
    date_of_birth: z.string().nullable().openapi({ description: "YYYY-MM-DD; null if unknown." }),
    preferences: z
      .object({
        notifications: z.object({ email: z.boolean(), sms: z.boolean(), push: z.boolean() }),
        marketing_opt_in: z.boolean(),
      })
      .openapi({
        description:
          "What the member agreed to be sent; all off until set (`PATCH /v1/me`), reset by erasure.",
      }),
    referral_code: z.string().openapi({
      description:
        "The code this member hands out: a new member enrolled with it (`referral_code` of " +
        "POST /v1/members) is their referral.",
    }),
    erased_at: instant.nullable().openapi({
      description: "When the personal data was erased (POST /v1/members/{id}/erase); null if kept.",
    }),
    created_at: instant,
    updated_at: instant,
  })
  .openapi("Member");

export function memberDto(member: Member): z.infer<typeof MemberSchema> {
  return {
    id: member.id,
    external_ref: member.externalRef,
    status: member.status,
    tier_id: member.tierId,
    email: member.email,
    phone: member.phone,
    first_name: member.firstName,
    last_name: member.lastName,
    date_of_birth: member.dateOfBirth,
    preferences: {
      notifications: { ...member.preferences.notifications },
      marketing_opt_in: member.preferences.marketingOptIn,
    },
    referral_code: member.referralCode,
    erased_at: member.erasedAt?.toISOString() ?? null,
    created_at: member.createdAt.toISOString(),
    updated_at: member.updatedAt.toISOString(),
  };
}

export const personalData = {
  email: z.email().max(emailLengthMax),
  phone: z
    .string()
    .min(1)
    .max(phoneLengthMax)
    .regex(/^\+?[0-9 ().-]+$/, "digits, spaces, ( ) . - and an optional leading +"),
  first_name: z.string().min(1).max(personNameLengthMax),
  last_name: z.string().min(1).max(personNameLengthMax),
};

// Balances and history.

export const WalletSchema = z
  .object({
    available: z.number().int(),
    pending: z.number().int(),
    lifetime_earned: z.number().int(),
    lifetime_redeemed: z.number().int(),
  })
  .openapi("PointsBalance");

export function walletDto(wallet: WalletBalance): z.infer<typeof WalletSchema> {
  return {
    available: wireInteger(wallet.available),
    pending: wireInteger(wallet.pending),
    lifetime_earned: wireInteger(wallet.lifetimeEarned),
    lifetime_redeemed: wireInteger(wallet.lifetimeRedeemed),
  };
}

export const BalancesSchema = z
  .object({
    points: WalletSchema,
    stamps: z.array(
      z.object({
        program_id: z.string(),
        name: z.string(),
        balance: z.number().int(),
        stamps_required: z.number().int(),
      }),
    ),
    expiring: z.array(z.object({ points: z.number().int(), at: instant })).openapi({
      description:
        "Available points still to expire under the org's expiry policy, soonest first (at " +
        "most 100 expiry times); empty when points do not expire. Points held by pending " +
        "redemptions are left out.",
    }),
  })
  .openapi("Balances");

export function balancesDto(balances: MemberBalances): z.infer<typeof BalancesSchema> {
  return {
    points: walletDto(balances.points),
    stamps: balances.stamps.map((card) => ({
      program_id: card.programId,
      name: card.name,
      balance: wireInteger(card.balance),
      stamps_required: wireInteger(card.stampsRequired),
    })),
    expiring: balances.expiring.map((entry) => ({
      points: wireInteger(entry.points),
      at: entry.at.toISOString(),
    })),
  };
}

export const EarningLineSchema = z
  .object({
    kind: z.enum(["base", "category_multiplier", "sku_bonus", "campaign", "tier"]),
    rule_id: z.string().optional(),
    rule_version: z.number().int().optional(),
    points: z.number().int(),
    capped_by: z
      .object({ scope: z.enum(["rule", "overall"]), period: z.enum(["day", "week", "month"]) })
      .optional(),
  })
  .openapi("EarningLine", {
    description:
      "One entry of what a purchase earned, in evaluation order: `base`, then rule entries " +
      "(`category_multiplier`, `sku_bonus`), `campaign`s, `tier`. A rule's entry names the rule " +
      "and the version used; an entry a cap trimmed carries `capped_by` (kept even at 0 points). " +
      "The entries add up to `points_earned`; each is its own transfer in the ledger.",
  });

export const breakdownExample = [
  { kind: "base", points: 10 },
  {
    kind: "category_multiplier",
    rule_id: "5b0c2d1e-8f3a-4c6b-9d7e-1a2b3c4d5e6f",
    rule_version: 1,
    points: 12,
  },
  { kind: "tier", points: 5 },
] satisfies Array<z.output<typeof EarningLineSchema>>;

export function breakdownDto(
  lines: readonly EarningLine[],
): Array<z.output<typeof EarningLineSchema>> {
  return lines.map((line) => ({
    kind: line.kind,
    ...(line.ruleId === undefined ? {} : { rule_id: line.ruleId }),
    ...(line.ruleVersion === undefined ? {} : { rule_version: line.ruleVersion }),
    points: wireInteger(line.points),
    ...(line.cappedBy === undefined ? {} : { capped_by: line.cappedBy }),
  }));
}

export const HistoryEntrySchema = z
  .object({
    transfer_id: z.string().openapi({ description: "The ledger transfer id, a decimal u128." }),
    operation: z.string().openapi({ example: "purchase_earn" }),
    direction: z.enum(["credit", "debit"]),
    points: z.number().int(),
    occurred_at: instant,
    document_id: z.string().nullable().openapi({
      description:
        "The source document's id (purchase, redemption, adjustment; for a refund_reversal, the refunded purchase).",
    }),
    spend_minor: z.number().int().nullable().openapi({
      description: "purchase_earn: the purchase amount; refund_reversal: the refunded amount.",
    }),
    location_number: z.number().int().nullable(),
    pending_id: z.string().nullable(),
    breakdown: z
      .array(EarningLineSchema)
      .optional()
      .openapi({
        description:
          "purchase_earn: the purchase's whole breakdown (its rule, campaign and tier entries " +
          "are their own history entries, each named by its operation).",
      }),
  })
  .openapi("HistoryEntry");

export function historyEntryDto(
  entry: HistoryEntry & { breakdown?: EarningLine[] },
): z.infer<typeof HistoryEntrySchema> {
  return {
    ...(entry.breakdown === undefined ? {} : { breakdown: breakdownDto(entry.breakdown) }),
    transfer_id: entry.transferId.toString(10),
    operation: entry.operation,
    direction: entry.direction,
    points: wireInteger(entry.amount),
    occurred_at: wireLedgerTime(entry.timestamp),
    document_id: entry.documentId,
    spend_minor: entry.spendMinor === 0n ? null : wireInteger(entry.spendMinor),
    location_number: entry.locationNumber === 0 ? null : entry.locationNumber,
    pending_id: entry.pendingId === 0n ? null : entry.pendingId.toString(10),
  };
}

// Transactions.

export const PurchaseItemSchema = z.strictObject({
  sku: z.string().min(1).max(skuLengthMax),
  category: z.string().min(1).max(categoryLengthMax).optional(),
  quantity: z.number().int().min(1).max(itemQuantityMax),
  amount: minorAmount,
});

export const StampsEarnedSchema = z.object({
  program_id: z.string(),
  stamps: z.number().int(),
  completed: z.boolean(),
});

export function purchaseOutcomeDto(outcome: PurchaseOutcome): {
  transaction_id: string;
  points_earned: number;
  breakdown: Array<z.output<typeof EarningLineSchema>>;
  stamps_earned: Array<z.infer<typeof StampsEarnedSchema>>;
} {
  return {
    transaction_id: outcome.transactionId,
    points_earned: wireInteger(outcome.pointsEarned),
    breakdown: breakdownDto(outcome.breakdown),
    stamps_earned: outcome.stampsEarned.map((earned) => ({
      program_id: earned.programId,
      stamps: wireInteger(earned.stamps),
      completed: earned.completed,
    })),
  };
}

// Redemptions.

export const RedemptionSchema = z
  .object({
    id: z.string(),
    member_id: z.string(),
    external_id: z.string().nullable(),
    status: z.enum(["pending", "fulfilled", "cancelled", "expired", "failed"]),
    points: z.number().int(),
    reward_id: z
      .string()
      .nullable()
      .openapi({ description: "The catalog reward redeemed, if any." }),
    quantity: z.number().int().nullable().openapi({ description: "Units of the reward." }),
    expires_at: instant,
    created_at: instant,
    resolved_at: instant.nullable(),
  })
  .openapi("Redemption");

export function redemptionDto(redemption: Redemption): z.infer<typeof RedemptionSchema> {
  return {
    id: redemption.id,
    member_id: redemption.memberId,
    external_id: redemption.externalId,
    status: redemption.status,
    points: wireInteger(redemption.points),
    reward_id: redemption.rewardId,
    quantity: redemption.quantity,
    expires_at: redemption.expiresAt.toISOString(),
    created_at: redemption.createdAt.toISOString(),
    resolved_at: redemption.resolvedAt?.toISOString() ?? null,
  };
}

// Trial balance.

const BalanceLineSchema = z.object({
  debits_posted: z.number().int(),
  credits_posted: z.number().int(),
  debits_pending: z.number().int(),
  credits_pending: z.number().int(),
});

export const UnitTrialBalanceSchema = z
  .object({
    unit: z.string().openapi({ example: "points" }),
    name: z.string().nullable(),
    ledger: z.number().int(),
    controls: z.record(z.string(), BalanceLineSchema),
    members: BalanceLineSchema.extend({ count: z.number().int() }),
    earning_caps: BalanceLineSchema.extend({ count: z.number().int() }).openapi({
      description:
        "Every member's earning-cap accounts together: cap allowance funded, reserved and " +
        'used, never points (docs/ledger.md, "Earning caps").',
    }),
    totals: BalanceLineSchema,
    balanced: z.boolean(),
    outstanding_liability: z.number().int(),
    pending_redemptions: z.number().int(),
  })
  .openapi("UnitTrialBalance");

function balanceLineDto(line: {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}): z.infer<typeof BalanceLineSchema> {
  return {
    debits_posted: wireInteger(line.debitsPosted),
    credits_posted: wireInteger(line.creditsPosted),
    debits_pending: wireInteger(line.debitsPending),
    credits_pending: wireInteger(line.creditsPending),
  };
}

export function trialBalanceDto(unit: UnitTrialBalance): z.infer<typeof UnitTrialBalanceSchema> {
  const { trialBalance } = unit;
  const controls: Record<string, z.infer<typeof BalanceLineSchema>> = {};
  for (const [name, line] of Object.entries(trialBalance.controls)) {
    controls[snakeCase(name)] = balanceLineDto(line);
  }
  return {
    unit: unit.unit,
    name: unit.name,
    ledger: trialBalance.ledger,
    controls,
    members: { ...balanceLineDto(trialBalance.wallets), count: trialBalance.wallets.count },
    earning_caps: {
      ...balanceLineDto(trialBalance.earningCaps),
      count: trialBalance.earningCaps.count,
    },
    totals: balanceLineDto(trialBalance.totals),
    balanced: trialBalance.balanced,
    outstanding_liability: wireInteger(trialBalance.outstandingLiability),
    pending_redemptions: wireInteger(trialBalance.pendingRedemptions),
  };
}

// Reconciliations.

export const ReconciliationMismatchSchema = z
  .object({
    kind: z.string().openapi({ example: "amount_mismatch" }),
    document: z.object({
      kind: z.string().openapi({ example: "purchase" }),
      id: z.string(),
      external_id: z.string().nullable(),
      member_id: z.string().nullable(),
    }),
    transfer_id: z.string().nullable().openapi({ description: "Decimal u128." }),
    expected: z.string().nullable().openapi({ description: "What Postgres recorded." }),
    actual: z.string().nullable().openapi({ description: "What the ledger holds." }),
  })
  .openapi("ReconciliationMismatch");

export const ReconciliationSchema = z
  .object({
    id: z.string(),
    status: z.enum(["running", "clean", "mismatches", "failed"]),
    trigger: z.enum(["manual", "scheduled"]),
    checked: z.object({
      documents: z.number().int(),
      transfers: z.number().int(),
      wallets: z.number().int(),
    }),
    mismatches: z.array(ReconciliationMismatchSchema),
    mismatch_count: z.number().int().openapi({
      description: "Every mismatch found; `mismatches` lists the first 1,000.",
    }),
    error: z.string().nullable(),
    started_at: instant,
    finished_at: instant.nullable(),
  })
  .openapi("Reconciliation");

export function reconciliationDto(run: Reconciliation): z.infer<typeof ReconciliationSchema> {
  return {
    id: run.id,
    status: run.status,
    trigger: run.trigger,
    checked: run.checked,
    mismatches: run.mismatches.map((mismatch) => ({
      kind: mismatch.kind,
      document: {
        kind: mismatch.document.kind,
        id: mismatch.document.id,
        external_id: mismatch.document.externalId,
        member_id: mismatch.document.memberId,
      },
      transfer_id: mismatch.transferId === null ? null : mismatch.transferId.toString(),
      expected: mismatch.expected,
      actual: mismatch.actual,
    })),
    mismatch_count: run.mismatchCount,
    error: run.error,
    started_at: run.startedAt.toISOString(),
    finished_at: run.finishedAt?.toISOString() ?? null,
  };
}
