/**
 * Member app PINs: setting one (staff, audited) and signing in with one (the member).
 *
 * A PIN is stored as scrypt (node:crypto, N = 2^14, r = 8, p = 1, 32 bytes) under 16 random
 * bytes of salt per PIN, and compared in constant time. Signing in needs the org to have enabled
 * `memberPinLogin`. Every refusal is the same `invalid_credentials`, whatever was wrong (no such
 * org, PIN login off, no such member, no PIN, wrong PIN, locked, closed), and every refusal
 * computes one scrypt, so neither the answer nor its time tells which.
 *
 * Lockout: an attempt is counted BEFORE its PIN is checked, by one conditional UPDATE that also
 * refuses while the member is locked; the 5th counted attempt since the last success locks the
 * member for 15 minutes (a success, which resets the count, lifts it). So however many attempts
 * run in parallel, at most 5 PINs are tried per member per 15 minutes.
 */
import assert from "node:assert/strict";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { type AuditActor, writeAudit } from "../audit/audit.ts";
import type { LedgerDeps, MembershipDeps } from "../deps.ts";
import { DomainError } from "../errors.ts";
import { nowOf } from "../intents/support.ts";
import { members, orgs } from "../store/schema.ts";
import { isUuid } from "../validation.ts";

export const pinLengthMin = 4;
export const pinLengthMax = 12;
export const pinPattern = /^[0-9]{4,12}$/;
export const pinAttemptsMax = 5;
export const pinLockSeconds = 15 * 60;
const pinSaltBytes = 16;
const pinHashBytes = 32;
/** scrypt's cost: 2^14 iterations of 128 * r bytes = 16 MiB of memory, tens of ms per hash. */
const scryptOptions = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

assert.ok(pinPattern.test("0".repeat(pinLengthMin)) && pinPattern.test("0".repeat(pinLengthMax)));

function hashPin(pin: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(pin, salt, pinHashBytes, scryptOptions, (error, key) => {
      if (error !== null) {
        reject(error);
      } else {
        resolve(key);
      }
    });
  });
}

/** Hashed when there is nothing to compare with, so a refusal always costs one scrypt. */
const decoySalt = randomBytes(pinSaltBytes);

function invalidCredentials(): DomainError {
  return new DomainError("invalid_credentials", "invalid credentials");
}

/**
 * Sets (or replaces) a member's PIN and lifts any lock, audited in the same transaction (the
 * entry never holds the PIN). Errors: `not_found` (also another org's member), `member_inactive`
 * (closed or erased). The PIN's format is the edge's to check; asserted here.
 */
export async function setMemberPin(
  deps: Pick<MembershipDeps, "db">,
  input: { orgId: string; memberId: string; pin: string; actor: AuditActor },
): Promise<void> {
  assert.ok(pinPattern.test(input.pin), "a PIN is 4 to 12 digits");
  const notFound = new DomainError("not_found", "member not found", { memberId: input.memberId });
  if (!isUuid(input.memberId)) {
    throw notFound;
  }
  const salt = randomBytes(pinSaltBytes);
  const hash = await hashPin(input.pin, salt);
  await deps.db.transaction(async (tx) => {
    const [member] = await tx
      .select({ id: members.id, status: members.status, erasedAt: members.erasedAt })
      .from(members)
      .where(and(eq(members.orgId, input.orgId), eq(members.id, input.memberId)))
      .for("no key update");
    if (member === undefined) {
      throw notFound;
    }
    if (member.status === "closed" || member.erasedAt !== null) {
      throw new DomainError("member_inactive", "a closed or erased member cannot have a PIN", {
        status: member.status,
      });
    }
    await tx
      .update(members)
      .set({ pinHash: hash, pinSalt: salt, pinAttempts: 0, pinLockedUntil: null })
      .where(and(eq(members.orgId, input.orgId), eq(members.id, member.id)));
    await writeAudit(tx, {
      orgId: input.orgId,
      actor: input.actor,
      action: "member.pin_set",
      targetType: "member",
      targetId: member.id,
      before: null,
      after: { pin_set: true },
    });
  });
}

/**
 * The member a PIN login names, when the org enabled PIN login and the PIN is right and the
 * member is neither locked, closed nor erased; otherwise `invalid_credentials` (see the header).
 */
export async function loginMemberWithPin(
  deps: Pick<LedgerDeps, "db" | "clock">,
  input: { orgSlug: string; externalRef: string; pin: string },
): Promise<{ orgId: string; memberId: string }> {
  const now = nowOf(deps);
  const lockedUntil = new Date(now.getTime() + pinLockSeconds * 1000);
  const [org] = await deps.db
    .select({ id: orgs.id, settings: orgs.settings })
    .from(orgs)
    .where(eq(orgs.slug, input.orgSlug))
    .limit(1);
  // Count the attempt first (and refuse while locked): see the header. A lock that has run out
  // (set only by the last allowed attempt) starts the count again at this attempt.
  const attempt = sql`(case when ${members.pinLockedUntil} is not null then 1
    else ${members.pinAttempts} + 1 end)`;
  const [counted] =
    org === undefined || org.settings.memberPinLogin !== true || !pinPattern.test(input.pin)
      ? []
      : await deps.db
          .update(members)
          .set({
            pinAttempts: attempt,
            pinLockedUntil: sql`case when ${attempt} >= ${pinAttemptsMax}
              then ${lockedUntil.toISOString()}::timestamptz else null end`,
          })
          .where(
            and(
              eq(members.orgId, org.id),
              eq(members.externalRef, input.externalRef),
              sql`${members.pinHash} is not null`,
              sql`(${members.pinLockedUntil} is null
                or ${members.pinLockedUntil} <= ${now.toISOString()}::timestamptz)`,
            ),
          )
          .returning({
            id: members.id,
            orgId: members.orgId,
            status: members.status,
            erasedAt: members.erasedAt,
            pinHash: members.pinHash,
            pinSalt: members.pinSalt,
          });
  const stored = counted?.pinHash ?? null;
  const salt = counted?.pinSalt ?? decoySalt;
  const computed = await hashPin(input.pin, salt);
  const matches =
    stored !== null && stored.length === computed.length && timingSafeEqual(stored, computed);
  if (counted === undefined || !matches) {
    throw invalidCredentials();
  }
  assert.equal(stored?.length, pinHashBytes, "a stored PIN hash is 32 bytes");
  if (counted.status === "closed" || counted.erasedAt !== null) {
    throw invalidCredentials();
  }
  // The right PIN: the count starts again and any lock this very attempt set is lifted.
  await deps.db
    .update(members)
    .set({ pinAttempts: 0, pinLockedUntil: null })
    .where(and(eq(members.orgId, counted.orgId), eq(members.id, counted.id)));
  return { orgId: counted.orgId, memberId: counted.id };
}
