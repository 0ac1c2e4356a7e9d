// Distributed chains without manual config: two `sigil correlate` processes on real Kafka and
// Elasticsearch, both with chain building enabled. One holds the exclusive `sigil-chains` group; it
// sees the first step of an attack (a candidate chain below the alert threshold, only in its memory)
// and is killed with SIGKILL. The other takes over, restores the chain state from the store, and the
// second step then completes the chain: exactly one chain and one alert, none duplicated. A third
// instance joining leaves chain building where it is; when the holder is killed as well, the third
// restores the promoted chain from the store and keeps updating the same alert.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config/load.ts";
import type { SigilConfig } from "../../platform/config/schema.ts";
import { createBus } from "../../platform/bus/create.ts";
import type { Bus, Producer } from "../../platform/bus/types.ts";
import type { Store } from "../../platform/store/types.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import { derivedId } from "../../schema/event-id.ts";
import type { Alert, Chain } from "../../schema/signal.ts";
import { openStore } from "../../cli/roles.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { testIsolation, type TestIsolation } from "../support/services.ts";

let iso: TestIsolation;
let env: NodeJS.ProcessEnv;
let config: SigilConfig;
let bus: Bus;
let store: Store;
let producer: Producer;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-chains-failover-"));
const rulesDir = path.join(dataDir, "rules");
const children: ChildProcess[] = [];

/** Two medium rules in two tactics: one alone stays a candidate (score 28), both together alert (58). */
function writeRules(): void {
  fs.mkdirSync(rulesDir, { recursive: true });
  const rule = (id: string, title: string, action: string, tactic: string, technique: string) =>
    [
      `title: ${title}`,
      `id: ${id}`,
      "status: test",
      "author: Sigil tests",
      "date: 2026-11-21",
      "tags:",
      `    - attack.${tactic}`,
      `    - attack.${technique}`,
      "logsource:",
      "    product: sigil",
      "    service: audit",
      "detection:",
      "    selection:",
      `        event.action: '${action}'`,
      "    condition: selection",
      "level: medium",
      "",
    ].join("\n");
  fs.writeFileSync(path.join(rulesDir, "discovery_failover_step_one.yml"), rule("6b1d3c0e-6f43-4b53-9d35-0a1c1f0e0001", "Failover step one", "test.step_one", "discovery", "t1087"));
  fs.writeFileSync(path.join(rulesDir, "exfiltration_failover_step_two.yml"), rule("6b1d3c0e-6f43-4b53-9d35-0a1c1f0e0002", "Failover step two", "test.step_two", "exfiltration", "t1041"));
}

interface Role {
  name: string;
  child: ChildProcess;
  logs: string[];
  ready: Promise<void>;
  exited: Promise<number | null>;
}

function startRole(name: string): Role {
  const logs: string[] = [];
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin/sigil.js"), "correlate"], { cwd: dataDir, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      logs.push(d.toString());
      if (logs.join("").includes("correlate role running")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`${name} exited early (${code}): ${logs.join("").slice(-2000)}`)));
  });
  ready.catch(() => {});
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { name, child, logs, ready, exited };
}

/** The log messages of a role, in order. */
function messages(r: Role): { msg: string; [k: string]: unknown }[] {
  const out: { msg: string }[] = [];
  for (const line of r.logs.join("").split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as { msg: string });
    } catch {
      // a line split across chunks is read whole at the next call
    }
  }
  return out;
}

