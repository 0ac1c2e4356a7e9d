// The correlate pipeline in one process: each normalized event feeds the entity model, the Sigma
// plan, the correlation engine and the anomaly baselines; what they find comes out as Signals. Used by
// `sigil replay` (in event time over files) and by the correlate role (per bus batch).

import type { EcsEvent, JsonObject } from "../schema/ecs.ts";
import { derivedId } from "../schema/event-id.ts";
import { LEVEL_RISK, LEVEL_SEVERITY, LEVELS, entityFieldsOf, type EventRef, type Level, type Signal, type SignalRule } from "../schema/signal.ts";
import type { EntityModel } from "./chains/model.ts";
import { normalizeTactic, normalizeTechnique } from "./chains/tactics.ts";

/** A detection rule as the matcher reports it. */
export interface MatchedRule {
  id: string;
  name?: string;
  title: string;
  level: string;
  status?: string;
  tags: string[];
  author?: string;
  description?: string;
  references?: string[];
}

/** Where an event came from in an offline run (replay): input file and 1-based line. */
export interface Origin {
  file?: string;
  line?: number;
}

/** The Sigma plan: every rule an event matches. */
export interface DetectionStage {
  readonly ruleCount: number;
  match(event: EcsEvent, onMatch: (rule: MatchedRule) => void): void;
}

/** The correlation engine (Sigma correlation rules), producing Signals through the pipeline's emit. */
export interface CorrelationStage {
  readonly ruleCount: number;
  match(rule: MatchedRule, event: EcsEvent, origin: Origin | undefined): void;
  /** Event-time watermark: windows that ended before it close (and `lt` conditions are decided). */
  advance(watermarkMs: number): void;
  /** End of input: every window closes. */
  finish(): void;
  /** A rule whose matches only feed correlations (`generate: false`): no standalone signal. */
  isSilent(ruleId: string): boolean;
}

/** Anomaly baselines, producing Signals through the pipeline's emit. */
export interface BaselineStage {
  readonly ruleCount: number;
  observe(event: EcsEvent, origin: Origin | undefined): void;
  advance(watermarkMs: number): void;
  finish(): void;
}

export interface PipelineStats {
  events: number;
  matches: number;
  signals: number;
  silentMatches: number;
  watermark: number;
}

/** The partition key of a single-event signal: its primary entity (host, else service, user, source IP). */
export function signalKey(e: JsonObject): string {
  const host = (e["host"] as JsonObject | undefined)?.["name"];
  if (typeof host === "string" && host) return host.toLowerCase();
  const svc = (e["service"] as JsonObject | undefined)?.["name"];
  if (typeof svc === "string" && svc) return svc.toLowerCase();
  const user = (e["user"] as JsonObject | undefined)?.["name"];
  if (typeof user === "string" && user) return user.toLowerCase();
  const ip = (e["source"] as JsonObject | undefined)?.["ip"];
  return typeof ip === "string" ? ip : "";
}

function levelOf(s: string): Level {
  return (LEVELS as readonly string[]).includes(s) ? (s as Level) : "medium";
}

/** ECS threat.* from Sigma tags (attack.<tactic>, attack.tNNNN[.NNN]). */
export function threatFromTags(tags: readonly string[]): Signal["threat"] | undefined {
  const tactics: string[] = [];
  const techniques: string[] = [];
  for (const t of tags) {
    if (!t.toLowerCase().startsWith("attack.")) continue;
    const tech = normalizeTechnique(t);
    if (tech) {
      if (!techniques.includes(tech)) techniques.push(tech);
      continue;
    }
    const tac = normalizeTactic(t);
    if (tac && !tactics.includes(tac)) tactics.push(tac);
  }
  if (!tactics.length && !techniques.length) return undefined;
  return { framework: "MITRE ATT&CK", tactic: { name: tactics }, technique: { id: techniques } };
}

/** The event reference a signal carries (with the replay input position when known). */
export function eventRef(e: EcsEvent, origin?: Origin): EventRef {
  const ref: EventRef = { id: e.event.id, "@timestamp": e["@timestamp"], dataset: e.event.dataset };
  if (origin?.file !== undefined) ref.file = origin.file;
  if (origin?.line !== undefined) ref.line = origin.line;
  return ref;
}

