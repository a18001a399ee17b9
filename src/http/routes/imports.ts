/**
 * Member imports: `POST /v1/imports/members` takes a CSV or NDJSON file (streamed, up to
 * `importBodyBytesMax`), stages its valid rows and answers 202 with the import's id; the
 * `imports` workers enroll them in batches. `GET /v1/imports/{id}` says where it stands. Admin
 * only. Another org's import is 404, exactly like an unknown one.
 *
 * The body is never buffered whole: it is read chunk by chunk, counted (past the limit the
 * request is refused 413 and nothing of it is kept), decoded as UTF-8 and parsed as it comes.
 * The `Idempotency-Key` header is not honoured here (it would need the whole body to hash): a
 * file sent twice makes two imports, the second of which skips every member the first enrolled.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { Logger } from "pino";
import {
  createImport,
  getImport,
  ImportFileError,
  type ImportFormat,
  importColumns,
  type MemberImport,
  membershipLimits,
} from "../../membership/index.ts";
import { importJobId, importJobNames } from "../../workers/index.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, principalOf, requestLogger } from "../env.ts";
import { ApiError } from "../errors.ts";
import { importBodyBytesMax } from "../limits.ts";
import { methodNotAllowed } from "../methods.ts";
import { authenticate, requireRole } from "../middleware.ts";
import { rateLimit } from "../rate-limit.ts";
import { uuidParam } from "../wire.ts";
import type { RouteDeps } from "./common.ts";
import { apiKeySecurity, errorResponses, jsonContent, validationHook } from "./common.ts";

const tags = ["imports"];
const importIdExample = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

const mediaTypes: Record<string, ImportFormat> = {
  "text/csv": "csv",
  "application/x-ndjson": "ndjson",
};

const ImportParams = z.object({
  id: uuidParam.openapi({
    param: { name: "id", in: "path" },
    description: "The import's id.",
    example: importIdExample,
  }),
});

const AcceptedSchema = z.object({ import_id: z.string() }).openapi("ImportAccepted");

const ImportSchema = z
  .object({
    id: z.string(),
    status: z.enum(["pending", "running", "completed", "failed"]),
    rows: z.number().int().openapi({ description: "Data rows in the file, valid or not." }),
    enrolled: z.number().int().openapi({ description: "Members enrolled so far." }),
    skipped: z
      .number()
      .int()
      .openapi({ description: "Rows whose external_ref the org already had: left as they were." }),
    errors: z
      .array(z.object({ line: z.number().int(), code: z.string(), message: z.string() }))
      .openapi({
        description: `Rows refused by validation, by line (1-based, the CSV header is line 1); the first ${membershipLimits.importErrorsStoredMax.toLocaleString("en")} only.`,
      }),
    error_count: z.number().int().openapi({ description: "All rows refused by validation." }),
    failure_reason: z
      .string()
      .nullable()
      .openapi({ description: "`failed`: why the workers gave up on it; null otherwise." }),
    created_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("MemberImport");

const importExample = {
  id: importIdExample,
  status: "completed",
  rows: 3,
  enrolled: 1,
  skipped: 1,
  errors: [{ line: 4, code: "invalid_email", message: "email is not an e-mail address" }],
  error_count: 1,
  failure_reason: null,
  created_at: "2026-01-31T12:00:00.000Z",
  completed_at: "2026-01-31T12:00:02.000Z",
} satisfies z.output<typeof ImportSchema>;

function importDto(found: MemberImport): z.output<typeof ImportSchema> {
  return {
    id: found.id,
    status: found.status,
    rows: found.rows,
    enrolled: found.enrolled,
    skipped: found.skipped,
    errors: found.errors,
    error_count: found.errorCount,
    failure_reason: found.failureReason,
    created_at: found.createdAt.toISOString(),
    completed_at: found.completedAt?.toISOString() ?? null,
  };
}

const csvExample =
  "external_ref,email,phone,first_name,last_name,opening_points\r\n" +
  'card-000123,ada@example.org,+33 6 12 34 56 78,Ada,"Lovelace, Countess",250\r\n' +
  "card-000124,,,Charles,Babbage,\r\n";
const ndjsonExample =
  '{"external_ref":"card-000123","email":"ada@example.org","first_name":"Ada","opening_points":250}\n' +
  '{"external_ref":"card-000124","last_name":"Babbage"}\n';

function tooLarge(): ApiError {
  return new ApiError(413, "payload_too_large", `the body exceeds ${importBodyBytesMax} bytes`, {
    max_bytes: importBodyBytesMax,
  });
}

/**
 * The body as text, chunk by chunk: counted as it arrives (past the limit: 413, whatever the
 * Content-Length said), decoded as UTF-8 (invalid bytes: 400).
 */
