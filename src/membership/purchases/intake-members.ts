/**
 * Resolving the member each checked request names (by id or by external ref, always within the
 * request's org) and computing what the purchase earns: pool hints first, one lookup statement
 * for the members not seen before.
 */
import assert from "node:assert/strict";
import type { Store } from "../deps.ts";
import { activeEarningRules, earningSettingsOf } from "../earning-rules/index.ts";
import type { EarningRule } from "../earning-rules/types.ts";
import { DomainError } from "../errors.ts";
import { invalidInput, type OrgLedgerContext } from "../intents/support.ts";
import type { StampProgram } from "../ledger-types.ts";
import { stampProgramsOf } from "../stamp-programs/stamp-cards.ts";
import { type MemberHint, memberKey } from "../store/caches.ts";
import { executeStatement } from "../store/db.ts";
import { isUuid } from "../validation.ts";
import { earn } from "./earning.ts";
import { storeEarning } from "./entries.ts";
import { type Checked, earningItems, type Slot } from "./intake-check.ts";

/**
 * The members of `$1` (a JSON array of {org_id, id, ref}: by id, or by external ref when id is
 * null), each matched within the org it is paired with, with their tier's multiplier.
 */
const memberLookup = `
  with k as (
    select * from jsonb_to_recordset($1::jsonb) as k(org_id uuid, id uuid, ref text)
  )
  select m.id, m.org_id, m.external_ref, m.status, m.ledger_status, m.tier_id, t.multiplier_bps
  from k
  join members m on m.org_id = k.org_id and m.id = k.id
  join tiers t on t.org_id = m.org_id and t.id = m.tier_id
  union all
  select m.id, m.org_id, m.external_ref, m.status, m.ledger_status, m.tier_id, t.multiplier_bps
  from k
  join members m on m.org_id = k.org_id and m.external_ref = k.ref
  join tiers t on t.org_id = m.org_id and t.id = m.tier_id`;

/** A row of the member lookup, as the driver returns it (a type, so it indexes as a record). */
type MemberMatch = {
  id: string;
  org_id: string;
  external_ref: string;
  status: string;
  ledger_status: string;
  tier_id: string;
  multiplier_bps: number;
};

/** The member a request names, as far as earning is concerned. */
type MemberFacts = MemberHint;

/** "org:id:<id>" or "org:ref:<ref>": how a request names its member, within its org. */
export function memberNameKey(request: Checked): string | null {
  if (request.memberId !== null) {
    return isUuid(request.memberId) ? `${request.orgId}:id:${request.memberId}` : null;
  }
  assert.ok(request.memberExternalRef !== null, "a request names its member");
  return `${request.orgId}:ref:${request.memberExternalRef}`;
}

/**
 * Finds the member of every checked request (by id or by external ref, always within the
 * request's org) with their tier's multiplier, and computes what each earns (at its
 * `occurredAt`, or `now` for a purchase sent without one). Members seen active
 * before come from the pool's hints, the others from one statement. A hint is only a guess:
 * the insert re-checks, in the same statement, that the member is still active with that
 * multiplier, and a request whose guess was wrong is resolved again from Postgres. With
 * `hints: false` every member is read from Postgres (a simulation has no insert to re-check).
 */
