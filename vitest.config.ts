// Test runner config: unit tests sit beside the code; integration tests in test/ run against
// the real Kafka and Elasticsearch that test/support/global-setup.ts starts (sigil services up).
import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";

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
          // test/support: the integration tests' own helpers, tested without the services
          include: ["{schema,platform,ingest,correlate,cli,rules,ui/server}/**/*.test.ts", "test/support/**/*.test.ts"],
        },
      },
      {
        // the console's web app: components compiled by Svelte, run in a DOM (happy-dom)
        extends: true,
        plugins: [svelte({ configFile: false, compilerOptions: { runes: true } })],
        resolve: { conditions: ["browser"] },
        test: {
          name: "web",
          include: ["ui/web/**/*.test.ts", "ui/shared/**/*.test.ts"],
          environment: "happy-dom",
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: ["test/chaos/chaos.test.ts", "test/support/**"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        // the chaos suite (kill -9 every role, Kafka and Elasticsearch outages; its own services, 6-16 min):
        // `npm run test:chaos`, a CI phase of its own (docs/security.md)
        extends: true,
        test: {
          name: "chaos",
          include: ["test/chaos/chaos.test.ts"],
          testTimeout: 900_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
