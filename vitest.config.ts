import { defineConfig } from "vitest/config";
import { SummaryReporter } from "./test/summary-reporter.ts";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Two cores: one worker per core keeps the suites from starving each other.
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default", new SummaryReporter()],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
