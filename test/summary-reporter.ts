/**
 * Prints one plain closing line, "N passed, N failed, N skipped", after Vitest's own summary, so
 * that any tool reading the last line of a test run can tell what ran.
 */
import type { Reporter, TestModule } from "vitest/node";

export class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const testModule of testModules) {
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") {
          passed += 1;
        } else if (state === "failed") {
          failed += 1;
        } else {
          skipped += 1;
        }
      }
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
