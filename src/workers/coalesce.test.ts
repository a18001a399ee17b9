import { describe, expect, it } from "vitest";
import { coalesce } from "./coalesce.ts";

/** A batch function that answers when told to, and keeps the batches it was given. */
function gate<I, O>(answer: (input: I) => O) {
  const batches: I[][] = [];
  const releases: Array<(fail?: Error) => void> = [];
  const run = (inputs: readonly I[]) =>
    new Promise<O[]>((resolve, reject) => {
      batches.push([...inputs]);
      releases.push((fail) => (fail === undefined ? resolve(inputs.map(answer)) : reject(fail)));
    });
  return { batches, releases, run };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("coalesce", () => {
  it("sends a lone call at once and the calls made meanwhile together, each with its answer", async () => {
    const { batches, releases, run } = gate((n: number) => n * 10);
    const call = coalesce(64, run);
    const first = call(1);
    await settle();
    expect(batches).toEqual([[1]]);
    const rest = [call(2), call(3), call(4)];
    await settle();
    expect(batches).toHaveLength(1);
    releases[0]?.();
    expect(await first).toBe(10);
    await settle();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    releases[1]?.();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it("keeps batches within the maximum", async () => {
    const { batches, releases, run } = gate((n: number) => n);
    const call = coalesce(2, run);
    const calls = [1, 2, 3, 4, 5].map((n) => call(n));
    for (let index = 0; index < 3; index += 1) {
      await settle();
      releases[index]?.();
    }
    expect(await Promise.all(calls)).toEqual([1, 2, 3, 4, 5]);
    expect(batches).toEqual([[1], [2, 3], [4, 5]]);
  });

  it("fails every call of a failed batch and goes on with the next", async () => {
    const { releases, run } = gate((n: number) => n);
    const call = coalesce(8, run);
    const first = call(1);
    const second = call(2);
    await settle();
    releases[0]?.(new Error("connection lost"));
    await expect(first).rejects.toThrow("connection lost");
    await settle();
    releases[1]?.(new Error("still down"));
    await expect(second).rejects.toThrow("still down");
    const third = call(3);
    await settle();
    releases[2]?.();
    expect(await third).toBe(3);
  });

  it("fails the batch's calls when the batch answers the wrong number of outputs", async () => {
    const call = coalesce(8, async (inputs: readonly number[]) => inputs.slice(1));
    await expect(Promise.all([call(1), call(2)])).rejects.toThrow(/one output per input/);
  });
});
