/**
 * The HTTP client webhook deliveries POST with: undici's `request` over a keep-alive agent,
 * built once by the process's composition and shared by every delivery it makes.
 *
 * The address a delivery connects to is checked when the connection is made, not before: a name
 * is resolved by the agent's own lookup, which refuses loopback, private and link-local answers
 * (unless private targets are allowed). Checking a name and then letting the client resolve it
 * again would leave a gap a short-TTL DNS answer could slip through (DNS rebinding); here the
 * checked answer is the one connected to. Literal IPs never reach a lookup; `webhookUrlProblem`
 * refuses private ones before the request.
 *
 * Redirects are not followed (a 3xx is a failed attempt), and at most `responseBytesMax` of a
 * response body is read before the connection is dropped.
 */
import { type LookupAddress, lookup } from "node:dns";
import type { LookupFunction } from "node:net";
import { Agent, request } from "undici";
import { isPrivateAddress } from "../../membership/index.ts";

/** Connections kept open per receiving origin (a keep-alive pool). */
const connectionsPerOrigin = 32;
/** Bytes of a receiver's answer read (and dropped); past this the connection is closed. */
const responseBytesMax = 64 * 1024;

export interface PostResult {
  statusCode: number | null;
  error: string | null;
}

export class PrivateAddressError extends Error {
  override readonly name = "PrivateAddressError";
}

/** A `lookup` for net.connect that answers only public addresses. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error !== null) {
      callback(error, "", 0);
      return;
    }
    const refused = addresses.find((entry) => isPrivateAddress(entry.address));
    if (refused !== undefined || addresses.length === 0) {
      callback(
        new PrivateAddressError(
          `${hostname} resolves to ${refused?.address ?? "nothing"}: a private or loopback address is refused`,
        ) as NodeJS.ErrnoException,
        "",
        0,
      );
      return;
    }
    if (options.all === true) {
      (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
      return;
    }
    const [first] = addresses as [LookupAddress];
    callback(null, first.address, first.family);
  });
};

function describe(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.name}: ${error.message}${cause}`;
}

export interface WebhookHttpClient {
  /**
   * POSTs `body` to `url`; a status is returned when the receiver answered within `timeoutMs`
   * (headers and the bounded body), an error otherwise. Never throws.
   */
  post(
    url: string,
    headers: Record<string, string>,
    body: string,
    timeoutMs: number,
  ): Promise<PostResult>;
  /** Closes the kept-alive connections. */
  close(): Promise<void>;
}

/** `allowPrivate`: WEBHOOK_ALLOW_PRIVATE, private and loopback receivers allowed (tests). */
export function createWebhookHttpClient(options: { allowPrivate: boolean }): WebhookHttpClient {
  const agent = new Agent({
    connections: connectionsPerOrigin,
    keepAliveTimeout: 30_000,
    connect: options.allowPrivate ? {} : { lookup: publicOnlyLookup },
  });
  return {
    async post(url, headers, body, timeoutMs) {
      try {
        const response = await request(url, {
          method: "POST",
          headers,
          body,
          dispatcher: agent,
          signal: AbortSignal.timeout(timeoutMs),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        // Read the answer (bounded) so the connection can be reused; what it says does not matter.
        await response.body.dump({ limit: responseBytesMax });
        const ok = response.statusCode >= 200 && response.statusCode < 300;
        return {
          statusCode: response.statusCode,
          error: ok ? null : `HTTP ${response.statusCode}`,
        };
      } catch (error) {
        return { statusCode: null, error: describe(error) };
      }
    },
    async close() {
      await agent.close();
    },
  };
}