/** Whether the role holds chain building now (its last take-over or resumption is not followed by a hand-over). */
function holdsChains(r: Role): boolean {
  const ms = messages(r).filter((m) => /^chain building (taken over|resumed|handed over)/.test(m.msg));
  return ms.length > 0 && !ms[ms.length - 1].msg.startsWith("chain building handed over");
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const trace = randomBytes(16).toString("hex");
function event(action: string, n: number): EcsEvent {
  return {
    "@timestamp": new Date(Date.now() - 60_000 + n * 1_000).toISOString(),
    event: { id: `failover-${trace}-${n}`, kind: "event", category: ["authentication"], type: ["info"], dataset: "sigil.audit", action, outcome: "success" },
    host: { name: `web-${n}` },
    user: { name: "mallory" },
    trace: { id: trace },
  } as unknown as EcsEvent;
}

/** Lag of the chain builder's group: every published signal handled and committed. */
async function chainsLag(admin: kafkajs.Admin): Promise<number> {
  const topic = bus.topicName("signals");
  const [committed] = await admin.fetchOffsets({ groupId: `${iso.topicPrefix}sigil-chains`, topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  let lag = 0;
  for (const e of ends) {
    const c = committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? "-1";
    lag += Number(BigInt(e.high) - (BigInt(c) < 0n ? BigInt(e.low) : BigInt(c)));
  }
  return lag;
}

beforeAll(async () => {
  iso = testIsolation(import.meta.url);
  writeRules();
  env = {
    ...process.env,
    SIGIL_BUS__TYPE: "kafka",
    SIGIL_BUS__PARTITIONS: "3",
    SIGIL_BUS__KAFKA__BROKERS: iso.kafkaBrokers.join(","),
    SIGIL_BUS__KAFKA__SESSION_TIMEOUT_MS: "6000",
    SIGIL_BUS__KAFKA__HEARTBEAT_INTERVAL_MS: "500",
    SIGIL_BUS__KAFKA__MAX_WAIT_MS: "100",
    SIGIL_BUS__TOPIC_PREFIX: iso.topicPrefix,
    SIGIL_STORE__TYPE: "elasticsearch",
    SIGIL_STORE__ELASTICSEARCH__NODE: iso.esUrl,
    SIGIL_STORE__ELASTICSEARCH__INDEX_PREFIX: iso.indexPrefix,
    SIGIL_DATA_DIR: dataDir,
    SIGIL_TELEMETRY__METRICS__ENABLED: "false",
    SIGIL_CORRELATE__WATCH_RULES: "false",
    SIGIL_CORRELATE__RULES: rulesDir,
    SIGIL_LOG_LEVEL: "info",
  };
  config = loadConfig({ env });
  bus = await createBus(config.bus, { dataDir });
  await bus.ensureTopics();
  producer = await bus.producer();
  store = await openStore(config, dataDir);
  await store.init();
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await producer?.close();
  await bus?.close();
  await store?.close();
  await iso?.cleanup();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("chains on several correlate instances", () => {
  it("the standby takes over when the active instance is killed, and the chain forms once", async () => {
    const admin = new kafkajs.Kafka({ brokers: iso.kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const a = startRole("a");
      const b = startRole("b");
      await Promise.all([a.ready, b.ready]);
      // exactly one of them builds chains (both have correlate.chains.enabled: true)
      const active = await waitFor("one instance to hold chain building", () => {
        const holders = [a, b].filter(holdsChains);
        return holders.length === 1 ? holders[0] : null;
      });
      const standby = active === a ? b : a;

      // step one: a signal the active instance turns into a candidate chain (below the threshold)
      await producer.send("events", [{ key: "web-1", value: JSON.stringify(event("test.step_one", 1)) }]);
      await waitFor("the step-one signal stored and handled by the chain builder", async () => {
        await store.refresh("signals");
        return (await store.count("signals", {})) === 1 && (await chainsLag(admin)) === 0;
      });
      await store.refresh("alerts");
      expect(await store.count("alerts", {})).toBe(0);

      active.child.kill("SIGKILL");
      expect(await active.exited).toBeNull();

      // step two: handled after the standby takes over (Kafka notices the death after the session timeout)
      await producer.send("events", [{ key: "web-2", value: JSON.stringify(event("test.step_two", 2)) }]);
      await waitFor("the standby to take over chain building", () => holdsChains(standby), 60_000);
      const takeOver = messages(standby).filter((m) => m.msg.startsWith("chain building taken over")).pop()!;
      expect(takeOver["signals_replayed"]).toBeGreaterThanOrEqual(1);

      const alert = await waitFor("the alert of the two-step chain", async () => {
        await store.refresh("alerts");
        const hits = (await store.search("alerts", { size: 10 })).hits as Alert[];
        return hits.find((h) => h.step_count === 2);
      });
      expect(alert.tactics).toEqual(["discovery", "exfiltration"]);
      expect(alert.rule_ids.sort()).toEqual(["6b1d3c0e-6f43-4b53-9d35-0a1c1f0e0001", "6b1d3c0e-6f43-4b53-9d35-0a1c1f0e0002"]);
      // the chain is the one the killed instance started: its id derives from the step-one signal
      const first = (await store.search("signals", { size: 10 })).hits.find((s) => (s as { rule: { id: string } }).rule.id.endsWith("0001")) as { event: { id: string } } | undefined;
      expect(alert.id).toBe(derivedId("chain", first!.event.id));

      // settle, then: one chain, one alert, nothing duplicated
      await waitFor("the chain builder to catch up", async () => (await chainsLag(admin)) === 0);
      await new Promise((r) => setTimeout(r, 2_000));
      await store.refresh();
      const chains = (await store.search("chains", { size: 10 })).hits as Chain[];
      const alerts = (await store.search("alerts", { size: 10 })).hits as Alert[];
      expect(chains.map((c) => c.id)).toEqual([alert.id]);
      expect(alerts.map((x) => x.id)).toEqual([alert.id]);
      expect(chains[0].steps.map((s) => s.rule.title)).toEqual(["Failover step one", "Failover step two"]);
      expect(alerts[0].version).toBe(1);

      // a third instance joins: the holder keeps chain building (its state in memory is current)
      const c = startRole("c");
      await c.ready;
      await waitFor("the holder to resume after c's join", () => messages(standby).some((m) => m.msg.startsWith("chain building resumed")));
      expect(holdsChains(standby)).toBe(true);
      expect(holdsChains(c)).toBe(false);
      // the step-one rule again on the same trace: counted into its step, the alert updated in place
      await producer.send("events", [{ key: "web-3", value: JSON.stringify(event("test.step_one", 3)) }]);
      await waitFor("the alert updated with the repeated step", async () => {
        await store.refresh("alerts");
        return ((await store.get("alerts", alert.id)) as Alert | null)?.version === 2;
      });
      await waitFor("the chain builder to catch up", async () => (await chainsLag(admin)) === 0);

      // the holder is killed too: c restores the promoted chain from the store and keeps updating it
      standby.child.kill("SIGKILL");
      expect(await standby.exited).toBeNull();
      await producer.send("events", [{ key: "web-4", value: JSON.stringify(event("test.step_two", 4)) }]);
      await waitFor("c to take over chain building", () => holdsChains(c), 60_000);
      expect(messages(c).filter((m) => m.msg.startsWith("chain building taken over")).pop()!["chains"]).toBe(1);
      await waitFor("the alert updated by c", async () => {
        await store.refresh("alerts");
        return ((await store.get("alerts", alert.id)) as Alert | null)?.version === 3;
      });
      await waitFor("the chain builder to catch up", async () => (await chainsLag(admin)) === 0);
      await new Promise((r) => setTimeout(r, 1_000));
      await store.refresh();
      const finalChains = (await store.search("chains", { size: 10 })).hits as Chain[];
      const finalAlerts = (await store.search("alerts", { size: 10 })).hits as Alert[];
      expect(finalAlerts.map((x) => [x.id, x.version, x.step_count, x.signal_count])).toEqual([[alert.id, 3, 2, 4]]);
      expect(finalChains.map((x) => x.id)).toEqual([alert.id]);
      expect(finalChains[0].steps.map((st) => st["count"] ?? 1)).toEqual([2, 2]);

      c.child.kill("SIGTERM");
      expect(await c.exited).toBe(0);
    } finally {
      await admin.disconnect();
    }
  }, 150_000);
});
