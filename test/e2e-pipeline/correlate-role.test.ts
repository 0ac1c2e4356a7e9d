// `sigil correlate` as its own process on real Kafka and Elasticsearch: it detects and builds the
// demo's chain, stops gracefully on SIGTERM (in-flight batches finished and committed, exit 0), and
// after a restart processes nothing twice.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config/load.ts";
import type { SigilConfig } from "../../platform/config/schema.ts";
import { createBus } from "../../platform/bus/create.ts";
import type { Bus } from "../../platform/bus/types.ts";
import type { Store } from "../../platform/store/types.ts";
import type { EcsEvent } from "../../schema/ecs.ts";
import type { Alert } from "../../schema/signal.ts";
import { Normalizer } from "../../ingest/normalize.ts";
import { defaultParseContext } from "../../ingest/parsers/types.ts";
import { openStore } from "../../cli/roles.ts";
import { DEMO_STREAMS, generateDemo } from "../../cli/demo/generate.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { testIsolation, type TestIsolation } from "../support/services.ts";

let iso: TestIsolation;
let env: NodeJS.ProcessEnv;
let config: SigilConfig;
let bus: Bus;
let store: Store;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-correlate-role-"));

function startRole(): { child: ChildProcess; logs: string[]; ready: Promise<void>; exited: Promise<number | null> } {
  const logs: string[] = [];
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin/sigil.js"), "correlate"], { cwd: dataDir, env, stdio: ["ignore", "pipe", "pipe"] });
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      logs.push(d.toString());
      if (logs.join("").includes("correlate role running")) resolve();
    };
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`sigil correlate exited early (${code}): ${logs.join("").slice(-2000)}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, logs, ready, exited };
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  iso = testIsolation(import.meta.url);
  env = {
    ...process.env,
    SIGIL_BUS__TYPE: "kafka",
    SIGIL_BUS__KAFKA__BROKERS: iso.kafkaBrokers.join(","),
    SIGIL_BUS__TOPIC_PREFIX: iso.topicPrefix,
    SIGIL_STORE__TYPE: "elasticsearch",
    SIGIL_STORE__ELASTICSEARCH__NODE: iso.esUrl,
    SIGIL_STORE__ELASTICSEARCH__INDEX_PREFIX: iso.indexPrefix,
    SIGIL_DATA_DIR: dataDir,
    SIGIL_TELEMETRY__METRICS__ENABLED: "false",
    SIGIL_CORRELATE__WATCH_RULES: "false",
  };
  config = loadConfig({ env });
  bus = await createBus(config.bus, { dataDir });
  await bus.ensureTopics();
  store = await openStore(config, dataDir);
  await store.init();
}, 180_000);

afterAll(async () => {
  await bus?.close();
  await store?.close();
  await iso?.cleanup();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("sigil correlate (role process)", () => {
  it("builds the chain, exits 0 on SIGTERM, and processes nothing twice after a restart", async () => {
    const first = startRole();
    await first.ready;
    const records = generateDemo({ seed: 3, minutes: 20, requestsPerMinute: 40 });
    const events: EcsEvent[] = [];
    const norms = new Map<string, Normalizer>();
    records.forEach((r, i) => {
      const s = DEMO_STREAMS[r.stream];
      let n = norms.get(r.stream);
      if (!n) norms.set(r.stream, (n = new Normalizer({ format: s.format, ctx: defaultParseContext() })));
      n.push({ data: r.line, source: s.file, line: i + 1, origin: `${s.file}@${i}`, host: s.host }, { event: (e) => events.push(e), reject: () => {} });
    });
    const producer = await bus.producer();
    for (let i = 0; i < events.length; i += 2_000) await producer.send("events", events.slice(i, i + 2_000).map((e) => ({ key: (e.host?.name as string | undefined) ?? null, value: JSON.stringify(e) })));

    const alert = await waitFor("an alert with the exfiltration step", async () => {
      await store.refresh();
      const hits = (await store.search("alerts", { size: 50 })).hits as Alert[];
      return hits.find((a) => a["merged_into"] === undefined && a.tactics.includes("exfiltration") && a.tactics.includes("reconnaissance"));
    });
    await waitFor("every event stored", async () => {
      await store.refresh();
      return (await store.count("events", {})) === events.length;
    });

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.logs.join("")).toMatch(/shutting down: finishing in-flight batches/);

    // restarted: committed offsets mean nothing is read again; the alert stays as it was
    await store.refresh();
    const before = (await store.get("alerts", alert.id)) as Alert;
    const second = startRole();
    await second.ready;
    await new Promise((r) => setTimeout(r, 8_000));
    await store.refresh();
    const after = (await store.get("alerts", alert.id)) as Alert;
    expect(after.version).toBe(before.version);
    expect(await store.count("events", {})).toBe(events.length);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});
