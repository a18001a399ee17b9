import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../test/support/db.ts";
import { createTestDatabase } from "../../../test/support/db.ts";
import { buildOrg, createTestSecrets } from "../../../test/support/membership.ts";
import type { MembershipDeps } from "../deps.ts";
import { enrollMember } from "./enroll-member.ts";
import { findMemberByExternalRef } from "./find-member-by-external-ref.ts";
import { findMembersByEmail } from "./find-members-by-email.ts";
import { getMember } from "./get-member.ts";
import { updateMember } from "./update-member.ts";

let database: TestDatabase;
let deps: MembershipDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = { db: database.db, secrets: createTestSecrets() };
});
afterAll(() => database?.close());

function cardNumber(): string {
  return `card-${randomBytes(6).toString("hex")}`;
}

describe("enrollMember", () => {
  it("places the member in the entry tier and returns it decrypted", async () => {
    const { org, tiers } = await buildOrg(deps);
    const externalRef = cardNumber();
    const member = await enrollMember(deps, {
      orgId: org.id,
      externalRef,
      email: "ada@example.com",
      phone: "+44 20 7946 0000",
      firstName: "Ada",
      lastName: "Lovelace",
    });

    expect(member).toMatchObject({
      orgId: org.id,
      externalRef,
      status: "active",
      tierId: tiers[0]?.id,
      email: "ada@example.com",
      phone: "+44 20 7946 0000",
      firstName: "Ada",
      lastName: "Lovelace",
    });
    expect(await getMember(deps, { orgId: org.id, memberId: member.id })).toEqual(member);
  });

  it("does not store personal data in plaintext", async () => {
    const { org } = await buildOrg(deps);
    const pii = {
      email: "grace.hopper@example.com",
      phone: "+1 555 0100",
      firstName: "Grace",
      lastName: "Hopper",
    };
    const member = await enrollMember(deps, { orgId: org.id, externalRef: cardNumber(), ...pii });

    const [row] = await database.sql`select * from members where id = ${member.id}`;
    expect(row).toBeDefined();
    const raw = Buffer.concat(
      Object.values(row ?? {}).map((value) =>
        Buffer.isBuffer(value) ? value : Buffer.from(String(value)),
      ),
    );
    for (const value of [...Object.values(pii), "grace", "hopper", "5550100"]) {
      expect(raw.includes(Buffer.from(value, "utf8"))).toBe(false);
      expect(raw.toString("latin1").toLowerCase()).not.toContain(value.toLowerCase());
    }
    expect(row?.email_encrypted).toBeInstanceOf(Buffer);
    expect(row?.email_hash).toHaveLength(32);
  });

  it("binds each ciphertext to its row: one copied into another member fails to decrypt", async () => {
    const { org } = await buildOrg(deps);
    const source = await enrollMember(deps, {
      orgId: org.id,
      externalRef: cardNumber(),
      email: "victim@example.com",
    });
    const target = await enrollMember(deps, {
      orgId: org.id,
      externalRef: cardNumber(),
      email: "attacker@example.com",
    });
    await database.sql`
      update members set email_encrypted = (select email_encrypted from members where id = ${source.id})
      where id = ${target.id}`;

    await expect(getMember(deps, { orgId: org.id, memberId: target.id })).rejects.toThrow();
  });

  it("allows members without any personal data", async () => {
    const { org } = await buildOrg(deps);
    const member = await enrollMember(deps, { orgId: org.id, externalRef: cardNumber() });
    expect(member).toMatchObject({ email: null, phone: null, firstName: null, lastName: null });
  });

  it("refuses a duplicate external ref in the same org, and allows it in another", async () => {
    const first = await buildOrg(deps);
    const second = await buildOrg(deps);
    const externalRef = cardNumber();
    await enrollMember(deps, { orgId: first.org.id, externalRef, email: "one@example.com" });

    await expect(
      enrollMember(deps, { orgId: first.org.id, externalRef, email: "two@example.com" }),
    ).rejects.toMatchObject({ code: "conflict", details: { externalRef } });
    const [count] = await database.sql<{ n: number }[]>`
      select count(*)::int as n from members where org_id = ${first.org.id}`;
    expect(count?.n).toBe(1);

    await expect(enrollMember(deps, { orgId: second.org.id, externalRef })).resolves.toMatchObject({
      orgId: second.org.id,
      externalRef,
    });
  });

  it("refuses an org that does not exist", async () => {
    await expect(
      enrollMember(deps, { orgId: "00000000-0000-4000-8000-000000000000", externalRef: "x" }),
    ).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("multi-tenancy", () => {
  it("another org's member is not_found, exactly like an unknown one", async () => {
    const owner = await buildOrg(deps);
    const other = await buildOrg(deps);
    const externalRef = cardNumber();
    const member = await enrollMember(deps, {
      orgId: owner.org.id,
      externalRef,
      email: "shared@example.com",
    });

    const foreign = getMember(deps, { orgId: other.org.id, memberId: member.id });
    await expect(foreign).rejects.toMatchObject({ code: "not_found" });
    for (const memberId of ["00000000-0000-4000-8000-000000000000", "not-a-uuid"]) {
      await expect(getMember(deps, { orgId: other.org.id, memberId })).rejects.toMatchObject({
        code: "not_found",
      });
    }
    await expect(
      updateMember(deps, {
        orgId: other.org.id,
        memberId: member.id,
        patch: { status: "closed" },
      }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect(await findMemberByExternalRef(deps, { orgId: other.org.id, externalRef })).toBeNull();
    expect(
      await findMembersByEmail(deps, { orgId: other.org.id, email: "shared@example.com" }),
    ).toEqual([]);
    expect((await getMember(deps, { orgId: owner.org.id, memberId: member.id })).status).toBe(
      "active",
    );
  });

  it("the database refuses to place a member in another org's tier", async () => {
    const owner = await buildOrg(deps);
    const other = await buildOrg(deps);
    const member = await enrollMember(deps, { orgId: owner.org.id, externalRef: cardNumber() });
    const foreignTier = other.tiers[1]?.id ?? "";

    await expect(
      database.sql`update members set tier_id = ${foreignTier} where id = ${member.id}`,
    ).rejects.toMatchObject({ code: "23503" });
  });
});

describe("lookups", () => {
  it("findMemberByExternalRef finds the org's member or null", async () => {
    const { org } = await buildOrg(deps);
    const externalRef = cardNumber();
    const member = await enrollMember(deps, { orgId: org.id, externalRef, firstName: "Alan" });

    expect(await findMemberByExternalRef(deps, { orgId: org.id, externalRef })).toEqual(member);
    expect(await findMemberByExternalRef(deps, { orgId: org.id, externalRef: "nope" })).toBeNull();
  });

  it("findMembersByEmail matches through the hash, ignoring case and spaces", async () => {
    const { org } = await buildOrg(deps);
    const first = await enrollMember(deps, {
      orgId: org.id,
      externalRef: cardNumber(),
      email: "Family@Example.com",
    });
    const second = await enrollMember(deps, {
      orgId: org.id,
      externalRef: cardNumber(),
      email: "family@example.com",
    });
    await enrollMember(deps, { orgId: org.id, externalRef: cardNumber(), email: "x@example.com" });

    const found = await findMembersByEmail(deps, { orgId: org.id, email: "  FAMILY@example.COM " });
    expect(found.map((member) => member.id).sort()).toEqual([first.id, second.id].sort());
    expect(await findMembersByEmail(deps, { orgId: org.id, email: "nobody@example.com" })).toEqual(
      [],
    );
  });

  it("equal e-mails hash differently in different orgs", async () => {
    const first = await buildOrg(deps);
    const second = await buildOrg(deps);
    const email = "same@example.com";
    const a = await enrollMember(deps, { orgId: first.org.id, externalRef: cardNumber(), email });
    const b = await enrollMember(deps, { orgId: second.org.id, externalRef: cardNumber(), email });

    const rows = await database.sql<{ email_hash: Buffer }[]>`
      select email_hash from members where id in ${database.sql([a.id, b.id])}`;
    expect(rows).toHaveLength(2);
    expect(rows[0]?.email_hash.equals(rows[1]?.email_hash ?? Buffer.alloc(0))).toBe(false);
  });
});

describe("updateMember", () => {
  it("changes only the fields given; null clears a field", async () => {
    const { org } = await buildOrg(deps);
    const member = await enrollMember(deps, {
      orgId: org.id,
      externalRef: cardNumber(),
      email: "old@example.com",
      phone: "+33 1 23 45 67 89",
      firstName: "Marie",
      lastName: "Curie",
    });

    const updated = await updateMember(deps, {
      orgId: org.id,
      memberId: member.id,
      patch: { email: "new@example.com", phone: null },
    });
    expect(updated).toMatchObject({
      email: "new@example.com",
      phone: null,
      firstName: "Marie",
      lastName: "Curie",
      status: "active",
    });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(member.updatedAt.getTime());
    expect(await getMember(deps, { orgId: org.id, memberId: member.id })).toEqual(updated);

    // The lookup hash follows the e-mail.
    expect(await findMembersByEmail(deps, { orgId: org.id, email: "old@example.com" })).toEqual([]);
    expect(await findMembersByEmail(deps, { orgId: org.id, email: "new@example.com" })).toEqual([
      updated,
    ]);
    const [row] = await database.sql`
      select phone_encrypted, phone_hash from members where id = ${member.id}`;
    expect(row).toEqual({ phone_encrypted: null, phone_hash: null });
  });

  it("an empty patch changes nothing", async () => {
    const { org } = await buildOrg(deps);
    const member = await enrollMember(deps, { orgId: org.id, externalRef: cardNumber() });
    expect(await updateMember(deps, { orgId: org.id, memberId: member.id, patch: {} })).toEqual(
      member,
    );
  });

  it("suspends and reactivates; a closed member cannot be changed", async () => {
    const { org } = await buildOrg(deps);
    const { id: memberId } = await enrollMember(deps, { orgId: org.id, externalRef: cardNumber() });
    const orgId = org.id;

    expect(
      (await updateMember(deps, { orgId, memberId, patch: { status: "suspended" } })).status,
    ).toBe("suspended");
    expect(
      (await updateMember(deps, { orgId, memberId, patch: { status: "active" } })).status,
    ).toBe("active");
    expect(
      (await updateMember(deps, { orgId, memberId, patch: { status: "closed" } })).status,
    ).toBe("closed");

    await expect(
      updateMember(deps, { orgId, memberId, patch: { status: "active" } }),
    ).rejects.toMatchObject({ code: "invalid_state" });
    await expect(
      updateMember(deps, { orgId, memberId, patch: { firstName: "Late" } }),
    ).rejects.toMatchObject({ code: "invalid_state" });
    expect((await getMember(deps, { orgId, memberId })).status).toBe("closed");
  });
});
