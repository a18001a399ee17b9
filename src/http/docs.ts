/**
 * `/docs`: the OpenAPI document rendered by Swagger UI, served by this server from the
 * `swagger-ui-dist` package's own files, so the page works offline and loads nothing from
 * elsewhere. The page, its start-up script and the renderer's two assets are all answered here;
 * a Content-Security-Policy allows only this origin (and the data: images Swagger UI's
 * stylesheet embeds).
 *
 * The renderer's files are read on the first request and kept in memory (about 2 MB), so start-up
 * pays nothing for them.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Hono } from "hono";
import type { AppEnv } from "./env.ts";
import { ApiError } from "./errors.ts";

export const docsPath = "/docs";
const assetsPath = `${docsPath}/assets`;

/** What the page may load: this origin only. Swagger UI's CSS embeds its icons as data: URIs. */
export const docsContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const securityHeaders: Readonly<Record<string, string>> = {
  "Content-Security-Policy": docsContentSecurityPolicy,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

/** The renderer's assets are the installed package's; a new version gets a new URL. */
const assetCacheControl = "public, max-age=86400, immutable";

// Relative URLs, so that the page also works behind a path prefix.
function page(version: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loyalty Ledger API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/assets/${version}/swagger-ui.css">
</head>
<body>
<noscript>This page needs JavaScript. The machine-readable document is at <a href="openapi.json">/openapi.json</a>.</noscript>
<div id="api-reference"></div>
<script src="docs/assets/${version}/swagger-ui-bundle.js"></script>
<script src="docs/assets/${version}/docs.js"></script>
</body>
</html>
`;
}

/**
 * Starts Swagger UI on the document. No validator badge (it would call a public service), every
 * tag open, operations collapsed, try-it-out against this server.
 */
const startScript = `"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#api-reference",
    deepLinking: true,
    validatorUrl: null,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayOperationId: true,
    displayRequestDuration: true,
    tryItOutEnabled: false,
  });
});
`;

interface Asset {
  body: string;
  contentType: string;
}

const javascript = "text/javascript; charset=utf-8";
/** The renderer's files this server answers, by name. */
const rendererFiles: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": javascript,
};

function rendererDirectory(): { directory: string; version: string } {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve("swagger-ui-dist/package.json");
  const manifest = require(manifestPath) as { version?: unknown };
  if (typeof manifest.version !== "string" || !/^[0-9A-Za-z.+-]+$/.test(manifest.version)) {
    throw new Error("swagger-ui-dist has no usable version in its package.json");
  }
  return { directory: dirname(manifestPath), version: manifest.version };
}

export interface Docs {
  /** The page, with the headers it must be sent with. */
  html: string;
  headers: Readonly<Record<string, string>>;
  /** Mounts the page's scripts and stylesheet on `app` (the system routes, mounted at `/`). */
  mountAssets(app: Hono<AppEnv>): void;
}

export function createDocs(): Docs {
  const renderer = rendererDirectory();
  const assets = new Map<string, Promise<Asset>>();
  assets.set("docs.js", Promise.resolve({ body: startScript, contentType: javascript }));

  const asset = (name: string): Promise<Asset> | undefined => {
    const cached = assets.get(name);
    if (cached !== undefined) {
      return cached;
    }
    const contentType = rendererFiles[name];
    if (contentType === undefined) {
      return undefined;
    }
    const loading = readFile(join(renderer.directory, name), "utf8").then((body) => ({
      body,
      contentType,
    }));
    // A failed read is not kept: the next request tries again.
    loading.catch(() => assets.delete(name));
    assets.set(name, loading);
    return loading;
  };

  return {
    html: page(renderer.version),
    headers: securityHeaders,
    mountAssets(app) {
      app.get(`${assetsPath}/:version/:name`, async (c) => {
        const found =
          c.req.param("version") === renderer.version ? asset(c.req.param("name")) : undefined;
        if (found === undefined) {
          throw new ApiError(404, "route_not_found", "no such route");
        }
        const { body, contentType } = await found;
        return c.body(body, 200, {
          ...securityHeaders,
          "Content-Type": contentType,
          "Cache-Control": assetCacheControl,
        });
      });
    },
  };
}
