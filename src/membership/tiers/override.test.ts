/**
 * Manual tier overrides on real Postgres and the embedded ledger: an override moves the member at
 * once, up or down, and the next purchase earns with its tier's multiplier; evaluation leaves it
 * alone; clearing returns the member at once to the tier their ledger history earns, up or down,
 * without grace; an expiry ends it the same way (dated at the expiry); immutable tiers follow
 * evaluation's rule; refusals write nothing; every set and end is audited in its transaction.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { type AuditActor, platformActor } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { updateMember } from "../members/update-member.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { tiers } from "../store/schema.ts";
import { clearTierOverride, type SetTierOverrideInput, setTierOverride } from "./override.ts";
import { evaluateMemberTier, tiersOf } from "./progression.ts";
import { getMemberTier } from "./status.ts";

const fixture = useLedgerFixture();
const hour = 60 * 60;
/** Postgres timestamps as `Date.toISOString()` writes them. */
const isoFormat = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';
const actor: AuditActor = { keyId: "key_admin_test", requestId: "req-override-test" };

function buy(deps: LedgerDeps, ref: { orgId: string; memberId: string }, amountMinor: bigint) {
  return recordPurchase(deps, {
    orgId: ref.orgId,
    memberId: ref.memberId,
    externalId: externalId(),
    amountMinor,
    currency: "EUR",
  });
}

async function setup(settings: { tierDowngradeGraceDays?: number } = {}) {
  const { deps } = fixture.environment;
  const { org } = await buildLedgerOrg(deps, { settings });
  const ref = { orgId: org.id, memberId: (await buildLedgerMember(deps, org.id)).id };
  const ladder = await tiersOf(deps.db, org.id);
  const tier = (name: string): string => {
    const found = ladder.find((candidate) => candidate.name === name);
    expect(found, name).toBeDefined();
    return found?.id ?? "";
  };
  return { deps, org, ref, tier };
}

async function tierEvents(orgId: string): Promise<Array<Record<string, unknown>>> {
  return fixture.database.sql<{ payload: Record<string, unknown> }[]>`
    select payload from outbox where org_id = ${orgId} and topic = 'tier.changed' order by id`.then(
    (rows) => rows.map((row) => row.payload),
  );
}

async function history(memberId: string) {
  return fixture.database.sql<
    {
      tier: string;
      reason: string;
      qualifying_value: string | null;
      override_reason: string | null;
      override_expires_at: string | null;
      effective_at: string;
    }[]
  >`
    select t.name as tier, h.reason, h.qualifying_value::text, h.override_reason,
      to_char(h.override_expires_at at time zone 'UTC', ${isoFormat}) as override_expires_at,
      to_char(h.effective_at at time zone 'UTC', ${isoFormat}) as effective_at
    from member_tiers h join tiers t on t.id = h.tier_id
    where h.member_id = ${memberId} order by h.id`;
}

async function auditEntries(orgId: string) {
  return fixture.database.sql<
    {
      action: string;
      actor_key_id: string | null;
      request_id: string | null;
      before: unknown;
      after: unknown;
    }[]
  >`
    select action, actor_key_id, request_id, before, after from audit_log
    where org_id = ${orgId} and target_type = 'member' order by seq`;
}

