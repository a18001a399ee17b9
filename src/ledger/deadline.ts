/**
 * A deadline on every ledger request.
 *
 * tigerbeetle-node never gives up on a request: while the cluster has no quorum (two replicas of
 * three down) it retries until quorum returns, and the caller waits with it. The wrapper below
 * rejects a call that has not been answered within `requestTimeoutMs` with a
 * `LedgerUnavailableError`, which the HTTP edge answers as 503.
 *
 * The request itself cannot be cancelled: it stays queued in the client and may still be
 * committed once the cluster answers. So a timed-out call means "outcome unknown", never "not
 * done". That is safe because every transfer id is derived from the request (see ids.ts): the
 * same request retried with the same external id posts the same ids, and the ledger answers
 * `exists` for whatever the first attempt committed.
 *
 * A replica that is down but leaves a quorum is invisible here: the client fails over to the
 * others well within the deadline.
 */
import assert from "node:assert/strict";
import type { Client } from "tigerbeetle-node";
import { requestsInFlightMax, requestTimeoutMsDefault, requestTimeoutMsMax } from "./limits.ts";

/** The ledger did not answer in time, or too many requests already wait for it. */
export class LedgerUnavailableError extends Error {
  override readonly name = "LedgerUnavailableError";
  /** Matched by the HTTP edge's list of "dependency unavailable" codes. */
  readonly code = "ERR_LEDGER_UNAVAILABLE";
}

export function isLedgerUnavailable(error: unknown): error is LedgerUnavailableError {
  return error instanceof LedgerUnavailableError;
}

type RequestName = Exclude<keyof Client, "destroy">;
const requestNames = [
  "createAccounts",
  "createTransfers",
  "lookupAccounts",
  "lookupTransfers",
  "getAccountTransfers",
  "getAccountBalances",
  "queryAccounts",
  "queryTransfers",
] as const satisfies readonly RequestName[];
// A request method added to Client without a deadline here would not compile below.
type Missing = Exclude<RequestName, (typeof requestNames)[number]>;
const everyRequestCovered: Missing extends never ? true : false = true;
assert.ok(everyRequestCovered);

export interface DeadlineOptions {
  /** How long one request may wait for the ledger's answer. */
  requestTimeoutMs?: number;
  /** Requests that may wait at once; beyond that a call fails at once instead of queueing. */
  inFlightMax?: number;
}

/**
 * The same client, with a deadline on each request. Properties other than the requests (such
 * as `close` or `destroy`) pass through unchanged.
 *
 * @example
 * const bounded = withDeadline(client, { requestTimeoutMs: 2_000 });
 * await bounded.lookupAccounts([id]); // rejects with LedgerUnavailableError after 2 s
 */
export function withDeadline<T extends Client>(client: T, options: DeadlineOptions = {}): T {
  const timeoutMs = options.requestTimeoutMs ?? requestTimeoutMsDefault;
  const inFlightMax = options.inFlightMax ?? requestsInFlightMax;
  assert.ok(Number.isInteger(timeoutMs) && timeoutMs > 0, "request timeout is a positive integer");
  assert.ok(timeoutMs <= requestTimeoutMsMax, "request timeout within its bound");
  assert.ok(Number.isInteger(inFlightMax) && inFlightMax > 0, "in-flight bound is positive");

  let inFlight = 0;

  function bounded<A, R>(name: RequestName, request: (argument: A) => Promise<R>) {
    return (argument: A): Promise<R> => {
      if (inFlight >= inFlightMax) {
        return Promise.reject(
          new LedgerUnavailableError(
            `ledger ${name}: ${inFlight} requests already wait for the ledger; not queueing more`,
          ),
        );
      }
      inFlight += 1;
      const pending = request(argument);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new LedgerUnavailableError(
              `ledger ${name} not answered within ${timeoutMs} ms; the outcome is unknown`,
            ),
          );
        }, timeoutMs);
      });
      // The request is counted until the ledger answers it, not until the deadline: a request
      // that timed out still occupies the client.
      pending.then(
        () => {
          inFlight -= 1;
        },
        () => {
          inFlight -= 1;
        },
      );
      assert.ok(inFlight <= inFlightMax, "requests in flight within their bound");
      return Promise.race([pending, deadline]).finally(() => clearTimeout(timer));
    };
  }

  const wrapped: Partial<Record<RequestName, unknown>> = {};
  for (const name of requestNames) {
    const request = client[name] as (argument: unknown) => Promise<unknown>;
    assert.equal(typeof request, "function", `the client has ${name}`);
    wrapped[name] = bounded(name, request.bind(client));
  }
  return new Proxy(client, {
    get(target, property, receiver) {
      if (typeof property === "string" && Object.hasOwn(wrapped, property)) {
        return wrapped[property as RequestName];
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