export async function resolveMembers(
  store: Store,
  contexts: ReadonlyMap<string, OrgLedgerContext | DomainError>,
  slots: Slot[],
  now: Date,
  options: { hints: boolean } = { hints: true },
): Promise<void> {
  const checked = slots.flatMap((slot) => (slot.state === "checked" ? [slot.checked] : []));
  if (checked.length === 0) {
    return;
  }
  const { db } = store;
  const { enrolled, members: known, memberHints } = store.caches;
  const facts = new Map<string, MemberFacts>();
  const keys = new Map<string, { org_id: string; id: string | null; ref: string | null }>();
  for (const request of checked) {
    const key = memberNameKey(request);
    if (key === null || facts.has(key) || keys.has(key)) {
      continue;
    }
    const hint = options.hints ? memberHints.get(key) : undefined;
    if (hint !== undefined) {
      facts.set(key, hint);
      continue;
    }
    keys.set(key, {
      org_id: request.orgId,
      id: request.memberId,
      ref: request.memberId === null ? request.memberExternalRef : null,
    });
  }
  const found =
    keys.size === 0
      ? []
      : await executeStatement<MemberMatch>(db, memberLookup, JSON.stringify([...keys.values()]));
  for (const member of found) {
    const byId = `${member.org_id}:id:${member.id}`;
    const byRef = `${member.org_id}:ref:${member.external_ref}`;
    assert.ok(keys.has(byId) || keys.has(byRef), "only asked-for members match");
    const memberFacts: MemberFacts = {
      id: member.id,
      orgId: member.org_id,
      externalRef: member.external_ref,
      status: member.status,
      tierId: member.tier_id,
      multiplierBps: member.multiplier_bps,
    };
    for (const key of [byId, byRef]) {
      facts.set(key, memberFacts);
      if (member.status === "active") {
        memberHints.set(key, memberFacts);
      } else {
        memberHints.delete(key);
      }
    }
    const key = memberKey(member.org_id, member.id);
    if (!known.has(key)) {
      known.set(key, true);
    }
    if (member.ledger_status === "posted" && !enrolled.has(key)) {
      // Enrollment never goes back to pending: the posting step can skip its check.
      enrolled.set(key, true);
    }
  }

  const programsByOrg = new Map<string, readonly StampProgram[]>();
  const rulesByOrg = new Map<string, readonly EarningRule[]>();
  for (const orgId of new Set(checked.map((request) => request.orgId))) {
    rulesByOrg.set(orgId, await activeEarningRules(store, orgId));
    const programs = await stampProgramsOf(store, orgId);
    programsByOrg.set(
      orgId,
      programs.filter((program) => program.active),
    );
  }

  for (const [index, slot] of slots.entries()) {
    if (slot.state !== "checked") {
      continue;
    }
    const request = slot.checked;
    const key = memberNameKey(request);
    const member = key === null ? undefined : facts.get(key);
    const refuse = (error: DomainError): void => {
      slots[index] = { state: "refused", checked: request, error };
    };
    if (member === undefined) {
      refuse(
        new DomainError("not_found", "member not found", {
          memberId: request.memberId ?? undefined,
          memberExternalRef: request.memberExternalRef ?? undefined,
        }),
      );
      continue;
    }
    assert.equal(member.orgId, request.orgId, "a member is matched within its org only");
    if (member.status !== "active") {
      refuse(
        new DomainError("member_inactive", "member is not active", {
          memberId: member.id,
          status: member.status,
        }),
      );
      continue;
    }
    const context = contexts.get(request.orgId);
    assert.ok(context !== undefined && !(context instanceof DomainError), "org loaded");
    assert.ok(Number.isSafeInteger(member.multiplierBps) && member.multiplierBps > 0);
    const earning = earn({
      purchase: {
        amountMinor: request.amountMinor,
        items: earningItems(request.items),
        // The time the intent is stored with (intake-intents.ts): the same `now` of the batch.
        occurredAt: request.occurredAt ?? now,
        locationRef: request.locationRef,
      },
      tier: { id: member.tierId, multiplierBps: member.multiplierBps },
      org: {
        ...earningSettingsOf(context.org),
        currencyExponent: context.currencyExponent,
        stampPrograms: programsByOrg.get(request.orgId) ?? [],
        rules: rulesByOrg.get(request.orgId) ?? [],
      },
    });
    if (earning.kind === "too_large") {
      // A rate this high needs smaller purchases: the caller's to fix.
      refuse(
        invalidInput("amount earns more points than one transfer may carry", {
          field: "amountMinor",
        }),
      );
      continue;
    }
    const points = earning.points;
    const stamps = earning.stamps.map((grant) => ({
      program_id: grant.programId,
      ledger: grant.ledger,
      stamps: grant.stamps.toString(),
    }));
    slots[index] = {
      state: "resolved",
      resolved: {
        checked: request,
        memberId: member.id,
        multiplierBps: member.multiplierBps,
        points,
        breakdown: earning.breakdown,
        earning:
          earning.entries.length === 1 && earning.overallCaps.length === 0
            ? null
            : storeEarning(earning),
        stamps,
      },
    };
  }
}
