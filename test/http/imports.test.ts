/**
 * Member imports through the real app, Postgres and the embedded ledger: `POST
 * /v1/imports/members` stages a CSV or NDJSON file and answers 202; the enrollment runs as the
 * `imports` job runs it (`enrollImport`, called here directly, and once through a real BullMQ
 * worker); `GET /v1/imports/{id}` reports. Proves: CSV quoting and NDJSON, row errors with their
 * lines, no welcome bonus and the opening points in balances and in the ledger under their own
 * code, idempotency per external_ref (the same file twice: all skipped, balances unchanged), a
 * crash between staging and enrollment and between enrollment and the ledger finished by the
 * next run, a lost job found by the sweep, reconciliation of opening balances, the 50 MB limit
 * (413, nothing kept), roles and tenancy.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enrollImport, findMembersByEmail, type LedgerDeps } from "../../src/membership/index.ts";
import { createJobProducer, importJobNames } from "../../src/workers/index.ts";
import { reconcileOrg } from "../../src/workers/reconcile/reconcile-org.ts";
import { startWorkers } from "../../src/workers/runtime.ts";
import { webhookEventData } from "../../src/workers/webhooks/event-data.ts";
import { deleteKeys, redisUrl } from "../support/redis.ts";
import { testWorkerDeps, waitFor } from "../support/workers.ts";
import type { CallResult, Harness, TestOrg } from "./support.ts";
import {
  buildTestOrg,
  call,
  createHarness,
  enrollOverHttp,
  ledgerTransferCount,
  list,
} from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;

beforeAll(async () => {
  harness = await createHarness();
  // A welcome bonus the org gives on enrollment: imported members must not get it.
  org = await buildTestOrg(harness, { welcomeBonusPoints: 50 });
  other = await buildTestOrg(harness);
});
afterAll(async () => {
  await harness?.close();
});

function upload(
  of: TestOrg,
  body: string,
  contentType = "text/csv",
  key = of.keys.admin,
): Promise<CallResult> {
  return call(harness.app, "POST", "/v1/imports/members", {
    key,
    rawBody: body,
    headers: { "Content-Type": contentType },
  });
}

async function status(of: TestOrg, id: string, key = of.keys.admin) {
  return call(harness.app, "GET", `/v1/imports/${id}`, { key });
}

/** Uploads, runs the job's work to the end, and returns the import as GET answers it. */
async function importFile(of: TestOrg, body: string, contentType = "text/csv", deps?: LedgerDeps) {
  const accepted = await upload(of, body, contentType);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  const importId = String(accepted.body.import_id);
  const result = await enrollImport(deps ?? harness.deps, { orgId: of.id, importId });
  expect(result.status).toBe("completed");
  const read = await status(of, importId);
  expect(read.status).toBe(200);
  return read.body;
}

async function memberByRef(of: TestOrg, ref: string) {
  const found = await call(
    harness.app,
    "GET",
    `/v1/members?external_ref=${encodeURIComponent(ref)}`,
    {
      key: of.keys.admin,
    },
  );
  return found;
}

async function balance(of: TestOrg, memberId: string): Promise<number> {
  const response = await call(harness.app, "GET", `/v1/members/${memberId}/balances`, {
    key: of.keys.admin,
  });
  expect(response.status).toBe(200);
  return Number(response.body.points?.available);
}

async function trialBalanced(of: TestOrg): Promise<boolean> {
  const response = await call(harness.app, "GET", "/v1/ledger/trial-balance", {
    key: of.keys.finance,
  });
  expect(response.status).toBe(200);
  return list(response.body.units).every((unit) => (unit.balanced as unknown) === true);
}

