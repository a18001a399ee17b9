/**
 * A bad environment stops the server and the CLI alike with the list of bad variables on stderr
 * and exit status 1, never a stack trace. Run as real processes, from source (tsx).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
/** Kills a process that did not stop (a server that started after all) so the test fails. */
const processTimeoutMs = 30_000;
const dataDirectory = mkdtempSync(join(tmpdir(), "loyalty-config-"));

afterAll(() => {
  rmSync(dataDirectory, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[], env: Record<string, string>): Promise<Exit> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", script, ...args],
      {
        cwd: root,
        timeout: processTimeoutMs,
        env: {
          PATH: process.env.PATH ?? "",
          // Were the environment accepted, nothing would be written in the repository.
          LEDGER_DATA_FILE: join(dataDirectory, "ledger.tb"),
          HOST: "127.0.0.1",
          ...env,
        },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

const entryPoints = [
  { name: "server", script: "src/main.ts", args: [] },
  {
    name: "CLI",
    script: "src/cli.ts",
    args: ["org", "create", "--name", "Corner Coffee", "--slug", "corner", "--currency", "EUR"],
  },
];

describe.concurrent.each(entryPoints)("the $name with a bad environment", ({ script, args }) => {
  it("names DATABASE_URL=notaurl and exits 1", async () => {
    const exit = await run(script, args, { DATABASE_URL: "notaurl" });
    expect(exit.code).toBe(1);
    expect(exit.stderr).toBe(
      "Invalid environment configuration:\n" +
        "  DATABASE_URL: must be a URL like postgres://user@host:5432/database\n",
    );
    expect(exit.stdout).toBe("");
  });

  it("names every bad variable at once", async () => {
    const exit = await run(script, args, {
      DATABASE_URL: "notaurl",
      REDIS_URL: "localhost:6379",
      TB_ADDRESS: "tigerbeetle:3000",
      PORT: "http",
      LOG_LEVEL: "loud",
    });
    expect(exit.code).toBe(1);
    for (const variable of ["DATABASE_URL", "REDIS_URL", "TB_ADDRESS", "PORT", "LOG_LEVEL"]) {
      expect(exit.stderr).toMatch(new RegExp(`^  ${variable}: `, "m"));
    }
    expect(exit.stderr).not.toMatch(/\bat .+:\d+:\d+/);
  });
});
