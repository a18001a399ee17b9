import { describe, expect, it } from "vitest";
import { isUnsafeText, unsafeTextIssues, unsafeTextMessage } from "./wire.ts";

describe("isUnsafeText", () => {
  it("refuses NUL and unpaired surrogates, wherever they are", () => {
    for (const text of ["\u0000", "a\u0000", "\ud800", "a\ud800b", "\udc00", "x\udfff", "\ud83d"]) {
      expect(isUnsafeText(text), JSON.stringify(text)).toBe(true);
    }
    // A high surrogate followed by a second high one is still unpaired.
    expect(isUnsafeText("\ud83d\ud83d\ude00")).toBe(true);
  });

  it("accepts paired surrogates (emoji) and every other character", () => {
    for (const text of [
      "",
      "Zoë",
      "😀",
      "a😀b",
      "\u0001\u001f\u007f",
      "\ufffd",
      "名前",
      "\ud83d\ude00",
    ]) {
      expect(isUnsafeText(text), JSON.stringify(text)).toBe(false);
    }
  });
});

describe("unsafeTextIssues", () => {
  it("names each bad string and property name by its dotted path, in document order", () => {
    const issues = unsafeTextIssues(
      { a: "ok", b: [{ c: "x\u0000" }, { d: "😀", e: "\ud800" }], "f\u0000": 1, g: "\udc00" },
      50,
    );
    expect(issues).toEqual([
      { path: "b.0.c", message: unsafeTextMessage },
      { path: "b.1.e", message: unsafeTextMessage },
      { path: "", message: `a property name ${unsafeTextMessage}` },
      { path: "g", message: unsafeTextMessage },
    ]);
  });

  it("stops at its bound and does not descend without end", () => {
    expect(unsafeTextIssues(Array(100).fill("\u0000"), 7)).toHaveLength(7);
    let deep: unknown = "\u0000";
    for (let level = 0; level < 100_000; level += 1) {
      deep = [deep];
    }
    expect(unsafeTextIssues(deep, 50)).toEqual([]);
    expect(unsafeTextIssues(["\u0000"], 50)).toEqual([{ path: "0", message: unsafeTextMessage }]);
  });
});