function ref(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

describe("POST /v1/imports/members (CSV)", () => {
  it("enrolls valid rows, credits opening points as opening balances, reports bad rows by line", async () => {
    const [a, b, c, d] = [ref("a"), ref("b"), ref("c"), ref("d")];
    const file =
      "external_ref,email,phone,first_name,last_name,opening_points\r\n" + // line 1
      `${a},ada@example.org,+33 6 12 34 56 78,"Lovelace, Ada","O""Brien",250\r\n` + // 2
      `${b},,,"two\r\nlines",,\r\n` + // 3-4
      `,x@example.org,,,,\r\n` + // 5: no external_ref
      `${ref("e")},not-an-email,,,,\r\n` + // 6
      `${ref("f")},,,,,-5\r\n` + // 7
      `${ref("g")},,,,,1.5\r\n` + // 8
      `${a},,,,,\r\n` + // 9: same ref as line 2
      `${c},,,,,0\r\n` + // 10
      `${d},,,,\r\n`; // 11: one field short
    const imported = await importFile(org, file);
    expect(imported).toMatchObject({
      status: "completed",
      rows: 9,
      enrolled: 3,
      skipped: 0,
      error_count: 6,
    });
    expect(list(imported.errors).map((error) => [error.line, error.code])).toEqual([
      [5, "missing_external_ref"],
      [6, "invalid_email"],
      [7, "invalid_opening_points"],
      [8, "invalid_opening_points"],
      [9, "duplicate_external_ref"],
      [11, "column_count"],
    ]);
    expect(imported.completed_at).not.toBeNull();

    const ada = await memberByRef(org, a);
    expect(ada.status).toBe(200);
    expect(ada.body).toMatchObject({
      email: "ada@example.org",
      phone: "+33 6 12 34 56 78",
      first_name: "Lovelace, Ada",
      last_name: 'O"Brien',
      status: "active",
    });
    const adaId = String(ada.body.id);
    // No welcome bonus: only the opening balance.
    expect(await balance(org, adaId)).toBe(250);
    const history = await call(harness.app, "GET", `/v1/members/${adaId}/history`, {
      key: org.keys.admin,
    });
    expect(list(history.body.entries).map((entry) => [entry.operation, entry.points])).toEqual([
      ["opening_balance", 250],
    ]);
    const bob = await memberByRef(org, b);
    expect(bob.body.first_name).toBe("two\r\nlines");
    expect(await balance(org, String(bob.body.id))).toBe(0);
    expect(await balance(org, String((await memberByRef(org, c)).body.id))).toBe(0);
    expect((await memberByRef(org, d)).status).toBe(404);
    expect(await trialBalanced(org)).toBe(true);

    // One member.enrolled event per enrolled member, saying where it came from.
    const events = await harness.database.sql<
      { id: string; payload: Record<string, unknown>; created_at: Date }[]
    >`select id::text, payload, created_at from outbox
      where org_id = ${org.id} and topic = 'member.enrolled' and payload->>'import_id' = ${String(imported.id)}
      order by id`;
    expect(events.map((event) => event.payload.external_ref)).toEqual([a, b, c]);
    const [first] = events;
    expect(
      await webhookEventData(harness.deps, {
        orgId: org.id,
        outboxId: first?.id ?? "",
        topic: "member.enrolled",
        memberId: adaId,
        payload: first?.payload ?? {},
        createdAt: new Date().toISOString(),
      }),
    ).toEqual({
      member_id: adaId,
      external_ref: a,
      welcome_bonus: "0",
      source: "import",
      import_id: String(imported.id),
      opening_points: "250",
    });

    // Looked up by e-mail (the hash staged as POST /v1/members stores it, normalised).
    const byEmail = await findMembersByEmail(harness.deps, {
      orgId: org.id,
      email: "ADA@example.org",
    });
    expect(byEmail.map((member) => member.id)).toEqual([adaId]);

    // The upload is audited, in the transaction that staged it.
    const audit = await call(harness.app, "GET", "/v1/audit?action=import.created", {
      key: org.keys.admin,
    });
    expect(
      list(audit.body.entries).some((entry) => String(entry.target_id) === String(imported.id)),
    ).toBe(true);
  });

  it("imports the same file twice: the second run skips every row and moves no points", async () => {
    const refs = [ref("t"), ref("t"), ref("t")];
    const file = `external_ref,opening_points\n${refs.map((r, i) => `${r},${(i + 1) * 10}`).join("\n")}\n`;
    const first = await importFile(org, file);
    expect(first).toMatchObject({ rows: 3, enrolled: 3, skipped: 0, error_count: 0 });
    const transfers = await ledgerTransferCount(harness);
    const second = await importFile(org, file);
    expect(second).toMatchObject({ rows: 3, enrolled: 0, skipped: 3, error_count: 0 });
    expect(await ledgerTransferCount(harness)).toBe(transfers);
    for (const [index, r] of refs.entries()) {
      const found = await memberByRef(org, r);
      expect(await balance(org, String(found.body.id))).toBe((index + 1) * 10);
    }
    // A member enrolled by POST /v1/members is skipped too, and keeps what it had.
    const enrolled = await enrollOverHttp(harness, org, { first_name: "Kept" });
    const third = await importFile(
      org,
      `external_ref,first_name,opening_points\n${enrolled.externalRef},Changed,999\n`,
    );
    expect(third).toMatchObject({ enrolled: 0, skipped: 1 });
    const kept = await memberByRef(org, enrolled.externalRef);
    expect(kept.body.first_name).toBe("Kept");
    expect(await balance(org, enrolled.id)).toBe(50);
  });

  it("refuses a file it cannot read with 400 and keeps nothing", async () => {
    const before = await harness.database.sql`select count(*)::int as n from imports`;
    for (const body of [
      "",
      "email\nx@example.org\n",
      "external_ref,nickname\nr-1,x\n",
      'external_ref\n"unterminated\n',
    ]) {
      const response = await upload(org, body);
      expect(response.status, body).toBe(400);
      expect(response.body.error?.code).toBe("validation_failed");
    }
    const invalidUtf8 = await harness.app.request("/v1/imports/members", {
      method: "POST",
      headers: { Authorization: `Bearer ${org.keys.admin}`, "Content-Type": "text/csv" },
      body: new Uint8Array([...Buffer.from("external_ref\n"), 0xff, 0xfe, 10]),
    });
    expect(invalidUtf8.status).toBe(400);
    const after = await harness.database.sql`select count(*)::int as n from imports`;
    expect(after).toEqual(before);
  });

  it("refuses other media types with 415", async () => {
    const response = await upload(org, "external_ref\nr-1\n", "text/plain");
    expect(response.status).toBe(415);
    expect(response.body.error?.code).toBe("unsupported_media_type");
  });
});

describe("POST /v1/imports/members (NDJSON)", () => {
  it("reads one object per line, numbers included, and reports bad lines", async () => {
    const [a, b] = [ref("n"), ref("n")];
    const file = [
      JSON.stringify({ external_ref: a, email: "n@example.org", opening_points: 40 }),
      "",
      JSON.stringify({ external_ref: b, last_name: "Babbage", opening_points: "7" }),
      "{not json",
      JSON.stringify({ external_ref: ref("n"), opening_points: -1 }),
      JSON.stringify({ external_ref: ref("n"), nickname: "x" }),
      JSON.stringify({ email: "no-ref@example.org" }),
      // Text no column can store: refused like the edge refuses it in a JSON body.
      JSON.stringify({ external_ref: ref("n"), first_name: "a\u0000b" }),
    ].join("\n");
    const imported = await importFile(org, file, "application/x-ndjson");
    expect(imported).toMatchObject({ rows: 7, enrolled: 2, skipped: 0, error_count: 5 });
    expect(list(imported.errors).map((error) => [error.line, error.code])).toEqual([
      [4, "invalid_json"],
      [5, "invalid_opening_points"],
      [6, "unknown_field"],
      [7, "missing_external_ref"],
      [8, "invalid_first_name"],
    ]);
    expect(await balance(org, String((await memberByRef(org, a)).body.id))).toBe(40);
    const babbage = await memberByRef(org, b);
    expect(babbage.body.last_name).toBe("Babbage");
    expect(await balance(org, String(babbage.body.id))).toBe(7);
  });
});

describe("crashes", () => {
  it("an import staged and never run is pending, and the job's run enrolls it", async () => {
    const r = ref("p");
    const accepted = await upload(org, `external_ref,opening_points\n${r},5\n`);
    const importId = String(accepted.body.import_id);
    expect((await status(org, importId)).body).toMatchObject({
      status: "pending",
      rows: 1,
      enrolled: 0,
    });
    expect((await memberByRef(org, r)).status).toBe(404);
    await enrollImport(harness.deps, { orgId: org.id, importId });
    expect((await status(org, importId)).body).toMatchObject({ status: "completed", enrolled: 1 });
    expect(await balance(org, String((await memberByRef(org, r)).body.id))).toBe(5);
  });

  it.each(["after_intent", "after_ledger"] as const)(
    "a run stopped %s is finished by the next run, crediting nobody twice",
    async (step) => {
      const refs = [ref("x"), ref("x"), ref("x")];
      const accepted = await upload(
        org,
        `external_ref,opening_points\n${refs.map((r) => `${r},30`).join("\n")}\n`,
      );
      const importId = String(accepted.body.import_id);
      let stops = 0;
      const crashing: LedgerDeps = {
        ...harness.deps,
        interrupt: (at, intent) => {
          if (at === step && intent.table === "imports" && stops === 0) {
            stops += 1;
            throw new Error("simulated crash");
          }
        },
      };
      // Two rows per batch: the crash leaves one batch enrolled in Postgres, the rest staged.
      await expect(
        enrollImport(crashing, { orgId: org.id, importId }, { batchRowsMax: 2 }),
      ).rejects.toThrow("simulated crash");
      const stopped = (await status(org, importId)).body;
      expect(String(stopped.status)).toBe("running");
      // The first batch is enrolled (the next one may be too: its intent overlaps the first's
      // post), and some enrolled row's ledger half is not marked.
      expect(Number(stopped.enrolled)).toBeGreaterThanOrEqual(2);
      const unposted = await harness.database.sql`
        select count(*)::int as n from import_rows
        where import_id = ${importId} and status = 'enrolled' and ledger_status = 'pending'`;
      expect(unposted[0]?.n).toBeGreaterThan(0);
      await enrollImport(harness.deps, { orgId: org.id, importId }, { batchRowsMax: 2 });
      expect((await status(org, importId)).body).toMatchObject({
        status: "completed",
        enrolled: 3,
        skipped: 0,
      });
      for (const r of refs) {
        expect(await balance(org, String((await memberByRef(org, r)).body.id))).toBe(30);
      }
      const pending = await harness.database.sql`
        select count(*)::int as n from import_rows
        where import_id = ${importId} and ledger_status <> 'posted'`;
      expect(pending).toEqual([{ n: 0 }]);
      expect(await trialBalanced(org)).toBe(true);
    },
  );
});

describe("limits, roles and tenancy", () => {
  it("refuses a body over 50 MB with 413, by Content-Length or while streaming, keeping nothing", async () => {
    const declared = await harness.app.request("/v1/imports/members", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${org.keys.admin}`,
        "Content-Type": "text/csv",
        "Content-Length": String(50 * 1024 * 1024 + 1),
      },
      body: "external_ref\n",
    });
    expect(declared.status).toBe(413);

    const before = await harness.database.sql`select count(*)::int as n from imports`;
    // 51 MiB of blank NDJSON lines, streamed without a length: read, counted, refused.
    const chunk = new Uint8Array(1024 * 1024).fill(10);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 51) {
          controller.close();
          return;
        }
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const streamed = await harness.app.request("/v1/imports/members", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${org.keys.admin}`,
        "Content-Type": "application/x-ndjson",
      },
      body,
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    const payload = (await streamed.json()) as { error: { code: string } };
    expect(payload.error.code).toBe("payload_too_large");
    const after = await harness.database.sql`select count(*)::int as n from imports`;
    expect(after).toEqual(before);
  });

  it("is admin only, and another org's import is 404 like an unknown one", async () => {
    expect((await upload(org, "external_ref\nr\n", "text/csv", org.keys.pos)).status).toBe(403);
    expect((await upload(org, "external_ref\nr\n", "text/csv", org.keys.finance)).status).toBe(403);
    const accepted = await upload(org, `external_ref\n${ref("o")}\n`);
    const importId = String(accepted.body.import_id);
    expect((await status(org, importId, org.keys.pos)).status).toBe(403);
    expect((await status(other, importId)).status).toBe(404);
    expect((await status(org, randomUUID())).status).toBe(404);
    // Nor can another org's job run it.
    await expect(enrollImport(harness.deps, { orgId: other.id, importId })).rejects.toThrow(
      "import not found",
    );
    // The same refs in another org are that org's own members.
    const r = ref("shared");
    await importFile(org, `external_ref,opening_points\n${r},3\n`);
    const theirs = await importFile(other, `external_ref,opening_points\n${r},4\n`);
    expect(theirs).toMatchObject({ enrolled: 1, skipped: 0 });
    expect(await balance(other, String((await memberByRef(other, r)).body.id))).toBe(4);
  });
});

describe("reconciliation", () => {
  it("checks imported members' wallets and opening balances, and finds a missing one", async () => {
    const fresh = await buildTestOrg(harness);
    const refs = [ref("r"), ref("r"), ref("r")];
    await importFile(
      fresh,
      `external_ref,opening_points\n${refs[0]},10\n${refs[1]},\n${refs[2]},30\n`,
    );
    const clean = await reconcileOrg(harness.deps, { orgId: fresh.id, now: new Date() });
    expect(clean.mismatches).toEqual([]);
    // Two opening balances (documents and transfers), three wallets.
    expect(clean.checked).toEqual({ documents: 2, transfers: 2, wallets: 3 });

    // A row whose opening balance Postgres says was posted, and the ledger never saw.
    const ghost = randomUUID();
    const [row] = await harness.database.sql<{ import_id: string }[]>`
      select import_id from import_rows where org_id = ${fresh.id} limit 1`;
    await harness.database.sql`
      insert into import_rows (import_id, org_id, line, external_ref, member_id, opening_points,
        status, ledger_status)
      values (${row?.import_id ?? ""}, ${fresh.id}, 1000, ${ref("ghost")}, ${ghost}, 5,
        'enrolled', 'posted')`;
    const found = await reconcileOrg(harness.deps, { orgId: fresh.id, now: new Date() });
    expect(found.mismatches).toEqual([
      expect.objectContaining({
        kind: "missing_transfer",
        document: expect.objectContaining({ kind: "import_row", memberId: ghost }),
      }),
    ]);
  });
});

describe("through the imports worker", () => {
  it("the job added by POST enrolls the file and completes the import", async () => {
    const keyPrefix = `test:imports:${process.pid}:${randomBytes(4).toString("hex")}:`;
    const producer = createJobProducer({ redisUrl, keyPrefix });
    const runtime = await startWorkers(testWorkerDeps(harness.deps, producer), {
      redisUrl,
      queues: ["imports"],
      schedulers: false,
    });
    try {
      await runtime.ready();
      const app = harness.variant({ jobs: producer });
      const refs = Array.from({ length: 25 }, () => ref("w"));
      const accepted = await call(app, "POST", "/v1/imports/members", {
        key: org.keys.admin,
        rawBody: `external_ref,opening_points\n${refs.map((r) => `${r},2`).join("\n")}\n`,
        headers: { "Content-Type": "text/csv" },
      });
      expect(accepted.status).toBe(202);
      const importId = String(accepted.body.import_id);
      await waitFor(async () => String((await status(org, importId)).body.status) === "completed", {
        what: "the import to complete",
      });
      expect((await status(org, importId)).body).toMatchObject({ rows: 25, enrolled: 25 });

      // No job announced this one (the app has no producer, as when Redis is down at upload):
      // the sweep finds it once it has waited long enough.
      const lost = await upload(org, `external_ref,opening_points\n${ref("lost")},1\n`);
      const lostId = String(lost.body.import_id);
      await harness.database.sql`
        update imports set updated_at = now() - interval '10 minutes' where id = ${lostId}`;
      await producer.add("imports", { orgId: null }, { name: importJobNames.sweep });
      await waitFor(async () => String((await status(org, lostId)).body.status) === "completed", {
        what: "the swept import to complete",
      });
      expect(await balance(org, String((await memberByRef(org, refs[24] ?? "")).body.id))).toBe(2);
    } finally {
      await runtime.close(5_000);
      await producer.close();
      const cleaner = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      await deleteKeys(cleaner, keyPrefix).catch(() => undefined);
      await cleaner.quit().catch(() => cleaner.disconnect());
    }
  });
});
