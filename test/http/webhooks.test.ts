/**
 * Webhook subscriptions over HTTP: create (secret once, stored encrypted), list without
 * secrets, delete, the delivery log, the URL rules (https in production; private, loopback and
 * link-local refused unless allowed, for literal IPs and names resolving to them), unknown event
 * types refused with their field path, and another org's webhook 404 like an unknown one.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

async function create(body: Record<string, unknown>, app = harness.app, key = org.keys.admin) {
  return call(app, "POST", "/v1/webhooks", { key, body });
}

describe("webhooks over HTTP", () => {
  it("creates a webhook, shows its secret once and keeps it only encrypted", async () => {
    const created = await create({
      url: "http://127.0.0.1:9/hook",
      events: ["points.earned", "member.enrolled"],
      description: "CRM",
    });
    expect(created.status).toBe(201);
    const webhook = created.body.webhook;
    expect(webhook?.url).toBe("http://127.0.0.1:9/hook");
    expect(webhook?.events).toEqual(["points.earned", "member.enrolled"]);
    const secret = String(webhook?.secret);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const key = Buffer.from(secret.slice("whsec_".length), "base64");
    expect(key.length).toBeGreaterThanOrEqual(24);
    expect(key.length).toBeLessThanOrEqual(32);

    const stored = (await harness.database.db.execute(
      sql`select secret_encrypted from webhooks where id = ${String(webhook?.id)}::uuid`,
    )) as unknown as Array<{ secret_encrypted: Buffer }>;
    const bytes = stored[0]?.secret_encrypted;
    expect(bytes).toBeInstanceOf(Buffer);
    expect(bytes?.includes(key)).toBe(false);
    expect(bytes?.toString("latin1").includes(secret.slice(6))).toBe(false);

    const listed = await call(harness.app, "GET", "/v1/webhooks", { key: org.keys.admin });
    expect(listed.status).toBe(200);
    const hooks = list(listed.body.webhooks);
    expect(hooks.map((hook) => hook.id)).toContain(webhook?.id);
    expect(JSON.stringify(listed.body)).not.toContain(secret.slice(6));
    for (const hook of hooks) {
      expect(hook.secret).toBeUndefined();
    }
  });

  it("refuses unknown event types with their field path", async () => {
    const response = await create({
      url: "http://127.0.0.1:9/",
      events: ["points.earned", "nope"],
    });
    expect(response.status).toBe(400);
    expect(response.body.error?.code).toBe("validation_failed");
    const paths = list(response.body.error?.details?.issues).map((issue) => issue.path);
    expect(paths).toContain("events.1");
    const empty = await create({ url: "http://127.0.0.1:9/", events: [] });
    expect(empty.status).toBe(400);
  });

  it("requires https in production", async () => {
    const production = harness.variant({ nodeEnv: "production", webhookAllowPrivate: true });
    const plain = await create(
      { url: "http://hooks.example.com/", events: ["points.earned"] },
      production,
    );
    expect(plain.status).toBe(400);
    expect(list(plain.body.error?.details?.issues)[0]?.path).toBe("url");
    const secure = await create(
      { url: "https://127.0.0.1/", events: ["points.earned"] },
      production,
    );
    expect(secure.status).toBe(201);
  });

  it("refuses private, loopback, link-local and unspecified targets unless allowed", async () => {
    const strict = harness.variant({ webhookAllowPrivate: false });
    for (const url of [
      "http://127.0.0.1:8080/",
      "http://10.1.2.3/",
      "http://172.16.0.1/",
      "http://192.168.1.1/",
      "http://169.254.169.254/latest/meta-data",
      "http://0.0.0.0/",
      "http://[::1]/",
      "http://[fe80::1]/",
      "http://[fd00::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://localhost:3000/",
      // A name that resolves to loopback (from /etc/hosts on every machine).
      "http://localhost./",
      "ftp://93.184.216.34/",
      "not a url",
    ]) {
      const response = await create({ url, events: ["points.earned"] }, strict);
      expect(response.status, url).toBe(400);
      expect(list(response.body.error?.details?.issues)[0]?.path, url).toBe("url");
    }
    const publicAddress = await create(
      { url: "http://93.184.216.34/hook", events: ["points.earned"] },
      strict,
    );
    expect(publicAddress.status).toBe(201);
  });

  it("answers 404 for another org's webhook and an unknown id, and deletes softly", async () => {
    const created = await create({ url: "http://127.0.0.1:9/", events: ["tier.changed"] });
    const id = String(created.body.webhook?.id);
    for (const target of [id, randomUUID(), "not-a-uuid"]) {
      const key = target === id ? other.keys.admin : org.keys.admin;
      const deliveries = await call(harness.app, "GET", `/v1/webhooks/${target}/deliveries`, {
        key,
      });
      expect(deliveries.status, target).toBe(404);
      const removed = await call(harness.app, "DELETE", `/v1/webhooks/${target}`, { key });
      expect(removed.status, target).toBe(404);
    }
    const otherList = await call(harness.app, "GET", "/v1/webhooks", { key: other.keys.admin });
    expect(list(otherList.body.webhooks).map((hook) => hook.id)).not.toContain(id);

    const log = await call(harness.app, "GET", `/v1/webhooks/${id}/deliveries?limit=10`, {
      key: org.keys.admin,
    });
    expect(log.status).toBe(200);
    expect(log.body).toEqual({ deliveries: [], next_cursor: null });

    const removed = await call(harness.app, "DELETE", `/v1/webhooks/${id}`, {
      key: org.keys.admin,
    });
    expect(removed.status).toBe(200);
    const again = await call(harness.app, "DELETE", `/v1/webhooks/${id}`, { key: org.keys.admin });
    expect(again.status).toBe(404);
    const listed = await call(harness.app, "GET", "/v1/webhooks", { key: org.keys.admin });
    expect(list(listed.body.webhooks).map((hook) => hook.id)).not.toContain(id);
    const badCursor = await call(harness.app, "GET", `/v1/webhooks/${id}/deliveries?cursor=x`, {
      key: org.keys.admin,
    });
    expect(badCursor.status).toBe(400);
  });

  it("is admin only", async () => {
    for (const key of [org.keys.pos, org.keys.finance]) {
      expect((await call(harness.app, "GET", "/v1/webhooks", { key })).status).toBe(403);
      expect(
        (await create({ url: "http://127.0.0.1:9/", events: ["points.earned"] }, harness.app, key))
          .status,
      ).toBe(403);
    }
    expect((await call(harness.app, "GET", "/v1/webhooks")).status).toBe(401);
  });
});
