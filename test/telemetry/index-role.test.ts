// The events indexer as its own role process (`sigil index`), beside a correlate process that leaves
// indexing to it (index.in_correlate: false), on the real Kafka and Elasticsearch: every event published
// is stored exactly once by the index process and none by correlate; the index process runs at the
// configured lower scheduling priority on every thread, serves its metrics and readiness, and stops on
// SIGTERM with exit 0 after committing, so a restarted one stores nothing twice.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadConfig } from "../../platform/config/load.ts";
import { createBus } from "../../platform/bus/create.ts";
import { autogroupOf, autogroupsEnabled } from "../../platform/sched.ts";
import type { Bus, Producer } from "../../platform/bus/types.ts";
import { testIsolation, type TestIsolation } from "../support/services.ts";
import { Role, freePort, until } from "./support.ts";

let iso: TestIsolation;
let dir: string;
let env: NodeJS.ProcessEnv;
let bus: Bus;
let producer: Producer;
const roles: Role[] = [];
const run = randomBytes(3).toString("hex");

beforeAll(async () => {
  iso = testIsolation(import.meta.url);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-index-role-"));
  const file = path.join(dir, "sigil.yml");
  fs.writeFileSync(
    file,
    stringify({
      data_dir: path.join(dir, "data"),
      bus: { type: "kafka", topic_prefix: iso.topicPrefix, partitions: 3, kafka: { brokers: iso.kafkaBrokers } },
      store: { type: "elasticsearch", elasticsearch: { node: iso.esUrl, index_prefix: iso.indexPrefix } },
      telemetry: { log_level: "info", metrics: { port: 0 }, ready: { lag_interval_ms: 1000 } },
      correlate: { rules: [path.join(dir, "no-rules")], watch_rules: false },
      index: { in_correlate: false, nice: 7 },
    }),
  );
  fs.mkdirSync(path.join(dir, "no-rules"));
  env = { ...process.env, SIGIL_CONFIG: file };
  delete env["SIGIL_LOG_LEVEL"];
  bus = await createBus(loadConfig({ file, env: {} }).bus);
  await bus.ensureTopics();
  producer = await bus.producer();
}, 120_000);

afterAll(async () => {
  for (const r of roles) await r.stop("SIGKILL");
  await producer?.close();
  await bus?.close();
  await iso?.cleanup();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const events = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => {
    const k = from + i;
    const host = `idx-${run}-${k % 5}`;
    return { key: host, value: JSON.stringify({ "@timestamp": new Date().toISOString(), event: { id: `${run}${String(k).padStart(26, "0")}`, kind: "event", dataset: "test.index" }, host: { name: host }, message: `line ${k}` }) };
  });

async function stored(): Promise<number> {
  await fetch(`${iso.esUrl}/${iso.indexPrefix}events-*/_refresh`, { method: "POST" });
  const r = await fetch(`${iso.esUrl}/${iso.indexPrefix}events-*/_count`);
  return r.ok ? ((await r.json()) as { count: number }).count : 0;
}

/** Nice value of every thread of a process (field 19 of /proc/<pid>/task/<tid>/stat). */
function threadNice(pid: number): number[] {
  return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

describe("sigil index", () => {
  it("stores every event once at a lower priority while correlate leaves indexing to it; SIGTERM commits, a restart stores nothing twice", async () => {
    const start = async (name: string, args: string[]) => {
      const port = await freePort();
      const r = new Role(name, args, { ...env, SIGIL_TELEMETRY__METRICS__PORT: String(port) }, `http://127.0.0.1:${port}`);
      roles.push(r);
      await r.started(null);
      return r;
    };
    const correlate = await start("correlate", ["correlate"]);
    let index = await start("index", ["index"]);
    await until("correlate running", () => correlate.find("correlate role running")[0]);
    expect(correlate.find("events are stored by `sigil index` processes (index.in_correlate: false)")).toHaveLength(1);
    await until("index ready", () => fetch(`${index.telemetry}/readyz`).then((r) => r.status === 200, () => false));

    await producer.send("events", events(0, 300));
    await until("300 events stored", async () => (await stored()) === 300, 60_000);

    // the index process and every one of its threads run at index.nice; correlate is untouched
    if (process.platform === "linux") {
      expect(new Set(threadNice(index.child.pid!))).toEqual(new Set([7]));
      expect(threadNice(correlate.child.pid!).every((n) => n === threadNice(process.pid)[0])).toBe(true);
      // not a session leader: the autogroup it shares with this test (and correlate) keeps its nice value
      if (autogroupsEnabled()) expect(autogroupOf(index.child.pid!)).toEqual(autogroupOf("self"));
    }
    const m = await index.metrics();
    const v = (name: string, labels: Record<string, string> = {}) => m.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, x]) => s.labels[k] === x)).reduce((t, s) => t + s.value, 0);
    expect(v("sigil_correlate_indexed_events_total", { outcome: "stored" })).toBe(300);
    // the partitions gauge is refreshed with the lag, every few seconds: wait for its first reading
    await until("the index's partitions gauge", async () => {
      const mm = await index.metrics();
      return mm.samples.filter((s) => s.name === "sigil_bus_consumer_partitions" && s.labels["group"] === "sigil-events-store" && s.labels["topic"] === "events").reduce((t, s) => t + s.value, 0) === 3;
    });
    const ready = (await (await fetch(`${index.telemetry}/readyz`)).json()) as { checks: Record<string, unknown> };
    expect(Object.keys(ready.checks)).toEqual(expect.arrayContaining(["index.store", "index.bus", "bus.consumer_lag"]));
    // correlate stored nothing and holds no indexer group
    const cm = await correlate.metrics();
    expect(cm.samples.filter((s) => s.name === "sigil_correlate_indexed_events_total" && s.value > 0)).toEqual([]);
    expect(cm.samples.filter((s) => s.name === "sigil_bus_consumer_partitions" && s.labels["group"] === "sigil-events-store" && s.value > 0)).toEqual([]);

    // SIGTERM: exit 0 after the in-flight batch; more events while it is down; a new one stores only those
    expect(await index.stop("SIGTERM")).toBe(0);
    await producer.send("events", events(300, 200));
    index = await start("index-2", ["index"]);
    await until("500 events stored", async () => (await stored()) === 500, 60_000);
    await until("the restarted indexer's counter", async () => (await index.metrics()).samples.some((s) => s.name === "sigil_correlate_indexed_events_total" && s.labels["outcome"] === "stored" && s.value === 200), 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await stored()).toBe(500);
  }, 240_000);
});
