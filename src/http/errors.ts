/**
 * The one place where errors become HTTP responses. Domain errors map through a single table
 * (a new domain code without a status does not compile); edge errors (validation, auth, limits)
 * have their own codes; a dependency that is down is 503; anything else is a bug, logged with
 * the request id and answered with a generic 500 that reveals nothing.
 *
 * Envelope, always: `{ "error": { "code": "...", "message": "...", "details": { ... } } }`.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "pino";
import type { ZodError } from "zod";
import type { DomainErrorCode, DomainErrorDetails } from "../membership/index.ts";
import { isDomainError } from "../membership/index.ts";
import { unavailableRetryAfterSeconds } from "./limits.ts";

/** Domain outcome → status. Foreign and unknown ids are both `not_found`: 404, never 403. */
export const domainErrorStatus: Record<DomainErrorCode, ContentfulStatusCode> = {
  not_found: 404,
  conflict: 409,
  insufficient_points: 422,
  member_inactive: 422,
  // The resource's state forbids the change (fulfilling a cancelled redemption, changing a
  // closed member): a conflict with the current state, not a malformed request.
  invalid_state: 409,
  forbidden: 403,
  // Input only the domain can judge (the org's currency, a cursor it issued): still bad input.
  invalid_input: 400,
  refund_exceeds_purchase: 422,
  code_not_found: 404,
  code_already_used: 409,
  tier_too_low: 422,
  out_of_stock: 409,
  reward_not_active: 422,
  limit_reached: 409,
  referral_code_invalid: 422,
  invalid_credentials: 401,
};

/** Codes the edge itself answers with, beside the domain's. */
export const edgeErrorCodes = [
  "validation_failed",
  "malformed_json",
  "unsupported_media_type",
  "method_not_allowed",
  "payload_too_large",
  "unauthorized",
  "forbidden",
  "route_not_found",
  "idempotency_key_reused",
  "idempotency_request_in_flight",
  "rate_limited",
  "unavailable",
  "internal_error",
] as const;
export type EdgeErrorCode = (typeof edgeErrorCodes)[number];
export type ErrorCode = DomainErrorCode | EdgeErrorCode;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: DomainErrorDetails };
}

/** An error the edge raises on purpose; `onError` turns it into the envelope. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: ContentfulStatusCode;
  readonly code: EdgeErrorCode;
  readonly details: DomainErrorDetails | undefined;
  /** Extra response headers, e.g. `WWW-Authenticate` on a 401 or `Retry-After` on a 429. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: ContentfulStatusCode,
    code: EdgeErrorCode,
    message: string,
    details?: DomainErrorDetails,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

export function errorBody(
  code: ErrorCode,
  message: string,
  details?: DomainErrorDetails,
): ErrorBody {
  return details === undefined
    ? { error: { code, message } }
    : { error: { code, message, details } };
}

export interface ValidationIssue {
  /** Dotted path into the request part, e.g. `items.3.amount`; empty for the part itself. */
  path: string;
  message: string;
}

/** A zod failure as the 400 envelope's details: where (`body`, `query`, ...) and each field. */
export function validationDetails(
  target: string,
  error: ZodError,
): { target: string; issues: ValidationIssue[] } {
  return {
    target,
    issues: error.issues.slice(0, validationIssuesMax).map((issue) => ({
      path: issue.path.map(String).join("."),
      message: issue.message,
    })),
  };
}

/** Issues listed in one 400; a body with thousands of bad items needs only the first few. */
export const validationIssuesMax = 50;

/** Transport errors of postgres.js, and SQLSTATEs meaning "the database cannot serve now". */
const unavailableErrorCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections, query_canceled
  // (the statement timeout), and the connection exception class.
  // The job queues' Redis did not take a job in time (workers/producer.ts).
  "JOB_QUEUE_UNAVAILABLE",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "57014",
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  // The ledger client was closed (shutdown in progress) or evicted by the cluster, or a ledger
  // request passed its deadline (ledger/deadline.ts: the outcome is unknown).
  "ERR_LEDGER_UNAVAILABLE",
  "ERR_CLIENT_CLOSED",
  "ERR_CLIENT_EVICTED",
  // Too many purchases already waiting for a batch (membership's PurchaseQueueFullError).
  "ERR_PURCHASE_QUEUE_FULL",
]);
/** Errors reach us wrapped (drizzle wraps driver errors); look a few causes deep, no further. */
const causeDepthMax = 5;

/** Every 503 says when to come back. */
export const unavailableHeaders: Readonly<Record<string, string>> = {
  "Retry-After": String(unavailableRetryAfterSeconds),
};

/** True when `error` (or one of its first causes) says a dependency cannot serve right now. */
export function isDependencyUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < causeDepthMax && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && unavailableErrorCodes.has(code)) {
      return true;
    }
    current = current.cause;
  }
  return false;
}

/**
 * Maps any thrown value to the envelope and its status, logging what deserves a log line.
 * Used by the app's `onError`; exported for its unit test.
 */
export interface ErrorResponse {
  status: ContentfulStatusCode;
  body: ErrorBody;
  headers?: Readonly<Record<string, string>>;
}

export function errorResponse(error: unknown, logger: Logger): ErrorResponse {
  if (isDomainError(error)) {
    return {
      status: domainErrorStatus[error.code],
      body: errorBody(error.code, error.message, error.details),
    };
  }
  if (error instanceof ApiError) {
    return {
      status: error.status,
      body: errorBody(error.code, error.message, error.details),
      headers: error.headers,
    };
  }
  if (error instanceof HTTPException) {
    return httpExceptionResponse(error);
  }
  if (isDependencyUnavailable(error)) {
    logger.error({ err: error }, "dependency unavailable");
    return {
      status: 503,
      body: errorBody("unavailable", "a dependency is unavailable; retry later"),
      headers: unavailableHeaders,
    };
  }
  // A bug. The message may carry internals (SQL, assertion text): log it, never send it.
  logger.error({ err: error }, "unhandled error");
  return { status: 500, body: errorBody("internal_error", "internal error") };
}

/** Errors raised by Hono and its validators (malformed JSON, media type, body size). */
function httpExceptionResponse(error: HTTPException): ErrorResponse {
  switch (error.status) {
    case 400:
      return { status: 400, body: errorBody("malformed_json", "the body is not valid JSON") };
    case 413:
      return { status: 413, body: errorBody("payload_too_large", "the body is too large") };
    case 415:
      return {
        status: 415,
        body: errorBody("unsupported_media_type", "send the body as application/json"),
      };
    default:
      return {
        status: error.status >= 500 ? 500 : 400,
        body: errorBody(
          error.status >= 500 ? "internal_error" : "validation_failed",
          error.status >= 500 ? "internal error" : error.message,
        ),
      };
  }
}

/** Answers `error` on `c` with the envelope. */
export function respondWithError(c: Context, error: unknown, logger: Logger): Response {
  const { status, body, headers } = errorResponse(error, logger);
  return c.json(body, status, headers);
}
