// The health page's data: scrapes the pipeline roles' /metrics (or this process's registry when all roles
// run here) every few seconds, and turns the samples into events per second per stage, consumer lag,
// dead letters by reason and the rule-plan version; plus the store's and bus's own health.
//
// Metrics it reads (each role registers them in platform/telemetry/metrics.ts):
//   sigil_bus_messages_produced_total / _consumed_total {topic}  → messages per second per topic
//   sigil_ingest_events_total                                   → events per second published by ingest
//   sigil_correlate_messages_total {stage}                      → messages per second per correlate stage
//   sigil_stateful_signals_total {stage}                        → correlation hits and anomalies per second
//   sigil_<stage>_<events|signals|alerts|records>_total         → any other stage counter
//   sigil_*_lag_messages                         gauges         → consumer lag per group and partition
//   sigil_ingest_rejected_total, sigil_*dlq*_total, sigil_*dead_letter*_total {reason|code} → dead letters
//   sigil_*rule_plan_version                     gauge          → plan version (else the rule catalog)
//   the rest of docs/metrics.md for the pipeline section: rule evaluation time, correlation state and
//   evictions, store write latency, retries and breaker, live consoles, agents' buffer depth

import type { Store } from "../../../platform/store/types.ts";
import type { Bus } from "../../../platform/bus/types.ts";
import { registry } from "../../../platform/telemetry/metrics.ts";
import type { Logger } from "../../../platform/telemetry/log.ts";
import { RULE_CATALOG_ID } from "../../../schema/rule-catalog.ts";
import { parsePrometheus, type Sample } from "./prometheus.ts";

export interface StageRate {
  stage: string;
  what: string;
  per_second: number | null;
  total: number;
}

export interface HealthReport {
  at: string;
  sources: { source: string; ok: boolean; error?: string }[];
  stages: StageRate[];
  lag: { metric: string; labels: Record<string, string>; value: number }[];
  dead_letters: { reason: string; count: number }[];
  plan: { version: string | null; built: string | null; rules: number | null; problems: number };
  store: { ok: boolean; detail: string };
  bus: { ok: boolean; detail: string } | null;
  console: { clients: number; sequence: number };
  pipeline: PipelineHealth;
}

/** The pipeline's vital signs from the catalogued metrics (docs/metrics.md); null where no role reports it. */
export interface PipelineHealth {
  rules: { evaluation_us_per_event: number | null; evaluated_per_second: number | null; rules: Record<string, number>; swaps_kept: number; version_hex: string | null };
  state: { correlation_groups: number | null; window_entries: number | null; baseline_entities: number | null; chains: number | null; evicted_total: number; evicted_per_second: number | null };
  store: { write_ms_avg: number | null; write_ms_p95: number | null; writes_per_second: number | null; retries_total: number; retries_per_second: number | null; rejected_total: number; breaker: "closed" | "half open" | "open" | null };
  indexer: { stored_per_second: number | null; stored_total: number };
  ws_clients: number | null;
  agents: { source: string; buffer_lines: number; buffer_bytes: number; link_up: boolean | null }[];
}

const STAGE_RE = /^sigil_([a-z0-9]+)_(events|signals|alerts|records)_total$/;
const DLQ_RE = /^sigil_(\w*(dlq|dead_letter)\w*|ingest_rejected)_total$/;

/** How a counter becomes stage rows: which stage and what it counts, per label set. */
const STAGE_COUNTERS: { name: string; row: (labels: Record<string, string>) => { stage: string; what: string } }[] = [
  { name: "sigil_ingest_events_total", row: () => ({ stage: "ingest", what: "events published" }) },
  { name: "sigil_correlate_messages_total", row: (l) => ({ stage: `correlate${l["stage"] ? ` ${l["stage"]}` : ""}`, what: "messages" }) },
  { name: "sigil_stateful_signals_total", row: (l) => ({ stage: `${l["stage"] ?? "stateful"}`, what: "signals" }) },
  { name: "sigil_bus_messages_produced_total", row: (l) => ({ stage: `bus ${l["topic"] ?? ""}`.trim(), what: "produced" }) },
  { name: "sigil_bus_messages_consumed_total", row: (l) => ({ stage: `bus ${l["topic"] ?? ""}`.trim(), what: "consumed" }) },
];
/** Consumer lag in messages (sigil_bus_consumer_lag_messages); not lag in bytes or seconds. */
const LAG_RE = /^sigil_\w*_lag_messages$/;
const PLAN_RE = /^sigil_\w*rule_plan_version$/;
const MAX_BODY = 8 * 1024 * 1024;

