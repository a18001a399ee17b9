/**
 * The meta-test of the conformance suite: every CreateAccountStatus and CreateTransferStatus of
 * tigerbeetle-node has a home topic (checked here at run time, and at compile time by the
 * tables' types), and every topic's file ends with the test that checks its statuses were
 * asserted. Together they make it impossible for a status to go untested silently.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CreateAccountStatus, CreateTransferStatus } from "tigerbeetle-node";
import { describe, expect, it } from "vitest";
import { accountStatusTopics, enumNames, transferStatusTopics } from "../builders.ts";

const directory = fileURLToPath(new URL(".", import.meta.url));

describe("conformance status coverage", () => {
  it("gives every CreateAccountStatus a topic, and nothing else", () => {
    expect(Object.keys(accountStatusTopics).sort()).toEqual(enumNames(CreateAccountStatus).sort());
  });

  it("gives every CreateTransferStatus a topic, and nothing else", () => {
    expect(Object.keys(transferStatusTopics).sort()).toEqual(
      enumNames(CreateTransferStatus).sort(),
    );
  });

  it("has a file for every topic that checks its statuses on the embedded engine", () => {
    const topics = new Set([
      ...Object.values(accountStatusTopics),
      ...Object.values(transferStatusTopics),
    ]);
    for (const topic of topics) {
      const path = `${directory}${topic}.test.ts`;
      expect(existsSync(path), path).toBe(true);
      expect(readFileSync(path, "utf8"), path).toContain(`statusCoverageTest("${topic}")`);
    }
  });
});
