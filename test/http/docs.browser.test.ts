/**
 * `/docs` in a real browser: the app served on a loopback port, Debian's Chromium driven by
 * playwright-core (which downloads no browser). The page must render every operation of the
 * OpenAPI document, load nothing from another origin, and break no rule of its own
 * Content-Security-Policy. One browser launch for the whole file.
 *
 * Chromium is a system package (`apt-get install chromium`; .ci/run installs it). Without it
 * this test fails and says so: it is never skipped.
 */
import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { ServerType } from "@hono/node-server";
import { serve } from "@hono/node-server";
import type { Browser } from "playwright-core";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness } from "./support.ts";
import { call, createHarness } from "./support.ts";

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const httpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/** Rendering a 2 MB bundle on a loaded two-core machine: generous, and only a failure waits. */
const renderTimeoutMs = 90_000;
/** The browser's start, the page and the render, under the same load. */
const testTimeoutMs = 150_000;

let harness: Harness;
let server: ServerType;
let origin: string;
let browser: Browser | undefined;

beforeAll(async () => {
  harness = await createHarness();
  server = await new Promise<ServerType>((resolve) => {
    const started = serve({ fetch: harness.app.fetch, hostname: "127.0.0.1", port: 0 }, () =>
      resolve(started),
    );
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  await harness?.close();
});

describe("/docs in Chromium", () => {
  it(
    "renders every operation of the document from this origin alone, within its CSP",
    async () => {
      if (!existsSync(chromiumPath)) {
        throw new Error(
          `no Chromium at ${chromiumPath}: install it (apt-get install chromium) or set ` +
            "CHROMIUM_PATH; this test is not skipped",
        );
      }
      const document = (await call(harness.app, "GET", "/openapi.json")).body;
      const expected = Object.entries(document.paths ?? {})
        .flatMap(([path, item]) =>
          Object.keys(item ?? {})
            .filter((method) => httpMethods.includes(method))
            .map((method) => `${method.toUpperCase()} ${path}`),
        )
        .sort();
      expect(expected.length).toBeGreaterThanOrEqual(19);

      browser = await chromium.launch({
        executablePath: chromiumPath,
        // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
        args: ["--no-sandbox", "--disable-dev-shm-usage"],
      });
      const page = await browser.newPage();
      const foreign: string[] = [];
      const problems: string[] = [];
      page.on("request", (request) => {
        const url = request.url();
        if (!url.startsWith(`${origin}/`) && !url.startsWith("data:")) {
          foreign.push(url);
        }
      });
      page.on("console", (message) => {
        if (message.type() === "error") {
          problems.push(message.text());
        }
      });
      page.on("pageerror", (error) => problems.push(error.message));
      page.on("response", (answer) => {
        if (answer.status() >= 400) {
          problems.push(`${answer.status()} ${answer.url()}`);
        }
      });

      const response = await page.goto(`${origin}/docs`);
      expect(response?.status()).toBe(200);
      const blocks = page.locator(".opblock");
      await blocks.nth(expected.length - 1).waitFor({ timeout: renderTimeoutMs });
      const rendered = await page.$$eval(".opblock", (elements) =>
        elements.map((element) => {
          const method = element.querySelector(".opblock-summary-method")?.textContent ?? "";
          const path = element.querySelector("[data-path]")?.getAttribute("data-path") ?? "";
          return `${method.trim().toUpperCase()} ${path}`;
        }),
      );
      expect(rendered.sort()).toEqual(expected);
      await expect(page.title()).resolves.toContain("Loyalty Ledger");
      expect(foreign).toEqual([]);
      expect(problems).toEqual([]);
    },
    testTimeoutMs,
  );
});