interface Scrape {
  at: number;
  samples: Sample[];
  sources: HealthReport["sources"];
}

export class HealthReader {
  private prev: Scrape | null = null;
  private last: Scrape | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: {
      urls: string[];
      token: string | null;
      store: Store;
      bus: Bus | null;
      liveStats: () => { clients: number; sequence: number };
      /** Lag of this console's own alerts consumer. */
      ownLag?: () => Promise<{ topic: string; partition: number; lag: number }[]>;
      intervalMs?: number;
      log?: Logger;
    },
  ) {}

  start(): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.opts.intervalMs ?? 5_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async fetchText(url: string): Promise<string> {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 3_000);
    try {
      const res = await fetch(url, { signal: ac.signal, headers: this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {} });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const len = Number(res.headers.get("content-length") ?? "0");
      if (len > MAX_BODY) throw new Error("metrics response too large");
      const text = await res.text();
      if (text.length > MAX_BODY) throw new Error("metrics response too large");
      return text;
    } finally {
      clearTimeout(t);
    }
  }

  async sample(): Promise<void> {
    const samples: Sample[] = [];
    const sources: HealthReport["sources"] = [];
    if (this.opts.urls.length === 0) {
      samples.push(...parsePrometheus(await registry.metrics()));
      sources.push({ source: "this process", ok: true });
    } else {
      await Promise.all(
        this.opts.urls.map(async (url) => {
          try {
            // each sample names its source (which instance holds which partition, which agent's buffer)
            const instance = url.replace(/\/metrics$/, "");
            for (const x of parsePrometheus(await this.fetchText(url))) samples.push({ ...x, labels: { ...x.labels, instance } });
            sources.push({ source: url, ok: true });
          } catch (err) {
            sources.push({ source: url, ok: false, error: (err as Error).message });
          }
        }),
      );
    }
    this.prev = this.last;
    this.last = { at: Date.now(), samples, sources };
  }

  async report(): Promise<HealthReport> {
    if (!this.last) await this.sample();
    const cur = this.last!;
    const prev = this.prev;
    const totals = (sc: Scrape | null) => {
      const m = new Map<string, { stage: string; what: string; total: number }>();
      if (!sc) return m;
      for (const x of sc.samples) {
        const known = STAGE_COUNTERS.find((k) => k.name === x.name);
        let row: { stage: string; what: string } | null = null;
        if (known) row = known.row(x.labels);
        else if (!DLQ_RE.test(x.name)) {
          const g = STAGE_RE.exec(x.name);
          if (g && g[1] !== "console" && g[1] !== "agent") row = { stage: g[1], what: g[2] };
        }
        if (!row) continue;
        const key = `${row.stage}\u0000${row.what}`;
        const cur = m.get(key);
        if (cur) cur.total += x.value;
        else m.set(key, { ...row, total: x.value });
      }
      return m;
    };
    const now = totals(cur);
    const before = totals(prev);
    const dt = prev ? (cur.at - prev.at) / 1000 : 0;
    const stages: StageRate[] = [...now].map(([key, r]) => {
      const p = before.get(key);
      return { stage: r.stage, what: r.what, total: r.total, per_second: dt > 0 && p !== undefined ? Math.max(0, (r.total - p.total) / dt) : null };
    });
    stages.sort((a, b) => (a.stage + a.what < b.stage + b.what ? -1 : 1));
    const lag = cur.samples.filter((x) => LAG_RE.test(x.name)).slice(0, 200).map((x) => ({ metric: x.name, labels: { ...x.labels }, value: x.value }));
    // the console's own alerts consumer, unless its lag is already among the scraped metrics
    const ownReported = lag.some((l) => (l.labels["group"] ?? "").startsWith("sigil-console"));
    if (!ownReported) for (const l of (await this.opts.ownLag?.().catch(() => [])) ?? []) lag.push({ metric: "console alerts consumer", labels: { topic: l.topic, partition: String(l.partition) }, value: l.lag });
    const dlq = new Map<string, number>();
    for (const s of cur.samples) {
      if (!DLQ_RE.test(s.name)) continue;
      const reason = s.labels["reason"] ?? s.labels["code"] ?? "unspecified";
      dlq.set(reason, (dlq.get(reason) ?? 0) + s.value);
    }
    const planSample = cur.samples.find((s) => PLAN_RE.test(s.name));
    const [storeHealth, busHealth, catalog] = await Promise.all([
      this.opts.store.health().catch((err: Error) => ({ ok: false, detail: err.message })),
      this.opts.bus ? this.opts.bus.health().catch((err: Error) => ({ ok: false, detail: err.message })) : Promise.resolve(null),
      this.opts.store.get("state", RULE_CATALOG_ID).catch(() => null),
    ]);
    return {
      at: new Date(cur.at).toISOString(),
      sources: cur.sources,
      stages,
      lag,
      dead_letters: [...dlq].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count),
      plan: {
        version: catalog?.["plan_version"] !== undefined ? String(catalog["plan_version"]) : (cur.samples.find((x) => x.name === "sigil_correlate_rule_plan_info" && x.value === 1)?.labels["version"] ?? (planSample ? String(planSample.value) : null)),
        built: typeof catalog?.["@timestamp"] === "string" ? catalog["@timestamp"] : null,
        rules: typeof catalog?.["rule_count"] === "number" ? catalog["rule_count"] : null,
        problems: Array.isArray(catalog?.["problems"]) ? catalog["problems"].length : 0,
      },
      store: { ok: storeHealth.ok, detail: storeHealth.detail },
      bus: busHealth ? { ok: busHealth.ok, detail: busHealth.detail } : null,
      console: this.opts.liveStats(),
      pipeline: pipelineHealth(cur, prev),
    };
  }
}

