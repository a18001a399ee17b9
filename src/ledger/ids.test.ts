import { describe, expect, it } from "vitest";
import { AccountCode, controlAccountCodes } from "./codes.ts";
import {
  controlAccountId,
  decodeControlAccountId,
  deriveId,
  documentTimeMs,
  isUuidV7U128,
  transferId,
  u128ToUuid,
  uuidToU128,
  uuidV7,
  walletAccountId,
} from "./ids.ts";

describe("deterministic ids", () => {
  it("derives the same transfer id for the same parts and different ids for any other part", () => {
    const parts = { orgId: "org-1", source: "purchase", externalId: "T-1", leg: "earn" };
    expect(transferId(parts)).toBe(transferId({ ...parts }));
    const variants = [
      { ...parts, orgId: "org-2" },
      { ...parts, source: "refund" },
      { ...parts, externalId: "T-2" },
      { ...parts, leg: "bonus" },
    ];
    const ids = new Set([transferId(parts), ...variants.map((variant) => transferId(variant))]);
    expect(ids.size).toBe(5);
  });

  it("never changes what an id is: ids already posted must be derived again exactly", () => {
    // Pinned values: a retry or a recovery re-derives the ids of documents stored long ago.
    expect(deriveId("transfer", "org", "purchase", "x-1", "earn")).toBe(
      227982526969767258155097572644982847612n,
    );
    expect(deriveId(1n, "ünï©ødé ✓", 42)).toBe(96740374753759705872856027253555387000n);
    expect(walletAccountId(3, "m-1")).toBe(132297950967242545128998342808048996402n);
    // Twice: the second answer comes from the cache and must be the same.
    expect(walletAccountId(3, "m-1")).toBe(132297950967242545128998342808048996402n);
  });

  it("refuses parts too long to hash in one piece rather than cutting them short", () => {
    expect(() => deriveId("x".repeat(2_000))).toThrow(/short/);
  });

  it("cannot be fooled by moving characters between parts", () => {
    expect(deriveId("ab", "c")).not.toBe(deriveId("a", "bc"));
    expect(deriveId(1, "2")).not.toBe(deriveId("1", "2"));
  });

  it("round-trips control account ids to (ledger, code)", () => {
    for (const ledger of [1, 77, 2 ** 32 - 1]) {
      for (const code of controlAccountCodes) {
        expect(decodeControlAccountId(controlAccountId(ledger, code))).toEqual({ ledger, code });
      }
    }
  });

  it("never decodes a wallet id or a random id as a control account", () => {
    for (let i = 0; i < 1000; i++) {
      expect(decodeControlAccountId(walletAccountId(1 + (i % 7), `member-${i}`))).toBeNull();
    }
    expect(decodeControlAccountId(deriveId("x"))).toBeNull();
  });

  it("gives each ledger its own wallet for the same member", () => {
    expect(walletAccountId(1, "m")).not.toBe(walletAccountId(2, "m"));
  });

  it("rejects ledger 0 and codes that are not control accounts", () => {
    expect(() => controlAccountId(0, AccountCode.issuance)).toThrow(/ledger/);
    expect(() => controlAccountId(1, AccountCode.wallet as never)).toThrow(/control/);
  });

  it("round-trips UUIDs through user_data_128", () => {
    const uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    expect(u128ToUuid(uuidToU128(uuid))).toBe(uuid);
    expect(uuidToU128("00000000-0000-0000-0000-000000000001")).toBe(1n);
    expect(() => uuidToU128("not-a-uuid")).toThrow(/UUID/);
  });
});

describe("UUIDv7 document ids", () => {
  it("lays out RFC 9562: timestamp, version 7, variant 0b10, then the random bits", () => {
    const random = Buffer.from("ffffffffffffffffffff", "hex");
    expect(uuidV7(0x017f22e279b0, random)).toBe("017f22e2-79b0-7fff-bfff-ffffffffffff");
    const zeros = Buffer.alloc(10);
    expect(uuidV7(0, zeros)).toBe("00000000-0000-7000-8000-000000000000");
    // RFC 9562 appendix A.6's example, rebuilt from its timestamp and random bits.
    const example = Buffer.from("0cc3" + "18c4" + "dc0c0c07398f", "hex");
    expect(uuidV7(0x017f22e279b0, example)).toBe("017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
  });

  it("round-trips the millisecond through user_data_128", () => {
    for (const ms of [0, 1, Date.UTC(2026, 11, 7, 5, 31, 2, 123), 2 ** 48 - 1]) {
      const value = uuidToU128(uuidV7(ms));
      expect(documentTimeMs(value)).toBe(ms);
      expect(isUuidV7U128(value)).toBe(true);
    }
  });

  it("orders ids by their time", () => {
    const earlier = uuidToU128(uuidV7(1_000));
    const later = uuidToU128(uuidV7(1_001));
    expect(earlier < later).toBe(true);
  });

  it("refuses times a UUIDv7 cannot hold", () => {
    expect(() => uuidV7(-1)).toThrow(/UUIDv7/);
    expect(() => uuidV7(2 ** 48)).toThrow(/UUIDv7/);
    expect(() => uuidV7(1.5)).toThrow(/UUIDv7/);
    expect(() => uuidV7(0, Buffer.alloc(9))).toThrow(/UUIDv7/);
  });

  it("tells UUIDv4 ids apart", () => {
    expect(isUuidV7U128(uuidToU128("0f8fad5b-d9cb-469f-a165-70867728950e"))).toBe(false);
  });
});