async function* bodyText(body: ReadableStream<Uint8Array> | null): AsyncGenerator<string> {
  if (body === null) {
    return;
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let bytes = 0;
  const decode = (chunk?: Uint8Array): string => {
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch {
      throw new ApiError(400, "validation_failed", "the body is not valid UTF-8", {
        target: "body",
        issues: [{ path: "", message: "not valid UTF-8" }],
      });
    }
  };
  for await (const chunk of body) {
    bytes += chunk.byteLength;
    if (bytes > importBodyBytesMax) {
      throw tooLarge();
    }
    yield decode(chunk);
  }
  yield decode();
}

/**
 * Announces the import to the workers without waiting: its rows are durable, so the answer does
 * not depend on Redis. When the job cannot be added, the workers' sweep finds the import.
 */
function wakeWorkers(deps: RouteDeps, ref: { orgId: string; importId: string }, logger: Logger) {
  const { jobs } = deps.app;
  if (jobs === undefined) {
    return;
  }
  jobs
    .add("imports", ref, { name: importJobNames.run, jobId: importJobId(ref.importId) })
    .catch((error: unknown) => {
      logger.warn({ err: error, ...ref }, "import job not added; the sweep will find it");
    });
}

/**
 * `/members` (POST) and `/{id}` (GET) share a shape, so the 405 answers the app registers per
 * path cannot be told apart for them (methods.ts leaves overlapping paths alone); "members" is
 * never an import id, so this guard answers them, before authentication like every 405.
 */
const methodGuard: MiddlewareHandler<AppEnv> = async (c, next) => {
  const upload = c.req.param("id") === "members";
  const method = c.req.method;
  const served = upload ? method === "POST" : method === "GET" || method === "HEAD";
  if (!served) {
    throw methodNotAllowed(method, upload ? "POST" : "GET, HEAD");
  }
  await next();
};

export function importsRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use("/:id", methodGuard);
  app.use(
    "*",
    authenticate(deps.app, deps.principals, deps.memberTokens),
    rateLimit(deps.limiter, deps.app.metrics),
  );
  const { domain } = deps;

  app.openapi(
    createRoute({
      method: "post",
      path: "/members",
      operationId: "importMembers",
      tags,
      summary: "Import members from a file",
      description:
        `A CSV file (\`text/csv\`, RFC 4180, header row required) or NDJSON ` +
        `(\`application/x-ndjson\`, one object per line), up to ${importBodyBytesMax} bytes, ` +
        `streamed. Columns: ${importColumns.map((name) => `\`${name}\``).join(", ")}; ` +
        "`external_ref` is required, the others optional (an empty CSV cell is absent). Every " +
        "row is validated as `POST /v1/members` validates a member; `opening_points` is a " +
        "non-negative integer. Valid rows are stored, then the answer is 202 with the import's " +
        "id; workers enroll them in batches. An `external_ref` the org already has is skipped " +
        "(never changed), so a file can be sent again safely. Imported members get no welcome " +
        "bonus; their `opening_points` are credited as an opening balance. Invalid rows are " +
        "reported by `GET /v1/imports/{id}` with their line. A file that cannot be read (no " +
        "header, an unknown column, an unterminated quote) is 400 and nothing is kept. " +
        "`Idempotency-Key` is not supported on this route. Role: admin.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      request: {
        body: {
          required: true,
          content: {
            "text/csv": { schema: z.string(), example: csvExample },
            "application/x-ndjson": { schema: z.string(), example: ndjsonExample },
          },
        },
      },
      responses: {
        202: jsonContent(AcceptedSchema, "The file is stored; workers enroll its rows.", {
          import_id: importIdExample,
        }),
        415: jsonContent(
          z.object({
            error: z.object({ code: z.string(), message: z.string() }),
          }),
          "The body is neither `text/csv` nor `application/x-ndjson`.",
          {
            error: {
              code: "unsupported_media_type",
              message: "send the file as text/csv or application/x-ndjson",
            },
          },
        ),
        ...errorResponses(400, 401, 403, 413, 429, 503),
      },
    }),
    async (c) => {
      const mediaType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
      const format = mediaType === undefined ? undefined : mediaTypes[mediaType];
      if (format === undefined) {
        throw new ApiError(
          415,
          "unsupported_media_type",
          "send the file as text/csv or application/x-ndjson",
        );
      }
      const length = c.req.header("content-length");
      if (length !== undefined && Number(length) > importBodyBytesMax) {
        throw tooLarge();
      }
      const { orgId } = principalOf(c);
      let created: Awaited<ReturnType<typeof createImport>>;
      try {
        created = await createImport(domain, {
          orgId,
          actor: actorOf(c),
          format,
          chunks: bodyText(c.req.raw.body),
        });
      } catch (error) {
        if (error instanceof ImportFileError) {
          throw new ApiError(400, "validation_failed", error.message, {
            target: "body",
            issues: [{ path: `line ${error.line}`, message: error.message }],
          });
        }
        throw error;
      }
      wakeWorkers(deps, { orgId, importId: created.importId }, requestLogger(c));
      return c.json({ import_id: created.importId }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getImport",
      tags,
      summary: "Get an import's progress",
      description:
        "Its status (`pending` until a worker takes it, `running`, then `completed` or " +
        "`failed`), the rows of the file, how many were enrolled and skipped so far, and the " +
        "rows refused by validation. Once completed, rows = enrolled + skipped + error_count. " +
        "Role: admin.",
      security: apiKeySecurity,
      middleware: requireRole("admin"),
      request: { params: ImportParams },
      responses: {
        200: jsonContent(ImportSchema, "The import.", importExample),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const found = await getImport(domain, { orgId: principalOf(c).orgId, importId: id });
      return c.json(importDto(found), 200);
    },
  );

  return app;
}
