/**
 * Formats the membership module accepts, for the HTTP schemas to validate against. Use cases
 * assert them: by the time a value reaches a use case, failing one is a bug at the edge.
 */

/** ISO 4217 alphabetic code. */
export const currencyPattern = /^[A-Z]{3}$/;
/** Lower-case letters, digits and inner hyphens, 1..64 characters (mirrored by a CHECK). */
export const slugPattern = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/;
/** A ledger unit: "points", or "stamps:<program id>" (mirrored by a CHECK). */
export const ledgerUnitPattern = /^(points|inventory|stamps:[A-Za-z0-9_-]{1,64})$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for an IANA zone name the runtime knows, e.g. "Europe/Paris" or "UTC". */
export function isTimeZone(value: string): boolean {
  if (value.length === 0 || value.length > 64) {
    return false;
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** Ids that are not UUIDs cannot exist; checking first keeps Postgres from raising 22P02. */
export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}
