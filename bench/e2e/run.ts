// bench/e2e: the whole pipeline as separate processes on this machine: HTTP ingest → real Kafka →
// correlate (Sigma plan, correlation, chains) → real Elasticsearch, and a console holding the live
// WebSocket. Three phases, one JSON object on stdout (progress on stderr):
//
//   throughput  one instance per role at --rate events/s: sustained events/s, ingest-ack → alert on the
//               WebSocket and → alert searchable (p50/p95/p99) with the stages between (ack → signal on
//               sigil.signals → alert on sigil.alerts → WebSocket), consumer lag, the store's indexing rate
//               and the indexer's lag, CPU and peak memory per role and of Kafka and Elasticsearch
//   scale       two correlate instances in one consumer group: the partition split, throughput per
//               instance, then one instance killed (SIGKILL) mid-run: no lost or duplicated alert
//   soak        --soak-minutes at --soak-rate: memory per role sampled every 10 s, growth after warm-up
//               (--soak-warm-up-minutes, default 2 or a fifth of the soak: set it past the longest rule
//               window to measure the steady state, e.g. --soak-minutes 70 --soak-warm-up-minutes 60)
//
//   npx tsx bench/e2e/run.ts [--phases throughput,scale,soak] [--rate 10000] [--seconds 60] [--warmup 20]
//       [--canaries 5] [--batch 500] [--in-flight 8] [--partitions 6] [--scale-seconds 90]
//       [--soak-minutes 10] [--soak-rate 2000] [--soak-warm-up-minutes N] [--kafka 127.0.0.1:19092] [--es http://127.0.0.1:19200]
//       [--indexer process|correlate]  (events stored by a niced `sigil index` process, the default, or in correlate)
//       [--cpu-prof <dir>]  (a V8 CPU profile per role process, written as the roles stop)
//       [--role-sessions own|shared]  (each role in a session of its own, as services are, the default; or
//                                      all in the bench's: one scheduling group where the kernel has autogroups)

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Cluster, ROOT, codeRoot, procStats, type RoleProcess, type RoleState } from "./cluster.ts";
import { LoadGenerator, now } from "./load.ts";
import { Observer } from "./observer.ts";
import type { Sample } from "../../ui/server/health/prometheus.ts";

const { values: a } = parseArgs({
  options: {
    phases: { type: "string", default: "throughput,scale,soak" },
    rate: { type: "string", default: "10000" },
    seconds: { type: "string", default: "60" },
    warmup: { type: "string", default: "20" },
    canaries: { type: "string", default: "5" },
    batch: { type: "string", default: "500" },
    "in-flight": { type: "string", default: "8" },
    partitions: { type: "string", default: "6" },
    "scale-seconds": { type: "string", default: "90" },
    "scale-rate": { type: "string" },
    "soak-minutes": { type: "string", default: "10" },
    "soak-rate": { type: "string", default: "2000" },
    "soak-warm-up-minutes": { type: "string" },
    kafka: { type: "string" },
    es: { type: "string" },
    "log-level": { type: "string", default: "warn" },
    "settle-seconds": { type: "string", default: "120" },
    /** Run the roles from this git revision (exported to a temporary folder) instead of the working tree. */
    rev: { type: "string" },
    /** Run the roles from this folder (a copy of the project with node_modules) instead of the working tree. */
    "code-dir": { type: "string" },
    /** KEY=VALUE environment for every role (config overrides such as SIGIL_BUS__KAFKA__CONSUMER_CONCURRENCY=6). */
    "role-env": { type: "string", multiple: true },
    /** Where events are indexed: "process" (a `sigil index` role process, niced; correlate leaves indexing to it) or "correlate" (inside each correlate process). */
    indexer: { type: "string", default: "process" },
    /** Write a CPU profile of each role process into this folder (V8 `--cpu-prof`, written as each role stops). */
    "cpu-prof": { type: "string" },
    /** "own": each role process leads its own session (as services do); "shared": all in the bench's session. */
    "role-sessions": { type: "string", default: "own" },
  },
});
const ROLE_ENV: Record<string, string> = Object.fromEntries(
  (a["role-env"] ?? []).map((kv) => {
    const i = kv.indexOf("=");
    if (i < 1) throw new Error(`--role-env wants KEY=VALUE, got ${kv}`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  }),
);
if (a.indexer !== "process" && a.indexer !== "correlate") throw new Error(`--indexer is "process" or "correlate", got ${a.indexer}`);
const INDEXER = a.indexer;
if (a["role-sessions"] !== "own" && a["role-sessions"] !== "shared") throw new Error(`--role-sessions is "own" or "shared", got ${a["role-sessions"]}`);
const ROLE_SESSIONS = a["role-sessions"];
const CODE = a["code-dir"] ? { root: path.resolve(a["code-dir"]), cleanup: () => {} } : codeRoot(a.rev);

const state = (() => {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, ".sigil/services/state.json"), "utf8")) as { ports?: { kafka?: number; elasticsearch?: number }; kafka?: { pid?: number }; elasticsearch?: { pid?: number } };
  } catch {
    return null;
  }
})();
const KAFKA = (a.kafka ?? process.env.SIGIL_TEST_KAFKA_BROKERS ?? `127.0.0.1:${state?.ports?.kafka ?? 19092}`).split(",");
const ES = (a.es ?? process.env.SIGIL_TEST_ES_URL ?? `http://127.0.0.1:${state?.ports?.elasticsearch ?? 19200}`).replace(/\/+$/, "");
const RULES = [path.join(ROOT, "bench/e2e/rules")];
const num = (k: keyof typeof a) => Number(a[k]);

