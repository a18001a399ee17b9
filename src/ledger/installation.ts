/**
 * The installation marker: one account on a reserved ledger that says which installation this
 * ledger (TigerBeetle cluster or embedded data file) serves. Its id derives from a constant, so
 * every process finds it without being told; its `user_data_128` carries the installation id
 * (a UUID) that the database records too. The membership module compares the two at start.
 *
 * The reserved ledger number is above every number the database can allocate (org ledgers are
 * a Postgres int4 sequence, at most 2^31 - 1), so the marker never shares a ledger with an org,
 * no transfer can reach it (TigerBeetle refuses transfers across ledgers), and no org's query
 * or trial balance ever sees it.
 */
import assert from "node:assert/strict";
import type { Account, Client } from "tigerbeetle-node";
import { AccountFlags, CreateAccountStatus } from "tigerbeetle-node";
import { deriveId, u128ToUuid, uuidToU128 } from "./ids.ts";
import { batchEventsMax } from "./limits.ts";

/** The marker's ledger: u32 max, never allocated to an org (see above). */
export const installationLedger = 2 ** 32 - 1;
/** The marker's account code on its own ledger. */
export const installationMarkerCode = 1;
/** Version of the marker's layout, in `user_data_32`. */
const markerFormat = 1;
/** The marker's id: the same on every ledger, derived from a constant. */
export const installationMarkerId = deriveId("loyalty-ledger", "installation-marker", 1);

/** Org ledgers are allocated from an int4 sequence. */
const orgLedgerMax = 2 ** 31 - 1;
assert.ok(installationLedger > orgLedgerMax, "the marker's ledger is never an org's");

export type WriteMarkerOutcome =
  | { status: "created" | "exists" }
  /** The ledger already carries another installation's marker. */
  | { status: "other"; installationId: string };

/** The installation this ledger serves, or null when it carries no marker (a new ledger). */
export async function readInstallationMarker(client: Client): Promise<string | null> {
  const [account] = await client.lookupAccounts([installationMarkerId]);
  if (account === undefined) {
    return null;
  }
  assert.equal(account.ledger, installationLedger, "the marker lives on its reserved ledger");
  assert.equal(account.code, installationMarkerCode, "the marker has its own code");
  assert.equal(account.user_data_32, markerFormat, "unknown installation marker format");
  return u128ToUuid(account.user_data_128);
}

/**
 * Writes this installation's marker. Idempotent: writing the same id again answers `exists`;
 * a ledger that already serves another installation answers `other` with that installation.
 */
export async function writeInstallationMarker(
  client: Client,
  installationId: string,
): Promise<WriteMarkerOutcome> {
  const marker: Account = {
    id: installationMarkerId,
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    user_data_128: uuidToU128(installationId),
    user_data_64: 0n,
    user_data_32: markerFormat,
    reserved: 0,
    ledger: installationLedger,
    code: installationMarkerCode,
    // Nothing can move to or from it; the flag says so should anyone try.
    flags: AccountFlags.debits_must_not_exceed_credits,
    timestamp: 0n,
  };
  const [result] = await client.createAccounts([marker]);
  assert.ok(result !== undefined, "one result per account");
  switch (result.status) {
    case CreateAccountStatus.created:
      return { status: "created" };
    case CreateAccountStatus.exists:
      return { status: "exists" };
    case CreateAccountStatus.exists_with_different_user_data_128: {
      const other = await readInstallationMarker(client);
      assert.ok(other !== null && other !== installationId, "a differing marker exists");
      return { status: "other", installationId: other };
    }
    default:
      throw new Error(`the ledger refused the installation marker: status ${result.status}`);
  }
}

/** Which of these accounts the ledger holds (by id), in one lookup. */
export async function accountsFound(client: Client, ids: bigint[]): Promise<Set<bigint>> {
  assert.ok(ids.length > 0 && ids.length <= batchEventsMax, "one lookup request");
  const accounts = await client.lookupAccounts(ids);
  return new Set(accounts.map((account) => account.id));
}
