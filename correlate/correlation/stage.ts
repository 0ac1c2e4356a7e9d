// The correlation engine as a stage of the correlate pipeline (correlate/pipeline.ts), in two forms:
// local (one process sees every match: replay, `sigil start`, `sigil detect`) and routing (the
// distributed role: each match is sent on `sigil.signals` keyed by its group, and the correlation
// runner evaluates it on the partition that owns the group; docs/decisions/0015).

import type { EcsEvent, JsonObject } from "../../schema/ecs.ts";
import { derivedId } from "../../schema/event-id.ts";
import { getField, setField } from "../../schema/fields.ts";
import { LEVEL_RISK, LEVEL_SEVERITY, LEVELS, SIGNAL_ENTITY_FIELDS, entityFieldsOf, type Level, type Signal, type SignalRule } from "../../schema/signal.ts";
import type { CorrelationStage, MatchedRule, Origin } from "../pipeline.ts";
import { eventRef, threatFromTags } from "../pipeline.ts";
import { CorrelationEngine, groupKey, routeKey, type EngineOptions } from "./engine.ts";
import type { CorrelationPlan } from "./plan.ts";
import { signalFromHit } from "./signal.ts";
import type { CorrelationHit, DroppedMatch, Match } from "./types.ts";

/** Event time of an ECS event, epoch ms (NaN when missing or malformed). */
export function eventTime(e: JsonObject): number {
  const ts = e["@timestamp"];
  return typeof ts === "string" ? Date.parse(ts) : typeof ts === "number" ? ts : NaN;
}

export function matchOf(rule: { id: string; name?: string }, e: JsonObject, origin?: Origin): Match {
  const id = getField(e, "event.id");
  const m: Match = { ruleId: rule.id, ruleName: rule.name, event: e, time: eventTime(e) };
  if (typeof id === "string") m.eventId = id;
  if (origin?.file !== undefined) m.file = origin.file;
  if (origin?.line !== undefined) m.line = origin.line;
  return m;
}

export interface LocalStageOptions extends EngineOptions {
  /** Called for every hit before its signal is emitted (sigil detect prints hits in its own format). */
  onHit?: (hit: CorrelationHit) => void;
  onDropped?: (d: DroppedMatch) => void;
  /** event.created on signals; omit for reproducible output. */
  now?: () => number;
  created?: () => string;
}

/** Evaluates every correlation in this process and emits a Signal per hit. */
export class LocalCorrelationStage implements CorrelationStage {
  readonly engine: CorrelationEngine;
  readonly ruleCount: number;

  constructor(
    readonly plan: CorrelationPlan,
    emit: (s: Signal) => void,
    private readonly opts: LocalStageOptions,
  ) {
    this.ruleCount = plan.correlations.length;
    this.engine = new CorrelationEngine(
      plan,
      {
        hit: (h) => {
          // inner correlations referenced only with generate: false feed their outer rule, nothing else
          if (plan.silent.has(h.ruleId)) return;
          opts.onHit?.(h);
          emit(signalFromHit(plan, h, opts.created?.()));
        },
        dropped: (d) => opts.onDropped?.(d),
      },
      opts,
    );
  }

  match(rule: MatchedRule, event: EcsEvent, origin: Origin | undefined): void {
    if (!this.engine.wants(rule.id)) return;
    this.engine.onMatch(matchOf(rule, event, origin));
  }

  /** `watermarkMs` is the latest event time seen; windows older than it minus the lateness close. */
  advance(watermarkMs: number): void {
    this.engine.advance(watermarkMs - this.opts.allowedLatenessMs);
  }

  finish(): void {
    this.engine.flush();
  }

  isSilent(ruleId: string): boolean {
    return this.plan.silent.has(ruleId);
  }
}

function levelOf(s: string): Level {
  return (LEVELS as readonly string[]).includes(s) ? (s as Level) : "medium";
}

/**
 * The distributed form: instead of evaluating, emits one routing copy of the match per distinct group
 * key (signal.key), carrying the fields the correlations read. The role publishes it like any signal;
 * the correlation runner on the owning partition evaluates it.
 */