const say = (msg: string) => process.stderr.write(`bench/e2e: ${msg}\n`);
const r1 = (x: number) => Math.round(x * 10) / 10;

function pct(xs: number[], p: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((x, y) => x - y);
  return r1(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]);
}
function dist(xs: number[]) {
  return { n: xs.length, p50: pct(xs, 50), p95: pct(xs, 95), p99: pct(xs, 99), max: xs.length ? r1(Math.max(...xs)) : null };
}

const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((t, s) => t + s.value, 0);

/** CPU of the shared services (Kafka, Elasticsearch) over a window, from their pids. */
function servicesCpu(): () => Record<string, { cpu_s: number; cpu_percent: number; rss_mb: number; nice: number; autogroup_nice: number | null }> {
  const pids = { kafka: state?.kafka?.pid, elasticsearch: state?.elasticsearch?.pid, bench: process.pid };
  const t0 = Date.now();
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid ? procStats(pid)?.cpu_s ?? null : null]));
  return () => {
    const dt = (Date.now() - t0) / 1000;
    const out: Record<string, { cpu_s: number; cpu_percent: number; rss_mb: number; nice: number; autogroup_nice: number | null }> = {};
    for (const [k, pid] of Object.entries(pids)) {
      const s = pid ? procStats(pid) : null;
      const c0 = start[k];
      if (!s || c0 === null) continue;
      // nice: the scheduling priority the process ran at (Elasticsearch: SIGIL_SERVICES_ES_NICE, decision
      // 0022), and its session's autogroup's, which is what ranks it against the roles' session
      out[k] = { cpu_s: r1(s.cpu_s - c0), cpu_percent: r1(((s.cpu_s - c0) / dt) * 100), rss_mb: Math.round(s.rss_mb), nice: s.nice, autogroup_nice: s.autogroup_nice };
    }
    return out;
  };
}

/** Summed consumer lag of a group over the role processes (correlate, index) that are alive. */
async function groupLag(cluster: Cluster, roles: RoleProcess[], group: string): Promise<number> {
  return sumOver(cluster, roles, "sigil_bus_consumer_lag_messages", { group });
}

/** One metric summed over the role processes that are alive. */
async function sumOver(cluster: Cluster, roles: RoleProcess[], name: string, labels: Record<string, string>): Promise<number> {
  let total = 0;
  for (const r of roles) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
    try {
      total += sum(await cluster.metrics(r), name, labels);
    } catch {
      // a role that does not answer is reported elsewhere
    }
  }
  return total;
}

interface Started {
  cluster: Cluster;
  ingest: RoleProcess;
  correlate: RoleProcess[];
  /** `sigil index` processes (none when correlate indexes). */
  index: RoleProcess[];
  console: RoleProcess;
  load: LoadGenerator;
  observer: Observer;
}

