// Decision 0023 on real Kafka: a new chain's alert goes out as soon as its signals' batch is handled,
// while the chain builder's write round for that batch is still waiting for the store (here: the
// read-modify-write of another chain's existing alert, held at a gate); the round then stores it and
// does not publish it again. (The next version computed from an early alert: correlate/chains tests.)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config/load.ts";
import type { SigilConfig } from "../../platform/config/schema.ts";
import { createBus } from "../../platform/bus/create.ts";
import { partitionFor } from "../../platform/bus/index.ts";
import type { Bus, Consumer } from "../../platform/bus/types.ts";
import { EmbeddedStore } from "../../platform/store/embedded.ts";
import type { Collection, Doc } from "../../platform/store/types.ts";
import { decodeAlertsMessage } from "../../platform/alerts/messages.ts";
import { logger } from "../../platform/telemetry/log.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { Alert } from "../../schema/signal.ts";
import { correlateRole, type CorrelateRole } from "../../correlate/service.ts";
import { TEST_ROUTE_PIPELINE, testRule } from "../../correlate/test-pipeline.ts";
import { testIsolation, type TestIsolation } from "../support/services.ts";

/** The embedded store with the update of one alert held at a gate (Elasticsearch busy indexing). */
class GatedStore extends EmbeddedStore {
  gate: { id: string; open: Promise<void> } | null = null;
  held = 0;
  override async update(collection: Collection, id: string, fn: (current: Doc | null) => Doc | null): Promise<Doc | null> {
    if (collection === "alerts" && this.gate?.id === id) {
      this.held++;
      await this.gate.open;
    }
    return super.update(collection, id, fn);
  }
}

const RULE = testRule("55555555-5555-4555-8555-555555555555", "epsilon", "critical");

let iso: TestIsolation;
let config: SigilConfig;
let bus: Bus;
let store: GatedStore;
let role: CorrelateRole;
let watcher: Consumer;
const seen: Alert[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-early-alert-"));
let n = 0;
const event = (host: string, user: string, message: string): EcsEvent =>
  ({ "@timestamp": new Date(Date.UTC(2026, 0, 15, 10, 0, n)).toISOString(), event: { id: (++n).toString(16).padStart(32, "0"), kind: "event", dataset: "test.events" }, host: { name: host }, user: { name: user }, message }) as EcsEvent;

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  iso = testIsolation(import.meta.url);
  config = loadConfig({
    env: { SIGIL_BUS__TYPE: "kafka", SIGIL_BUS__KAFKA__BROKERS: iso.kafkaBrokers.join(","), SIGIL_BUS__TOPIC_PREFIX: iso.topicPrefix, SIGIL_DATA_DIR: dir },
  });
  const rulesDir = path.join(dir, "rules");
  fs.mkdirSync(rulesDir);
  fs.writeFileSync(path.join(rulesDir, "execution_epsilon.yml"), RULE);
  const pipe = path.join(dir, "test-route.yml");
  fs.writeFileSync(pipe, TEST_ROUTE_PIPELINE);
  config.correlate.pipelines = ["ecs-windows", pipe];
  config.correlate.watch_rules = false;
  bus = await createBus(config.bus, { dataDir: dir });
  await bus.ensureTopics();
  store = new GatedStore({ file: ":memory:" });
  await store.init();
  watcher = await bus.consumer({ groupId: `${iso.prefix}watcher`, topics: ["alerts"], fromBeginning: true });
  await watcher.run(async (b) => {
    for (const m of b.messages) {
      const d = decodeAlertsMessage(m.value);
      if (d?.kind === "alert") seen.push(d.alert);
    }
  });
  role = correlateRole({ config, bus, store, log: logger("test", { level: "silent" }), rules: [rulesDir], cwd: dir });
  await role.lifecycle.start();
}, 120_000);

afterAll(async () => {
  await role?.lifecycle.stop();
  await watcher?.close();
  await bus?.close();
  await store?.close();
  await iso?.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("new alerts do not wait for the chain builder's store writes (decision 0023)", () => {
  it("publishes a new chain's alert while its round waits for the store; stores it once and publishes it once", async () => {
    // signals are keyed by host: two hosts on the same signals partition, so their signals share a batch
    const parts = config.bus.partitions;
    let h0 = "";
    let hA = "";
    for (let i = 1; !hA; i++) {
      const h = `host-${i}`;
      if (!h0) h0 = h;
      else if (partitionFor(h, parts) === partitionFor(h0, parts)) hA = h;
    }
    const producer = await bus.producer();
    // h0's chain and its alert, stored
    await producer.send("events", [{ key: "k", value: JSON.stringify(event(h0, "someone", "epsilon zero")) }]);
    await until("h0's alert stored", async () => (await store.count("alerts", {})) === 1);
    await until("h0's alert published", () => seen.some((a) => a.entities.hosts.includes(h0)));
    const a0 = seen.find((a) => a.entities.hosts.includes(h0))!;
    expect(a0).toMatchObject({ version: 1 });

    // the store holds the next write of h0's alert; h0's chain grows and hA's chain is new, in one batch
    let open!: () => void;
    store.gate = { id: a0.id, open: new Promise<void>((r) => (open = r)) };
    await producer.send("events", [
      { key: "k", value: JSON.stringify(event(h0, "someone", "epsilon again")) },
      { key: "k", value: JSON.stringify(event(hA, "ana", "epsilon one")) },
    ]);
    await until("the round held at h0's alert", () => store.held === 1);
    await until("hA's alert published", () => seen.some((a) => a.entities.hosts.includes(hA)));
    const aA = seen.find((a) => a.entities.hosts.includes(hA))!;
    expect(aA).toMatchObject({ version: 1, status: "new", signal_count: 1 });
    // the round is still waiting: h0's update has not gone out (before decision 0023 hA's alert waited with it)
    expect(store.held).toBe(1);
    expect(seen.filter((a) => a.id === a0.id).map((a) => a.version)).toEqual([1]);
    store.gate = null;
    open();

    await until("both alerts stored", async () => ((await store.get("alerts", a0.id))?.["version"] as number | undefined) === 2 && (await store.get("alerts", aA.id)) !== null);
    await until("h0's second version published", () => seen.some((a) => a.id === a0.id && a.version === 2));
    await new Promise((r) => setTimeout(r, 1_000)); // anything published twice would arrive by now
    expect(seen.filter((a) => a.id === aA.id).map((a) => a.version)).toEqual([1]);
    expect(seen.filter((a) => a.id === a0.id).map((a) => a.version)).toEqual([1, 2]);
    expect(await store.get("alerts", aA.id)).toMatchObject({ version: 1, signal_count: 1, status: "new" });
    await until("hA's alert audited", async () => (await store.search("audit", { size: 100 })).hits.some((a) => a["target"] === aA.id));
    const audits = (await store.search("audit", { size: 100 })).hits.filter((a) => a["target"] === aA.id);
    expect(audits.map((a) => a["action"])).toEqual(["alert.create"]);
  }, 120_000);
});
