// Sigil observes itself, on the distributed pipeline as real processes (agent → ingest → Kafka →
// correlate → Elasticsearch, console beside them): every role serves each metric the catalog lists
// for it, with bounded labels, /healthz and /readyz with its checks; one event is followed through
// the logs from ingest to the alert by its event id (and an OTLP record by its trace id); and the
// console's health page shows the metrics in a real browser.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { METRICS, type Role as RoleName } from "../../platform/telemetry/catalog.ts";
import { PROJECT_ROOT } from "../support/shared-data.ts";
import { testIsolation, type TestIsolation } from "../support/services.ts";
import { AgentProcess, agentSetup, type AgentSetup } from "../agent/support/agent-process.ts";
import { chromiumMissing, launch, signIn } from "../console/support/browser.ts";
import { Role, freePort, sigil, until, type LogLine } from "./support.ts";

const PASSWORD = "telemetry test correct horse";
let iso: TestIsolation;
let dir: string;
let env: NodeJS.ProcessEnv;
const roles: Record<string, Role> = {};
let agent: AgentProcess;
let agentCfg: AgentSetup;
let agentMetrics = "";
let ingestUrl = "";
let otlpUrl = "";
let consoleUrl = "";
let token = "";
const host = `telemetry-${randomBytes(3).toString("hex")}`;
const traceId = randomBytes(16).toString("hex");

beforeAll(async () => {
  iso = testIsolation(import.meta.url);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-telemetry-"));
  const ports = { ingest: await freePort(), correlate: await freePort(), console: await freePort(), agent: await freePort() };
  const url = (p: number) => `http://127.0.0.1:${p}`;
  fs.writeFileSync(
    path.join(dir, "sigil.yml"),
    stringify({
      data_dir: path.join(dir, "data"),
      bus: { type: "kafka", topic_prefix: iso.topicPrefix, partitions: 3, kafka: { brokers: iso.kafkaBrokers } },
      store: { type: "elasticsearch", elasticsearch: { node: iso.esUrl, index_prefix: iso.indexPrefix } },
      telemetry: { log_level: "debug", metrics: { port: 0 }, ready: { lag_interval_ms: 1000 } },
      ingest: { timezone: "UTC", http: { port: 0 }, otlp: { port: 0 }, syslog: { udp: { enabled: false }, tcp: { enabled: false } } },
      security: { tokens: { rate_limit_eps: 0 } },
      correlate: { rules: [path.join(PROJECT_ROOT, "bench/e2e/rules")], watch_rules: false },
      console: { port: 0, health: { metrics_urls: [url(ports.ingest), url(ports.correlate), url(ports.agent), url(ports.console)].map((u) => `${u}/metrics`) } },
    }),
  );
  env = { ...process.env, SIGIL_CONFIG: path.join(dir, "sigil.yml") };
  delete env["SIGIL_LOG_LEVEL"];
  token = (JSON.parse(sigil(["tokens", "create", "--name", "telemetry-test", "--json"], env)) as { token: string }).token;
  sigil(["users", "add", "olivia", "--role", "admin"], env, `${PASSWORD}\n`);
  const start = (name: string, p: number) => new Role(name, [name], { ...env, SIGIL_TELEMETRY__METRICS__PORT: String(p) }, url(p));
  roles["correlate"] = start("correlate", ports.correlate);
  roles["ingest"] = start("ingest", ports.ingest);
  await roles["correlate"].started(null);
  ingestUrl = (await roles["ingest"].started(/http listening on (\S+)/))!;
  otlpUrl = /otlp listening on (\S+)/.exec(roles["ingest"].stderr)![1];
  roles["console"] = start("console", ports.console);
  consoleUrl = (await roles["console"].started(/console: listening on (\S+)/, 300_000))!;
  agentCfg = agentSetup(`${ingestUrl}/v1/ingest`, token, () => ({ inputs: [{ type: "file", paths: [path.join(dir, "app", "*.log")], start_at: "beginning", format: "syslog-rfc5424" }], metrics: { port: ports.agent } }));
  fs.mkdirSync(path.join(dir, "app"));
  agent = new AgentProcess(agentCfg.config);
  agentMetrics = url(ports.agent);
  await until("the agent's metrics", () => fetch(`${agentMetrics}/healthz`).then((r) => r.ok, () => false));
}, 420_000);

