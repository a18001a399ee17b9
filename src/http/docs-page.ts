/**
 * The `/docs` page: the OpenAPI document rendered as plain HTML on the server, so it works
 * offline and loads nothing from a CDN. One section per operation: method and path, summary,
 * description, who may call it, parameters, the request body's fields and the responses.
 */
import { docsOperationsMax } from "./limits.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const methods = ["get", "post", "put", "patch", "delete"] as const;
/** How deep a schema is unfolded into nested field lists. */
const schemaDepthMax = 4;

function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: Json | undefined): string {
  return typeof value === "string" ? value : "";
}

/** Follows a local `$ref` (`#/components/schemas/X`) once. */
function resolve(document: JsonObject, schema: Json | undefined): JsonObject | undefined {
  if (!isObject(schema)) {
    return undefined;
  }
  const ref = schema.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/")) {
    return schema;
  }
  let current: Json | undefined = document;
  for (const part of ref.slice(2).split("/")) {
    current = isObject(current) ? current[part] : undefined;
  }
  return isObject(current) ? current : undefined;
}

function typeName(document: JsonObject, schema: Json | undefined): string {
  const resolved = resolve(document, schema);
  if (resolved === undefined) {
    return "any";
  }
  const ref = isObject(schema) ? text(schema.$ref) : "";
  const name = ref === "" ? "" : ref.slice(ref.lastIndexOf("/") + 1);
  if (Array.isArray(resolved.anyOf) || Array.isArray(resolved.oneOf)) {
    const options = (resolved.anyOf ?? resolved.oneOf) as Json[];
    return options.map((option) => typeName(document, option)).join(" | ");
  }
  const type = Array.isArray(resolved.type)
    ? resolved.type.map(String).join(" | ")
    : text(resolved.type);
  if (type === "array") {
    return `${typeName(document, resolved.items)}[]`;
  }
  if (Array.isArray(resolved.enum)) {
    return resolved.enum.map((value) => JSON.stringify(value)).join(" | ");
  }
  return name !== "" ? name : type !== "" ? type : "object";
}

function fields(document: JsonObject, schema: Json | undefined, depth: number): string {
  const resolved = resolve(document, schema);
  if (resolved === undefined || depth > schemaDepthMax) {
    return "";
  }
  const target = text(resolved.type) === "array" ? resolve(document, resolved.items) : resolved;
  const properties = target?.properties;
  if (!isObject(properties)) {
    return "";
  }
  const required = new Set(Array.isArray(target?.required) ? target.required.map(String) : []);
  const rows = Object.entries(properties).map(([name, property]) => {
    const resolvedProperty = resolve(document, property);
    const description = text(resolvedProperty?.description);
    const bounds = ["minimum", "maximum", "minLength", "maxLength", "maxItems", "pattern"]
      .filter((key) => resolvedProperty?.[key] !== undefined)
      .map((key) => `${key} ${JSON.stringify(resolvedProperty?.[key])}`)
      .join(", ");
    return (
      `<li><code>${escapeHtml(name)}</code>${required.has(name) ? "" : " <em>optional</em>"} ` +
      `<span class="type">${escapeHtml(typeName(document, property))}</span>` +
      `${bounds === "" ? "" : ` <span class="bounds">(${escapeHtml(bounds)})</span>`}` +
      `${description === "" ? "" : ` — ${escapeHtml(description)}`}` +
      `${fields(document, property, depth + 1)}</li>`
    );
  });
  return `<ul>${rows.join("")}</ul>`;
}

