// Test runner config: unit tests sit beside the code; integration tests in test/ run against
// the real Kafka and Elasticsearch that test/support/global-setup.ts starts (sigil services up).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 180_000,
    reporters: ["default"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["{schema,platform,ingest,correlate,cli,rules,ui/server}/**/*.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
