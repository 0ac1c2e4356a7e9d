// The analyst's flow once more in headless Chromium, against the distributed setup: the console role
// reading a real Elasticsearch node and consuming the alerts topic from a real Kafka broker.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analystFlow } from "./flow.ts";
import { chromiumMissing, launch, type Browser } from "./support/browser.ts";
import { startConsoleEnv, type ConsoleEnv } from "./support/console-env.ts";
import { background, otherAlerts } from "./support/fixtures.ts";
import { testIsolation } from "../support/services.ts";
import { ElasticsearchStore, elasticsearchOptionsFromConfig } from "../../platform/store/elasticsearch.ts";

const missing = chromiumMissing();

describe.skipIf(missing)(`console in a browser, distributed setup (Kafka + Elasticsearch)${missing ? ` (skipped: ${missing})` : ""}`, () => {
  const iso = testIsolation(import.meta.url);
  let env: ConsoleEnv;
  let b: Browser;
  let es: ElasticsearchStore | null = null;

  beforeAll(async () => {
    env = await startConsoleEnv({
      config: {
        bus: { type: "kafka", topic_prefix: iso.topicPrefix, partitions: 3, kafka: { brokers: iso.kafkaBrokers } },
        store: { type: "elasticsearch", elasticsearch: { node: iso.esUrl, index_prefix: iso.indexPrefix } },
      },
      store: async (config) => (es = new ElasticsearchStore({ ...elasticsearchOptionsFromConfig(config.store), retentionIntervalS: 0 })),
    });
    await env.addUser("alice", "analyst");
    const now = new Date();
    await env.publish({ events: background(now, 200) });
    await env.store.put("alerts", otherAlerts(now, 20));
    await env.store.refresh();
    b = await launch();
  });

  afterAll(async () => {
    await b?.close();
    await es?.dropAll().catch(() => undefined);
    await env?.close();
    await iso.cleanup();
  });

  it("signs in, watches the chain appear live over Kafka, opens its story, triages it, searches its event in Elasticsearch, signs out", async () => {
    expect(env.store.kind).toBe("elasticsearch");
    expect(env.bus.kind).toBe("kafka");
    const r = await analystFlow(env, b, "distributed");
    expect(r.chainId).toMatch(/^[0-9a-f]{32}$/);
  });
});