function operationSection(
  document: JsonObject,
  method: string,
  path: string,
  operation: JsonObject,
): string {
  const parameters = Array.isArray(operation.parameters) ? operation.parameters : [];
  const parameterRows = parameters
    .map((parameter) => resolve(document, parameter))
    .filter((parameter): parameter is JsonObject => parameter !== undefined)
    .map(
      (parameter) =>
        `<li><code>${escapeHtml(text(parameter.name))}</code> (${escapeHtml(text(parameter.in))}` +
        `${parameter.required === true ? ", required" : ""})` +
        `${text(parameter.description) === "" ? "" : ` — ${escapeHtml(text(parameter.description))}`}</li>`,
    );
  const requestBody = resolve(document, operation.requestBody);
  const bodySchema = isObject(requestBody?.content)
    ? resolve(document, requestBody.content["application/json"])?.schema
    : undefined;
  const responses = isObject(operation.responses) ? Object.entries(operation.responses) : [];
  const responseRows = responses.map(([status, response]) => {
    const resolved = resolve(document, response);
    const schema = isObject(resolved?.content)
      ? resolve(document, resolved.content["application/json"])?.schema
      : undefined;
    const isError = status.startsWith("4") || status.startsWith("5");
    return (
      `<li><strong>${escapeHtml(status)}</strong> ${escapeHtml(text(resolved?.description))}` +
      `${isError ? "" : fields(document, schema, 0)}</li>`
    );
  });
  const security = Array.isArray(operation.security)
    ? operation.security.flatMap((entry) => (isObject(entry) ? Object.keys(entry) : []))
    : [];
  const id = `${method}-${path}`.replace(/[^a-z0-9]+/gi, "-");
  return [
    `<section id="${escapeHtml(id)}">`,
    `<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>`,
    `<p><strong>${escapeHtml(text(operation.summary))}</strong></p>`,
    text(operation.description) === "" ? "" : `<p>${escapeHtml(text(operation.description))}</p>`,
    security.length === 0
      ? "<p>No authentication.</p>"
      : `<p>Authentication: ${security.map((name) => `<code>${escapeHtml(name)}</code>`).join(", ")} (Authorization: Bearer …)</p>`,
    parameterRows.length === 0 ? "" : `<h4>Parameters</h4><ul>${parameterRows.join("")}</ul>`,
    bodySchema === undefined
      ? ""
      : `<h4>Body (application/json)</h4>${fields(document, bodySchema, 0)}`,
    `<h4>Responses</h4><ul>${responseRows.join("")}</ul>`,
    "</section>",
  ].join("\n");
}

/** The whole page for `document` (an OpenAPI 3.1 object). */
export function renderDocsPage(document: JsonObject): string {
  const info = isObject(document.info) ? document.info : {};
  const paths = isObject(document.paths) ? document.paths : {};
  const sections: string[] = [];
  const index: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) {
      continue;
    }
    for (const method of methods) {
      const operation = item[method];
      if (!isObject(operation) || sections.length >= docsOperationsMax) {
        continue;
      }
      const id = `${method}-${path}`.replace(/[^a-z0-9]+/gi, "-");
      index.push(
        `<li><a href="#${escapeHtml(id)}"><span class="method ${method}">${method.toUpperCase()}</span> ${escapeHtml(path)}</a> — ${escapeHtml(text(operation.summary))}</li>`,
      );
      sections.push(operationSection(document, method, path, operation));
    }
  }
  const title = escapeHtml(text(info.title));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — API</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
code { font: 13px ui-monospace, monospace; background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
section { border-top: 1px solid #ddd; padding: .5rem 0 1rem; }
.method { font: bold 12px ui-monospace, monospace; padding: .1em .4em; border-radius: 3px; color: #fff; background: #555; }
.get { background: #2b6cb0; } .post { background: #2f855a; } .patch { background: #b7791f; } .delete { background: #c53030; }
.type { color: #6b46c1; font-family: ui-monospace, monospace; font-size: 13px; }
.bounds { color: #666; font-size: 13px; }
ul { margin: .2rem 0; }
</style>
</head>
<body>
<h1>${title} <small>${escapeHtml(text(info.version))}</small></h1>
<p>${escapeHtml(text(info.description))}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<h2>Operations</h2>
<ul>${index.join("\n")}</ul>
${sections.join("\n")}
</body>
</html>
`;
}

export type { JsonObject };
