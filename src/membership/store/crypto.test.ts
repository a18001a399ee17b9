import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createFieldCipher, keyedHash, normalizeEmail, normalizePhone } from "./crypto.ts";

describe("createFieldCipher", () => {
  const cipher = createFieldCipher(randomBytes(32));

  it("round-trips text, including non-ASCII and the empty string", () => {
    for (const value of ["ada@example.com", "Zoë Ångström 日本", ""]) {
      expect(cipher.decrypt(cipher.encrypt(value, "ctx"), "ctx")).toBe(value);
    }
  });

  it("uses a fresh IV: the same value encrypts differently each time", () => {
    const first = cipher.encrypt("same", "ctx");
    const second = cipher.encrypt("same", "ctx");
    expect(first.equals(second)).toBe(false);
    expect(first.subarray(0, 1)).toEqual(Buffer.of(1));
    expect(first.length).toBe(1 + 12 + 16 + Buffer.byteLength("same"));
  });

  it("refuses another context, another key, or a flipped bit", () => {
    const stored = cipher.encrypt("secret", "members.email:org-a:member-1");
    expect(() => cipher.decrypt(stored, "members.email:org-b:member-1")).toThrow();
    expect(() =>
      createFieldCipher(randomBytes(32)).decrypt(stored, "members.email:org-a:member-1"),
    ).toThrow();
    const tampered = Buffer.from(stored);
    tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 1;
    expect(() => cipher.decrypt(tampered, "members.email:org-a:member-1")).toThrow();
  });

  it("asserts the key is 32 bytes", () => {
    expect(() => createFieldCipher(randomBytes(16))).toThrow(/32 bytes/);
    expect(() => createFieldCipher(randomBytes(33))).toThrow(/32 bytes/);
  });
});

describe("keyedHash", () => {
  it("is deterministic per key and differs between keys", () => {
    const key = randomBytes(32);
    expect(keyedHash(key, "x").equals(keyedHash(key, "x"))).toBe(true);
    expect(keyedHash(key, "x").equals(keyedHash(randomBytes(32), "x"))).toBe(false);
    expect(keyedHash(key, "x")).toHaveLength(32);
  });

  it("asserts the key is at least 32 bytes", () => {
    expect(() => keyedHash(randomBytes(31), "x")).toThrow(/32 bytes/);
  });
});

describe("normalisation", () => {
  it("normalizeEmail trims and lower-cases", () => {
    expect(normalizeEmail("  Ada.Lovelace@Example.COM ")).toBe("ada.lovelace@example.com");
  });

  it("normalizePhone keeps digits and an international prefix", () => {
    expect(normalizePhone("+44 (20) 7946-0000")).toBe("+442079460000");
    expect(normalizePhone("0044 20 7946 0000")).toBe("+442079460000");
    expect(normalizePhone("020 7946 0000")).toBe("02079460000");
  });
});