describe("tier overrides", () => {
  it("holds a member above their tier until cleared, then returns them at once without grace", async () => {
    const { deps, org, ref, tier } = await setup({ tierDowngradeGraceDays: 30 });
    await buy(deps, ref, 20_000n); // 200 points: Bronze
    expect(
      await setTierOverride(deps, {
        ...ref,
        tierId: tier("Platinum"),
        reason: "VIP launch guest",
        expiresAt: null,
        actor,
      }),
    ).toMatchObject({ from: { name: "Bronze" }, to: { name: "Platinum" } });
    // The next purchase earns with Platinum's 2.00.
    expect((await buy(deps, ref, 10_000n)).pointsEarned).toBe(200n);
    // Evaluation after purchases leaves the override alone.
    expect((await evaluateMemberTier(deps, ref)).action).toBe("skipped");
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Platinum" },
      source: "override",
      override: { reason: "VIP launch guest", expiresAt: null },
      next: null,
      downgrade: null,
    });

    // 400 points (the override's 2.00 counted) earn Bronze: cleared, the member is there now, with no downgrade scheduled.
    expect(await clearTierOverride(deps, { ...ref, actor, cause: "cleared" })).toMatchObject({
      action: "cleared",
      from: { name: "Platinum" },
      to: { name: "Bronze" },
      qualifying: { value: 400n },
    });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Bronze" },
      source: "default",
      override: null,
      downgrade: null,
    });
    expect((await buy(deps, ref, 10_000n)).pointsEarned).toBe(100n);
    // Clearing again is a no-op: nothing written.
    expect(await clearTierOverride(deps, { ...ref, actor, cause: "cleared" })).toEqual({
      action: "none",
    });

    expect((await tierEvents(org.id)).map((event) => [event.reason, event.to])).toEqual([
      ["override", { id: tier("Platinum"), name: "Platinum" }],
      ["override_cleared", { id: tier("Bronze"), name: "Bronze" }],
    ]);
    expect(
      (await history(ref.memberId)).map((row) => [
        row.tier,
        row.reason,
        row.qualifying_value,
        row.override_reason,
      ]),
    ).toEqual([
      ["Bronze", "enrollment", null, null],
      ["Platinum", "override", null, "VIP launch guest"],
      ["Bronze", "override_cleared", "400", null],
    ]);
    const audit = await auditEntries(org.id);
    expect(audit.map((entry) => [entry.action, entry.actor_key_id, entry.request_id])).toEqual([
      ["member.tier_overridden", actor.keyId, actor.requestId],
      ["member.tier_override_cleared", actor.keyId, actor.requestId],
    ]);
    expect(audit[0]?.before).toEqual({
      tier: { id: tier("Bronze"), name: "Bronze" },
      source: "default",
      override: null,
    });
    expect(audit[0]?.after).toMatchObject({
      tier: { id: tier("Platinum"), name: "Platinum" },
      source: "override",
      override: { reason: "VIP launch guest", expires_at: null },
    });
    expect(audit[1]?.after).toEqual({
      tier: { id: tier("Bronze"), name: "Bronze" },
      source: "default",
      override: null,
    });
  });

  it("holds a member below their tier, and clearing returns them up at once", async () => {
    const { deps, org, ref, tier } = await setup();
    await buy(deps, ref, 600_000n); // 6,000 points
    expect((await evaluateMemberTier(deps, ref)).action).toBe("upgraded");
    expect((await getMemberTier(deps, ref)).tier.name).toBe("Gold");
    await setTierOverride(deps, {
      ...ref,
      tierId: tier("Bronze"),
      reason: "abuse under review",
      expiresAt: null,
      actor,
    });
    // Bronze's 1.00, and the purchase that would upgrade leaves the override alone.
    expect((await buy(deps, ref, 1_000_000n)).pointsEarned).toBe(10_000n);
    expect((await evaluateMemberTier(deps, ref)).action).toBe("skipped");
    expect((await getMemberTier(deps, ref)).tier.name).toBe("Bronze");

    expect(await clearTierOverride(deps, { ...ref, actor, cause: "cleared" })).toMatchObject({
      action: "cleared",
      to: { name: "Platinum" },
      qualifying: { value: 16_000n },
    });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Platinum" },
      source: "earned",
      override: null,
    });
    expect((await buy(deps, ref, 10_000n)).pointsEarned).toBe(200n);
    expect((await tierEvents(org.id)).map((event) => event.reason)).toEqual([
      "upgrade",
      "override",
      "override_cleared",
    ]);
  });

  it("replaces an override, and one onto the member's own tier changes only the source", async () => {
    const { deps, org, ref, tier } = await setup();
    await setTierOverride(deps, {
      ...ref,
      tierId: tier("Bronze"),
      reason: "first",
      expiresAt: null,
      actor,
    });
    const expiresAt = new Date(fixture.environment.now().getTime() + 24 * hour * 1000);
    await setTierOverride(deps, {
      ...ref,
      tierId: tier("Bronze"),
      reason: "second",
      expiresAt,
      actor,
    });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Bronze" },
      source: "override",
      override: { reason: "second", expiresAt },
    });
    // No tier changed: no event; each override is in the history with its reason and expiry.
    expect(await tierEvents(org.id)).toEqual([]);
    expect(
      (await history(ref.memberId)).map((row) => [
        row.reason,
        row.override_reason,
        row.override_expires_at,
      ]),
    ).toEqual([
      ["enrollment", null, null],
      ["override", "first", null],
      ["override", "second", expiresAt.toISOString()],
    ]);
    // Cleared onto the same tier: history, no event.
    await clearTierOverride(deps, { ...ref, actor, cause: "cleared" });
    expect(await tierEvents(org.id)).toEqual([]);
    expect((await history(ref.memberId)).at(-1)).toMatchObject({
      tier: "Bronze",
      reason: "override_cleared",
    });
  });

  it("ends by itself at its expiry: shown at once, written by the expiry run, dated at the expiry", async () => {
    const env = fixture.environment;
    const { deps, org, ref, tier } = await setup();
    await buy(deps, ref, 150_000n); // 1,500 points: Silver once evaluated
    expect((await evaluateMemberTier(deps, ref)).action).toBe("upgraded");
    const expiresAt = new Date(env.now().getTime() + hour * 1000);
    await setTierOverride(deps, {
      ...ref,
      tierId: tier("Gold"),
      reason: "trial month",
      expiresAt,
      actor,
    });
    // Not expired yet: the expiry run leaves it.
    expect(
      await clearTierOverride(deps, { ...ref, actor: platformActor, cause: "expired" }),
    ).toEqual({
      action: "none",
    });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Gold" },
      source: "override",
    });

    env.advanceSeconds(2 * hour);
    // Expired: GET shows the earned tier before the row is written.
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Silver" },
      source: "earned",
      override: null,
      since: expiresAt,
      next: { tier: { name: "Gold" } },
    });
    expect(
      await clearTierOverride(deps, { ...ref, actor: platformActor, cause: "expired" }),
    ).toMatchObject({
      action: "cleared",
      from: { name: "Gold" },
      to: { name: "Silver" },
    });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Silver" },
      source: "earned",
      override: null,
      since: expiresAt,
    });
    expect((await history(ref.memberId)).at(-1)).toMatchObject({
      tier: "Silver",
      reason: "override_expired",
      effective_at: expiresAt.toISOString(),
    });
    expect((await tierEvents(org.id)).map((event) => event.reason)).toEqual([
      "upgrade",
      "override",
      "override_expired",
    ]);
    const audit = await auditEntries(org.id);
    expect(audit.map((entry) => [entry.action, entry.actor_key_id])).toEqual([
      ["member.tier_overridden", actor.keyId],
      ["member.tier_override_cleared", null],
    ]);
  });

  it("keeps a member placed in an immutable tier there, but may hold one in an immutable tier", async () => {
    const { deps, ref, tier } = await setup();
    const gold = tier("Gold");
    await deps.db
      .update(tiers)
      .set({ immutable: true })
      .where(eq(tiers.id, tier("Bronze")));
    await expect(
      setTierOverride(deps, { ...ref, tierId: gold, reason: "x", expiresAt: null, actor }),
    ).rejects.toMatchObject({ code: "invalid_state" });
    expect(await getMemberTier(deps, ref)).toMatchObject({
      tier: { name: "Bronze" },
      source: "default",
    });

    // Onto an immutable tier: the override holds the member, and ending it returns them to
    // the tier they earn (Silver here), not to the immutable one.
    await deps.db
      .update(tiers)
      .set({ immutable: false })
      .where(eq(tiers.id, tier("Bronze")));
    await deps.db.update(tiers).set({ immutable: true }).where(eq(tiers.id, gold));
    await buy(deps, ref, 120_000n);
    await setTierOverride(deps, { ...ref, tierId: gold, reason: "staff", expiresAt: null, actor });
    // Held by the override, not placed: another override may move the member.
    await setTierOverride(deps, {
      ...ref,
      tierId: tier("Platinum"),
      reason: "staff+",
      expiresAt: null,
      actor,
    });
    await setTierOverride(deps, { ...ref, tierId: gold, reason: "staff", expiresAt: null, actor });
    expect(await clearTierOverride(deps, { ...ref, actor, cause: "cleared" })).toMatchObject({
      to: { name: "Silver" },
    });
  });

  it("refuses a bad reason, expiry, tier, member or a closed member, writing nothing", async () => {
    const env = fixture.environment;
    const { deps, org, ref, tier } = await setup();
    const other = await setup();
    const now = env.now().getTime();
    const valid: SetTierOverrideInput = {
      ...ref,
      tierId: tier("Gold"),
      reason: "ok",
      expiresAt: null,
      actor,
    };
    const day = 86_400_000;
    const refusals: Array<[Partial<typeof valid>, string]> = [
      [{ reason: "" }, "invalid_input"],
      [{ reason: "r".repeat(201) }, "invalid_input"],
      [{ expiresAt: new Date(now) }, "invalid_input"],
      [{ expiresAt: new Date(now - 1) }, "invalid_input"],
      [{ expiresAt: new Date(now + 3_660 * day + 1) }, "invalid_input"],
      [{ tierId: other.tier("Gold") }, "not_found"],
      [{ tierId: "not-a-uuid" }, "not_found"],
      [{ memberId: other.ref.memberId }, "not_found"],
      [{ memberId: "00000000-0000-4000-8000-000000000000" }, "not_found"],
    ];
    for (const [change, code] of refusals) {
      await expect(
        setTierOverride(deps, { ...valid, ...change }),
        JSON.stringify(change),
      ).rejects.toMatchObject({
        code,
      });
    }
    await expect(
      clearTierOverride(deps, {
        orgId: org.id,
        memberId: other.ref.memberId,
        actor,
        cause: "cleared",
      }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect(await history(ref.memberId)).toHaveLength(1);
    expect(await auditEntries(org.id)).toEqual([]);

    // At the bounds: 200 characters, ten years ahead.
    await setTierOverride(deps, {
      ...valid,
      reason: "r".repeat(200),
      expiresAt: new Date(now + 3_660 * day),
    });
    await updateMember(deps, {
      orgId: org.id,
      memberId: ref.memberId,
      patch: { status: "closed" },
    });
    await expect(setTierOverride(deps, valid)).rejects.toMatchObject({ code: "member_inactive" });
  });
});
