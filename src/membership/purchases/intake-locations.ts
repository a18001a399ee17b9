/**
 * The locations purchases name: their cache key, and creating each on first use (cached per pool).
 */
import assert from "node:assert/strict";
import type { Store } from "../deps.ts";
import { ensureLocation, type LocationRef } from "../orgs/ensure-location.ts";
import type { Checked, Slot } from "./intake-check.ts";

export function locationKey(checked: Checked): string {
  assert.ok(checked.locationRef !== null, "a location key needs a location");
  return `${checked.orgId}:${checked.locationRef}`;
}

/** The locations the resolved requests name, created on first use; cached per pool. */
export async function ensureLocations(
  store: Store,
  slots: readonly Slot[],
): Promise<Map<string, LocationRef>> {
  const { db } = store;
  const { locations, locationNumbers } = store.caches;
  const byKey = new Map<string, LocationRef>();
  for (const slot of slots) {
    if (slot.state !== "resolved" || slot.resolved.checked.locationRef === null) {
      continue;
    }
    const { checked } = slot.resolved;
    const key = locationKey(checked);
    if (byKey.has(key)) {
      continue;
    }
    let location = locations.get(key);
    if (location === undefined) {
      assert.ok(checked.locationRef !== null);
      location = await ensureLocation(db, {
        orgId: checked.orgId,
        externalRef: checked.locationRef,
      });
      locations.set(key, location);
    }
    locationNumbers.set(`${checked.orgId}:${location.id}`, location.number);
    byKey.set(key, location);
  }
  return byKey;
}