async function startCluster(correlates: number, runMs = 0): Promise<Started> {
  // a run longer than the console's 30-minute idle timeout keeps the watching observer signed in
  const sessionIdleMs = runMs + 10 * 60_000 > 30 * 60_000 ? runMs + 10 * 60_000 : undefined;
  const cluster = new Cluster({ kafka: KAFKA, es: ES, partitions: num("partitions"), logLevel: a["log-level"]!, rules: RULES, root: CODE.root, env: ROLE_ENV, indexer: INDEXER, cpuProfDir: a["cpu-prof"] ? path.resolve(a["cpu-prof"]) : undefined, sessionIdleMs, roleSessions: ROLE_SESSIONS });
  try {
    return await startRoles(cluster, correlates);
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    await cluster.cleanup().catch(() => undefined);
    throw err;
  }
}

async function startRoles(cluster: Cluster, correlates: number): Promise<Started> {
  say(`prefix ${cluster.prefix}; creating the token and the console user`);
  cluster.prepare();
  const correlate: RoleProcess[] = [];
  say("starting correlate");
  correlate.push(await cluster.start("correlate", "correlate"));
  for (let i = 2; i <= correlates; i++) {
    // identical instances: the chain builder's exclusive group runs it on one of them at a time
    correlate.push(await cluster.start("correlate", `correlate-${i}`));
  }
  const index: RoleProcess[] = [];
  if (INDEXER === "process") {
    say("starting index");
    index.push(await cluster.start("index", "index"));
  }
  say("starting ingest and console");
  const ingest = await cluster.start("ingest", "ingest");
  const consoleP = await cluster.start("console", "console", { SIGIL_CONSOLE__HEALTH__METRICS_URLS: "" });
  const load = new LoadGenerator({ url: ingest.url!, token: cluster.token, batch: num("batch"), maxInFlight: num("in-flight") });
  const observer = new Observer({ consoleUrl: consoleP.url!, es: ES, prefix: cluster.prefix, run: load.run, canaries: load.canaries });
  await observer.connect();
  await observer.tapTopics(KAFKA);
  observer.startPolling(100);
  return { cluster, ingest, correlate, index, console: consoleP, load, observer };
}

async function finish(s: Started): Promise<Record<string, number | null>> {
  s.observer.close();
  const codes = await s.cluster.stop();
  await s.cluster.cleanup();
  return codes;
}

function latencies(s: Started, from = 0, to = Infinity) {
  const ws: number[] = [];
  const searchable: number[] = [];
  // the stages between: ack → signal on sigil.signals (detection) → alert on sigil.alerts (chain builder,
  // its store writes) → alert on the WebSocket (console)
  const toSignal: number[] = [];
  const toAlert: number[] = [];
  const toWs: number[] = [];
  for (const c of s.load.canaries) {
    if (c.ackAt === null || c.ackAt < from || c.ackAt >= to) continue;
    const v = s.observer.views.get(c.n);
    if (v?.wsAt != null) ws.push(v.wsAt - c.ackAt);
    if (v?.searchableAt != null) searchable.push(v.searchableAt - c.ackAt);
    if (v?.signalAt != null) toSignal.push(v.signalAt - c.ackAt);
    if (v?.signalAt != null && v.alertTopicAt != null) toAlert.push(v.alertTopicAt - v.signalAt);
    if (v?.alertTopicAt != null && v.wsAt != null) toWs.push(v.wsAt - v.alertTopicAt);
  }
  return {
    ack_to_websocket_ms: dist(ws),
    ack_to_searchable_ms: dist(searchable),
    stages_ms: { ack_to_signal_topic: dist(toSignal), signal_to_alert_topic: dist(toAlert), alert_topic_to_websocket: dist(toWs) },
  };
}

