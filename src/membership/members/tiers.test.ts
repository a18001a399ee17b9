import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../test/support/db.ts";
import { createTestDatabase } from "../../../test/support/db.ts";
import { buildOrg, createTestSecrets } from "../../../test/support/membership.ts";
import type { MembershipDeps } from "../deps.ts";
import { listTiers } from "../orgs/list-tiers.ts";
import { assignTier } from "./assign-tier.ts";
import { enrollMember } from "./enroll-member.ts";
import { getMember } from "./get-member.ts";
import { listMemberTiers } from "./list-member-tiers.ts";
import { updateMember } from "./update-member.ts";

let database: TestDatabase;
let deps: MembershipDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = { db: database.db, secrets: createTestSecrets() };
});
afterAll(() => database?.close());

async function buildMember() {
  const created = await buildOrg(deps);
  const member = await enrollMember(deps, {
    orgId: created.org.id,
    externalRef: `card-${randomBytes(6).toString("hex")}`,
  });
  const tierId = (rank: number): string => {
    const tier = created.tiers.find((candidate) => candidate.rank === rank);
    if (tier === undefined) {
      throw new Error(`no tier of rank ${rank}`);
    }
    return tier.id;
  };
  return { ...created, member, tierId };
}

describe("tiers", () => {
  it("listTiers returns only the org's own tiers, by rank", async () => {
    const first = await buildOrg(deps);
    await buildOrg(deps);
    const tiers = await listTiers(deps, { orgId: first.org.id });
    expect(tiers.map((tier) => tier.rank)).toEqual([0, 1, 2, 3]);
    expect(new Set(tiers.map((tier) => tier.orgId))).toEqual(new Set([first.org.id]));
  });

  it("assignTier moves the member and keeps the history in order", async () => {
    const { org, member, tierId } = await buildMember();
    const orgId = org.id;
    const memberId = member.id;

    const toGold = await assignTier(deps, { orgId, memberId, tierId: tierId(2), reason: "manual" });
    expect(toGold).toMatchObject({ previousTierId: tierId(0), tierId: tierId(2), changed: true });
    const toSilver = await assignTier(deps, {
      orgId,
      memberId,
      tierId: tierId(1),
      reason: "qualification",
    });
    expect(toSilver.previousTierId).toBe(tierId(2));

    expect((await getMember(deps, { orgId, memberId })).tierId).toBe(tierId(1));
    const history = await listMemberTiers(deps, { orgId, memberId });
    expect(history.map((entry) => [entry.tierId, entry.reason])).toEqual([
      [tierId(0), "enrollment"],
      [tierId(2), "manual"],
      [tierId(1), "qualification"],
    ]);
    expect(history.at(-1)).toEqual(toSilver.entry);
  });

  it("assigning the current tier again writes nothing", async () => {
    const { org, member, tierId } = await buildMember();
    const result = await assignTier(deps, {
      orgId: org.id,
      memberId: member.id,
      tierId: tierId(0),
      reason: "retry",
    });
    expect(result).toEqual({
      previousTierId: tierId(0),
      tierId: tierId(0),
      changed: false,
      entry: null,
    });
    expect(await listMemberTiers(deps, { orgId: org.id, memberId: member.id })).toHaveLength(1);
  });

  it("refuses another org's tier or member as not_found", async () => {
    const mine = await buildMember();
    const theirs = await buildMember();

    await expect(
      assignTier(deps, {
        orgId: mine.org.id,
        memberId: mine.member.id,
        tierId: theirs.tierId(3),
        reason: "manual",
      }),
    ).rejects.toMatchObject({ code: "not_found", details: { tierId: theirs.tierId(3) } });
    await expect(
      assignTier(deps, {
        orgId: mine.org.id,
        memberId: theirs.member.id,
        tierId: mine.tierId(3),
        reason: "manual",
      }),
    ).rejects.toMatchObject({ code: "not_found", details: { memberId: theirs.member.id } });
    await expect(
      listMemberTiers(deps, { orgId: mine.org.id, memberId: theirs.member.id }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect(
      await listMemberTiers(deps, { orgId: theirs.org.id, memberId: theirs.member.id }),
    ).toHaveLength(1);
  });

  it("refuses to move a closed member", async () => {
    const { org, member, tierId } = await buildMember();
    await updateMember(deps, { orgId: org.id, memberId: member.id, patch: { status: "closed" } });
    await expect(
      assignTier(deps, { orgId: org.id, memberId: member.id, tierId: tierId(1), reason: "manual" }),
    ).rejects.toMatchObject({ code: "member_inactive" });
  });

  it("concurrent assignments leave the current tier equal to the last history entry", async () => {
    const { org, member, tierId } = await buildMember();
    const orgId = org.id;
    const memberId = member.id;
    await Promise.all(
      [1, 2, 3, 1, 2, 3].map((rank) =>
        assignTier(deps, { orgId, memberId, tierId: tierId(rank), reason: `rank ${rank}` }),
      ),
    );
    const history = await listMemberTiers(deps, { orgId, memberId });
    expect((await getMember(deps, { orgId, memberId })).tierId).toBe(history.at(-1)?.tierId);
    for (let index = 1; index < history.length; index += 1) {
      expect(history[index]?.tierId).not.toBe(history[index - 1]?.tierId);
    }
  });
});
