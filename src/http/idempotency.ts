/**
 * `Idempotency-Key` on POST: the first request with a key runs and its 2xx answer is stored;
 * a retry with the same key and the same request (method, path and parsed body: the order of
 * keys and the spacing do not matter) gets that answer again, marked
 * `Idempotency-Replayed: true`; the same key with another request is 409, and so is a retry
 * that arrives while the first is still running.
 *
 * The record is claimed in Postgres before the handler runs (one atomic upsert decides which
 * of two concurrent requests runs) and is keyed by org, so keys never collide across tenants.
 * Only successes are stored: an error answer deletes the record, because an error changed
 * nothing and retrying it must be allowed. A process that dies mid-request leaves its record
 * `in_flight`; after `idempotencyLeaseMs` the same request may take it over. Running it twice
 * is safe because every use case is idempotent by its own ids (external ids and deterministic
 * ledger ids); this layer saves the work and returns the first answer verbatim.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { and, eq, inArray, isNull, lte, sql } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Db, FieldCipher } from "../membership/index.ts";
import { createFieldCipher } from "../membership/index.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { requestLogger } from "./env.ts";
import { ApiError } from "./errors.ts";
import {
  idempotencyKeyLengthMax,
  idempotencyLeaseMs,
  idempotencyRetentionMs,
  idempotencySweepRowsMax,
} from "./limits.ts";
import { idempotencyKeys } from "./schema.ts";

export const idempotencyKeyHeader = "Idempotency-Key";
export const idempotencyReplayedHeader = "Idempotency-Replayed";

const keyPattern = new RegExp(`^[\\x21-\\x7e]{1,${idempotencyKeyLengthMax}}$`);
/** A claim can lose to a record that is deleted before it is read; try again, boundedly. */
const claimAttemptsMax = 3;

export type Claim =
  | { kind: "claimed"; id: string }
  | { kind: "replay"; status: number; body: string }
  | { kind: "reused" }
  | { kind: "in_flight" };

export interface IdempotencyScope {
  /** The caller's org; null for platform calls. */
  orgId: string | null;
  key: string;
}

function associatedData(scope: IdempotencyScope): string {
  return `idempotency_keys.response_body:${scope.orgId ?? "platform"}:${scope.key}`;
}

function scopeFilter(scope: IdempotencyScope) {
  return and(
    scope.orgId === null ? isNull(idempotencyKeys.orgId) : eq(idempotencyKeys.orgId, scope.orgId),
    eq(idempotencyKeys.key, scope.key),
  );
}

const msInterval = (ms: number) => sql`now() + (${ms}::bigint * interval '1 millisecond')`;

/**
 * Claims `scope` for a request with `requestHash`, or says why not. Atomic: of concurrent
 * claims exactly one gets `claimed`. An expired record, or an abandoned one of the same request,
 * is taken over.
 */
export async function claimIdempotencyKey(
  db: Db,
  cipher: FieldCipher,
  scope: IdempotencyScope,
  requestHash: string,
): Promise<Claim> {
  for (let attempt = 0; attempt < claimAttemptsMax; attempt += 1) {
    const [claimed] = await db
      .insert(idempotencyKeys)
      .values({
        orgId: scope.orgId,
        key: scope.key,
        requestHash,
        state: "in_flight",
        lockedUntil: msInterval(idempotencyLeaseMs),
        expiresAt: msInterval(idempotencyRetentionMs),
      })
      .onConflictDoUpdate({
        target: [idempotencyKeys.orgId, idempotencyKeys.key],
        set: {
          requestHash: sql`excluded.request_hash`,
          state: "in_flight",
          lockedUntil: sql`excluded.locked_until`,
          responseStatus: null,
          responseBody: null,
          createdAt: sql`now()`,
          expiresAt: sql`excluded.expires_at`,
        },
        setWhere: sql`${idempotencyKeys.expiresAt} <= now() or (${idempotencyKeys.state} = 'in_flight' and ${idempotencyKeys.lockedUntil} <= now() and ${idempotencyKeys.requestHash} = excluded.request_hash)`,
      })
      .returning({ id: idempotencyKeys.id });
    if (claimed !== undefined) {
      return { kind: "claimed", id: claimed.id };
    }
    const [row] = await db
      .select({
        requestHash: idempotencyKeys.requestHash,
        state: idempotencyKeys.state,
        responseStatus: idempotencyKeys.responseStatus,
        responseBody: idempotencyKeys.responseBody,
      })
      .from(idempotencyKeys)
      .where(scopeFilter(scope))
      .limit(1);
    if (row === undefined) {
      continue; // Released between our insert and our read: claim again.
    }
    if (row.requestHash !== requestHash) {
      return { kind: "reused" };
    }
    if (row.state === "in_flight") {
      return { kind: "in_flight" };
    }
    // The table's CHECK ties `completed` to a stored answer; read back, it must still hold.
    assert.ok(row.responseStatus !== null, "a completed record has a status");
    assert.ok(row.responseBody !== null, "a completed record has a body");
    return {
      kind: "replay",
      status: row.responseStatus,
      body: cipher.decrypt(row.responseBody, associatedData(scope)),
    };
  }
  // Three claims each lost to a record that vanished: only a pathological client does that.
  return { kind: "in_flight" };
}

