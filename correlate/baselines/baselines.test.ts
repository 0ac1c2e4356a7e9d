import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { EcsEvent, JsonObject } from "../../schema/ecs.ts";
import type { Signal } from "../../schema/signal.ts";
import { loadRules } from "../sigma/loader.ts";
import { GroupBudget } from "../correlation/engine.ts";
import { BaselineEngine, type AnomalyHit } from "./engine.ts";
import { buildBaselines } from "./load.ts";
import { anomalyJsonSchema } from "./rule.ts";
import { LocalBaselineStage } from "./stage.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0); // a Monday

function rule(anomaly: string, extra = ""): string {
  return `title: Test anomaly
id: 9b0a3b5e-1111-4c2d-9e0f-0123456789ab
status: test
level: medium
tags: [attack.exfiltration, attack.t1048]
${extra}anomaly:
${anomaly
  .trim()
  .split("\n")
  .map((l) => "  " + l)
  .join("\n")}
`;
}

/** Loads rule text from a real file (positions are read back from the file, as in `sigil rules lint`). */
function load(text: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sigil-anomaly-"));
  const file = path.join(dir, "anomaly.yml");
  fs.writeFileSync(file, text);
  const loaded = loadRules([file]);
  const b = buildBaselines(loaded);
  return { b, problems: [...loaded.problems, ...b.problems] };
}

function engineFor(text: string, opts: { lateness?: number; maxEntities?: number } = {}) {
  const { b, problems } = load(text);
  expect(problems.filter((p) => p.severity === "error")).toEqual([]);
  const hits: AnomalyHit[] = [];
  const engine = new BaselineEngine(b.anomalies, { anomaly: (h) => hits.push(h) }, { allowedLatenessMs: opts.lateness ?? 0, budget: new GroupBudget(opts.maxEntities ?? 1_000_000) });
  const a = b.anomalies[0];
  let line = 0;
  const obs = (time: number, fields: JsonObject, l?: number) => engine.observe(a, { event: { "@timestamp": new Date(time).toISOString(), ...fields }, time, eventId: `e${++line}`, line: l ?? line });
  return { engine, hits, a, obs };
}

const bytesRule = rule(`entity: service.name
metric: sum
field: destination.bytes
interval: 1h
baseline:
  history: 7d
  warmup: 24
  seasonality: none
threshold:
  score: 6`);

describe("anomaly rule format", () => {
  it("accepts a complete rule and fills defaults", () => {
    const { b } = load(bytesRule);
    const x = b.rules[0];
    expect(x).toMatchObject({ metric: "sum", field: "destination.bytes", intervalMs: H, historyIntervals: 168, warmup: 24, method: "robust", direction: "up", score: 6 });
  });

  it("reports problems with codes and positions", () => {
    const text = rule(`entity: user.name
metric: sum
interval: 1h
bogus: 1
threshold:
  score: 3`);
    const { problems } = load(text);
    const codes = problems.map((p) => [p.code, p.location?.line]);
    expect(codes).toContainEqual(["anomaly_unknown_key", 10]);
    const again = load(rule(`entity: user.name
metric: sum
interval: 1h
threshold:
  score: 3`)).problems;
    expect(again.map((p) => [p.code, p.location?.line])).toContainEqual(["anomaly_field_missing", 8]);
    const season = load(rule(`entity: user.name
metric: event_count
interval: 7h
baseline: {history: 30d, seasonality: hour_of_day}
threshold: {score: 3}`)).problems;
    expect(season.map((p) => p.code)).toContain("anomaly_seasonality_interval");
    const long = load(rule(`entity: user.name
metric: event_count
interval: 1m
baseline: {history: 30d}
threshold: {score: 3}`)).problems;
    expect(long.map((p) => p.code)).toContain("anomaly_history_too_long");
  });

  it("reports a broken selection at anomaly.select", () => {
    const { problems } = load(rule(`select:
  detection:
    sel: {event.action|nosuchmodifier: x}
    condition: sel
entity: user.name
metric: event_count
interval: 1h
threshold: {score: 3}`));
    const e = problems.find((p) => p.severity === "error")!;
    expect(e.code).toMatch(/^anomaly_select_/);
    expect(e.location?.file).toMatch(/anomaly\.yml$/);
    expect(e.location?.line).toBe(7);
  });

  it("the committed JSON Schema is the one the format generates", () => {
    const file = path.resolve(HERE, "../../rules/anomaly/anomaly-rule.schema.json");
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual(JSON.parse(JSON.stringify(anomalyJsonSchema())));
  });
});