export class RoutingCorrelationStage implements CorrelationStage {
  readonly ruleCount: number;
  constructor(
    readonly plan: CorrelationPlan,
    private readonly emit: (s: Signal) => void,
  ) {
    this.ruleCount = plan.correlations.length;
  }

  match(rule: MatchedRule, event: EcsEvent, origin: Origin | undefined): void {
    for (const s of routedCopies(this.plan, rule, event, origin)) this.emit(s);
  }

  advance(): void {}
  finish(): void {}

  isSilent(ruleId: string): boolean {
    return this.plan.silent.has(ruleId);
  }
}

/** The routing copies of one match: one per distinct group key among the correlations that use the rule. */
export function routedCopies(plan: CorrelationPlan, rule: MatchedRule, event: EcsEvent, origin?: Origin): Signal[] {
  const corrs = plan.byRule.get(rule.id);
  if (!corrs) return [];
  const byKey = new Map<string, { ids: string[]; paths: Set<string> }>();
  for (const c of corrs) {
    const k = groupKey(c.groupPaths.get(rule.id)!, event);
    if (k === null) continue;
    const key = routeKey(c, k);
    let r = byKey.get(key);
    if (!r) byKey.set(key, (r = { ids: [], paths: new Set() }));
    r.ids.push(c.id);
    for (const p of c.readPaths.get(rule.id) ?? []) r.paths.add(p);
  }
  const out: Signal[] = [];
  const level = levelOf(rule.level);
  for (const [key, r] of byKey) {
    const fields: JsonObject = {};
    for (const p of r.paths) {
      const v = getField(event, p);
      if (v !== undefined) fields[p] = v;
    }
    const sr: SignalRule = { id: rule.id, title: rule.title, level, tags: rule.tags };
    if (rule.name) sr.name = rule.name;
    if (rule.author) sr.author = rule.author;
    const s: Signal = {
      ...entityFieldsOf(event),
      "@timestamp": event["@timestamp"],
      event: { id: derivedId("sigil.route", rule.id, event.event.id, key), kind: "signal", dataset: "sigil.signal", severity: LEVEL_SEVERITY[level], risk_score: LEVEL_RISK[level] },
      rule: sr,
      signal: { type: "match", key, events: [eventRef(event, origin)], route: { correlations: r.ids, fields } },
    };
    const threat = threatFromTags(rule.tags);
    if (threat) s.threat = threat;
    out.push(s);
  }
  return out;
}

/**
 * A routing copy (or a forwarded inner hit) back into a match for the engine: the entity fields and
 * the routed fields, the event reference, and the correlations it is meant for.
 */
export function matchFromRouted(s: Signal): { match: Match; correlations: string[] } | null {
  const route = s.signal?.route;
  if (!route || !route.correlations || route.correlations.length === 0) return null;
  const ev: JsonObject = {};
  for (const f of SIGNAL_ENTITY_FIELDS) if (s[f] !== undefined) ev[f] = s[f];
  if (s["winlog"] !== undefined) ev["winlog"] = s["winlog"];
  if (s["aws"] !== undefined) ev["aws"] = s["aws"];
  for (const [p, v] of Object.entries(route.fields)) if (v !== undefined) setField(ev, p, v);
  ev["@timestamp"] = s["@timestamp"];
  const ref = s.signal.events[0];
  const m: Match = { ruleId: s.rule.id, ruleName: s.rule.name, event: ev, time: Date.parse(s["@timestamp"]) };
  if (s.signal.type === "correlation") {
    m.eventId = s.event.id;
    m.refs = s.signal.events.map((r) => ({ id: r.id, time: Date.parse(r["@timestamp"]), file: r.file, line: r.line }));
  } else if (ref) {
    m.eventId = ref.id;
    if (ref.file !== undefined) m.file = ref.file;
    if (ref.line !== undefined) m.line = ref.line;
  }
  return { match: m, correlations: route.correlations };
}
