import { readFileSync } from "node:fs";
import { TransferFlags } from "tigerbeetle-node";
import { describe, expect, it } from "vitest";
import { AccountCode, TransferCode, transferCodeSides, transferPhase } from "./codes.ts";

const page = readFileSync(new URL("../../docs/ledger.md", import.meta.url), "utf8");

function rows(): string[][] {
  return page
    .split("\n")
    .filter((line) => /^\| \d+ \|/.test(line))
    .map((line) => line.split("|").map((cell) => cell.trim()));
}

describe("docs/ledger.md", () => {
  it("lists every transfer code with the debit and credit side the code uses", () => {
    const codes = Object.values(TransferCode).filter((value) => typeof value === "number");
    for (const code of codes) {
      const sides = transferCodeSides[code as TransferCode];
      const row = rows().find((cells) => cells[1] === String(code) && cells[2] === sides.operation);
      expect(row, `transfer code ${code} (${sides.operation})`).toBeDefined();
      expect(row?.[3]).toBe(AccountCode[sides.debit]);
      expect(row?.[4]).toBe(AccountCode[sides.credit]);
    }
  });

  it("lists every account code", () => {
    const codes = Object.values(AccountCode).filter((value) => typeof value === "number");
    for (const code of codes) {
      const row = rows().find(
        (cells) => cells[1] === String(code) && cells[2] === AccountCode[code as AccountCode],
      );
      expect(row, `account code ${code}`).toBeDefined();
    }
  });
});

describe("transferPhase", () => {
  it.each([
    [0, "single"],
    [TransferFlags.balancing_debit, "single"],
    [TransferFlags.pending, "pending"],
    [TransferFlags.pending | TransferFlags.linked, "pending"],
    [TransferFlags.post_pending_transfer, "post"],
    [TransferFlags.void_pending_transfer, "void"],
  ])("flags %i are %s", (flags, phase) => {
    expect(transferPhase(flags)).toBe(phase);
  });
});
