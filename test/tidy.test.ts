/**
 * Style rules that are cheap to check and easy to forget, run as an ordinary test so they need
 * no linter plugin: the dependency direction between modules, and leftovers that must not be
 * merged. Every failure says what to write instead.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const filesMax = 10_000;
const importsPerFileMax = 1_000;

interface SourceFile {
  /** Path from the repository root with forward slashes, e.g. `src/ledger/index.ts`. */
  path: string;
  text: string;
}

function sourceFiles(directory: string): SourceFile[] {
  const entries = readdirSync(join(root, directory), { recursive: true, encoding: "utf8" });
  const files = entries
    .filter((entry) => entry.endsWith(".ts"))
    .map((entry) => {
      const path = join(directory, entry).split(sep).join("/");
      return { path, text: readFileSync(join(root, path), "utf8") };
    });
  assert.ok(files.length <= filesMax, "more source files than the scan is bounded to");
  return files;
}

/** Relative import specifiers resolved to repository paths; packages are left out. */
function localImports(file: SourceFile): string[] {
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;
  const imports: string[] = [];
  for (const match of file.text.matchAll(pattern)) {
    const specifier = match[1] ?? "";
    if (specifier.startsWith(".")) {
      const target = resolve(root, dirname(file.path), specifier);
      imports.push(relative(root, target).split(sep).join("/"));
    }
    assert.ok(imports.length <= importsPerFileMax, `${file.path}: too many imports to scan`);
  }
  return imports;
}

/** Package specifiers a file imports (its local imports left out). */
function packageImports(file: SourceFile): string[] {
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"'.][^"']*)["']/g;
  return [...file.text.matchAll(pattern)].map((match) => match[1] ?? "");
}

function inModule(path: string, module: string): boolean {
  return path.startsWith(`src/${module}/`);
}

function dependencyViolations(files: SourceFile[]): string[] {
  const violations: string[] = [];
  for (const file of files) {
    // Test helpers (test/) may build raw transfers; src/ asks the ledger module for postings.
    if (!inModule(file.path, "ledger") && packageImports(file).includes("tigerbeetle-node")) {
      violations.push(
        `${file.path} imports tigerbeetle-node: only src/ledger speaks TigerBeetle; use its index.ts (LedgerApi, LedgerTransfer, operations)`,
      );
    }
    for (const target of localImports(file)) {
      const edge = `${file.path} imports ${target}`;
      if (target === "src/main.ts") {
        violations.push(`${edge}: main.ts is the composition root; nothing imports it`);
      }
      if (inModule(file.path, "ledger")) {
        for (const outer of ["membership", "workers", "http"]) {
          if (inModule(target, outer)) {
            violations.push(
              `${edge}: the ledger knows nothing of ${outer}; pass what it needs as arguments`,
            );
          }
        }
      }
      if (
        inModule(file.path, "membership") &&
        inModule(target, "ledger") &&
        target !== "src/ledger/index.ts"
      ) {
        violations.push(`${edge}: import the ledger through src/ledger/index.ts`);
      }
      const entry = file.path === "src/main.ts";
      // http enqueues through the typed producer and reads the workers' results, but never runs
      // a job: processors (files named processor*.ts), their table and the runtime are off limits.
      const runsJobs =
        target === "src/workers/runtime.ts" ||
        /^src\/workers\/(?:.*\/)?processors?[^/]*\.ts$/.test(target);
      const reader = inModule(file.path, "http") && !runsJobs;
      if (!entry && !reader && !inModule(file.path, "workers") && inModule(target, "workers")) {
        violations.push(
          `${edge}: only src/main.ts starts workers; http enqueues through workers/producer.ts and never imports a processor or the runtime`,
        );
      }
      if (!entry && !inModule(file.path, "http") && inModule(target, "http")) {
        violations.push(`${edge}: only src/main.ts mounts http`);
      }
    }
  }
  return violations;
}

function leftoverViolations(files: SourceFile[]): string[] {
  // Spelled in pieces so this file does not trip its own bans when the scan is widened.
  const bans = [
    {
      // A module-level WeakMap keyed by a pool or deps object is a hidden singleton.
      pattern: new RegExp(`\\bnew ${"Weak"}Map\\b`),
      replacement:
        "build it in the composition (main.ts, createApp, the test environment) and pass it in deps",
    },
    {
      pattern: new RegExp(`\\b${"FIX"}ME\\b`),
      replacement:
        "fix it before merging, or open an issue and explain the limitation in a comment",
    },
    {
      pattern: new RegExp(`\\bconsole\\.${"log"}\\b`),
      replacement: "log through the pino logger passed in (only bench/ and scripts print)",
    },
    {
      pattern: new RegExp(`\\b(?:Number\\.)?${"parse"}Float\\b`),
      replacement:
        "amounts are integers: check /^[0-9]+$/ (or use zod) and convert with BigInt(text)",
    },
  ];
  const violations: string[] = [];
  for (const file of files) {
    const lines = file.text.split("\n");
    for (const [index, line] of lines.entries()) {
      for (const ban of bans) {
        const match = ban.pattern.exec(line);
        if (match !== null) {
          violations.push(`${file.path}:${index + 1}: ${match[0]} is banned; ${ban.replacement}`);
        }
      }
    }
  }
  return violations;
}

const files = sourceFiles("src");

describe("tidy", () => {
  it("scans the source tree", () => {
    const paths = files.map((file) => file.path);
    expect(paths).toContain("src/main.ts");
    expect(paths).toContain("src/config.ts");
    expect(paths).toContain("src/ledger/index.ts");
  });

  it("keeps dependencies pointing inward", () => {
    expect(dependencyViolations(files)).toEqual([]);
  });

  it("bans leftovers, each with its replacement", () => {
    expect(leftoverViolations(files)).toEqual([]);
  });

  it("would catch a violation of each rule", () => {
    const ban = ["FIX", "ME"].join("");
    const print = ["console", "log"].join(".");
    const float = ["parse", "Float"].join("");
    const synthetic: SourceFile[] = [
      { path: "src/ledger/posting.ts", text: 'import { x } from "../http/app.ts";' },
      { path: "src/membership/redeem.ts", text: 'import { y } from "../ledger/ids.ts";' },
      { path: "src/membership/earn.ts", text: 'import { y } from "../ledger/index.ts";' },
      { path: "src/http/metrics.ts", text: 'import type { Client } from "tigerbeetle-node";' },
      { path: "src/ledger/client.ts", text: 'import { createClient } from "tigerbeetle-node";' },
      { path: "src/http/routes.ts", text: 'import { q } from "../workers/processor.ts";' },
      { path: "src/http/members.ts", text: 'import { q } from "../workers/queues.ts";' },
      { path: "src/main.ts", text: 'import { a } from "./http/app.ts";' },
      { path: "src/ledger/a.ts", text: `// ${ban}\n${print}(1);\nNumber.${float}("1");` },
      { path: "src/membership/b.ts", text: `const cache = new ${"Weak"}Map();` },
    ];
    const offenders = dependencyViolations(synthetic).map((line) => line.split(" ")[0]);
    expect([...new Set(offenders)].sort()).toEqual([
      "src/http/metrics.ts",
      "src/http/routes.ts",
      "src/ledger/posting.ts",
      "src/membership/redeem.ts",
    ]);
    expect(leftoverViolations(synthetic)).toHaveLength(4);
  });
});