const total = (sc: Scrape | null, name: string, where: (l: Record<string, string>) => boolean = () => true): number => {
  let t = 0;
  if (sc) for (const x of sc.samples) if (x.name === name && where(x.labels)) t += x.value;
  return t;
};
const has = (sc: Scrape, name: string) => sc.samples.some((x) => x.name === name);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** A quantile of a histogram over the window between two scrapes (buckets summed over instances). */
function windowQuantile(cur: Scrape, prev: Scrape | null, name: string, q: number, where: (l: Record<string, string>) => boolean): number | null {
  const buckets = (sc: Scrape | null) => {
    const m = new Map<number, number>();
    if (sc) for (const x of sc.samples) if (x.name === `${name}_bucket` && where(x.labels)) {
      const le = x.labels["le"] === "+Inf" ? Infinity : Number(x.labels["le"]);
      m.set(le, (m.get(le) ?? 0) + x.value);
    }
    return m;
  };
  const now = buckets(cur);
  const before = buckets(prev);
  const les = [...now.keys()].sort((a, b) => a - b);
  const counts = les.map((le) => (now.get(le) ?? 0) - (before.get(le) ?? 0));
  const n = counts[counts.length - 1] ?? 0;
  if (n <= 0) return null;
  const rank = q * n;
  for (let i = 0; i < les.length; i++) {
    if (counts[i] >= rank) {
      const lo = i === 0 ? 0 : les[i - 1];
      const hi = les[i] === Infinity ? lo : les[i];
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = counts[i] - below;
      return inBucket > 0 ? lo + ((hi - lo) * (rank - below)) / inBucket : hi;
    }
  }
  return null;
}

