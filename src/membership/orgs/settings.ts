/**
 * Per-org settings stored in `orgs.settings` (jsonb). Integers only: points and seconds are
 * counted, never measured, so no float ever reaches the ledger from here.
 */
import { z } from "zod";

/** u32 ceiling: TigerBeetle holds pending transfers for at most this many seconds. */
const secondsU32Max = 4_294_967_295;

export const orgSettingsSchema = z
  .object({
    /** Points earned per whole currency unit spent, before the tier multiplier. */
    baseRatePointsPerUnit: z.number().int().min(0).max(1_000_000),
    /** Points credited once when a member enrols. */
    welcomeBonusPoints: z.number().int().min(0).max(1_000_000_000),
    /** How long a hold (pending redemption) lives before it expires, in seconds. */
    holdSecondsDefault: z.number().int().min(1).max(secondsU32Max),
  })
  .strict();

export type OrgSettings = z.infer<typeof orgSettingsSchema>;

export const defaultOrgSettings: Readonly<OrgSettings> = Object.freeze({
  baseRatePointsPerUnit: 1,
  welcomeBonusPoints: 100,
  holdSecondsDefault: 900,
});
