/**
 * The finance export, `GET /v1/ledger/transfers`, and balances at an instant,
 * `GET /v1/ledger/balances`: what finance relies on at month end. Adjacent exports chained by
 * their range headers cover every transfer exactly once, also with postings in between; rows
 * name operations, accounts, members and source documents; CSV and NDJSON carry the same rows;
 * units select ledgers; other orgs never appear; a ledger failure is a 503 before the first byte
 * and a trailer line after it; balances at past instants follow the wallets' history.
 */
import { CreateTransferStatus } from "tigerbeetle-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccountCode,
  controlAccountId,
  createEmbeddedClient,
  type LedgerApi,
  LedgerUnavailableError,
  TransferCode,
  walletAccountId,
} from "../../src/ledger/index.ts";
import type { Harness, Json, TestOrg } from "./support.ts";
import { buildTestOrg, call, createHarness, enrollOverHttp, list } from "./support.ts";

let harness: Harness;
let org: TestOrg;
let other: TestOrg;
let alice: { id: string };
let bob: { id: string };
let otherMember: { id: string };
let purchaseId: string;
let holdId: string;
/** Instants (ns) between the steps of the story below. */
const marks: Record<string, bigint> = {};

function nowNs(): bigint {
  return BigInt(harness.environment.now().getTime()) * 1_000_000n;
}

