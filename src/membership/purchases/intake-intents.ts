/**
 * Purchase intent rows in Postgres: finding the stored rows of requests that may be retries,
 * building the intent (with its chains) of every resolved request, and committing the new ones
 * in one bulk insert that re-checks each member.
 */
import assert from "node:assert/strict";
import { and, eq, inArray } from "drizzle-orm";
import { uuidV7 } from "../../ledger/index.ts";
import type { Store } from "../deps.ts";
import { DomainError } from "../errors.ts";
import type { OrgLedgerContext } from "../intents/support.ts";
import type { LocationRef } from "../orgs/ensure-location.ts";
import { type DbExecutor, executeStatement } from "../store/db.ts";
import { posTransactions } from "../store/schema.ts";
import {
  type Checked,
  checkedOf,
  conflict,
  documentKey,
  type Slot,
  sameRequest,
} from "./intake-check.ts";
import { locationKey } from "./intake-locations.ts";
import { memberNameKey } from "./intake-members.ts";
import { buildPurchaseChains, transferIdsOf } from "./posting.ts";

/**
 * Looks up the stored purchases of the slots at `indexes` (checked, refused or resolved): the
 * same hash is a retry (`existing`), another is a `conflict`. Refused slots with no stored row
 * keep their refusal; others stay as they are. One statement per org in the batch.
 */
export async function findExisting(
  db: DbExecutor,
  slots: Slot[],
  indexes: readonly number[],
): Promise<void> {
  const byOrg = new Map<string, Array<{ index: number; checked: Checked }>>();
  for (const index of indexes) {
    const slot = slots[index];
    const checked = slot === undefined ? undefined : checkedOf(slot);
    assert.ok(checked !== undefined, "only requests still undecided are looked up");
    let group = byOrg.get(checked.orgId);
    if (group === undefined) {
      group = [];
      byOrg.set(checked.orgId, group);
    }
    group.push({ index, checked });
  }
  for (const [orgId, group] of byOrg) {
    const rows = await db
      .select()
      .from(posTransactions)
      .where(
        and(
          eq(posTransactions.orgId, orgId),
          eq(posTransactions.kind, "purchase"),
          inArray(
            posTransactions.externalId,
            group.map((entry) => entry.checked.externalId),
          ),
        ),
      );
    const byExternalId = new Map(rows.map((row) => [row.externalId, row]));
    for (const { index, checked } of group) {
      const row = byExternalId.get(checked.externalId);
      if (row === undefined) {
        const slot = slots[index];
        if (slot?.state === "refused") {
          slots[index] = { state: "error", error: slot.error };
        }
        continue;
      }
      slots[index] = sameRequest(row, checked)
        ? { state: "existing", row }
        : { state: "error", error: conflict(checked.externalId) };
    }
  }
}

/**
 * Builds the intent row of every resolved request, with its chains: the row's `transfer_ids` are
 * the ids of those very chains, and posting uses them as built (posting.ts).
 */
export function prepareIntents(
  contexts: ReadonlyMap<string, OrgLedgerContext | DomainError>,
  slots: Slot[],
  locationsByKey: ReadonlyMap<string, LocationRef>,
  now: Date,
): void {
  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "resolved") {
      continue;
    }
    const { checked, memberId, multiplierBps, points, stamps, earning } = slot.resolved;
    const context = contexts.get(checked.orgId);
    assert.ok(context !== undefined && !(context instanceof DomainError), "org loaded");
    let location: LocationRef | null = null;
    if (checked.locationRef !== null) {
      location = locationsByKey.get(locationKey(checked)) ?? null;
      assert.ok(location !== null, "every named location was ensured");
    }
    // The document id's UUIDv7 timestamp is the purchase's time: the ledger carries it.
    const occurredAt = checked.occurredAt ?? now;
    const row = {
      id: uuidV7(occurredAt.getTime()),
      orgId: checked.orgId,
      memberId,
      externalId: checked.externalId,
      amountMinor: checked.amountMinor,
      points,
      stamps,
      earning,
    };
    const { chains } = buildPurchaseChains({
      row,
      pointsLedger: context.pointsLedger,
      locationNumber: location?.number ?? 0,
    });
    slots[index] = {
      state: "ready",
      checked,
      multiplierBps,
      intent: {
        id: row.id,
        orgId: row.orgId,
        memberId: row.memberId,
        externalId: row.externalId,
        amountMinor: row.amountMinor,
        points: row.points,
        stamps: row.stamps,
        earning: row.earning,
        kind: "purchase",
        currency: checked.currency,
        occurredAt,
        locationId: location?.id ?? null,
        status: "pending",
        transferIds: transferIdsOf(chains),
        chains,
      },
    };
  }
}