/** Stores the answer of a claimed request. */
export async function completeIdempotencyKey(
  db: Db,
  cipher: FieldCipher,
  claim: { id: string; scope: IdempotencyScope },
  response: { status: number; body: string },
): Promise<void> {
  await db
    .update(idempotencyKeys)
    .set({
      state: "completed",
      responseStatus: response.status,
      responseBody: cipher.encrypt(response.body, associatedData(claim.scope)),
    })
    .where(and(eq(idempotencyKeys.id, claim.id), eq(idempotencyKeys.state, "in_flight")));
}

/** Gives a claimed key back (the request failed), so it can be retried. */
export async function releaseIdempotencyKey(db: Db, id: string): Promise<void> {
  await db
    .delete(idempotencyKeys)
    .where(and(eq(idempotencyKeys.id, id), eq(idempotencyKeys.state, "in_flight")));
}

/** Deletes up to `idempotencySweepRowsMax` expired records; returns how many. */
export async function sweepIdempotencyKeys(db: Db): Promise<number> {
  const expired = db
    .select({ id: idempotencyKeys.id })
    .from(idempotencyKeys)
    .where(lte(idempotencyKeys.expiresAt, sql`now()`))
    .limit(idempotencySweepRowsMax);
  const deleted = await db
    .delete(idempotencyKeys)
    .where(sql`${idempotencyKeys.id} in ${expired}`)
    .returning({ id: idempotencyKeys.id });
  return deleted.length;
}

/** Deeper JSON than any request schema allows is hashed by its bytes (and then refused). */
const canonicalDepthMax = 32;
const jsonMediaType = /^application\/([\w.-]+\+)?json$/i;

/**
 * `value` (parsed JSON) written with object keys sorted at every level and no whitespace, so that
 * two bodies the handler cannot tell apart (keys reordered, spacing, escapes, `1.0` for `1`) are
 * one text; `undefined` past `canonicalDepthMax`.
 */