function ns(value: bigint): string {
  // RFC 3339 with nine fractional digits, as the headers print it.
  const ms = value / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, -1)}${(value % 1_000_000n).toString().padStart(6, "0")}Z`;
}

async function exportRows(
  query: string,
  key: string = org.keys.finance,
): Promise<{ rows: Json[]; headers: Headers; status: number; text: string }> {
  const response = await call(harness.app, "GET", `/v1/ledger/transfers?format=ndjson&${query}`, {
    key,
  });
  const text = typeof response.body === "string" ? response.body : JSON.stringify(response.body);
  const rows =
    response.status === 200
      ? text
          .split("\n")
          .filter((line) => line.length > 0)
          .map((line) => JSON.parse(line) as Json)
      : [];
  return { rows, headers: response.headers, status: response.status, text };
}

/** Transfers loaded into the big org's ledger: more than one page (8,189). */
const bigOrgTransfers = 8_189 + 10;
let bigOrgLoaded: TestOrg | undefined;

/** An org of its own with more than one ledger page of transfers, loaded directly, once. */
async function bigOrg(): Promise<TestOrg> {
  if (bigOrgLoaded !== undefined) {
    return bigOrgLoaded;
  }
  const big = await buildTestOrg(harness);
  const member = await enrollOverHttp(harness, big);
  const ledger = big.result.pointsLedger;
  const wallet = walletAccountId(ledger, member.id);
  const issuance = controlAccountId(ledger, AccountCode.issuance);
  const count = bigOrgTransfers;
  for (let start = 0; start < count; start += 8_189) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + 8_189); i++) {
      batch.push({
        id: (0xe0n << 120n) | (BigInt(ledger) << 32n) | BigInt(i + 1),
        debit_account_id: issuance,
        credit_account_id: wallet,
        amount: 1n,
        pending_id: 0n,
        user_data_128: 0n,
        user_data_64: 0n,
        user_data_32: 0,
        timeout: 0,
        ledger,
        code: TransferCode.purchaseEarn,
        flags: 0,
        timestamp: 0n,
      });
    }
    const results = await harness.engine.createTransfers(batch);
    expect(results.every((result) => result.status === CreateTransferStatus.created)).toBe(true);
  }
  bigOrgLoaded = big;
  return big;
}

beforeAll(async () => {
  harness = await createHarness();
  org = await buildTestOrg(harness);
  other = await buildTestOrg(harness);
  marks.beforeAlice = nowNs();
  harness.environment.advanceSeconds(10);
  alice = await enrollOverHttp(harness, org);
  harness.environment.advanceSeconds(10);
  marks.afterAlice = nowNs();
  harness.environment.advanceSeconds(10);
  const purchase = await call(harness.app, "POST", "/v1/transactions", {
    key: org.keys.pos,
    body: {
      external_id: "export-1",
      member_id: alice.id,
      amount: 5_000,
      currency: "EUR",
      occurred_at: "2026-01-31T12:00:00+01:00",
    },
  });
  expect(purchase.status).toBe(201);
  purchaseId = String(purchase.body.transaction_id);
  harness.environment.advanceSeconds(10);
  marks.afterPurchase = nowNs();
  harness.environment.advanceSeconds(10);
  const hold = await call(harness.app, "POST", `/v1/members/${alice.id}/redemptions`, {
    key: org.keys.pos,
    body: { points: 30 },
  });
  expect(hold.status).toBe(201);
  holdId = String(hold.body.redemption?.id);
  harness.environment.advanceSeconds(10);
  marks.afterHold = nowNs();
  harness.environment.advanceSeconds(10);
  bob = await enrollOverHttp(harness, org);
  otherMember = await enrollOverHttp(harness, other);
  harness.environment.advanceSeconds(10);
});
afterAll(async () => {
  await harness?.close();
});

describe("GET /v1/ledger/transfers", () => {
  it("streams every transfer of the org's points ledger as NDJSON, named", async () => {
    const { rows, headers, status } = await exportRows("");
    expect(status).toBe(200);
    expect(headers.get("content-type")).toContain("application/x-ndjson");
    expect(headers.get("x-export-unit")).toBe("points");
    expect(rows.map((row) => row.operation)).toEqual([
      "welcome_bonus",
      "purchase_earn",
      "redemption_hold",
      "welcome_bonus",
    ]);
    const [welcome, earn, hold, bobWelcome] = rows;
    expect(welcome).toMatchObject({
      member_id: alice.id,
      debit_account: "promotions",
      credit_account: `wallet:${alice.id}`,
      amount: "100",
      pending: false,
      post: false,
      void: false,
      occurred_at: null,
      code: TransferCode.welcomeBonus,
    });
    expect(earn).toMatchObject({
      member_id: alice.id,
      debit_account: "issuance",
      credit_account: `wallet:${alice.id}`,
      amount: "50",
      occurred_at: "2026-01-31T11:00:00.000Z",
      document_id: purchaseId,
      pending_id: null,
    });
    expect(hold).toMatchObject({
      operation: "redemption_hold",
      debit_account: `wallet:${alice.id}`,
      credit_account: "redemptions",
      amount: "30",
      pending: true,
    });
    expect(bobWelcome?.member_id).toBe(bob.id);
    for (const row of rows) {
      expect(Object.keys(row)).toEqual([
        "timestamp",
        "timestamp_ns",
        "occurred_at",
        "operation",
        "code",
        "member_id",
        "debit_account",
        "credit_account",
        "amount",
        "pending",
        "post",
        "void",
        "pending_id",
        "transfer_id",
        "document_id",
      ]);
      expect(row.timestamp).toBe(ns(BigInt(String(row.timestamp_ns))));
      expect(String(row.transfer_id)).toMatch(/^[1-9][0-9]*$/);
    }
    // Never another org's members.
    expect(JSON.stringify(rows)).not.toContain(otherMember.id);
  });

  it("states an exact range; adjacent exports cover every transfer exactly once", async () => {
    const all = await exportRows("");
    const from = all.headers.get("x-export-range-from");
    const to = all.headers.get("x-export-range-to");
    expect(from).toBe("1970-01-01T00:00:00.000000000Z");
    expect(all.headers.get("x-export-range-from-timestamp")).toBe("0");
    expect(to).toBe(ns(BigInt(String(all.headers.get("x-export-range-to-timestamp")))));
    // `to` absent: clamped to the last commit + 1 ns, after every row.
    expect(all.headers.get("x-export-range-clamped")).toBe("true");
    const last = all.rows[all.rows.length - 1];
    expect(BigInt(String(last?.timestamp_ns))).toBeLessThan(
      BigInt(String(all.headers.get("x-export-range-to-timestamp"))),
    );

    // Split exactly at a row's timestamp: that row belongs to the second half only.
    const split = String(all.rows[2]?.timestamp);
    const first = await exportRows(`from=${from}&to=${split}`);
    const second = await exportRows(`from=${split}&to=${to}`);
    expect(first.headers.get("x-export-range-clamped")).toBe("false");
    expect(first.headers.get("x-export-range-to")).toBe(split);
    expect(second.headers.get("x-export-range-from")).toBe(split);
    const ids = [...first.rows, ...second.rows].map((row) => row.transfer_id);
    expect(ids).toEqual(all.rows.map((row) => row.transfer_id));
    expect(first.rows.length).toBe(2);

    // Postings after an export land in the next one, starting at its `to`, and only there.
    const member = await enrollOverHttp(harness, org);
    const next = await exportRows(`from=${to}`);
    expect(next.rows.map((row) => row.member_id)).toEqual([member.id]);
    const again = await exportRows(`from=${from}&to=${to}`);
    expect(again.rows.map((row) => row.transfer_id)).toEqual(ids);
    // A range ending in the future is cut back to what is committed, and says so.
    const future = await exportRows(`from=${to}&to=2200-01-01T00:00:00Z`);
    expect(future.headers.get("x-export-range-clamped")).toBe("true");
    expect(future.rows.map((row) => row.member_id)).toEqual([member.id]);
  });

  it("writes RFC 4180 CSV with a header row and the same rows", async () => {
    const ndjson = await exportRows("");
    const response = await call(harness.app, "GET", "/v1/ledger/transfers?format=csv", {
      key: org.keys.finance,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/csv");
    expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename="/);
    const text = String(response.body);
    expect(text.endsWith("\r\n")).toBe(true);
    const lines = text.slice(0, -2).split("\r\n");
    expect(lines[0]).toBe(
      "timestamp,timestamp_ns,occurred_at,operation,code,member_id,debit_account," +
        "credit_account,amount,pending,post,void,pending_id,transfer_id,document_id",
    );
    expect(lines.length).toBe(ndjson.rows.length + 1);
    const earn = lines[2]?.split(",");
    expect(earn?.length).toBe(15);
    expect(earn?.[3]).toBe("purchase_earn");
    expect(earn?.[5]).toBe(alice.id);
    expect(earn?.[8]).toBe("50");
    expect(earn?.[9]).toBe("false");
    expect(earn?.[12]).toBe("");
    expect(earn?.[14]).toBe(purchaseId);
    // A range with no transfer is the header alone.
    const empty = await call(
      harness.app,
      "GET",
      "/v1/ledger/transfers?format=csv&from=1970-01-01T00:00:00Z&to=1970-01-01T00:00:01Z",
      { key: org.keys.finance },
    );
    expect(String(empty.body).split("\r\n")).toEqual([lines[0], ""]);
  });

  it("selects the unit's ledger, and 404s units the org does not have", async () => {
    const created = await call(harness.app, "POST", "/v1/stamp-programs", {
      key: org.keys.admin,
      body: {
        name: "Card",
        stamps_per_card: 10,
        earn: { per: "purchase" },
        reward: { points: 0 },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const programId = String(created.body.stamp_program?.id);
    const purchase = await call(harness.app, "POST", "/v1/transactions", {
      key: org.keys.pos,
      body: { external_id: "export-stamps", member_id: bob.id, amount: 1_000, currency: "EUR" },
    });
    expect(purchase.status).toBe(201);
    const stamps = await exportRows(`unit=stamps:${programId}`);
    expect(stamps.status).toBe(200);
    expect(stamps.headers.get("x-export-unit")).toBe(`stamps:${programId}`);
    expect(stamps.rows.map((row) => [row.operation, row.member_id, row.amount])).toEqual([
      ["stamp_earn", bob.id, "1"],
    ]);
    const points = await exportRows("unit=points");
    expect(points.rows.map((row) => row.operation)).not.toContain("stamp_earn");
    expect((await exportRows("unit=stamps:nope")).status).toBe(404);
    // Another org's unit is unknown to this org.
    expect((await exportRows(`unit=stamps:${programId}`, other.keys.finance)).status).toBe(404);
  });

  it("answers 400 on a bad range or format, 401 without a key, 403 to pos and to member tokens", async () => {
    for (const query of [
      "from=yesterday",
      "to=2026-02-30T00:00:00Z",
      "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
      "format=xlsx",
      "from=1969-12-31T23:59:59Z",
      "from=9999-01-01T00:00:00Z",
      "limit=5",
    ]) {
      const response = await call(harness.app, "GET", `/v1/ledger/transfers?${query}`, {
        key: org.keys.finance,
      });
      expect(response.status, query).toBe(400);
      expect(response.body.error?.code, query).toBe("validation_failed");
    }
    const wrongOrder = await call(
      harness.app,
      "GET",
      "/v1/ledger/transfers?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
      { key: org.keys.finance },
    );
    expect(list(wrongOrder.body.error?.details?.issues)[0]?.path).toBe("to");
    expect((await call(harness.app, "GET", "/v1/ledger/transfers")).status).toBe(401);
    const pos = await call(harness.app, "GET", "/v1/ledger/transfers", { key: org.keys.pos });
    expect(pos.status).toBe(403);
    const session = await call(harness.app, "POST", `/v1/members/${alice.id}/sessions`, {
      key: org.keys.pos,
    });
    const token = String(session.body.token);
    for (const path of ["/v1/ledger/transfers", "/v1/ledger/balances?at=2026-01-01T00:00:00Z"]) {
      expect((await call(harness.app, "GET", path, { key: token })).status, path).toBe(403);
    }
    const admin = await exportRows("", org.keys.admin);
    expect(admin.status).toBe(200);
  });

  it("exports a fulfilment as the post of its hold, in the range where it was committed", async () => {
    const before = await exportRows("");
    const holdRow = before.rows.find((row) => String(row.operation) === "redemption_hold");
    const to = String(before.headers.get("x-export-range-to"));
    harness.environment.advanceSeconds(1);
    const fulfilled = await call(harness.app, "POST", `/v1/redemptions/${holdId}/fulfill`, {
      key: org.keys.pos,
    });
    expect(fulfilled.status).toBe(200);
    const after = await exportRows(`from=${to}`);
    expect(after.rows.map((row) => row.operation)).toEqual(["redemption_fulfilled"]);
    expect(after.rows[0]).toMatchObject({
      pending: false,
      post: true,
      void: false,
      pending_id: holdRow?.transfer_id,
      member_id: alice.id,
      debit_account: `wallet:${alice.id}`,
      credit_account: "redemptions",
      amount: "30",
    });
    // The hold's own row is unchanged in the earlier range: still pending there.
    const again = await exportRows(`to=${to}`);
    const holdAgain = again.rows.find((row) => String(row.operation) === "redemption_hold");
    expect(holdAgain).toEqual(holdRow);
  });

  it("shows another org only its own transfers", async () => {
    const { rows } = await exportRows("", other.keys.finance);
    expect(rows.map((row) => [row.operation, row.member_id])).toEqual([
      ["welcome_bonus", otherMember.id],
    ]);
  });

  it("answers 503 when the ledger is down before the first byte", async () => {
    const closed = createEmbeddedClient();
    await closed.close();
    const app = harness.variant({ ledger: closed });
    const response = await call(app, "GET", "/v1/ledger/transfers", { key: org.keys.finance });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).not.toBeNull();
  });

  it("reads the ledger only as fast as the body is read", async () => {
    const big = await bigOrg();
    let rangedQueries = 0;
    const counting: LedgerApi = {
      ...harness.engine,
      queryTransfers: async (filter) => {
        if (filter.ledger !== 0) {
          rangedQueries += 1;
        }
        return harness.engine.queryTransfers(filter);
      },
    };
    const app = harness.variant({ ledger: counting });
    const response = await app.request("/v1/ledger/transfers?format=ndjson", {
      headers: { Authorization: `Bearer ${big.keys.finance}` },
    });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    // Unread: the first page was read to answer, and nothing more.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(rangedQueries).toBe(1);
    // Taking the first page lets the stream read one page ahead, no further.
    await reader.read();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(rangedQueries).toBe(2);
    let chunks = 1;
    for (;;) {
      const { done } = await reader.read();
      if (done) {
        break;
      }
      chunks += 1;
    }
    expect(chunks).toBe(2);
    expect(rangedQueries).toBe(2);
  });

  it("ends the body with a trailer line when the ledger fails mid-stream", async () => {
    const big = await bigOrg();
    const count = bigOrgTransfers;
    // The real engine, failing its second ranged query: the first page is out by then.
    let rangedQueries = 0;
    const failing: LedgerApi = {
      ...harness.engine,
      queryTransfers: async (filter) => {
        if (filter.ledger !== 0) {
          rangedQueries += 1;
          if (rangedQueries >= 2) {
            throw new LedgerUnavailableError("ledger request timed out");
          }
        }
        return harness.engine.queryTransfers(filter);
      },
    };
    const app = harness.variant({ ledger: failing });
    const response = await call(app, "GET", "/v1/ledger/transfers?format=ndjson", {
      key: big.keys.finance,
    });
    expect(response.status).toBe(200);
    const lines = String(response.body).trimEnd().split("\n");
    // The welcome bonus and the first 8,188 loaded transfers: one full page, then the trailer.
    expect(lines.length).toBe(8_189 + 1);
    const trailer = JSON.parse(lines[lines.length - 1] as string) as Json;
    const lastRow = JSON.parse(lines[lines.length - 2] as string) as Json;
    expect(trailer.error).toMatchObject({ code: "unavailable", rows: 8_189 });
    expect(trailer.error?.resume_from_ns).toBe(String(BigInt(String(lastRow.timestamp_ns)) + 1n));

    rangedQueries = 0;
    const csv = await call(app, "GET", "/v1/ledger/transfers?format=csv", {
      key: big.keys.finance,
    });
    const csvLines = String(csv.body).trimEnd().split("\r\n");
    expect(csvLines[csvLines.length - 1]).toMatch(/^# error: unavailable: .*rows: 8189; resume/);

    // Without the failure, the whole range: resuming where the trailer said covers the rest.
    const rest = await call(
      harness.app,
      "GET",
      `/v1/ledger/transfers?format=ndjson&from=${String(trailer.error?.resume_from)}`,
      { key: big.keys.finance },
    );
    expect(String(rest.body).trimEnd().split("\n").length).toBe(count + 1 - 8_189);
  });
});

describe("GET /v1/ledger/balances", () => {
  async function balancesAt(at: bigint, query = "") {
    const response = await call(harness.app, "GET", `/v1/ledger/balances?at=${ns(at)}${query}`, {
      key: org.keys.finance,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body;
  }

  function of(body: Json, memberId: string): Json | undefined {
    return list(body.balances).find((entry) => String(entry.member_id) === memberId);
  }

  it("answers each member's balance at past instants from the wallet's history", async () => {
    expect(list((await balancesAt(0n)).balances)).toEqual([]);
    const before = await balancesAt(marks.beforeAlice as bigint);
    expect(of(before, alice.id)).toBeUndefined();
    const enrolled = await balancesAt(marks.afterAlice as bigint);
    expect(of(enrolled, alice.id)).toMatchObject({ balance: 100, debits_pending: 0 });
    expect(of(enrolled, bob.id)).toBeUndefined();
    const purchased = await balancesAt(marks.afterPurchase as bigint);
    expect(of(purchased, alice.id)).toMatchObject({
      balance: 150,
      credits_posted: 150,
      debits_posted: 0,
      debits_pending: 0,
    });
    const held = await balancesAt(marks.afterHold as bigint);
    expect(of(held, alice.id)).toMatchObject({ balance: 150, debits_pending: 30 });
    expect(String(held.at)).toBe(ns(marks.afterHold as bigint));
    harness.environment.advanceSeconds(1);
    const now = await balancesAt(nowNs());
    // Bob: the welcome bonus and 10 points of the purchase that also earned a stamp.
    expect(of(now, bob.id)).toMatchObject({ balance: 110, debits_posted: 0 });
    expect(JSON.stringify(now)).not.toContain(otherMember.id);
  });

  it("counts a transfer committed exactly at `at`", async () => {
    const all = await exportRows("");
    const earn = all.rows.find((row) => String(row.operation) === "purchase_earn");
    const at = BigInt(String(earn?.timestamp_ns));
    expect(of(await balancesAt(at), alice.id)).toMatchObject({ balance: 150 });
    expect(of(await balancesAt(at - 1n), alice.id)).toMatchObject({ balance: 100 });
  });

  it("pages by member", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const body: Json = await balancesAt(
        nowNs(),
        `&limit=1${cursor === null ? "" : `&cursor=${cursor}`}`,
      );
      expect(list(body.balances).length).toBeLessThanOrEqual(1);
      seen.push(...list(body.balances).map((entry) => String(entry.member_id)));
      cursor = body.next_cursor === null ? null : String(body.next_cursor);
      if (cursor === null) {
        break;
      }
    }
    expect(cursor).toBeNull();
    expect(seen).toContain(alice.id);
    expect(seen).toContain(bob.id);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("answers 400 for a future instant or bad cursor, 404 for an unknown unit, 403 to pos", async () => {
    const future = await call(
      harness.app,
      "GET",
      `/v1/ledger/balances?at=${ns(nowNs() + 60_000_000_000n)}`,
      { key: org.keys.finance },
    );
    expect(future.status).toBe(400);
    expect(list(future.body.error?.details?.issues)[0]?.path).toBe("at");
    for (const query of ["", "at=soon", `at=${ns(nowNs())}&limit=0`, `at=${ns(nowNs())}&x=1`]) {
      const response = await call(harness.app, "GET", `/v1/ledger/balances?${query}`, {
        key: org.keys.finance,
      });
      expect(response.status, query).toBe(400);
    }
    const cursor = await call(
      harness.app,
      "GET",
      `/v1/ledger/balances?at=${ns(nowNs())}&cursor=nope`,
      { key: org.keys.finance },
    );
    expect(cursor.status).toBe(400);
    const unit = await call(
      harness.app,
      "GET",
      `/v1/ledger/balances?at=${ns(nowNs())}&unit=stamps:nope`,
      { key: org.keys.finance },
    );
    expect(unit.status).toBe(404);
    const pos = await call(harness.app, "GET", `/v1/ledger/balances?at=${ns(nowNs())}`, {
      key: org.keys.pos,
    });
    expect(pos.status).toBe(403);
  });
});