/** Counters of the pipeline over the run, read from the roles' /metrics. */
async function pipelineCounters(s: Started) {
  const ing = await s.cluster.metrics(s.ingest);
  let evaluated = 0;
  let ruleSeconds = 0;
  let signals = 0;
  const perInstance: Record<string, number> = {};
  // where correlate's time goes: per-stage batch counts and seconds, store writes
  const t: Record<string, number> = {};
  const add = (k: string, v: number) => (t[k] = (t[k] ?? 0) + v);
  t["window_s"] = now() / 1000;
  for (const r of s.correlate) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
    const m = await s.cluster.metrics(r);
    const ev = sum(m, "sigil_correlate_messages_total", { stage: "events", outcome: "ok" });
    perInstance[r.name] = ev;
    evaluated += sum(m, "sigil_correlate_rule_evaluated_events_total");
    ruleSeconds += sum(m, "sigil_correlate_rule_evaluation_seconds_sum");
    signals += sum(m, "sigil_bus_messages_produced_total", { topic: "signals" });
    for (const stage of ["events", "chains"]) {
      add(`${stage}_batches`, sum(m, "sigil_correlate_batch_seconds_count", { stage }));
      add(`${stage}_batch_s`, sum(m, "sigil_correlate_batch_seconds_sum", { stage }));
    }
    add("store_puts", sum(m, "sigil_store_operation_seconds_count", { op: "put" }));
    add("store_put_s", sum(m, "sigil_store_operation_seconds_sum", { op: "put" }));
    add("store_updates", sum(m, "sigil_store_operation_seconds_count", { op: "update" }));
    add("store_update_s", sum(m, "sigil_store_operation_seconds_sum", { op: "update" }));
    add("rule_eval_s", sum(m, "sigil_correlate_rule_evaluation_seconds_sum"));
    // garbage collection pauses of the correlate process (V8, every kind), and its event loop's delay
    add("gc_s", sum(m, "sigil_nodejs_gc_duration_seconds_sum"));
    add("gc_major_s", sum(m, "sigil_nodejs_gc_duration_seconds_sum", { kind: "major" }));
    add("gc_count", sum(m, "sigil_nodejs_gc_duration_seconds_count"));
    add("eventloop_lag_p99_s", sum(m, "sigil_nodejs_eventloop_lag_p99_seconds"));
    add("eventloop_lag_max_s", sum(m, "sigil_nodejs_eventloop_lag_max_seconds"));
    add("events", ev);
    add("indexed", sum(m, "sigil_correlate_indexed_events_total", { outcome: "stored" }));
  }
  for (const r of s.index) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
    add("indexed", sum(await s.cluster.metrics(r), "sigil_correlate_indexed_events_total", { outcome: "stored" }));
  }
  return {
    ingest_events: sum(ing, "sigil_ingest_events_total"),
    ingest_rejected: sum(ing, "sigil_ingest_rejected_total"),
    correlate_events_by_instance: perInstance,
    rule_evaluation_us_per_event: evaluated ? r1((ruleSeconds / evaluated) * 1e6) : null,
    signals_published: signals,
    timing: t,
  };
}

/** Per-batch means over a window, from two pipelineCounters readings. */
function whereTimeGoes(before: { timing: Record<string, number> }, after: { timing: Record<string, number> }) {
  const d = (k: string) => (after.timing[k] ?? 0) - (before.timing[k] ?? 0);
  const ms = (s: number, n: number) => (n > 0 ? r1((s / n) * 1000) : null);
  return {
    events_batches: d("events_batches"),
    events_per_batch: d("events_batches") > 0 ? Math.round(d("events") / d("events_batches")) : null,
    events_batch_ms_mean: ms(d("events_batch_s"), d("events_batches")),
    rule_evaluation_ms_per_batch: ms(d("rule_eval_s"), d("events_batches")),
    chains_batches: d("chains_batches"),
    chains_batch_ms_mean: ms(d("chains_batch_s"), d("chains_batches")),
    store_puts: d("store_puts"),
    store_put_ms_mean: ms(d("store_put_s"), d("store_puts")),
    store_updates: d("store_updates"),
    store_update_ms_mean: ms(d("store_update_s"), d("store_updates")),
    gc_pause_ms_per_s: r1((d("gc_s") * 1000) / Math.max(1e-9, d("window_s"))),
    gc_major_pause_ms_per_s: r1((d("gc_major_s") * 1000) / Math.max(1e-9, d("window_s"))),
    gc_pauses: d("gc_count"),
    gc_pause_ms_mean: ms(d("gc_s"), d("gc_count")),
    // gauges at the end of the window (prom-client's event loop monitor since its last reset)
    eventloop_lag_p99_ms: r1((after.timing["eventloop_lag_p99_s"] ?? 0) * 1000),
    eventloop_lag_max_ms: r1((after.timing["eventloop_lag_max_s"] ?? 0) * 1000),
  };
}

