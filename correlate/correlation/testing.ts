// Helpers for the correlation unit tests and benchmarks: a plan from YAML text, and an engine that
// records what it produced.

import { loadRuleTexts } from "../sigma/loader.ts";
import { CorrelationEngine, GroupBudget, type EngineOptions } from "./engine.ts";
import { buildCorrelationPlan } from "./load.ts";
import type { CorrelationPlan } from "./plan.ts";
import type { CorrelationHit, DroppedMatch, Match } from "./types.ts";

/** Compiles detection + correlation rules given as YAML text; throws on any error. */
export function planFromYaml(text: string): CorrelationPlan {
  const loaded = loadRuleTexts([{ file: "test.yml", text }]);
  const errors = loaded.problems.filter((p) => p.severity === "error");
  const built = buildCorrelationPlan(loaded);
  errors.push(...built.problems.filter((p) => p.severity === "error"));
  if (errors.length) throw new Error(errors.map((e) => `${e.code}: ${e.message}`).join("\n"));
  return built.plan;
}

/** A detection rule document with an id derived from its name. */
export function detectionRule(name: string, idDigit: string): string {
  return `---
title: ${name}
id: ${idDigit.repeat(8)}-${idDigit.repeat(4)}-4${idDigit.repeat(3)}-8${idDigit.repeat(3)}-${idDigit.repeat(12)}
name: ${name}
status: test
logsource: {product: test}
detection:
  selection: {event.action: ${name}}
  condition: selection
level: low
`;
}

export interface Recorder {
  engine: CorrelationEngine;
  hits: CorrelationHit[];
  dropped: DroppedMatch[];
  /** Feeds a match of rule `ruleId` (id or name) at ISO/epoch time with the given event fields. */
  feed(ruleId: string, time: string | number, fields: Record<string, unknown>, line?: number): void;
}

export function recorder(plan: CorrelationPlan, opts: Partial<EngineOptions> = {}): Recorder {
  const hits: CorrelationHit[] = [];
  const dropped: DroppedMatch[] = [];
  const engine = new CorrelationEngine(
    plan,
    { hit: (h) => hits.push(h), dropped: (d) => dropped.push(d) },
    { allowedLatenessMs: 0, budget: new GroupBudget(opts.budget?.max ?? 1_000_000), ...opts },
  );
  let n = 0;
  const idOf = (ref: string) => {
    for (const r of plan.rules.values()) if (r.id === ref || r.name === ref) return r.id;
    throw new Error(`no rule ${ref}`);
  };
  return {
    engine,
    hits,
    dropped,
    feed(ruleId, time, fields, line) {
      n++;
      const t = typeof time === "number" ? time : Date.parse(time);
      const event = { "@timestamp": new Date(t).toISOString(), ...fields };
      const m: Match = { ruleId: idOf(ruleId), event: event as Match["event"], time: t, eventId: `e${line ?? n}`, line: line ?? n };
      engine.onMatch(m);
    },
  };
}

/** "00:02" → epoch ms on a fixed day (2024-01-01, UTC). */
export function at(hhmm: string): number {
  const [h, m, s] = hhmm.split(":").map(Number);
  return Date.UTC(2024, 0, 1, h, m, s ?? 0);
}
