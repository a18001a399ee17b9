/**
 * Group commit for statements that many concurrent jobs make one row at a time: calls made while
 * a batch is in flight wait, and go together as the next batch, in one statement. An idle
 * coalescer sends a call at once (a lone job waits for nothing); a busy one turns N round trips,
 * plans and commits into one. Each caller still gets its own answer, or the batch's error.
 */
import assert from "node:assert/strict";

export type Coalesced<I, O> = (input: I) => Promise<O>;

/**
 * `runBatch` receives the inputs in call order and answers one output per input, in the same
 * order. At most `batchMax` inputs go in one batch, and one batch is in flight at a time.
 */
export function coalesce<I, O>(
  batchMax: number,
  runBatch: (inputs: readonly I[]) => Promise<readonly O[]>,
): Coalesced<I, O> {
  assert.ok(Number.isSafeInteger(batchMax) && batchMax >= 1, "batchMax is a positive integer");
  interface Waiting {
    input: I;
    resolve(output: O): void;
    reject(error: unknown): void;
  }
  let waiting: Waiting[] = [];
  let inFlight = false;

  const flush = (): void => {
    if (inFlight || waiting.length === 0) {
      return;
    }
    const batch = waiting.slice(0, batchMax);
    waiting = waiting.slice(batch.length);
    inFlight = true;
    runBatch(batch.map((entry) => entry.input))
      .then(
        (outputs) => {
          assert.equal(outputs.length, batch.length, "one output per input");
          for (const [index, entry] of batch.entries()) {
            entry.resolve(outputs[index] as O);
          }
        },
        (error: unknown) => {
          for (const entry of batch) {
            entry.reject(error);
          }
        },
      )
      .catch((error: unknown) => {
        // A broken promise to answer every input: fail them rather than leave them hanging.
        for (const entry of batch) {
          entry.reject(error);
        }
      })
      .finally(() => {
        inFlight = false;
        flush();
      });
  };

  return (input) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ input, resolve, reject });
      flush();
    });
}
