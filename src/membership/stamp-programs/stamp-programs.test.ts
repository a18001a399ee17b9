/**
 * The stamp program use cases on real Postgres and the embedded ledger: defaults, the domain's
 * own checks (nothing written when they refuse), a change or a deactivation applying to the next
 * purchase in this process at once, one audit entry per change in the change's transaction, and
 * a member's cards read from the ledger, inactive programs' included.
 */
import { describe, expect, it } from "vitest";
import { useLedgerFixture } from "../../../test/support/fixture.ts";
import { buildLedgerMember, buildLedgerOrg, externalId } from "../../../test/support/ledger.ts";
import { listAudit, platformActor } from "../audit/audit.ts";
import type { LedgerDeps } from "../deps.ts";
import { recordPurchase } from "../purchases/record-purchase.ts";
import { createStampProgram } from "./create-stamp-program.ts";
import { deactivateStampProgram } from "./deactivate-stamp-program.ts";
import { getMemberStampCards } from "./get-member-stamp-cards.ts";
import { getStampProgram } from "./get-stamp-program.ts";
import { updateStampProgram } from "./update-stamp-program.ts";

const fixture = useLedgerFixture();

async function entriesOf(deps: LedgerDeps, orgId: string, programId: string) {
  const page = await listAudit(deps, {
    orgId,
    targetType: "stamp_program",
    targetId: programId,
    limit: 50,
  });
  return page.entries;
}

function buy(
  deps: LedgerDeps,
  input: { orgId: string; memberId: string; items?: Array<{ sku: string; quantity: number }> },
) {
  return recordPurchase(deps, {
    orgId: input.orgId,
    externalId: externalId(),
    memberId: input.memberId,
    amountMinor: 1_000n,
    currency: "EUR",
    ...(input.items === undefined
      ? {}
      : { items: input.items.map((item) => ({ ...item, category: "coffee" })) }),
  });
}

describe("stamp programs", () => {
  it("defaults to one stamp per purchase, any purchase, any time, and audits the creation", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 3n,
      rewardPoints: 5n,
    });
    expect(program).toMatchObject({
      earn: { per: "purchase", amountMinMinor: null, categories: [], skus: [] },
      activeFrom: null,
      activeUntil: null,
      active: true,
    });
    const [entry] = await entriesOf(deps, org.id, program.id);
    expect(entry).toMatchObject({
      action: "stamp_program.created",
      actorKeyId: null,
      before: null,
      after: { name: "Visits", stamps_per_card: 3, reward: { points: "5" } },
    });
  });

  it("refuses bad rules and windows, writing nothing", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const base = { orgId: org.id, name: "Bad", stampsRequired: 3n, rewardPoints: 5n };
    const refusals = [
      { ...base, earn: { per: "item" as const, amountMinMinor: 0n } },
      { ...base, earn: { per: "item" as const, categories: ["x".repeat(65)] } },
      { ...base, earn: { per: "item" as const, skus: Array.from({ length: 101 }, String) } },
      {
        ...base,
        activeFrom: new Date("2026-02-01T00:00:00Z"),
        activeUntil: new Date("2026-02-01T00:00:00Z"),
      },
    ];
    for (const input of refusals) {
      await expect(createStampProgram(deps, input)).rejects.toMatchObject({
        code: "invalid_input",
      });
    }
    const program = await createStampProgram(deps, {
      ...base,
      activeUntil: new Date("2030-01-01T00:00:00Z"),
    });
    await expect(
      updateStampProgram(deps, {
        orgId: org.id,
        programId: program.id,
        patch: { name: "Moved", activeFrom: new Date("2030-01-01T00:00:00Z") },
        actor: platformActor,
      }),
    ).rejects.toMatchObject({ code: "invalid_input", details: { field: "active_until" } });
    expect(await getStampProgram(deps, { orgId: org.id, programId: program.id })).toEqual(program);
    expect((await entriesOf(deps, org.id, program.id)).map((entry) => entry.action)).toEqual([
      "stamp_program.created",
    ]);
  });

  it("applies a change and a deactivation to the very next purchase, and keeps the cards", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Coffee",
      stampsRequired: 10n,
      rewardPoints: 5n,
    });
    const three = [{ sku: "latte", quantity: 3 }];
    expect(
      (await buy(deps, { orgId: org.id, memberId: member.id, items: three })).stampsEarned,
    ).toEqual([{ programId: program.id, stamps: 1n, completed: false }]);

    const changed = await updateStampProgram(deps, {
      orgId: org.id,
      programId: program.id,
      patch: { name: "Coffee units", earn: { per: "item", skus: ["latte"] } },
      actor: { keyId: "key-1", requestId: "request-1" },
    });
    expect(changed).toMatchObject({ stampsRequired: 10n, rewardPoints: 5n, name: "Coffee units" });
    expect(
      (await buy(deps, { orgId: org.id, memberId: member.id, items: three })).stampsEarned,
    ).toEqual([{ programId: program.id, stamps: 3n, completed: false }]);

    await deactivateStampProgram(deps, {
      orgId: org.id,
      programId: program.id,
      actor: platformActor,
    });
    await deactivateStampProgram(deps, {
      orgId: org.id,
      programId: program.id,
      actor: platformActor,
    });
    expect(
      (await buy(deps, { orgId: org.id, memberId: member.id, items: three })).stampsEarned,
    ).toEqual([]);
    expect(await getMemberStampCards(deps, { orgId: org.id, memberId: member.id })).toEqual([
      {
        programId: program.id,
        name: "Coffee units",
        active: false,
        stamps: 4n,
        stampsRequired: 10n,
        completions: 0,
      },
    ]);

    const entries = await entriesOf(deps, org.id, program.id);
    expect(entries.map((entry) => entry.action)).toEqual([
      "stamp_program.deactivated",
      "stamp_program.updated",
      "stamp_program.created",
    ]);
    expect(entries[1]).toMatchObject({
      actorKeyId: "key-1",
      requestId: "request-1",
      before: { name: "Coffee", earn: { per: "purchase", skus: [] } },
      after: { name: "Coffee units", earn: { per: "item", skus: ["latte"] } },
    });
  });

  it("answers not_found for another org's program and member", async () => {
    const { deps } = fixture.environment;
    const { org } = await buildLedgerOrg(deps);
    const { org: other } = await buildLedgerOrg(deps);
    const member = await buildLedgerMember(deps, org.id);
    const program = await createStampProgram(deps, {
      orgId: org.id,
      name: "Visits",
      stampsRequired: 3n,
      rewardPoints: 5n,
    });
    const foreign = { orgId: other.id, programId: program.id };
    await expect(getStampProgram(deps, foreign)).rejects.toMatchObject({ code: "not_found" });
    await expect(
      updateStampProgram(deps, { ...foreign, patch: { name: "Mine" }, actor: platformActor }),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(
      deactivateStampProgram(deps, { ...foreign, actor: platformActor }),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(
      getMemberStampCards(deps, { orgId: other.id, memberId: member.id }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect(await getStampProgram(deps, { orgId: org.id, programId: program.id })).toMatchObject({
      name: "Visits",
      active: true,
    });
  });
});