/** A Signal for one rule match on one event; its id is deterministic (rule id + event id). */
export function signalFromMatch(rule: MatchedRule, e: EcsEvent, origin?: Origin, created?: string): Signal {
  const level = levelOf(rule.level);
  const r: SignalRule = { id: rule.id, title: rule.title, level, tags: rule.tags };
  if (rule.name) r.name = rule.name;
  if (rule.author) r.author = rule.author;
  if (rule.status) r.status = rule.status;
  if (rule.description) r.description = rule.description;
  if (rule.references) r.references = rule.references;
  const s: Signal = {
    ...entityFieldsOf(e),
    "@timestamp": e["@timestamp"],
    event: { id: derivedId("signal", rule.id, e.event.id), kind: "signal", dataset: "sigil.signal", severity: LEVEL_SEVERITY[level], risk_score: LEVEL_RISK[level] },
    rule: r,
    signal: { type: "match", key: signalKey(e), events: [eventRef(e, origin)] },
  };
  if (created) s.event.created = created;
  const threat = threatFromTags(rule.tags);
  if (threat) s.threat = threat;
  return s;
}

export interface PipelineOptions {
  detection: DetectionStage;
  correlation?: CorrelationStage | null;
  baselines?: BaselineStage | null;
  /** Learns aliases and entity frequencies for the chain builder. */
  model?: EntityModel | null;
  /** Every signal, in the order produced. */
  onSignal: (s: Signal) => void;
  /** Wall-clock time stamped as event.created on signals (omit in replay for reproducible output). */
  now?: () => string;
  /** How often (in events) the watermark is pushed to correlation and baselines. */
  advanceEvery?: number;
}

/** Runs events through model, detection, correlation and baselines. Not re-entrant; one per partition or run. */
export class Pipeline {
  readonly stats: PipelineStats = { events: 0, matches: 0, signals: 0, silentMatches: 0, watermark: 0 };
  private readonly advanceEvery: number;
  private sinceAdvance = 0;
  private current: { e: EcsEvent; origin?: Origin } | null = null;
  private readonly onMatch = (rule: MatchedRule) => this.matched(rule);

  constructor(private readonly o: PipelineOptions) {
    this.advanceEvery = o.advanceEvery ?? 1024;
  }

  /** Connects the correlation engine (done by Engine.attach, which needs the pipeline's emit). */
  setCorrelation(stage: CorrelationStage | null): void {
    this.o.correlation = stage;
  }

  setBaselines(stage: BaselineStage | null): void {
    this.o.baselines = stage;
  }

  /** The emit function correlation and baseline stages report signals through. */
  readonly emit = (s: Signal): void => {
    this.stats.signals++;
    this.o.onSignal(s);
  };

  process(e: EcsEvent, origin?: Origin): void {
    this.stats.events++;
    const t = Date.parse(e["@timestamp"]);
    if (t > this.stats.watermark) this.stats.watermark = t;
    this.o.model?.observe(e);
    this.current = { e, origin };
    this.o.detection.match(e, this.onMatch);
    this.current = null;
    this.o.baselines?.observe(e, origin);
    if (++this.sinceAdvance >= this.advanceEvery) {
      this.sinceAdvance = 0;
      this.advance(this.stats.watermark);
    }
  }

  private matched(rule: MatchedRule): void {
    const cur = this.current;
    if (!cur) return;
    this.stats.matches++;
    this.o.correlation?.match(rule, cur.e, cur.origin);
    if (this.o.correlation?.isSilent(rule.id)) {
      this.stats.silentMatches++;
      return;
    }
    this.emit(signalFromMatch(rule, cur.e, cur.origin, this.o.now?.()));
  }

  advance(watermarkMs: number): void {
    this.o.correlation?.advance(watermarkMs);
    this.o.baselines?.advance(watermarkMs);
  }

  /** End of input: closes every correlation window and baseline interval. */
  finish(): void {
    this.o.correlation?.finish();
    this.o.baselines?.finish();
  }
}
