/**
 * The request deadline: the last guard of the failure contract. Postgres and the ledger each
 * have their own deadlines (connect timeout, statement timeout, ledger request timeout), which
 * answer first with their own reason; this one catches whatever is left, such as a query waiting
 * for a pooled connection that every other request also waits for.
 *
 * A handler that has not answered within the deadline is answered 503 `unavailable` with
 * `Retry-After`. Its work is not cancelled (a purchase may be half-way through posting): it goes
 * on in the background, and a retry with the same external id or Idempotency-Key converges on
 * one recording. That is why the message says the outcome is unknown rather than "not done".
 */
import assert from "node:assert/strict";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.ts";
import { errorBody, unavailableHeaders } from "./errors.ts";

export const deadlineMessage =
  "the request did not finish in time; its outcome is unknown: retry with the same " +
  "external_id or Idempotency-Key";

export function requestDeadline(options: { deadlineMs: number }): MiddlewareHandler<AppEnv> {
  assert.ok(
    Number.isInteger(options.deadlineMs) && options.deadlineMs > 0,
    "the deadline is a positive integer",
  );
  assert.ok(options.deadlineMs < 2 ** 31, "the deadline must fit a Node.js timer");
  // One timer per request and no extra promise race: this runs on every request, `/health`
  // included, and costs about as much as reading a header.
  return (c, next) =>
    new Promise<Response | undefined>((resolve, reject) => {
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        c.get("log")?.logger.warn({ deadlineMs: options.deadlineMs }, "request deadline passed");
        resolve(c.json(errorBody("unavailable", deadlineMessage), 503, unavailableHeaders));
      }, options.deadlineMs);
      next().then(
        () => {
          if (!expired) {
            clearTimeout(timer);
            resolve(undefined);
          }
        },
        (error: unknown) => {
          if (!expired) {
            clearTimeout(timer);
            reject(error);
            return;
          }
          // Hono's compose turns a handler's error into a response, so this is rare; it is
          // logged, never left unhandled (an unhandled rejection stops the process).
          c.get("log")?.logger.error({ err: error }, "request failed after its deadline");
        },
      );
    });
}
