// Anomalies as Signals (schema/signal.ts AnomalyInfo) and as `sigil detect` output lines.

import { LEVEL_RISK, LEVEL_SEVERITY, type AnomalyInfo, type Signal, type SignalRule } from "../../schema/signal.ts";
import { eventRefOf } from "../correlation/signal.ts";
import { threatFromTags } from "../pipeline.ts";
import type { AnomalyHit, CompiledAnomaly } from "./engine.ts";

const iso = (t: number) => new Date(t).toISOString();

export function metricName(a: CompiledAnomaly): string {
  const r = a.rule;
  return r.metric === "event_count" ? "event_count" : `${r.metric}:${r.field}`;
}

/** The Signal for an anomaly: observed value, expected range and score, the interval, sample events. */
export function signalFromAnomaly(a: CompiledAnomaly, hit: AnomalyHit, created?: string): Signal {
  const r = a.rule;
  const rule: SignalRule = { id: r.id, title: r.title, level: r.level, tags: r.tags };
  if (r.name) rule.name = r.name;
  if (r.author) rule.author = r.author;
  if (r.description) rule.description = r.description;
  if (r.references) rule.references = r.references;
  if (r.status) rule.status = r.status;
  const anomaly: AnomalyInfo = {
    metric: metricName(a),
    entity: { field: r.entity.join(","), value: hit.key },
    interval_start: iso(hit.intervalStart),
    interval_ms: hit.intervalMs,
    observed: hit.observed,
    expected: hit.expected,
    score: hit.score,
    method: hit.basis.method,
    seasonality: hit.basis.seasonality,
    history_intervals: hit.basis.samples,
    event_count: hit.eventCount,
  };
  if (hit.newValues) anomaly.new_values = hit.newValues;
  if (hit.saturated) anomaly.saturated = true;
  const s: Signal = {
    ...hit.entityFields,
    "@timestamp": iso(hit.intervalStart + hit.intervalMs - 1),
    event: { id: hit.id, kind: "signal", dataset: "sigil.signal", severity: LEVEL_SEVERITY[r.level], risk_score: LEVEL_RISK[r.level] },
    rule,
    signal: { type: "anomaly", key: hit.key, events: hit.events.map(eventRefOf), anomaly },
  };
  if (created) s.event.created = created;
  const threat = threatFromTags(r.tags);
  if (threat) s.threat = threat;
  return s;
}

/** One line of `sigil detect` output for an anomaly. */
export function anomalyLineOf(a: CompiledAnomaly, hit: AnomalyHit): Record<string, unknown> {
  const lines = hit.events.map((e) => e.line).filter((l): l is number => l !== undefined);
  lines.sort((x, y) => x - y);
  const out: Record<string, unknown> = {
    rule: { id: a.rule.id, title: a.rule.title, level: a.rule.level },
    anomaly: {
      metric: metricName(a),
      entity: hit.entity,
      interval_start: iso(hit.intervalStart),
      interval_ms: hit.intervalMs,
      observed: hit.observed,
      expected: hit.expected,
      score: hit.score,
      ...(hit.newValues ? { new_values: hit.newValues } : {}),
    },
    lines: lines.filter((l, i) => i === 0 || l !== lines[i - 1]),
  };
  return out;
}
