// Hot-swap of correlation rules on two `sigil correlate` processes on real Kafka and Elasticsearch,
// both watching one rule directory: a correlation rule added while they run fires, a correlation whose
// window began before the change completes it (its state carried into the new plan on whichever
// instance holds the group's partition, checkpointed to Elasticsearch), each hit exactly once.
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
import type { Signal } from "../../schema/signal.ts";
import { openStore } from "../../cli/roles.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { testIsolation, type TestIsolation } from "../support/services.ts";

let iso: TestIsolation;
let env: NodeJS.ProcessEnv;
let config: SigilConfig;
let bus: Bus;
let store: Store;
let producer: Producer;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-rule-swap-kafka-"));
const rulesDir = path.join(dataDir, "rules");
const children: ChildProcess[] = [];

const DETECTION = `title: Test sign-in failed
id: 7a1d3c0e-6f43-4b53-9d35-0a1c1f0e0001
name: test_sign_in_failed
status: test
author: Sigil tests
date: 2026-11-21
tags: [attack.credential-access, attack.t1110]
logsource: {product: sigil, service: audit}
detection:
    selection: {event.action: 'test.sign_in_failed'}
    condition: selection
level: low
`;
const correlation = (id: string, title: string, gte: number) => `title: ${title}
id: 7a1d3c0e-6f43-4b53-9d35-0a1c1f0e00${id}
status: test
author: Sigil tests
correlation:
    type: event_count
    rules: [test_sign_in_failed]
    group-by: [user.name]
    timespan: 30m
    condition: {gte: ${gte}}
level: high
`;
function writeRules(): void {
  fs.mkdirSync(rulesDir, { recursive: true });
  fs.writeFileSync(path.join(rulesDir, "credential-access_test_sign_in_failed.yml"), DETECTION);
  fs.writeFileSync(path.join(rulesDir, "credential-access_test_three_failures.yml"), correlation("10", "Three failures", 3));
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

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let n = 0;
function failure(host: string): EcsEvent {
  n++;
  return {
    "@timestamp": new Date(Date.now() - 120_000 + n * 1_000).toISOString(),
    event: { id: `swap-${runId}-${n}`, kind: "event", category: ["authentication"], type: ["start"], dataset: "sigil.audit", action: "test.sign_in_failed", outcome: "failure" },
    host: { name: host },
    user: { name: "mallory" },
  } as unknown as EcsEvent;
}
const runId = randomBytes(6).toString("hex");

/** Lag of a consumer group on the signals topic (0: every message handled and committed). */
async function groupLag(admin: kafkajs.Admin, group: string): Promise<number> {
  const topic = bus.topicName("signals");
  const [committed] = await admin.fetchOffsets({ groupId: `${iso.topicPrefix}${group}`, topics: [topic] });
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
    SIGIL_CORRELATE__WATCH_RULES: "true",
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

describe("rule hot-swap on several correlate instances", () => {
  it("a correlation added while running fires, and a window begun before the change completes, each once", async () => {
    const admin = new kafkajs.Kafka({ brokers: iso.kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const a = startRole("a");
      const b = startRole("b");
      await Promise.all([a.ready, b.ready]);
      const hits = async () => {
        await store.refresh("signals");
        const res = await store.search("signals", { size: 100 });
        return (res.hits as Signal[]).filter((s) => s.signal.type === "correlation").map((s) => s.rule.title).sort();
      };
      const settled = async () => (await groupLag(admin, "sigil-correlate-stateful")) === 0 && (await groupLag(admin, "sigil-chains")) === 0;
      const send = (host: string) => producer.send("events", [{ key: host, value: JSON.stringify(failure(host)) }]);

      // two failures (read by either instance: events are keyed by host), counted by the runner
      await send("web-1");
      await send("web-2");
      await waitFor("two failures counted", async () => (await store.count("events", {})) === 2 && (await settled()));

      fs.writeFileSync(path.join(rulesDir, "credential-access_test_two_failures.yml"), correlation("11", "Two failures", 2));
      await waitFor("both instances on the new plan", () => [a, b].every((r) => messages(r).some((m) => m.msg === "rules changed: new plan swapped in")));
      const carried = [a, b].flatMap((r) => messages(r).filter((m) => m.msg.startsWith("correlation and baseline state carried")));
      expect(carried.reduce((sum, m) => sum + Number(m["state_kept"] ?? 0), 0)).toBe(1); // mallory's window, on its partition's holder

      // the third failure completes the window begun before the change; the new rule has seen one
      await send("web-3");
      await waitFor("the three-failures hit", async () => (await hits()).length >= 1);
      await waitFor("settled", settled);
      expect(await hits()).toEqual(["Three failures"]);
      await send("web-4");
      await waitFor("the two-failures hit", async () => (await hits()).length >= 2);
      await waitFor("settled", settled);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await hits()).toEqual(["Three failures", "Two failures"]);

      for (const r of [a, b]) r.child.kill("SIGTERM");
      expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    } finally {
      await admin.disconnect();
    }
  }, 120_000);
});