/** Events in the store (after a refresh): every published event exactly once by id. */
async function storedEvents(prefix: string): Promise<number> {
  await fetch(`${ES}/${prefix}events-*/_refresh`, { method: "POST" }).catch(() => undefined);
  const r = await fetch(`${ES}/${prefix}events-*/_count`);
  return r.ok ? ((await r.json()) as { count: number }).count : NaN;
}

async function waitForDrain(s: Started, timeoutMs: number): Promise<number> {
  const t0 = now();
  while (now() - t0 < timeoutMs) {
    let lag = 0;
    for (const g of ["sigil-correlate", "sigil-chains", "sigil-events-store"]) lag += await groupLag(s.cluster, [...s.correlate, ...s.index], g);
    if (lag === 0) return r1((now() - t0) / 1000);
    await new Promise((r) => setTimeout(r, 1000));
  }
  return NaN;
}

// -------------------------------------------------------------------------------------------------

async function throughput(): Promise<Record<string, unknown>> {
  const rate = num("rate");
  const s = await startCluster(1);
  try {
    say(`warm-up ${a.warmup} s at ${rate} events/s`);
    await s.load.runFor(num("warmup") * 1000, rate, 0);
    const ackedBefore = s.load.acked;
    const before = await pipelineCounters(s);
    s.cluster.markCpu();
    const svc = servicesCpu();
    const memTimer = setInterval(() => void s.cluster.sampleMemory(now()), 2000);
    const lagSamples: number[] = [];
    const indexLagSamples: number[] = [];
    const takenSamples: number[] = [];
    const lagTimer = setInterval(() => {
      void groupLag(s.cluster, s.correlate, "sigil-correlate").then((l) => lagSamples.push(l));
      // signals the chain builder took whose store round is not durable yet (decision 0025)
      void sumOver(s.cluster, s.correlate, "sigil_bus_taken_messages", { topic: "signals" }).then((l) => takenSamples.push(l));
      void groupLag(s.cluster, [...s.correlate, ...s.index], "sigil-events-store").then((l) => indexLagSamples.push(l));
    }, 5000);
    say(`measuring ${a.seconds} s at ${rate} events/s with ${a.canaries} canaries/s`);
    const t0 = now();
    await s.load.runFor(num("seconds") * 1000, rate, num("canaries"));
    const dt = (now() - t0) / 1000;
    clearInterval(lagTimer);
    const lagAtEnd = await groupLag(s.cluster, s.correlate, "sigil-correlate");
    const usage = s.cluster.usage(dt);
    const services = svc();
    clearInterval(memTimer);
    const after = await pipelineCounters(s);
    say(`load done; waiting for every canary (up to ${a["settle-seconds"]} s)`);
    const drainS = await waitForDrain(s, num("settle-seconds") * 1000);
    await s.observer.settle(num("settle-seconds") * 1000);
    const audit = await s.observer.audit();
    const stored = await storedEvents(s.cluster.prefix);
    const end = await pipelineCounters(s);
    const correlated = Object.values(after.correlate_events_by_instance).reduce((x, y) => x + y, 0) - Object.values(before.correlate_events_by_instance).reduce((x, y) => x + y, 0);
    const codes = await finish(s);
    return {
      target_events_per_s: rate,
      seconds: r1(dt),
      ingest_acked_events_per_s: Math.round((s.load.acked - ackedBefore) / dt),
      correlate_events_per_s: Math.round(correlated / dt),
      consumer_lag_events: { samples_every_5s: lagSamples, at_end: lagAtEnd, drained_after_s: drainS },
      indexed_events_per_s: Math.round(((after.timing["indexed"] ?? 0) - (before.timing["indexed"] ?? 0)) / dt),
      indexer_lag_events_every_5s: indexLagSamples,
      chain_builder_taken_signals_every_5s: takenSamples,
      behind_schedule_batches: s.load.behind,
      ingest_ack_ms: dist(s.load.ackMs),
      retried_requests: s.load.retries,
      ...latencies(s, t0),
      canaries: audit,
      events_stored: stored,
      events_published_by_ingest: end.ingest_events,
      events_rejected_by_ingest: end.ingest_rejected,
      rule_evaluation_us_per_event: end.rule_evaluation_us_per_event,
      correlate_time: whereTimeGoes(before, after),
      signals_published: end.signals_published - before.signals_published,
      roles: usage,
      services,
      exit_codes: codes,
      errors: s.load.errors.slice(0, 5),
    };
  } catch (err) {
    await finish(s).catch(() => undefined);
    throw err;
  }
}

