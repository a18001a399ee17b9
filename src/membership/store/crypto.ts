/**
 * Field-level protection for personal data (PII) kept in Postgres.
 *
 * - `createFieldCipher` encrypts one value with AES-256-GCM. Stored layout (bytea), in order:
 *   `version (1 byte, 0x01) | iv (12 random bytes) | auth tag (16 bytes) | ciphertext`.
 *   The version byte and the caller's associated data (e.g. which org, member and column the
 *   value belongs to) are authenticated, so a ciphertext copied into another row fails to decrypt.
 * - `keyedHash` is HMAC-SHA256 with a separate key: deterministic, so equal inputs can be found
 *   with an index, yet useless to a reader of the database who lacks the key.
 * - `normalizeEmail` / `normalizePhone` canonicalise values before hashing so lookups match.
 */
import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";

const cipherAlgorithm = "aes-256-gcm";
const cipherVersion = 0x01;
export const fieldKeyBytes = 32;
/** Lower bound for HMAC keys: below the hash output size the key is the weak link. */
export const hashKeyBytesMin = 32;
const ivBytes = 12;
const authTagBytes = 16;
const headerBytes = 1 + ivBytes + authTagBytes;

export interface FieldCipher {
  /** Encrypts `plaintext`; `associatedData` must be given again, unchanged, to decrypt. */
  encrypt(plaintext: string, associatedData?: string): Buffer;
  /** Decrypts a value produced by `encrypt`. Throws if the key, data or context do not match. */
  decrypt(ciphertext: Buffer, associatedData?: string): string;
}

/**
 * @example
 * const cipher = createFieldCipher(key); // key: 32 random bytes from configuration
 * const stored = cipher.encrypt("ada@example.com", `members.email:${orgId}:${memberId}`);
 * cipher.decrypt(stored, `members.email:${orgId}:${memberId}`); // "ada@example.com"
 */
export function createFieldCipher(key: Buffer): FieldCipher {
  assert.equal(key.length, fieldKeyBytes, "field encryption key must be 32 bytes");
  // Copy so a caller zeroing or reusing its buffer cannot change our key.
  const ownKey = Buffer.from(key);

  function additionalData(associatedData: string | undefined): Buffer {
    return Buffer.concat([Buffer.of(cipherVersion), Buffer.from(associatedData ?? "", "utf8")]);
  }

  return {
    encrypt(plaintext, associatedData) {
      const iv = randomBytes(ivBytes);
      const cipher = createCipheriv(cipherAlgorithm, ownKey, iv, { authTagLength: authTagBytes });
      cipher.setAAD(additionalData(associatedData));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      const tag = cipher.getAuthTag();
      assert.equal(tag.length, authTagBytes);
      const stored = Buffer.concat([Buffer.of(cipherVersion), iv, tag, body]);
      assert.equal(stored.length, headerBytes + body.length);
      return stored;
    },
    decrypt(ciphertext, associatedData) {
      assert.ok(ciphertext.length >= headerBytes, "ciphertext shorter than its header");
      assert.equal(ciphertext[0], cipherVersion, "unknown ciphertext version");
      const iv = ciphertext.subarray(1, 1 + ivBytes);
      const tag = ciphertext.subarray(1 + ivBytes, headerBytes);
      const decipher = createDecipheriv(cipherAlgorithm, ownKey, iv, {
        authTagLength: authTagBytes,
      });
      decipher.setAAD(additionalData(associatedData));
      decipher.setAuthTag(tag);
      const body = ciphertext.subarray(headerBytes);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    },
  };
}

/** HMAC-SHA256 of `value` (UTF-8) under `key`; 32 bytes. */
export function keyedHash(key: Buffer, value: string): Buffer {
  assert.ok(key.length >= hashKeyBytesMin, "hash key must be at least 32 bytes");
  const digest = createHmac("sha256", key).update(value, "utf8").digest();
  assert.equal(digest.length, 32);
  return digest;
}

/** Canonical e-mail for hashing: Unicode NFC, trimmed, lower-cased. */
export function normalizeEmail(value: string): string {
  return value.normalize("NFC").trim().toLowerCase();
}

/**
 * Canonical phone number for hashing: digits only, keeping a leading `+` (an international
 * `00` prefix becomes `+`). "+44 (20) 7946-0000" and "0044 20 7946 0000" both give "+442079460000".
 * No country is assumed, so a national number stays as typed.
 */
export function normalizePhone(value: string): string {
  const trimmed = value.trim();
  const digits = trimmed.replace(/\D/g, "");
  if (trimmed.startsWith("+")) {
    return `+${digits}`;
  }
  if (trimmed.startsWith("00") && digits.length > 2) {
    return `+${digits.slice(2)}`;
  }
  return digits;
}
