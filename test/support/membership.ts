/**
 * Test data builders for this module, shared by its tests and by tests of the modules that use
 * it. They create through the public verbs, so tests exercise the same paths as production.
 * Not exported from index.ts: production code has no use for them.
 */
import { randomBytes } from "node:crypto";
import type { MembershipDeps, MembershipSecrets } from "../../src/membership/deps.ts";
import type { CreateOrgInput, CreateOrgResult } from "../../src/membership/orgs/create-org.ts";
import { createOrg } from "../../src/membership/orgs/create-org.ts";

/** Fresh random keys, one per purpose. */
export function createTestSecrets(): MembershipSecrets {
  return {
    apiKeyHashKey: randomBytes(32),
    piiEncryptionKey: randomBytes(32),
    piiHashKey: randomBytes(32),
  };
}

/** A new org with a unique slug; each test makes its own. */
export function buildOrg(
  deps: MembershipDeps,
  overrides: Partial<CreateOrgInput> = {},
): Promise<CreateOrgResult> {
  return createOrg(deps, {
    name: "Test Org",
    slug: `test-${randomBytes(6).toString("hex")}`,
    currency: "EUR",
    ...overrides,
  });
}