afterAll(async () => {
  await agent?.stop();
  for (const r of Object.values(roles)) await r.stop();
  // the roles' logs, for reading a failure
  const out = path.join(PROJECT_ROOT, "test-results", "telemetry");
  fs.mkdirSync(out, { recursive: true });
  for (const [name, r] of Object.entries(roles)) fs.writeFileSync(path.join(out, `${name}.log`), r.stderr);
  if (agent) fs.writeFileSync(path.join(out, "agent.log"), agent.stderr);
  await iso?.cleanup();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (agentCfg) fs.rmSync(agentCfg.dir, { recursive: true, force: true });
});

const sampleLabelsOk = (samples: { name: string; labels: Record<string, string> }[]) => {
  const bad: string[] = [];
  for (const s of samples) {
    const base = s.name.replace(/_(bucket|sum|count)$/, "");
    const entry = METRICS.find((m) => m.name === base || m.name === s.name);
    if (!entry) continue;
    for (const k of Object.keys(s.labels)) if (k !== "le" && k !== "quantile" && !entry.labels.includes(k)) bad.push(`${s.name}{${k}}`);
  }
  return bad;
};

describe("telemetry of the roles", () => {
  it("serves every catalogued metric per role, health and readiness; one event is followed from ingest to alert in the logs", async () => {
    // traffic: a canary that becomes an alert, ordinary lines, a line that is not syslog (a dead letter)
    const now = new Date().toISOString();
    fs.writeFileSync(
      path.join(dir, "app", "app.log"),
      [`<38>1 ${now} ${host} sigil-canary 42 - - SIGIL-BENCH-CANARY 1`, `<38>1 ${now} ${host} cron 43 - - job done`, "this is not syslog"].join("\n") + "\n",
    );
    // and an OTLP log record with a trace id
    const otlp = await fetch(`${otlpUrl}/v1/logs`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        resourceLogs: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "checkout" } }] }, scopeLogs: [{ logRecords: [{ timeUnixNano: String(Date.now() * 1e6), severityText: "INFO", body: { stringValue: "order placed" }, traceId, spanId: randomBytes(8).toString("hex") }] }] }],
      }),
    });
    expect(otlp.status).toBe(200);

    // the alert is written and sent to consoles
    const alertLine = await until("the alert in correlate's log", () => roles["correlate"].find("alert published")[0]);
    await until("the alert in the console's log", () => roles["console"].find("alert sent to live consoles", (l) => l["alert_id"] === alertLine["alert_id"])[0]);

    // follow it back: alert → signal → event → ingest's published batch
    const signalIds = alertLine["signal_ids"] as string[];
    const eventIds = alertLine["event_ids"] as string[];
    expect(signalIds.length).toBe(1);
    expect(eventIds.length).toBe(1);
    const chained = roles["correlate"].find("signal added to a chain", (l) => l["signal_id"] === signalIds[0]);
    expect(chained[0]?.["chain_id"]).toBe(alertLine["chain_id"]);
    const matched = roles["correlate"].find("event matched rules", (l) => l["event_id"] === eventIds[0]);
    expect(matched).toHaveLength(1);
    expect(matched[0]["signal_ids"]).toEqual(signalIds);
    await until("the event in ingest's log", () => roles["ingest"].find("published batch", (l) => ((l["event_ids"] as string[] | undefined) ?? []).includes(eventIds[0]))[0]);
    await until("the event stored by the indexer", () => roles["correlate"].find("events stored", (l) => ((l["event_ids"] as string[] | undefined) ?? []).includes(eventIds[0]))[0]);
    // the OTLP record by its trace id at ingest and at detection
    await until("the trace id at ingest", () => roles["ingest"].find("published batch", (l) => ((l["trace_ids"] as string[] | undefined) ?? []).includes(traceId))[0]);
    const traced = await until("the trace id at detection", () => roles["correlate"].find("event evaluated", (l: LogLine) => l["trace_id"] === traceId)[0]);
    expect(typeof traced["event_id"]).toBe("string");

    // every role: the catalogued metrics, bounded labels, health and readiness
    await until("the consumer lag read", async () => (await roles["correlate"].metrics()).samples.some((s) => s.name === "sigil_bus_consumer_lag_messages"));
    const scrapes: Record<RoleName, Awaited<ReturnType<Role["metrics"]>>> = {
      ingest: await roles["ingest"].metrics(),
      correlate: await roles["correlate"].metrics(),
      console: await roles["console"].metrics(),
      agent: await (async () => {
        const text = await (await fetch(`${agentMetrics}/metrics`)).text();
        return { text, samples: (await import("../../ui/server/health/prometheus.ts")).parsePrometheus(text) };
      })(),
    };
    const missing: Record<string, string[]> = {};
    const badLabels: Record<string, string[]> = {};
    for (const role of ["ingest", "correlate", "console", "agent"] as const) {
      const m = METRICS.filter((x) => x.roles.includes(role) && !scrapes[role].text.includes(`# TYPE ${x.name} ${x.type}`)).map((x) => x.name);
      if (m.length) missing[role] = m;
      const b = sampleLabelsOk(scrapes[role].samples);
      if (b.length) badLabels[role] = b;
    }
    expect(missing).toEqual({});
    expect(badLabels).toEqual({});
    const value = (role: RoleName, name: string, labels: Record<string, string> = {}) =>
      scrapes[role].samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((t, s) => t + s.value, 0);
    // the list, with values that the traffic above must have moved
    expect(value("ingest", "sigil_bus_messages_produced_total", { topic: "events" })).toBeGreaterThanOrEqual(3);
    expect(value("correlate", "sigil_bus_messages_consumed_total", { topic: "events" })).toBeGreaterThanOrEqual(3);
    expect(value("ingest", "sigil_ingest_rejected_total", { reason: "syslog_bad_header" })).toBe(1);
    const lagSeries = scrapes.correlate.samples.filter((s) => s.name === "sigil_bus_consumer_lag_messages" && s.labels["group"] === "sigil-correlate");
    expect(lagSeries.map((s) => s.labels["partition"]).sort()).toEqual(["0", "1", "2"]);
    expect(value("correlate", "sigil_bus_consumer_partitions", { group: "sigil-correlate", topic: "events" })).toBe(3);
    expect(value("correlate", "sigil_correlate_rule_evaluation_seconds_count")).toBeGreaterThan(0);
    expect(value("correlate", "sigil_correlate_rule_plan_version")).toBeGreaterThan(0);
    expect(value("correlate", "sigil_correlate_rule_plan_rules", { kind: "detection" })).toBe(1);
    expect(scrapes.correlate.samples.some((s) => s.name === "sigil_stateful_live")).toBe(true);
    expect(value("correlate", "sigil_store_operation_seconds_count", { op: "put" })).toBeGreaterThan(0);
    expect(value("correlate", "sigil_store_breaker_state")).toBe(0);
    expect(scrapes.console.samples.some((s) => s.name === "sigil_console_ws_clients")).toBe(true);
    expect(scrapes.agent.samples.some((s) => s.name === "sigil_agent_buffer_lines")).toBe(true);

    for (const [name, r] of Object.entries(roles)) {
      expect((await fetch(`${r.telemetry}/healthz`)).status, name).toBe(200);
      const ready = await until(`${name} ready`, async () => {
        const res = await fetch(`${r.telemetry}/readyz`);
        return res.status === 200 ? ((await res.json()) as { checks: Record<string, { ok: boolean }> }) : null;
      });
      expect(Object.keys(ready.checks), name).toEqual(expect.arrayContaining([`${name}.store`, "bus.consumer_lag"]));
      if (name !== "ingest") expect(Object.keys(ready.checks)).toContain(`${name}.bus`);
    }
    expect((await fetch(`${agentMetrics}/readyz`)).status).toBe(200);
  });

  it("shows the metrics on the console's health page", async (ctx) => {
    const why = chromiumMissing();
    if (why) return ctx.skip(why);
    const b = await launch();
    try {
      await signIn(b.page, consoleUrl, "olivia", PASSWORD);
      await b.page.goto(`${consoleUrl}/health`);
      const version = (await roles["correlate"].metrics()).samples.find((s) => s.name === "sigil_correlate_rule_plan_info")!.labels["version"];
      // two samples 5 s apart give the per-event and per-write figures
      await expect.poll(() => b.page.getByTestId("plan-version").textContent(), { timeout: 30_000 }).toBe(version);
      await expect.poll(() => b.page.getByTestId("rule-evaluation").textContent(), { timeout: 30_000 }).toMatch(/\d+(\.\d)? µs/);
      expect(await b.page.getByTestId("rule-evaluation").textContent()).toContain("1 detection");
      expect(await b.page.getByTestId("correlation-state").textContent()).toContain("chains");
      await expect.poll(() => b.page.getByTestId("store-writes").textContent(), { timeout: 30_000 }).toContain("circuit closed");
      await expect.poll(() => b.page.getByTestId("consumer-lag").textContent(), { timeout: 30_000 }).toContain("group=sigil-correlate");
      expect(await b.page.getByTestId("dead-letters").textContent()).toContain("syslog_bad_header");
      expect(await b.page.getByTestId("agents").textContent()).toContain(agentMetrics);
      expect(Number(await b.page.getByTestId("ws-clients").textContent())).toBeGreaterThanOrEqual(0);
      await b.screenshot("telemetry-health-page");
      expect(b.problems).toEqual([]);
    } finally {
      await b.close();
    }
  });
});
