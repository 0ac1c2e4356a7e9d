// A console role for end-to-end tests: the real role (consoleRole) over a real store and bus, either
// embedded (SQLite on a temp file, in-process bus) or distributed (Elasticsearch and Kafka), with users
// and a way to publish alerts and chains exactly as the chain builder does (store, then the alerts topic).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { configSchema, type SigilConfig } from "../../../platform/config/schema.ts";
import { createBus } from "../../../platform/bus/create.ts";
import type { Bus, Producer } from "../../../platform/bus/types.ts";
import { EmbeddedStore, embeddedOptionsFromConfig } from "../../../platform/store/embedded.ts";
import type { Store } from "../../../platform/store/types.ts";
import { encodeAlertsMessage } from "../../../platform/alerts/messages.ts";
import { consoleRole, type ConsoleRole } from "../../../ui/server/index.ts";
import type { Alert, Chain, Signal } from "../../../schema/signal.ts";
import type { EcsEvent } from "../../../schema/ecs.ts";

export const PASSWORD = "correct horse battery staple";

export interface ConsoleEnv {
  config: SigilConfig;
  store: Store;
  bus: Bus;
  producer: Producer;
  role: ConsoleRole;
  url: string;
  dataDir: string;
  addUser(name: string, role: string): Promise<void>;
  /** Writes a stage of the pipeline's output to the store and publishes the chain and alert on the alerts topic. */
  publish(stage: { events?: EcsEvent[]; signals?: Signal[]; chain?: Chain; alert?: Alert | null }): Promise<void>;
  close(): Promise<void>;
}

export interface EnvOptions {
  /** Config overrides (merged over the defaults); e.g. bus/store for the distributed setup. */
  config?: Record<string, unknown>;
  /** Creates the store (default: embedded on a temp file). */
  store?: (config: SigilConfig) => Promise<Store>;
}

export async function startConsoleEnv(opts: EnvOptions = {}): Promise<ConsoleEnv> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-console-e2e-"));
  const over = opts.config ?? {};
  const config = configSchema.parse({
    ...over,
    data_dir: dataDir,
    console: { port: 0, live: { poll_interval_ms: 0 }, ...((over["console"] as object) ?? {}) },
  });
  const store = opts.store ? await opts.store(config) : new EmbeddedStore({ ...embeddedOptionsFromConfig(config.store, dataDir), queryWorkers: 1 });
  await store.init();
  const bus = await createBus(config.bus, { dataDir });
  await bus.ensureTopics();
  const producer = await bus.producer();
  const log = pino({ level: process.env.SIGIL_TEST_LOG ?? "silent" });
  const role = consoleRole({ config, store, bus, log });
  await role.lifecycle.start();
  const env: ConsoleEnv = {
    config,
    store,
    bus,
    producer,
    role,
    url: role.url(),
    dataDir,
    async addUser(name, r) {
      await role.deps().users.add({ name, role: r, password: PASSWORD, createdBy: "e2e" });
    },
    async publish(stage) {
      if (stage.events?.length) await store.put("events", stage.events);
      if (stage.signals?.length) await store.put("signals", stage.signals);
      if (stage.chain) await store.put("chains", [stage.chain]);
      if (stage.alert) await store.put("alerts", [stage.alert]);
      await store.refresh();
      const msgs = [];
      if (stage.chain) msgs.push(encodeAlertsMessage({ kind: "chain", chain: stage.chain, source: "chains" }));
      if (stage.alert) msgs.push(encodeAlertsMessage({ kind: "alert", alert: stage.alert, source: "chains" }));
      if (msgs.length) await producer.send("alerts", msgs);
    },
    async close() {
      await role.lifecycle.stop();
      await producer.close();
      await bus.close();
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return env;
}
