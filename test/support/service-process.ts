/**
 * The built service as its own process (`node dist/main.js`, or `npm start`), for the tests of
 * the production build and for `npm run bench:startup`: a free port, an environment of its own
 * (data directory, Redis key prefix, database), waiting for `/ready`, and stopping it.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const readyPollMs = 10;

/** Builds dist/ unless it is current (the same check `npm start` runs first). */
export function buildIfStale(): void {
  execFileSync("sh", ["scripts/build-if-stale.sh"], { cwd: repoRoot, stdio: "inherit" });
}

/** A port nothing listens on right now (the kernel's pick, released again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error("no port"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** True when something on 127.0.0.1 can take `port` now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Four distinct 32-byte keys, as production requires them. */
export function productionSecrets(): Record<string, string> {
  return {
    PII_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
    PII_HASH_KEY: randomBytes(32).toString("hex"),
    API_KEY_HASH_KEY: randomBytes(32).toString("hex"),
    MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
  };
}

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `command` in the repository with `env` added to a minimal environment (PATH and HOME
 * only, so the developer's own variables do not leak in).
 */
export function startProcess(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  return { child, output: () => output, exited } satisfies ServiceProcess;
}

/**
 * Polls `/ready` until it answers 200. Rejects, with the process's output, when the process
 * exits first or `deadlineMs` passes.
 */
export async function waitForReady(
  service: ServiceProcess,
  port: number,
  deadlineMs: number,
): Promise<void> {
  let exited = false;
  void service.exited.then(() => {
    exited = true;
  });
  const giveUpAt = Date.now() + deadlineMs;
  while (!exited && Date.now() < giveUpAt) {
    const ready = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, readyPollMs));
  }
  throw new Error(
    `${exited ? "the service exited" : `not ready within ${deadlineMs} ms`}; output:\n${service.output()}`,
  );
}

/** The JSON log lines the service wrote (pino), skipping anything else. */
export function logLines(output: string): Array<Record<string, unknown>> {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}
