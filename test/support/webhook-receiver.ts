/**
 * A webhook receiver for tests: a real node:http server on 127.0.0.1 that verifies every request
 * with the `standardwebhooks` package, exactly as its README shows, records what it accepted
 * and answers with the status `respond` chooses (200 by default).
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  /** The verified payload. */
  payload: {
    id: string;
    type: string;
    created_at: string;
    org_id: string;
    data: Record<string, unknown>;
  };
  /** Status answered. */
  status: number;
}

export interface WebhookReceiver {
  url: string;
  /** Every request that verified, in arrival order, whatever was answered. */
  readonly received: ReceivedWebhook[];
  /** Requests whose signature did not verify. */
  readonly rejected: number;
  /** Decides the answer of each verified request; 200 when unset. */
  respond: (delivery: ReceivedWebhook, index: number) => number;
  /** Until `secret` is set, requests are answered 500 and not recorded. */
  secret: string | undefined;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  let rejected = 0;
  const receiver: WebhookReceiver = {
    url: "",
    received,
    get rejected() {
      return rejected;
    },
    respond: () => 200,
    secret: undefined,
    close: async () => {},
  };
  const server = createServer((request, response) => {
    void (async () => {
      const payload = await readBody(request);
      if (receiver.secret === undefined) {
        response.writeHead(500).end();
        return;
      }
      // As the package's README shows: the raw body and the request headers.
      const wh = new Webhook(receiver.secret);
      let verified: ReceivedWebhook["payload"];
      try {
        verified = wh.verify(
          payload,
          request.headers as Record<string, string>,
        ) as ReceivedWebhook["payload"];
      } catch {
        rejected += 1;
        response.writeHead(400).end();
        return;
      }
      const delivery: ReceivedWebhook = {
        id: String(request.headers["webhook-id"]),
        timestamp: String(request.headers["webhook-timestamp"]),
        payload: verified,
        status: 0,
      };
      delivery.status = receiver.respond(delivery, received.length);
      received.push(delivery);
      response.writeHead(delivery.status, { "content-type": "text/plain" }).end("ok");
    })();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  assert.ok(port > 0);
  receiver.url = `http://127.0.0.1:${port}/hooks`;
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
