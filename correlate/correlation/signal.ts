// Correlation hits as Signals (schema/signal.ts) and as `sigil detect` output lines.

import { LEVEL_RISK, LEVEL_SEVERITY, type EventRef, type Level, type Signal, type SignalRule } from "../../schema/signal.ts";
import { threatFromTags } from "../pipeline.ts";
import type { CompiledCorrelation, CorrelationPlan } from "./plan.ts";
import type { CorrelationHit, HitEventRef } from "./types.ts";

const iso = (t: number) => new Date(t).toISOString();

export function eventRefOf(r: HitEventRef): EventRef {
  const out: EventRef = { id: r.id, "@timestamp": iso(r.time) };
  if (r.file !== undefined) out.file = r.file;
  if (r.line !== undefined) out.line = r.line;
  return out;
}

/** Tags of a correlation: its own, then those of every rule it involves (for ATT&CK on the signal). */
export function correlationTags(plan: CorrelationPlan, c: CompiledCorrelation): string[] {
  const out: string[] = [...(c.rule.meta.tags ?? [])];
  const seen = new Set<string>();
  const walk = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const inner = plan.byId.get(id);
    const tags = inner ? inner.rule.meta.tags : plan.rules.get(id)?.tags;
    for (const t of tags ?? []) if (!out.includes(t)) out.push(t);
    if (inner) inner.refIds.forEach(walk);
  };
  c.refIds.forEach(walk);
  return out;
}

/**
 * The Signal for a correlation hit: the correlation rule with the authors of every involved rule,
 * the correlation info, references to the contributing events (with input lines when known), and the
 * entity fields of the last event. Its id is the hit's deterministic id, so a re-emitted hit dedupes.
 */
export function signalFromHit(plan: CorrelationPlan, hit: CorrelationHit, created?: string): Signal {
  const c = plan.byId.get(hit.ruleId);
  if (!c) throw new Error(`hit of unknown correlation ${hit.ruleId}`);
  const meta = c.rule.meta;
  const level: Level = meta.level;
  const tags = correlationTags(plan, c);
  const rule: SignalRule = { id: meta.id, title: meta.title, level, tags };
  if (meta.name) rule.name = meta.name;
  if (c.authors.length) rule.author = c.authors.join(", ");
  if (meta.description) rule.description = meta.description;
  if (meta.references) rule.references = meta.references;
  if (meta.status) rule.status = meta.status;
  const s: Signal = {
    ...hit.entity,
    "@timestamp": iso(hit.lastSeen),
    event: { id: hit.id, kind: "signal", dataset: "sigil.signal", severity: LEVEL_SEVERITY[level], risk_score: LEVEL_RISK[level] },
    rule,
    signal: {
      type: "correlation",
      key: hit.key,
      events: hit.events.map(eventRefOf),
      correlation: {
        type: hit.type,
        group: { ...hit.group },
        value: hit.value,
        first_seen: iso(hit.firstSeen),
        last_seen: iso(hit.lastSeen),
        timespan_ms: hit.timespanMs,
        event_count: hit.eventCount,
      },
    },
  };
  if (created) s.event.created = created;
  const threat = threatFromTags(tags);
  if (threat) s.threat = threat;
  return s;
}

/** One line of `sigil detect` output for a hit. */
export function detectLineOf(plan: CorrelationPlan, hit: CorrelationHit): Record<string, unknown> {
  const c = plan.byId.get(hit.ruleId)!;
  const lines: number[] = [];
  for (const e of hit.events) if (e.line !== undefined) lines.push(e.line);
  lines.sort((a, b) => a - b);
  return {
    rule: { id: c.id, title: c.rule.meta.title, level: c.rule.meta.level },
    correlation: {
      type: hit.type,
      group: hit.group,
      value: hit.value,
      first_seen: iso(hit.firstSeen),
      last_seen: iso(hit.lastSeen),
    },
    lines: lines.filter((l, i) => i === 0 || l !== lines[i - 1]),
  };
}
