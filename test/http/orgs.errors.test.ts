/** `POST /v1/orgs` refusals: a taken slug (409) and each malformed field (400 with its path). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness } from "./support.ts";
import { call, createHarness, list } from "./support.ts";

const platformToken = "platform-token-for-tests-0123456789";
let harness: Harness;

beforeAll(async () => {
  harness = await createHarness({ platformToken });
});
afterAll(async () => {
  await harness?.close();
});

async function orgCount(): Promise<number> {
  const [row] = await harness.database.sql<{ n: number }[]>`select count(*)::int as n from orgs`;
  return row?.n ?? -1;
}

describe("POST /v1/orgs refusals", () => {
  it("answers 409 for a slug already taken", async () => {
    const body = { name: "First", slug: "taken-slug", currency: "EUR" };
    expect((await call(harness.app, "POST", "/v1/orgs", { key: platformToken, body })).status).toBe(
      201,
    );
    const before = await orgCount();
    const again = await call(harness.app, "POST", "/v1/orgs", {
      key: platformToken,
      body: { ...body, name: "Second" },
    });
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe("conflict");
    expect(await orgCount()).toBe(before);
  });

  it("names each malformed field", async () => {
    const valid = { name: "Org", slug: "valid-slug", currency: "EUR" };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...valid, slug: "Not A Slug" }, "slug"],
      [{ ...valid, slug: "-edge" }, "slug"],
      [{ ...valid, currency: "eur" }, "currency"],
      [{ ...valid, timezone: "Mars/Olympus" }, "timezone"],
      [{ ...valid, name: "" }, "name"],
      [{ ...valid, name: "n".repeat(201) }, "name"],
      [{ ...valid, owner: "me" }, ""],
    ];
    const before = await orgCount();
    for (const [body, path] of cases) {
      const response = await call(harness.app, "POST", "/v1/orgs", { key: platformToken, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(list(response.body.error?.details?.issues).map((issue) => issue.path)).toEqual([path]);
    }
    expect(await orgCount()).toBe(before);
  });
});