/** A week of steady traffic for one service: `base` bytes per hour with ±10% wiggle. */
function steady(obs: (t: number, f: JsonObject) => void, hours: number, base: number, from = T0) {
  for (let h = 0; h < hours; h++) {
    const v = base * (1 + 0.1 * Math.sin(h * 1.7));
    obs(from + h * H + 60_000, { service: { name: "api" }, destination: { bytes: Math.round(v) } });
  }
}

describe("baselines", () => {
  it("stays quiet during warm-up, then raises an anomaly with observed, expected range and score", () => {
    const { engine, hits, obs } = engineFor(bytesRule);
    obs(T0 + 60_000, { service: { name: "api" }, destination: { bytes: 50_000_000 } }); // huge, but no history yet
    steady(obs, 30, 1_000_000, T0 + H);
    expect(hits).toHaveLength(0);
    const t = T0 + 31 * H + 60_000;
    obs(t, { service: { name: "api" }, destination: { bytes: 40_000_000 } });
    expect(hits).toHaveLength(0); // the interval is still open
    engine.advance(T0 + 32 * H);
    expect(hits).toHaveLength(1);
    const h = hits[0];
    expect(h.entity).toEqual({ "service.name": "api" });
    expect(h.observed).toBe(40_000_000);
    expect(h.intervalStart).toBe(T0 + 31 * H);
    expect(h.expected.center).toBeGreaterThan(900_000);
    expect(h.expected.center).toBeLessThan(1_100_000);
    expect(h.expected.high).toBeLessThan(40_000_000);
    expect(h.score).toBeGreaterThanOrEqual(6);
    expect(h.events.map((e) => e.line)).toEqual([32]);
  });

  it("does not alert on normal intervals, and counts quiet intervals as zero", () => {
    const { engine, hits, obs } = engineFor(bytesRule);
    steady(obs, 60, 1_000_000);
    engine.advance(T0 + 61 * H);
    expect(hits).toHaveLength(0);
    // a quiet day, then normal again: zeros are part of the history, no alert either way (direction up)
    steady(obs, 10, 1_000_000, T0 + 90 * H);
    engine.flush();
    expect(hits).toHaveLength(0);
  });

  it("uses hour-of-day seasonality once enough days exist", () => {
    const nightly = rule(`entity: service.name
metric: sum
field: destination.bytes
interval: 1h
baseline: {history: 14d, warmup: 24, seasonality: hour_of_day, min_seasonal_samples: 4}
threshold: {score: 6}`);
    const run = (seasonal: boolean) => {
      const { engine, hits, obs } = engineFor(seasonal ? nightly : nightly.replace("seasonality: hour_of_day", "seasonality: none"));
      // every night at 03:00 a backup sends 50x the usual volume
      for (let h = 0; h < 24 * 8; h++) {
        const hour = h % 24;
        obs(T0 + h * H + 60_000, { service: { name: "api" }, destination: { bytes: hour === 3 ? 50_000_000 : 1_000_000 + (h % 7) * 10_000 } });
      }
      engine.flush();
      return hits;
    };
    const plain = run(false);
    const seasonal = run(true);
    // without seasonality the nightly backup alerts after warm-up; with it, only until 4 same-hour samples exist
    expect(plain.length).toBeGreaterThanOrEqual(6);
    expect(seasonal.length).toBeLessThan(plain.length);
    const lastSeasonal = seasonal.filter((h) => h.basis.seasonality === "hour_of_day");
    expect(lastSeasonal).toHaveLength(0);
  });

  it("uses day-of-week seasonality once enough weeks exist (auto), and still alerts on that weekday's own outliers", () => {
    const weekly = rule(`entity: service.name
metric: sum
field: destination.bytes
interval: 1h
baseline: {history: 35d, warmup: 24, seasonality: auto, min_seasonal_samples: 3}
threshold: {score: 6}`);
    const run = (text: string) => {
      const { engine, hits, obs } = engineFor(text);
      // every Monday 09:00 a weekly report sends 50x the usual hourly volume; in week 5 it sends 100x more
      for (let h = 0; h < 24 * 7 * 5; h++) {
        const mondayNine = h % (24 * 7) === 9;
        const bytes = mondayNine ? (h >= 24 * 7 * 4 ? 5_000_000_000 : 50_000_000) : 1_000_000 + (h % 7) * 10_000;
        obs(T0 + h * H + 60_000, { service: { name: "reports" }, destination: { bytes } });
      }
      engine.flush();
      return hits.map((x) => ({ week: Math.floor((x.intervalStart - T0) / (7 * 24 * H)) + 1, hour: new Date(x.intervalStart).getUTCHours(), day: new Date(x.intervalStart).getUTCDay(), seasonality: x.basis.seasonality }));
    };
    // auto: the same hour of day until three Mondays exist, then the same hour of the week
    expect(run(weekly)).toEqual([
      { week: 2, hour: 9, day: 1, seasonality: "hour_of_day" },
      { week: 3, hour: 9, day: 1, seasonality: "hour_of_day" },
      { week: 5, hour: 9, day: 1, seasonality: "day_of_week" },
    ]);
    // forced to the hour of the day, every Monday report after warm-up is an outlier
    expect(run(weekly.replace("seasonality: auto", "seasonality: hour_of_day")).map((x) => x.week)).toEqual([2, 3, 4, 5]);
  });

  it("distinct_count: one user touching many hosts", () => {
    const { engine, hits, obs } = engineFor(
      rule(`entity: user.name
metric: distinct_count
field: host.name
interval: 1h
baseline: {history: 3d, warmup: 12, seasonality: none}
threshold: {score: 5, min_value: 10}`),
    );
    for (let h = 0; h < 24; h++) for (let k = 0; k < 3; k++) obs(T0 + h * H + k * 1000, { user: { name: "bob" }, host: { name: `ws${k}` } });
    for (let k = 0; k < 40; k++) obs(T0 + 24 * H + k * 1000, { user: { name: "bob" }, host: { name: `srv${k}` } });
    engine.flush();
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ observed: 40, entity: { "user.name": "bob" } });
    expect(hits[0].expected.center).toBe(3);
  });

  it("first_seen: a value never seen for the entity after warm-up", () => {
    const { engine, hits, obs } = engineFor(
      rule(`entity: user.name
metric: first_seen
field: source.geo.country_iso_code
interval: 1h
baseline: {history: 7d, warmup: 24, seasonality: none}
threshold: {score: 1}`),
    );
    for (let h = 0; h < 30; h++) obs(T0 + h * H, { user: { name: "ann" }, source: { geo: { country_iso_code: h % 2 ? "DE" : "FR" } } });
    obs(T0 + 30 * H, { user: { name: "ann" }, source: { geo: { country_iso_code: "KP" } } });
    obs(T0 + 30 * H + 5, { user: { name: "ann" }, source: { geo: { country_iso_code: "DE" } } });
    engine.flush();
    expect(hits).toHaveLength(1);
    expect(hits[0].newValues).toEqual(["KP"]);
    expect(hits[0].observed).toBe(1);
    expect(hits[0].events.map((e) => e.line)).toEqual([31]);
  });

  it("direction down, ewma and quantile methods", () => {
    for (const method of ["robust", "ewma", "quantile"]) {
      const { engine, hits, obs } = engineFor(
        rule(`entity: host.name
metric: event_count
interval: 1h
baseline: {history: 3d, warmup: 24, seasonality: none, method: ${method}}
threshold: {score: 4, direction: both}`),
      );
      for (let h = 0; h < 30; h++) for (let k = 0; k < 100 + (h % 3); k++) obs(T0 + h * H + k, { host: { name: "db" } });
      obs(T0 + 30 * H, { host: { name: "db" } }); // one event where 100 are usual
      for (let k = 0; k < 2_000; k++) obs(T0 + 31 * H + k, { host: { name: "db" } });
      engine.flush();
      expect(hits.map((h) => h.score > 0), method).toEqual([false, true]);
      expect(hits.every((h) => h.basis.method === method)).toBe(true);
    }
  });

  it("counts late events and evicts the stalest entity at the cap", () => {
    const { engine, obs } = engineFor(bytesRule, { lateness: 60_000, maxEntities: 2 });
    obs(T0 + 10 * 60_000, { service: { name: "a" }, destination: { bytes: 1 } });
    obs(T0 + 5 * 60_000, { service: { name: "a" }, destination: { bytes: 1 } }); // 5 min behind: late
    expect(engine.stats.late).toBe(1);
    obs(T0 + 11 * 60_000, { service: { name: "b" }, destination: { bytes: 1 } });
    obs(T0 + 12 * 60_000, { service: { name: "c" }, destination: { bytes: 1 } });
    expect(engine.stats.evicted).toBe(1);
    expect(engine.entityCount()).toBe(2);
  });

  it("a restore from snapshot plus deltas continues exactly like an uninterrupted run", () => {
    const feed = (cut: number | null) => {
      const { b } = load(bytesRule);
      const hits: AnomalyHit[] = [];
      let engine = new BaselineEngine(b.anomalies, { anomaly: (h) => hits.push(h) }, { allowedLatenessMs: 0, trackChanges: true });
      let snap = engine.snapshot();
      const deltas: unknown[] = [];
      for (let h = 0; h < 60; h++) {
        for (const svc of ["a", "b"]) engine.observe(b.anomalies[0], { event: { service: { name: svc }, destination: { bytes: h === 50 && svc === "b" ? 9e9 : 1000 + h } }, time: T0 + h * H + 1, eventId: `${svc}${h}` });
        if (h % 7 === 0) {
          snap = engine.snapshot();
          deltas.length = 0;
        } else {
          const d = engine.delta();
          if (d) deltas.push(JSON.parse(JSON.stringify(d)));
        }
        if (h === cut) {
          const s = JSON.parse(JSON.stringify(snap));
          const since = deltas.splice(0);
          engine.close();
          engine = new BaselineEngine(b.anomalies, { anomaly: (x) => hits.push(x) }, { allowedLatenessMs: 0, trackChanges: true });
          engine.restore(s, since as never);
        }
      }
      engine.flush();
      return hits.map((x) => [x.id, x.observed, x.score]);
    };
    const whole = feed(null);
    expect(whole).toHaveLength(1);
    for (const cut of [10, 20, 33, 49, 50]) expect(feed(cut)).toEqual(whole);
  });

  it("selects events with a Sigma selection and emits signals through the pipeline stage", () => {
    const { b } = load(
      rule(`select:
  logsource: {category: network_connection}
  detection:
    out: {network.direction: egress}
    condition: out
entity: service.name
metric: sum
field: destination.bytes
interval: 1h
baseline: {history: 2d, warmup: 10, seasonality: none}
threshold: {score: 5}`),
    );
    const signals: Signal[] = [];
    const stage = new LocalBaselineStage(b.selection, (s) => signals.push(s), { allowedLatenessMs: 0 });
    const ev = (h: number, dir: string, bytes: number) =>
      ({ "@timestamp": new Date(T0 + h * H).toISOString(), event: { id: `${h}${dir}`.padEnd(32, "0"), kind: "event", dataset: "t" }, sigil: { logsource: [{ category: "network_connection" }] }, network: { direction: dir }, service: { name: "web" }, destination: { bytes } }) as unknown as EcsEvent;
    for (let h = 0; h < 12; h++) stage.observe(ev(h, "egress", 1000), { line: h + 1 });
    stage.observe(ev(12, "ingress", 9e9), { line: 13 }); // not selected
    stage.observe(ev(13, "egress", 9e6), { line: 14 });
    stage.finish();
    expect(signals).toHaveLength(1);
    const s = signals[0];
    expect(s.signal.type).toBe("anomaly");
    expect(s.signal.anomaly).toMatchObject({ metric: "sum:destination.bytes", entity: { field: "service.name", value: "web" }, observed: 9e6 });
    expect(s.signal.events[0].line).toBe(14);
    expect(s.service).toEqual({ name: "web" });
    expect(s.threat?.tactic.name).toContain("exfiltration");
  });
});