export function canonicalJson(value: unknown, depth = 0): string | undefined {
  if (depth > canonicalDepthMax) {
    return undefined;
  }
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (const item of value) {
      const text = canonicalJson(item, depth + 1);
      if (text === undefined) {
        return undefined;
      }
      items.push(text);
    }
    return `[${items.join(",")}]`;
  }
  if (typeof value === "object" && value !== null) {
    const entries: string[] = [];
    for (const key of Object.keys(value).sort()) {
      const text = canonicalJson((value as Record<string, unknown>)[key], depth + 1);
      if (text === undefined) {
        return undefined;
      }
      entries.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * What a request's hash covers of its body: the parsed body in canonical form when it is JSON,
 * which is what validation and the handler see; otherwise (not JSON, malformed, absurdly deep:
 * requests validation refuses) its exact text. The two are told apart by their prefix.
 */
export function idempotencyBodyText(contentType: string | undefined, body: string): string {
  const mediaType = contentType?.split(";")[0]?.trim() ?? "";
  if (jsonMediaType.test(mediaType)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return `bytes:${body}`;
    }
    const canonical = canonicalJson(parsed);
    if (canonical !== undefined) {
      return `json:${canonical}`;
    }
  }
  return `bytes:${body}`;
}

/** SHA-256 over method, path and the body as `idempotencyBodyText` gives it. */
export function idempotencyRequestHash(method: string, path: string, body: string): string {
  return createHash("sha256")
    .update(method)
    .update("\n")
    .update(path)
    .update("\n")
    .update(body)
    .digest("hex");
}

/**
 * The middleware. `orgOf` names the scope: the caller's org, or null on platform routes.
 * Mount it after authentication and the body limit, before validation.
 */
export function idempotency(
  deps: Pick<AppDeps, "db" | "secrets">,
  orgOf: (c: Context<AppEnv>) => string | null,
): MiddlewareHandler<AppEnv> {
  const cipher = createFieldCipher(deps.secrets.piiEncryptionKey);
  return async (c, next) => {
    const key = c.req.header(idempotencyKeyHeader);
    if (key === undefined || c.req.method !== "POST") {
      return next();
    }
    if (!keyPattern.test(key)) {
      throw new ApiError(400, "validation_failed", "invalid Idempotency-Key header", {
        target: "header",
        issues: [
          {
            path: "idempotency-key",
            message: `1 to ${idempotencyKeyLengthMax} printable ASCII characters`,
          },
        ],
      });
    }
    const scope: IdempotencyScope = { orgId: orgOf(c), key };
    const body = idempotencyBodyText(c.req.header("content-type"), await c.req.text());
    const hash = idempotencyRequestHash(c.req.method, c.req.path, body);
    const claim = await claimIdempotencyKey(deps.db, cipher, scope, hash);
    switch (claim.kind) {
      case "reused":
        throw new ApiError(
          409,
          "idempotency_key_reused",
          "this Idempotency-Key was used for a different request",
        );
      case "in_flight":
        throw new ApiError(
          409,
          "idempotency_request_in_flight",
          "a request with this Idempotency-Key is still in progress; retry later",
        );
      case "replay":
        return c.body(claim.body, claim.status as ContentfulStatusCode, {
          "Content-Type": "application/json",
          [idempotencyReplayedHeader]: "true",
        });
      case "claimed":
        break;
    }
    await next();
    const logger = requestLogger(c);
    const status = c.res.status;
    try {
      if (status >= 200 && status < 300) {
        const stored = await c.res.clone().text();
        await completeIdempotencyKey(
          deps.db,
          cipher,
          { id: claim.id, scope },
          { status, body: stored },
        );
      } else {
        await releaseIdempotencyKey(deps.db, claim.id);
      }
    } catch (error) {
      // The request itself is done and its answer stands. The record stays in flight until its
      // lease ends; a retry then runs again, which the use cases' own ids make safe.
      logger.error({ err: error, idempotencyKey: key }, "could not settle the idempotency record");
    }
    return undefined;
  };
}

/** Stored answers one erasure looks through at most: a day's worth for a busy org. */
const purgeScanRowsMax = 100_000;

/**
 * Deletes the org's stored answers that contain `needle` (a member id): an erased member's
 * personal data must not be replayable from here. Answers are encrypted, so each of the org's
 * live records is decrypted and looked at; records live 24 h, so this is bounded. Returns how
 * many were deleted.
 */
export async function purgeIdempotentAnswersMentioning(
  db: Db,
  cipher: FieldCipher,
  orgId: string,
  needle: string,
): Promise<number> {
  assert.ok(needle.length >= 16, "a needle specific enough not to match by chance");
  const rows = await db
    .select({
      id: idempotencyKeys.id,
      key: idempotencyKeys.key,
      body: idempotencyKeys.responseBody,
    })
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.orgId, orgId), eq(idempotencyKeys.state, "completed")))
    .limit(purgeScanRowsMax);
  const matching = rows
    .filter(
      (row) =>
        row.body !== null &&
        cipher.decrypt(row.body, associatedData({ orgId, key: row.key })).includes(needle),
    )
    .map((row) => row.id);
  if (matching.length === 0) {
    return 0;
  }
  const deleted = await db
    .delete(idempotencyKeys)
    .where(and(eq(idempotencyKeys.orgId, orgId), inArray(idempotencyKeys.id, matching)))
    .returning({ id: idempotencyKeys.id });
  return deleted.length;
}
