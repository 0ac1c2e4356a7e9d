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
//   sigil_*lag*                                  gauges         → consumer lag per label set
//   sigil_ingest_rejected_total, sigil_*dlq*_total, sigil_*dead_letter*_total {reason|code} → dead letters
//   sigil_*rule_plan_version                     gauge          → plan version (else the rule catalog)

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
const LAG_RE = /^sigil_\w*lag\w*$/;
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
            samples.push(...parsePrometheus(await this.fetchText(url)));
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
    for (const l of (await this.opts.ownLag?.().catch(() => [])) ?? []) lag.push({ metric: "console alerts consumer", labels: { topic: l.topic, partition: String(l.partition) }, value: l.lag });
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
        version: catalog?.["plan_version"] !== undefined ? String(catalog["plan_version"]) : planSample ? String(planSample.value) : null,
        built: typeof catalog?.["@timestamp"] === "string" ? catalog["@timestamp"] : null,
        rules: typeof catalog?.["rule_count"] === "number" ? catalog["rule_count"] : null,
        problems: Array.isArray(catalog?.["problems"]) ? catalog["problems"].length : 0,
      },
      store: { ok: storeHealth.ok, detail: storeHealth.detail },
      bus: busHealth ? { ok: busHealth.ok, detail: busHealth.detail } : null,
      console: this.opts.liveStats(),
    };
  }
}
