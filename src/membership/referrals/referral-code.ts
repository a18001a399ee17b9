/**
 * Referral codes: 10 characters of a 32-letter alphabet without look-alikes (no 0/O, 1/I/L), so a
 * code read aloud or typed from a screen comes out right. 32^10 ≈ 1.1e15 codes: within one org of
 * n members a new code collides with odds n / 1.1e15, which the unique index
 * `members_org_id_referral_code_key` refuses rather than let two members share a code.
 */
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";

export const referralCodeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
export const referralCodeLength = 10;
/** Longest text accepted as a typed code before normalisation (spaces and dashes allowed). */
export const referralCodeInputLengthMax = 32;

assert.equal(referralCodeAlphabet.length, 32, "the alphabet has 32 letters");
assert.equal(new Set(referralCodeAlphabet).size, 32, "the alphabet repeats no letter");

/** A new random code (node:crypto's uniform `randomInt`, no modulo bias). */
export function newReferralCode(): string {
  let code = "";
  for (let index = 0; index < referralCodeLength; index += 1) {
    code += referralCodeAlphabet[randomInt(referralCodeAlphabet.length)];
  }
  assert.equal(code.length, referralCodeLength);
  return code;
}

/**
 * A code as typed (any case, spaces or dashes between groups) in its stored form, or null when
 * it cannot be a referral code at all.
 */
export function normalizeReferralCode(typed: string): string | null {
  if (typed.length > referralCodeInputLengthMax) {
    return null;
  }
  const code = typed.replace(/[\s-]/g, "").toUpperCase();
  if (code.length !== referralCodeLength) {
    return null;
  }
  for (const letter of code) {
    if (!referralCodeAlphabet.includes(letter)) {
      return null;
    }
  }
  return code;
}