function pipelineHealth(cur: Scrape, prev: Scrape | null): PipelineHealth {
  const dt = prev ? (cur.at - prev.at) / 1000 : 0;
  const rate = (name: string, where?: (l: Record<string, string>) => boolean) => (dt > 0 && prev && has(prev, name) ? Math.max(0, (total(cur, name, where) - total(prev, name, where)) / dt) : null);
  const gauge = (name: string, where?: (l: Record<string, string>) => boolean) => (cur.samples.some((x) => x.name === name && (!where || where(x.labels))) ? total(cur, name, where) : null);
  const put = (l: Record<string, string>) => l["op"] === "put";
  // per event and per write over the window between the two scrapes; since start when the window saw none
  const windowed = (sum: string, count: string, where?: (l: Record<string, string>) => boolean): [number, number] => {
    const n = total(cur, count, where) - total(prev, count, where);
    if (n > 0) return [total(cur, sum, where) - total(prev, sum, where), n];
    return [total(cur, sum, where), total(cur, count, where)];
  };
  const [evalS, evalN] = windowed("sigil_correlate_rule_evaluation_seconds_sum", "sigil_correlate_rule_evaluated_events_total");
  const [putS, putN] = windowed("sigil_store_operation_seconds_sum", "sigil_store_operation_seconds_count", put);
  const rules: Record<string, number> = {};
  for (const x of cur.samples) if (x.name === "sigil_correlate_rule_plan_rules" && x.labels["kind"]) rules[x.labels["kind"]] = Math.max(rules[x.labels["kind"]] ?? 0, x.value);
  const breakers = cur.samples.filter((x) => x.name === "sigil_store_breaker_state").map((x) => x.value);
  const worst = breakers.length ? Math.max(...breakers) : null;
  const agents = new Map<string, PipelineHealth["agents"][number]>();
  for (const x of cur.samples) {
    if (x.name !== "sigil_agent_buffer_lines" && x.name !== "sigil_agent_buffer_bytes" && x.name !== "sigil_agent_link_up") continue;
    const source = x.labels["instance"] ?? "this process";
    const a = agents.get(source) ?? { source, buffer_lines: 0, buffer_bytes: 0, link_up: null };
    if (x.name === "sigil_agent_buffer_lines") a.buffer_lines = x.value;
    else if (x.name === "sigil_agent_buffer_bytes") a.buffer_bytes = x.value;
    else if (x.name === "sigil_agent_link_up") a.link_up = x.value >= 1;
    agents.set(source, a);
  }
  const evictedNames = (l: Record<string, string>) => l["stage"] !== undefined;
  const chainEvicted = (l: Record<string, string>) => l["outcome"] === "evicted";
  const evictedTotal = total(cur, "sigil_stateful_evicted_total", evictedNames) + total(cur, "sigil_chains_signals_total", chainEvicted);
  const evictedRate = rate("sigil_stateful_evicted_total", evictedNames);
  const info = cur.samples.find((x) => x.name === "sigil_correlate_rule_plan_info" && x.value === 1);
  return {
    rules: {
      evaluation_us_per_event: evalN > 0 ? round((evalS / evalN) * 1e6) : null,
      evaluated_per_second: rate("sigil_correlate_rule_evaluated_events_total"),
      rules,
      swaps_kept: total(cur, "sigil_correlate_rule_plan_swaps_total", (l) => l["outcome"] === "kept"),
      version_hex: info?.labels["version"] ?? null,
    },
    state: {
      correlation_groups: gauge("sigil_stateful_live", (l) => l["stage"] === "correlation"),
      window_entries: gauge("sigil_stateful_window_entries", (l) => l["stage"] === "correlation"),
      baseline_entities: gauge("sigil_stateful_live", (l) => l["stage"] === "baselines"),
      chains: gauge("sigil_chains_live"),
      evicted_total: evictedTotal,
      evicted_per_second: evictedRate === null ? null : round(evictedRate + (rate("sigil_chains_signals_total", chainEvicted) ?? 0), 2),
    },
    store: {
      write_ms_avg: putN > 0 ? round((putS / putN) * 1000) : null,
      write_ms_p95: (() => {
        const v = windowQuantile(cur, prev, "sigil_store_operation_seconds", 0.95, put) ?? windowQuantile(cur, null, "sigil_store_operation_seconds", 0.95, put);
        return v === null ? null : round(v * 1000);
      })(),
      writes_per_second: rate("sigil_store_operation_seconds_count", put),
      retries_total: total(cur, "sigil_store_retries_total"),
      retries_per_second: rate("sigil_store_retries_total"),
      rejected_total: total(cur, "sigil_store_docs_written_total", (l) => l["outcome"] === "rejected"),
      breaker: worst === null ? null : worst >= 2 ? "open" : worst >= 1 ? "half open" : "closed",
    },
    indexer: {
      stored_per_second: rate("sigil_correlate_indexed_events_total", (l) => l["outcome"] === "stored"),
      stored_total: total(cur, "sigil_correlate_indexed_events_total", (l) => l["outcome"] === "stored"),
    },
    ws_clients: gauge("sigil_console_ws_clients"),
    agents: [...agents.values()].slice(0, 200),
  };
}
