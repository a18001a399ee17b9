/**
 * The pure comparison of a recorded transfer or wallet with the ledger's: nothing found is one
 * mismatch, and every differing field is one more, each with what was recorded and what is held.
 */
import { describe, expect, it } from "vitest";
import { type LedgerTransfer, TransferCode, uuidToU128 } from "../../ledger/index.ts";
import { compareTransfer, compareWallet, type ExpectedTransfer } from "./compare.ts";

const document = {
  kind: "purchase",
  id: "0190f5c2-0000-7000-8000-000000000001",
  externalId: "pos-1",
  memberId: "0190f5c2-0000-7000-8000-0000000000aa",
};

const expected: ExpectedTransfer = {
  id: 77n,
  code: TransferCode.purchaseEarn,
  phase: "single",
  amount: 120n,
  walletSide: "credit",
  walletAccountId: 900n,
  spendMinor: 12_000n,
  documentU128: uuidToU128(document.id),
};

/** The transfer the ledger would hold for `expected`, with `changes`. */
function held(changes: Partial<LedgerTransfer> = {}): LedgerTransfer {
  return {
    id: 77n,
    debit_account_id: 1n,
    credit_account_id: 900n,
    amount: 120n,
    pending_id: 0n,
    user_data_128: uuidToU128(document.id),
    user_data_64: 12_000n,
    user_data_32: 0,
    timeout: 0,
    ledger: 1,
    code: TransferCode.purchaseEarn,
    flags: 0,
    timestamp: 1n,
    ...changes,
  };
}

describe("compareTransfer", () => {
  it("finds nothing when the ledger holds what was recorded", () => {
    expect(compareTransfer(document, expected, held())).toEqual([]);
  });

  it("reports a transfer the ledger does not have", () => {
    expect(compareTransfer(document, expected, undefined)).toEqual([
      { kind: "missing_transfer", document, transferId: 77n, expected: "77", actual: null },
    ]);
  });

  it("reports each differing field once", () => {
    const found = compareTransfer(
      document,
      expected,
      held({
        amount: 100n,
        user_data_64: 1n,
        credit_account_id: 901n,
        code: TransferCode.stampEarn,
        user_data_128: 5n,
      }),
    );
    expect(found.map((m) => [m.kind, m.expected, m.actual])).toEqual([
      ["code_mismatch", "2/single", "8/single"],
      ["amount_mismatch", "120", "100"],
      ["spend_mismatch", "12000", "1"],
      ["wallet_mismatch", "900", "901"],
      ["document_mismatch", document.id, "00000000-0000-0000-0000-000000000005"],
    ]);
  });

  it("leaves the spend alone where the encoding keeps none", () => {
    const { spendMinor: _, ...withoutSpend } = expected;
    expect(compareTransfer(document, withoutSpend, held({ user_data_64: 5n }))).toEqual([]);
  });
});

describe("compareWallet", () => {
  const wallet = { accountId: 900n, memberU128: uuidToU128(document.memberId) };

  it("reports a missing wallet, and one naming another member", () => {
    expect(compareWallet(document, wallet, undefined)).toMatchObject([
      { kind: "missing_wallet", expected: "wallet 900", actual: null },
    ]);
    expect(compareWallet(document, wallet, { id: 900n, user_data_128: 1n })).toMatchObject([
      { kind: "wallet_mismatch", expected: document.memberId },
    ]);
    expect(compareWallet(document, wallet, { id: 900n, user_data_128: wallet.memberU128 })).toEqual(
      [],
    );
  });
});
