/**
 * Body size limits: 64 KiB for every route but the batch, 1 MiB for the batch. A body past the
 * limit is 413 and nothing is written, whether the size is declared (Content-Length) or only
 * found out while reading (chunked).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchBodyBytesMax, bodyBytesMax } from "../../src/http/limits.ts";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, countRows, createHarness, ledgerTransferCount } from "./support.ts";

let harness: Harness;
let org: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

/** A JSON body of exactly `bytes` bytes. */
function bodyOfSize(bytes: number): string {
  const prefix = '{"external_ref":"card-large","first_name":"';
  const suffix = '"}';
  return `${prefix}${"a".repeat(bytes - prefix.length - suffix.length)}${suffix}`;
}

describe("body limits", () => {
  it("answers 413 one byte past 64 KiB, with or without Content-Length", async () => {
    const members = await countRows(harness, "members", org.id);
    const body = bodyOfSize(bodyBytesMax + 1);
    const declared = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      rawBody: body,
      headers: { "Content-Length": String(Buffer.byteLength(body)) },
    });
    expect(declared.status).toBe(413);
    expect(declared.body.error).toMatchObject({
      code: "payload_too_large",
      details: { max_bytes: bodyBytesMax },
    });
    const streamed = await harness.app.request("/v1/members", {
      method: "POST",
      headers: { Authorization: `Bearer ${org.keys.pos}`, "Content-Type": "application/json" },
      body: new Blob([body]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await countRows(harness, "members", org.id)).toBe(members);
  });

  it("reads a body of exactly 64 KiB (then refuses its over-long name as a field)", async () => {
    const response = await call(harness.app, "POST", "/v1/members", {
      key: org.keys.pos,
      rawBody: bodyOfSize(bodyBytesMax),
    });
    expect(response.status).toBe(400);
    expect(response.body.error?.code).toBe("validation_failed");
  });

  it("lets a batch be larger than 64 KiB, up to 1 MiB", async () => {
    const transfers = await ledgerTransferCount(harness);
    const transactions = Array.from({ length: 1_000 }, (_, index) => ({
      external_id: `size-${index}-${"p".repeat(60)}`,
      member_external_ref: "card-nobody",
      amount: 100,
      currency: "EUR",
    }));
    const fits = await call(harness.app, "POST", "/v1/transactions/batch", {
      key: org.keys.pos,
      body: { transactions },
    });
    expect(fits.status).toBe(200);

    const padded = JSON.stringify({ transactions }).padEnd(batchBodyBytesMax + 1, " ");
    const tooLarge = await call(harness.app, "POST", "/v1/transactions/batch", {
      key: org.keys.pos,
      rawBody: padded,
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error?.details?.max_bytes).toBe(batchBodyBytesMax);
    expect(await ledgerTransferCount(harness)).toBe(transfers);
  });
});
