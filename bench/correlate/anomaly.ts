// Anomaly metric updates per second: events already selected by an anomaly rule, fed to the baseline
// engine (entity lookup, interval bookkeeping, metric update, interval closes and scoring).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BaselineEngine } from "../../correlate/baselines/engine.ts";
import { buildBaselines } from "../../correlate/baselines/load.ts";
import { GroupBudget } from "../../correlate/correlation/engine.ts";
import { loadRules } from "../../correlate/sigma/loader.ts";
import { mulberry32 } from "../../platform/prng.ts";

const rngOf = mulberry32;

const METRICS: Record<string, string> = {
  event_count: "entity: user.name\n  metric: event_count",
  sum: "entity: service.name\n  metric: sum\n  field: destination.bytes",
  distinct_count: "entity: user.name\n  metric: distinct_count\n  field: host.name",
  first_seen: "entity: user.name\n  metric: first_seen\n  field: source.ip",
};

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function anomalyBench(n: number, entities = 10_000, reps = 3): Record<string, unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-bench-anomaly-"));
  const out: Record<string, unknown> = {};
  let worst = Infinity;
  for (const [name, body] of Object.entries(METRICS)) {
    const file = path.join(dir, `${name}.yml`);
    fs.writeFileSync(
      file,
      `title: Bench ${name}\nid: 9b0a3b5e-1111-4c2d-9e0f-${String(Object.keys(METRICS).indexOf(name)).padStart(12, "0")}\nanomaly:\n  ${body}\n  interval: 1h\n  baseline: {history: 14d, warmup: 24}\n  threshold: {score: 6}\n`,
    );
    const b = buildBaselines(loadRules([file]));
    if (b.problems.some((p) => p.severity === "error")) throw new Error(JSON.stringify(b.problems));
    const a = b.anomalies[0];
    let best = Infinity;
    let anomalies = 0;
    let intervals = 0;
    for (let rep = 0; rep < reps; rep++) {
      const rand = rngOf(11);
      const engine = new BaselineEngine(b.anomalies, { anomaly: () => {} }, { allowedLatenessMs: 60_000, budget: new GroupBudget(1_000_000) });
      // 3 days of events, so intervals close, histories fill and scoring runs
      const t0 = Date.UTC(2026, 0, 1);
      const step = (3 * 86_400_000) / n;
      let ms = 0;
      const CHUNK = 2_000;
      for (let done = 0; done < n; done += CHUNK) {
        const batch = [];
        for (let k = 0; k < CHUNK && done + k < n; k++) {
          const i = done + k;
          const u = Math.floor(rand() * entities);
          batch.push({
            event: { user: { name: `user${u}` }, service: { name: `svc${u % 200}` }, host: { name: `host${Math.floor(rand() * 50)}` }, source: { ip: `10.1.${u & 255}.${Math.floor(rand() * 8)}` }, destination: { bytes: Math.floor(rand() * 10_000) } },
            time: t0 + Math.floor(i * step),
            eventId: i.toString(16).padStart(32, "0"),
          });
        }
        const s = cpuMs();
        for (const o of batch) engine.observe(a, o);
        ms += cpuMs() - s;
      }
      engine.flush();
      if (ms < best) {
        best = ms;
        anomalies = engine.stats.anomalies;
        intervals = engine.stats.intervals;
      }
    }
    const rate = Math.round(n / (best / 1000));
    worst = Math.min(worst, rate);
    out[name] = { updates_per_s: rate, cpu_ms: Math.round(best), intervals_closed: intervals, anomalies };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { updates_per_s: worst, entities, per_metric: out };
}
