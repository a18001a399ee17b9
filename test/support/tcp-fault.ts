/**
 * Real network faults for tests, without touching the real servers: a TCP proxy in front of a
 * dependency that can forward, black-hole (accept and never answer; bytes already in flight are
 * held back, like a partition), refuse (nothing listens on its port), and heal. Also a plain
 * black-hole server and a refused port.
 */
import assert from "node:assert/strict";
import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer } from "node:net";

type Mode = "forward" | "blackhole" | "refuse";

interface Pair {
  client: Socket;
  upstream: Socket;
  toUpstream: Buffer[];
  toClient: Buffer[];
}

export interface FaultProxy {
  readonly port: number;
  blackhole(): void;
  refuse(): Promise<void>;
  /** Forwards again; bytes held back during a black hole are delivered now. */
  heal(): Promise<void>;
  close(): Promise<void>;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function createFaultProxy(target: {
  host: string;
  port: number;
}): Promise<FaultProxy> {
  let mode: Mode = "forward";
  const pairs = new Set<Pair>();

  const onConnection = (client: Socket): void => {
    const upstream = connect(target.port, target.host);
    const pair: Pair = { client, upstream, toUpstream: [], toClient: [] };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk: Buffer) => {
      if (mode === "forward") {
        upstream.write(chunk);
      } else {
        pair.toUpstream.push(chunk);
      }
    });
    upstream.on("data", (chunk: Buffer) => {
      if (mode === "forward") {
        client.write(chunk);
      } else {
        pair.toClient.push(chunk);
      }
    });
    for (const socket of [client, upstream]) {
      socket.on("error", end);
      socket.on("close", end);
    }
  };

  let server = createServer(onConnection);
  const port = await listen(server, 0);

  return {
    port,
    blackhole() {
      mode = "blackhole";
    },
    async refuse() {
      mode = "refuse";
      const closed = closeServer(server);
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await closed;
    },
    async heal() {
      if (mode === "refuse") {
        server = createServer(onConnection);
        assert.equal(await listen(server, port), port);
      }
      mode = "forward";
      for (const pair of pairs) {
        for (const chunk of pair.toUpstream.splice(0)) {
          pair.upstream.write(chunk);
        }
        for (const chunk of pair.toClient.splice(0)) {
          pair.client.write(chunk);
        }
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      if (server.listening) {
        await closeServer(server);
      }
    },
  };
}

/** A server that accepts every connection and never says a word. */
export async function createBlackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  const port = await listen(server, 0);
  return {
    port,
    async close() {
      for (const socket of sockets) {
        socket.destroy();
      }
      await closeServer(server);
    },
  };
}

/** A local port where nothing listens: connecting to it is refused at once. */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server, 0);
  await closeServer(server);
  return port;
}