/**
 * Inserts the intents of `$1` (a JSON array of rows; amounts as decimal strings) whose member is,
 * at this instant, still active in the row's org, still named by the ref the request used (when
 * it used one), and still in a tier with the multiplier the points were computed with; skips any
 * whose external id the org already used. Returns the ids of the rows inserted.
 */
const intentInsert = `
  insert into pos_transactions (id, org_id, member_id, kind, external_id, request_hash,
    amount_minor, currency, occurred_at, location_id, items, points, stamps, earning, status,
    transfer_ids)
  select r.id, r.org_id, r.member_id, 'purchase', r.external_id, r.request_hash,
    r.amount_minor, r.currency, r.occurred_at, r.location_id, r.items, r.points, r.stamps,
    r.earning, 'pending', r.transfer_ids
  from jsonb_to_recordset($1::jsonb) as r(id uuid, org_id uuid, member_id uuid,
    external_id text, request_hash text, amount_minor bigint, currency text,
    occurred_at timestamptz, location_id uuid, items jsonb, points bigint, stamps jsonb,
    earning jsonb, transfer_ids text[], multiplier_bps int, member_ref text)
  where exists (
    select 1 from members m
    join tiers t on t.org_id = m.org_id and t.id = m.tier_id
    where m.org_id = r.org_id and m.id = r.member_id and m.status = 'active'
      and t.multiplier_bps = r.multiplier_bps
      and (r.member_ref is null or m.external_ref = r.member_ref)
  )
  on conflict (org_id, kind, external_id) do nothing
  returning id`;

/**
 * Commits every new intent in one statement (so in one implicit transaction), rows in a fixed
 * order so that two batches racing on the same external ids wait on each other rather than
 * deadlock. A row not inserted either lost the unique index to an existing row (a retry, a
 * concurrent request with the same external id: read back and treated like any existing row) or
 * found its member changed since it was resolved: those are returned, to be resolved again.
 */
export async function insertIntents(store: Store, slots: Slot[]): Promise<number[]> {
  const { db } = store;
  const ready = slots.flatMap((slot, index) => (slot.state === "ready" ? [{ slot, index }] : []));
  if (ready.length === 0) {
    return [];
  }
  // Sorted by (org, external id): the order the unique index locks them in, in every batch.
  const sorted = ready
    .map((entry) => {
      assert.ok(entry.slot.state === "ready");
      return { ready: entry.slot, key: documentKey(entry.slot.intent) };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const rows = sorted.map(({ ready: { intent, checked, multiplierBps } }) => ({
    id: intent.id,
    org_id: intent.orgId,
    member_id: intent.memberId,
    external_id: intent.externalId,
    request_hash: checked.hash,
    amount_minor: intent.amountMinor.toString(),
    currency: intent.currency,
    occurred_at: intent.occurredAt.toISOString(),
    location_id: intent.locationId,
    items: checked.items,
    points: intent.points.toString(),
    stamps: intent.stamps,
    earning: intent.earning,
    transfer_ids: intent.transferIds,
    multiplier_bps: multiplierBps,
    member_ref: checked.memberId === null ? checked.memberExternalRef : null,
  }));
  const inserted = await executeStatement<{ id: string }>(db, intentInsert, JSON.stringify(rows));
  const insertedIds = new Set(inserted.map((row) => row.id));
  assert.ok(insertedIds.size <= ready.length, "only our rows come back");
  const lost: number[] = [];
  for (const { slot, index } of ready) {
    assert.ok(slot.state === "ready");
    if (insertedIds.has(slot.intent.id)) {
      slots[index] = { state: "inserted", intent: slot.intent };
    } else {
      lost.push(index);
    }
  }
  if (lost.length === 0) {
    return [];
  }
  await findExisting(db, slots, lost);
  // Still ready: no row holds the external id, so the member changed under the request.
  const changed = lost.filter((index) => slots[index]?.state === "ready");
  const { memberHints } = store.caches;
  for (const index of changed) {
    const slot = slots[index];
    assert.ok(slot?.state === "ready");
    const key = memberNameKey(slot.checked);
    if (key !== null) {
      memberHints.delete(key);
    }
    slots[index] = { state: "checked", checked: slot.checked };
  }
  return changed;
}
