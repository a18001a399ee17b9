/**
 * The Dockerfile, read as Docker reads it (dockerfile-ast): no Docker engine is needed, and none
 * is available where the suite runs, so this checks the properties a build would not report
 * when they break: stages, the pinned Node 24 base, what reaches the runtime image, who owns it,
 * and what runs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Instruction } from "dockerfile-ast";
import { DockerfileParser } from "dockerfile-ast";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/service-process.ts";

const dockerfile = DockerfileParser.parse(readFileSync(join(repoRoot, "Dockerfile"), "utf8"));
const froms = dockerfile.getFROMs();
const instructions = dockerfile.getInstructions();
const runtimeFrom = froms.at(-1);
/** The final stage: what the image is. */
const runtime = instructions.filter(
  (instruction) =>
    runtimeFrom !== undefined &&
    instruction.getRange().start.line > runtimeFrom.getRange().start.line,
);
const buildStages = froms.slice(0, -1).map((from) => from.getBuildStage());

const argumentsOf = (instruction: Instruction): string[] =>
  instruction.getArguments().map((argument) => argument.getValue());
const flag = (instruction: Instruction, name: string): string | undefined =>
  "getFlags" in instruction && typeof instruction.getFlags === "function"
    ? ((instruction.getFlags() as Array<{ getName(): string; getValue(): string | null }>)
        .find((candidate) => candidate.getName() === name)
        ?.getValue() ?? undefined)
    : undefined;
const keyword = (name: string) => (instruction: Instruction) => instruction.getKeyword() === name;

/** What the runtime stage may receive, each from the build stage. */
const allowedInRuntime = [
  "/app/dist",
  "/app/drizzle",
  "/app/node_modules",
  "/app/package.json",
  "/app/package-lock.json",
];

describe("Dockerfile", () => {
  it("is multi-stage, every stage on an exact Node 24 release", () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      expect(from.getImageName()).toBe("node");
      // 24.major.patch with an optional variant (e.g. -bookworm-slim): never `24`, `lts` or `latest`.
      expect(from.getImageTag()).toMatch(/^24\.[0-9]+\.[0-9]+(-[a-z0-9]+)*$/);
    }
  });

  it("builds with every dependency, then keeps only the production ones", () => {
    const build = instructions.filter(
      (instruction) =>
        runtimeFrom !== undefined &&
        instruction.getRange().start.line < runtimeFrom.getRange().start.line,
    );
    const runs = build.filter(keyword("RUN")).map((run) => argumentsOf(run).join(" "));
    expect(runs.some((run) => /\bnpm ci\b/.test(run))).toBe(true);
    const buildAt = runs.findIndex((run) => /\bnpm run build\b/.test(run));
    expect(buildAt).toBeGreaterThanOrEqual(0);
    expect(runs.slice(buildAt).some((run) => /\bnpm prune --omit=dev\b/.test(run))).toBe(true);
  });

  it("copies only dist/, drizzle/, package*.json and the production node_modules into the runtime image, owned by root", () => {
    expect(runtime.filter(keyword("ADD"))).toEqual([]);
    const copies = runtime.filter(keyword("COPY"));
    const sources: string[] = [];
    for (const copy of copies) {
      expect(buildStages).toContain(flag(copy, "from"));
      // No --chown / --chmod: the files stay root's, read-only to the service's user.
      expect(flag(copy, "chown")).toBeUndefined();
      expect(flag(copy, "chmod")).toBeUndefined();
      sources.push(...argumentsOf(copy).slice(0, -1));
    }
    expect([...sources].sort()).toEqual([...allowedInRuntime].sort());
    // A RUN may change ownership of the data directory only, never of the code.
    for (const run of runtime.filter(keyword("RUN"))) {
      const text = argumentsOf(run).join(" ");
      if (/\bch(own|mod)\b/.test(text)) {
        expect(text).not.toMatch(/\/app\/(dist|node_modules|drizzle)|\/app(\s|$)|\s\.(\s|$)/);
      }
    }
  });

  it("runs as a user other than root, in production mode", () => {
    const user = runtime.filter(keyword("USER")).at(-1);
    expect(user).toBeDefined();
    const name = user === undefined ? "" : (argumentsOf(user)[0] ?? "");
    expect(name.split(":")[0]).not.toMatch(/^(root|0)?$/);
    const env = runtime.filter(keyword("ENV")).flatMap(argumentsOf);
    expect(env).toContain("NODE_ENV=production");
  });

  it("starts the compiled service with node itself (no npm, no tsx)", () => {
    const cmds = dockerfile.getCMDs();
    expect(cmds).toHaveLength(1);
    expect(dockerfile.getENTRYPOINTs()).toEqual([]);
    // The exec (JSON) form: node is PID 1's child directly and receives SIGTERM.
    const argv = cmds[0]?.getJSONStrings().map((value) => value.getJSONValue()) ?? [];
    expect(argv[0]).toBe("node");
    expect(argv.at(-1)).toMatch(/^dist\/.+\.js$/);
    expect(argv.join(" ")).not.toMatch(/\b(npm|tsx)\b/);
  });

  it("keeps secrets and local state out of the build context", () => {
    const ignored = readFileSync(join(repoRoot, ".dockerignore"), "utf8").split("\n");
    expect(ignored).toEqual(
      expect.arrayContaining([".env", ".env.*", "node_modules", "data", "dist", "org.json"]),
    );
  });
});
