/**
 * Where a webhook may point. `https:` is required in production; loopback, private, link-local,
 * shared (CGNAT) and unspecified addresses are refused unless private targets are allowed
 * (`WEBHOOK_ALLOW_PRIVATE=true`), both as literal IPs and as names that resolve to them. The
 * check runs when a webhook is created and again before every delivery attempt; there the name
 * is not resolved here but by the delivery client when it connects (workers/webhooks/
 * http-client.ts), so a name that later resolves to an internal address is still refused, and
 * the address checked is the address connected to.
 */
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

export interface WebhookUrlRules {
  /** NODE_ENV=production: only https. */
  requireHttps: boolean;
  /** WEBHOOK_ALLOW_PRIVATE=true: private and loopback targets are allowed (tests, on-premise). */
  allowPrivate: boolean;
  /**
   * Resolve a host name and refuse private answers (default true). The delivery client passes
   * false: it checks the answer it connects to instead.
   */
  resolveNames?: boolean;
}

/** Longest URL accepted (the API schema says the same). */
export const webhookUrlLengthMax = 2_048;

function buildBlockList(): BlockList {
  const list = new BlockList();
  const v4: Array<[string, number]> = [
    ["0.0.0.0", 8], // "this network", unspecified
    ["10.0.0.0", 8],
    ["100.64.0.0", 10], // shared address space (CGNAT)
    ["127.0.0.0", 8],
    ["169.254.0.0", 16], // link-local (cloud metadata lives here)
    ["172.16.0.0", 12],
    ["192.0.0.0", 24],
    ["192.168.0.0", 16],
    ["198.18.0.0", 15], // benchmarking
    ["224.0.0.0", 4], // multicast
    ["240.0.0.0", 4], // reserved, broadcast
  ];
  for (const [network, prefix] of v4) {
    list.addSubnet(network, prefix, "ipv4");
  }
  const v6: Array<[string, number]> = [
    ["::", 128], // unspecified
    ["::1", 128], // loopback
    ["fc00::", 7], // unique local
    ["fe80::", 10], // link-local
    ["ff00::", 8], // multicast
  ];
  for (const [network, prefix] of v6) {
    list.addSubnet(network, prefix, "ipv6");
  }
  return list;
}

const blocked = buildBlockList();

/** True when `address` (a literal IPv4 or IPv6) is one a webhook may not reach by default. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) {
    return blocked.check(address, "ipv4");
  }
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1] !== undefined) {
      return blocked.check(mapped[1], "ipv4");
    }
    return blocked.check(address, "ipv6");
  }
  return false;
}

/** Why `raw` is not an acceptable webhook URL, or null when it is (names are resolved). */
export async function webhookUrlProblem(
  raw: string,
  rules: WebhookUrlRules,
): Promise<string | null> {
  if (raw.length > webhookUrlLengthMax) {
    return `must be at most ${webhookUrlLengthMax} characters`;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return "must be an http(s) URL";
  }
  if (rules.requireHttps && url.protocol !== "https:") {
    return "must use https";
  }
  if (url.username !== "" || url.password !== "") {
    return "must not carry credentials";
  }
  if (rules.allowPrivate) {
    return null;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host) !== 0) {
    return isPrivateAddress(host) ? "must not point to a private or loopback address" : null;
  }
  if (host === "localhost" || host.endsWith(".localhost")) {
    return "must not point to a private or loopback address";
  }
  if (rules.resolveNames === false) {
    return null;
  }
  let addresses: Array<{ address: string }>;
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch {
    return "host name does not resolve";
  }
  if (addresses.length === 0) {
    return "host name does not resolve";
  }
  if (addresses.some((entry) => isPrivateAddress(entry.address))) {
    return "must not point to a private or loopback address";
  }
  return null;
}
