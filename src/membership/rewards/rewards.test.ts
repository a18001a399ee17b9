/**
 * The rewards catalog's use cases on real Postgres: the domain's own checks for callers other
 * than the HTTP edge (nothing written when they refuse), the merged reward checked on a change,
 * and one audit entry per write, in the write's transaction.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerOrg } from "../../../test/support/ledger.ts";
import { listAudit, platformActor } from "../audit/audit.ts";
import { createReward, getReward, listRewards, updateReward } from "./manage-rewards.ts";

const fixture = useLedgerFixture();

describe("rewards catalog", () => {
  it("refuses what the edge would, naming the field, and writes nothing", async () => {
    const { deps } = fixture.environment;
    const { org, tiers } = await buildLedgerOrg(deps);
    const { tiers: foreignTiers } = await buildLedgerOrg(deps);
    const base = { orgId: org.id, name: "Voucher", kind: "voucher" as const, costPoints: 10n };
    const refusals: Array<[Parameters<typeof createReward>[1], string]> = [
      [base, "value_minor"],
      [{ ...base, kind: "item", valueMinor: 5n }, "value_minor"],
      [{ ...base, valueMinor: 5n, costPoints: 0n }, "cost_points"],
      [{ ...base, valueMinor: 5n, inventory: -1n }, "inventory"],
      [{ ...base, valueMinor: 5n, perMemberLimit: 0 }, "per_member_limit"],
      [{ ...base, valueMinor: 5n, minTierId: foreignTiers[0]?.id ?? null }, "min_tier_id"],
      [
        {
          ...base,
          valueMinor: 5n,
          activeFrom: new Date("2027-01-01T00:00:00Z"),
          activeUntil: new Date("2027-01-01T00:00:00Z"),
        },
        "active_until",
      ],
    ];
    for (const [input, field] of refusals) {
      await expect(createReward(deps, input)).rejects.toMatchObject({
        code: "invalid_input",
        details: { field },
      });
    }
    expect(await listRewards(deps, { orgId: org.id })).toEqual([]);

    const reward = await createReward(deps, {
      ...base,
      valueMinor: 5n,
      minTierId: tiers[0]?.id ?? null,
      activeUntil: new Date("2027-01-01T00:00:00Z"),
    });
    for (const [patch, field] of [
      [{ valueMinor: null }, "value_minor"],
      [{ activeFrom: new Date("2027-02-01T00:00:00Z") }, "active_until"],
    ] as const) {
      await expect(
        updateReward(deps, { orgId: org.id, rewardId: reward.id, patch, actor: platformActor }),
      ).rejects.toMatchObject({ code: "invalid_input", details: { field } });
    }
    expect(await getReward(deps, { orgId: org.id, rewardId: reward.id })).toEqual(reward);

    const changed = await updateReward(deps, {
      orgId: org.id,
      rewardId: reward.id,
      patch: { minTierId: null, inventory: 3n, name: "Voucher, renamed" },
      actor: { keyId: "key-1", requestId: "request-1" },
    });
    expect(changed).toMatchObject({ minTierId: null, inventory: 3n, kind: "voucher" });
    const page = await listAudit(deps, {
      orgId: org.id,
      targetType: "reward",
      targetId: reward.id,
      limit: 10,
    });
    expect(page.entries.map((entry) => entry.action)).toEqual(["reward.updated", "reward.created"]);
    expect(page.entries[0]).toMatchObject({
      actorKeyId: "key-1",
      requestId: "request-1",
      before: { name: "Voucher", inventory: null },
      after: { name: "Voucher, renamed", inventory: "3", min_tier_id: null },
    });
  });

  it("answers not_found for another org's reward", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const { org: other } = await buildLedgerOrg(deps);
    const reward = await createReward(deps, {
      orgId: org.id,
      name: "Mug",
      kind: "item",
      costPoints: 100n,
    });
    const foreign = { orgId: other.id, rewardId: reward.id };
    await expect(getReward(deps, foreign)).rejects.toMatchObject({ code: "not_found" });
    await expect(
      updateReward(deps, { ...foreign, patch: { name: "Theirs" }, actor: platformActor }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect((await getReward(deps, { orgId: org.id, rewardId: reward.id })).name).toBe("Mug");
  });
});