async function partitionsHeld(s: Started): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const r of s.correlate) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) {
      out[r.name] = null;
      continue;
    }
    // an instance killed between the check above and the scrape answers nothing: it holds nothing
    const samples = await s.cluster.metrics(r).catch(() => null);
    out[r.name] = samples === null ? null : sum(samples, "sigil_bus_consumer_partitions", { group: "sigil-correlate", topic: "events" });
  }
  return out;
}

async function scale(): Promise<Record<string, unknown>> {
  const rate = Number(a["scale-rate"] ?? a.rate);
  const s = await startCluster(2);
  try {
    // both members must hold their share before the load starts
    const partitions = num("partitions");
    let split: Record<string, number | null> = {};
    for (let i = 0; i < 120; i++) {
      split = await partitionsHeld(s);
      const vals = Object.values(split);
      if (vals.every((v) => (v ?? 0) > 0) && vals.reduce((x: number, y) => x + (y ?? 0), 0) === partitions) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    say(`partitions of sigil.events: ${JSON.stringify(split)}`);
    const total = num("scale-seconds") * 1000;
    const killAt = total / 2;
    await s.load.runFor(10_000, rate, 0); // warm-up
    s.cluster.markCpu();
    const before = await pipelineCounters(s);
    const t0 = now();
    let killedAt = 0;
    let afterKill: Record<string, number | null> = {};
    // the first instance started holds the chain builder's exclusive group too: killing it also
    // proves the take-over of chain building (no lost or duplicated alert)
    const victim = s.correlate[0];
    const survivor = s.correlate[1];
    const loadDone = s.load.runFor(total, rate, num("canaries"));
    await new Promise((r) => setTimeout(r, killAt));
    const mid = await pipelineCounters(s);
    const midT = now();
    say(`killing ${victim.name} (SIGKILL) mid-run`);
    victim.child.kill("SIGKILL");
    killedAt = now();
    // the group notices the dead member after the session timeout and gives its partitions to the survivor
    const reassign = (async () => {
      for (let i = 0; i < 120; i++) {
        afterKill = await partitionsHeld(s);
        if (afterKill[survivor.name] === partitions) return r1((now() - killedAt) / 1000);
        await new Promise((r) => setTimeout(r, 500));
      }
      return NaN;
    })();
    await loadDone;
    const dt = (now() - t0) / 1000;
    const reassignedAfterS = await reassign;
    const usage = s.cluster.usage(dt);
    say("load done; waiting for every canary");
    const drainS = await waitForDrain(s, num("settle-seconds") * 1000);
    await s.observer.settle(num("settle-seconds") * 1000);
    const audit = await s.observer.audit();
    const stored = await storedEvents(s.cluster.prefix);
    const end = await pipelineCounters(s);
    const perInstanceBefore: Record<string, number> = {};
    for (const [k, v] of Object.entries(mid.correlate_events_by_instance)) perInstanceBefore[k] = Math.round((v - (before.correlate_events_by_instance[k] ?? 0)) / ((midT - t0) / 1000));
    const codes = await finish(s);
    return {
      target_events_per_s: rate,
      seconds: r1(dt),
      partitions_before_kill: split,
      partitions_after_kill: afterKill,
      reassigned_after_kill_s: reassignedAfterS,
      correlate_events_per_s_by_instance_before_kill: perInstanceBefore,
      ingest_acked_events_per_s: Math.round(s.load.acked / dt),
      before_kill: latencies(s, t0, killedAt),
      after_kill: latencies(s, killedAt),
      drained_after_s: drainS,
      canaries: audit,
      events_stored: stored,
      events_published_by_ingest: end.ingest_events,
      roles: usage,
      exit_codes: codes,
      errors: s.load.errors.slice(0, 5),
    };
  } catch (err) {
    await finish(s).catch(() => undefined);
    throw err;
  }
}

/**
 * The windowed state a role held in the first and last quarter of the measured window (correlate:
 * correlation groups and the events in their windows, baseline entities, chains). Its windows run from
 * 10 minutes to hours, so in a 10-minute soak this state is still filling; the live heap's growth is
 * read beside it (or set --soak-warm-up-minutes past the longest window).
 */
function windowedState(samples: { state: RoleState | null }[]): Record<string, unknown> {
  const xs = samples.map((x) => x.state).filter((x): x is RoleState => x !== null);
  if (xs.length < 4) return {};
  const q = Math.max(1, Math.floor(xs.length / 4));
  const avg = (part: RoleState[], k: keyof RoleState) => Math.round(part.reduce((t, x) => t + x[k], 0) / part.length);
  const out: Record<string, number> = {};
  for (const k of ["correlation_groups", "correlation_window_entries", "baseline_entities", "chains"] as const) {
    out[`${k}_first_quarter`] = avg(xs.slice(0, q), k);
    out[`${k}_last_quarter`] = avg(xs.slice(-q), k);
  }
  return { windowed_state: out };
}

async function soak(): Promise<Record<string, unknown>> {
  const rate = num("soak-rate");
  const minutes = num("soak-minutes");
  // memory after the first 2 minutes by default (JIT, caches, pools filled); a longer warm-up lets
  // windowed state (correlation timespans up to 1 h, the chain window) reach its steady size first
  const warmArg = a["soak-warm-up-minutes"];
  const warm = warmArg !== undefined ? Number(warmArg) * 60_000 : Math.min(120_000, (minutes * 60_000) / 5);
  if (!Number.isFinite(warm) || warm < 0 || warm >= minutes * 60_000) throw new Error(`--soak-warm-up-minutes ${warmArg} must be a number of minutes below --soak-minutes ${minutes}`);
  const s = await startCluster(1, minutes * 60_000);
  try {
    s.cluster.markCpu();
    const t0 = now();
    const memTimer = setInterval(() => void s.cluster.sampleMemory(now() - t0), 10_000);
    say(`soak: ${minutes} min at ${rate} events/s`);
    await s.load.runFor(minutes * 60_000, rate, 1);
    clearInterval(memTimer);
    await s.cluster.sampleMemory(now() - t0);
    const dt = (now() - t0) / 1000;
    const usage = s.cluster.usage(dt);
    await s.observer.settle(60_000);
    const audit = await s.observer.audit();
    const memory: Record<string, unknown> = {};
    for (const r of s.cluster.roles) {
      const after = r.rssSamples.filter((x) => x.t >= warm);
      if (after.length < 4) continue;
      const q = Math.max(1, Math.floor(after.length / 4));
      const avg = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
      const firstRss = avg(after.slice(0, q).map((x) => x.rss_mb));
      const lastRss = avg(after.slice(-q).map((x) => x.rss_mb));
      const heaps = after.filter((x) => x.heap_mb !== null);
      const firstHeap = heaps.length >= 4 ? avg(heaps.slice(0, q).map((x) => x.heap_mb!)) : NaN;
      const lastHeap = heaps.length >= 4 ? avg(heaps.slice(-q).map((x) => x.heap_mb!)) : NaN;
      // the live heap (right after a full collection) tells a leak from the sawtooth of garbage; it is
      // only as recent as the last mark-compact, so samples count from the first one after the warm-up
      const majorsAtWarm = after[0]?.major_gcs ?? null;
      const lives = after.filter((x) => x.live_mb !== null && (majorsAtWarm === null || (x.major_gcs ?? 0) > majorsAtWarm));
      const qLive = Math.max(1, Math.floor(lives.length / 4));
      const firstLive = lives.length >= 4 ? avg(lives.slice(0, qLive).map((x) => x.live_mb!)) : NaN;
      const lastLive = lives.length >= 4 ? avg(lives.slice(-qLive).map((x) => x.live_mb!)) : NaN;
      // bounded buffers filling towards their cap (the console's replay buffer, 4 MiB by default) are growth
      // that stops: shown on their own, and the live heap's growth without them beside it
      const bounded = after.filter((x) => x.bounded_mb !== null);
      const firstBounded = bounded.length >= 4 ? avg(bounded.slice(0, q).map((x) => x.bounded_mb!)) : NaN;
      const lastBounded = bounded.length >= 4 ? avg(bounded.slice(-q).map((x) => x.bounded_mb!)) : NaN;
      memory[r.name] = {
        rss_mb_first_quarter: Math.round(firstRss),
        rss_mb_last_quarter: Math.round(lastRss),
        rss_growth_percent: r1(((lastRss - firstRss) / firstRss) * 100),
        heap_mb_first_quarter: Math.round(firstHeap),
        heap_mb_last_quarter: Math.round(lastHeap),
        heap_growth_percent: r1(((lastHeap - firstHeap) / firstHeap) * 100),
        live_heap_mb_first_quarter: Math.round(firstLive),
        live_heap_mb_last_quarter: Math.round(lastLive),
        live_heap_growth_percent: r1(((lastLive - firstLive) / firstLive) * 100),
        live_heap_samples: lives.length,
        major_gcs_after_warm_up: majorsAtWarm === null ? null : (after[after.length - 1]?.major_gcs ?? majorsAtWarm) - majorsAtWarm,
        ...(bounded.length >= 4
          ? {
              bounded_buffers_mb_first_quarter: r1(firstBounded),
              bounded_buffers_mb_last_quarter: r1(lastBounded),
              live_heap_growth_without_bounded_buffers_percent: r1(((lastLive - lastBounded - (firstLive - firstBounded)) / (firstLive - firstBounded)) * 100),
            }
          : {}),
        ...windowedState(after),
        rss_mb_max: Math.max(...r.rssSamples.map((x) => x.rss_mb)),
        /** [seconds, RSS MB, heap used MB, live heap MB, bounded buffers MB (console)] */
        samples: r.rssSamples.map((x) => [Math.round(x.t / 1000), x.rss_mb, x.heap_mb, x.live_mb, x.bounded_mb === null ? null : r1(x.bounded_mb)]),
      };
    }
    // what the console holds for resuming clients grows with the updates it published (bounded by console.live)
    const consoleUpdates = sum(await s.cluster.metrics(s.console).catch(() => []), "sigil_console_live_updates_total");
    const codes = await finish(s);
    return { rate, minutes, warm_up_excluded_s: warm / 1000, console_live_updates: consoleUpdates, console_live_updates_per_s: r1(consoleUpdates / dt), ingest_acked_events_per_s: Math.round(s.load.acked / dt), memory, ...latencies(s), canaries: audit, roles: usage, exit_codes: codes };
  } catch (err) {
    await finish(s).catch(() => undefined);
    throw err;
  }
}

const result: Record<string, unknown> = {
  bench: "e2e",
  at: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, load_average_at_start: os.loadavg().map(r1) },
  setup: { code: a["code-dir"] ? a["code-dir"] : a.rev ? `git ${a.rev}` : "working tree", role_env: ROLE_ENV, indexer: INDEXER === "process" ? "sigil index process (index.nice from the config, default 10)" : "inside correlate", role_sessions: ROLE_SESSIONS === "own" ? "each role leads its own session (its own autogroup)" : "every role in the bench's session", kafka: KAFKA.join(","), elasticsearch: ES, partitions: num("partitions"), batch_lines: num("batch"), max_in_flight: num("in-flight"), rules: "rules/sigma, rules/correlation, rules/anomaly + bench/e2e/rules (canary)" },
};
for (const phase of a.phases!.split(",").map((x) => x.trim()).filter(Boolean)) {
  const fn = phase === "throughput" ? throughput : phase === "scale" ? scale : phase === "soak" ? soak : null;
  if (!fn) throw new Error(`unknown phase ${phase} (throughput, scale, soak)`);
  say(`phase ${phase}`);
  try {
    result[phase] = await fn();
  } catch (err) {
    result[phase] = { error: (err as Error).message };
  }
  say(`${phase}: ${JSON.stringify(result[phase]).slice(0, 600)}`);
}
(result["machine"] as Record<string, unknown>)["load_average_at_end"] = os.loadavg().map(r1);
CODE.cleanup();
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
