// Baselines as a stage of the correlate pipeline (correlate/pipeline.ts BaselineStage): local (one
// process sees every event) or routing (each selected event is sent on `sigil.signals` keyed by its
// entity, and the stateful runner keeps the entity's baseline on the owning partition).

import type { EcsEvent, JsonObject } from "../../schema/ecs.ts";
import { derivedId } from "../../schema/event-id.ts";
import { getField, setField } from "../../schema/fields.ts";
import { SIGNAL_ENTITY_FIELDS, entityFieldsOf, type Signal } from "../../schema/signal.ts";
import { GroupBudget } from "../correlation/engine.ts";
import type { StageCounts } from "../correlation/metrics.ts";
import type { PartitionPart, StatefulStage } from "../correlation/runner.ts";
import { isLive } from "../correlation/partition.ts";
import { eventTime } from "../correlation/stage.ts";
import type { BaselineStage, Origin } from "../pipeline.ts";
import { eventRef } from "../pipeline.ts";
import { BaselineEngine, entityKey, type AnomalyHit, type BaselineDrop, type BaselineDelta, type BaselineOptions, type BaselineSnapshot, type BaselineStats, type CompiledAnomaly, type IntervalClose } from "./engine.ts";
import type { Selection } from "./load.ts";
import { signalFromAnomaly } from "./signal.ts";

export interface LocalBaselineOptions extends BaselineOptions {
  onAnomaly?: (a: CompiledAnomaly, hit: AnomalyHit) => void;
  onDropped?: (d: BaselineDrop) => void;
  created?: () => string;
}

/** Keeps every baseline in this process and emits a Signal per anomaly. */
export class LocalBaselineStage implements BaselineStage {
  readonly engine: BaselineEngine;
  readonly ruleCount: number;

  constructor(
    private readonly selection: Selection,
    emit: (s: Signal) => void,
    private readonly opts: LocalBaselineOptions,
  ) {
    const anomalies = selection.anomalies;
    this.ruleCount = anomalies.length;
    this.engine = new BaselineEngine(
      anomalies,
      {
        anomaly: (hit) => {
          const a = anomalies.find((x) => x.rule.id === hit.ruleId)!;
          opts.onAnomaly?.(a, hit);
          emit(signalFromAnomaly(a, hit, opts.created?.()));
        },
        dropped: (d) => opts.onDropped?.(d),
      },
      opts,
    );
  }

  observe(event: EcsEvent, origin: Origin | undefined): void {
    const hits = this.selection.match(event);
    if (hits.length === 0) return;
    const time = eventTime(event);
    const id = getField(event, "event.id");
    for (const a of hits) this.engine.observe(a, { event, time, eventId: typeof id === "string" ? id : undefined, file: origin?.file, line: origin?.line });
  }

  /** `watermarkMs` is the latest event time seen; intervals that ended before it minus the lateness close. */
  advance(watermarkMs: number): void {
    this.engine.advance(watermarkMs - this.opts.allowedLatenessMs);
  }

  finish(): void {
    this.engine.flush();
  }
}

/** The distributed form: one routing copy per selected event and entity, keyed by the entity value. */
export class RoutingBaselineStage implements BaselineStage {
  readonly ruleCount: number;
  constructor(
    private readonly selection: Selection,
    private readonly emit: (s: Signal) => void,
  ) {
    this.ruleCount = selection.anomalies.length;
  }

  observe(event: EcsEvent, origin: Origin | undefined): void {
    const hits = this.selection.match(event);
    if (hits.length === 0) return;
    const byKey = new Map<string, { ids: string[]; paths: Set<string>; first: CompiledAnomaly }>();
    for (const a of hits) {
      const key = entityKey(a.entity, event);
      if (key === null) continue;
      let r = byKey.get(key);
      if (!r) byKey.set(key, (r = { ids: [], paths: new Set(), first: a }));
      r.ids.push(a.rule.id);
      for (const p of a.readPaths) r.paths.add(p);
    }
    for (const [key, r] of byKey) {
      const fields: JsonObject = {};
      for (const p of r.paths) {
        const v = getField(event, p);
        if (v !== undefined) fields[p] = v;
      }
      const rule = r.first.rule;
      this.emit({
        ...entityFieldsOf(event),
        "@timestamp": event["@timestamp"],
        event: { id: derivedId("sigil.route", "baseline", event.event.id, key), kind: "signal", dataset: "sigil.signal", severity: 1, risk_score: 0 },
        rule: { id: rule.id, title: rule.title, level: rule.level },
        signal: { type: "match", key, events: [eventRef(event, origin)], route: { baselines: r.ids, fields } },
      });
    }
  }

  advance(): void {}
  finish(): void {}
}

/** A routing copy back into an observation for the rules it names. */
export function observationFromRouted(s: Signal): { ids: string[]; event: JsonObject; time: number; eventId?: string; file?: string; line?: number } | null {
  const route = s.signal?.route;
  if (!route || !route.baselines || route.baselines.length === 0) return null;
  const ev: JsonObject = {};
  for (const f of SIGNAL_ENTITY_FIELDS) if (s[f] !== undefined) ev[f] = s[f];
  for (const [p, v] of Object.entries(route.fields)) if (v !== undefined) setField(ev, p, v);
  ev["@timestamp"] = s["@timestamp"];
  const ref = s.signal.events[0];
  return { ids: route.baselines, event: ev, time: Date.parse(s["@timestamp"]), eventId: ref?.id, file: ref?.file, line: ref?.line };
}

export interface BaselineStageOptions extends Omit<BaselineOptions, "budget" | "trackChanges"> {
  maxEntities: number;
  created?: () => string;
  /** Every closed interval (baselines/history.ts writes them as the baseline history). */
  onInterval?: (c: IntervalClose) => void;
}

/** Baselines as a stateful stage of the runner: one engine per `sigil.signals` partition. */
export function baselineStage(anomalies: CompiledAnomaly[], opts: BaselineStageOptions): StatefulStage & { budget: GroupBudget } {
  const budget = new GroupBudget(opts.maxEntities);
  const byId = new Map(anomalies.map((a) => [a.rule.id, a]));
  return {
    name: "baselines",
    budget,
    open(_partition: number, emit: (s: Signal) => void): PartitionPart {
      let outputs = 0;
      const engine = new BaselineEngine(
        anomalies,
        {
          anomaly: (hit) => {
            outputs++;
            emit(signalFromAnomaly(byId.get(hit.ruleId)!, hit, opts.created?.()));
          },
          interval: opts.onInterval,
        },
        { ...opts, budget, trackChanges: true, externalTime: true },
      );
      let last: BaselineStats = { ...engine.stats };
      return {
        accept(s: Signal): boolean {
          const o = observationFromRouted(s);
          if (!o) return false;
          for (const id of o.ids) {
            const a = byId.get(id);
            if (a) engine.observe(a, o);
          }
          return true;
        },
        advanceIdle(nowMs: number, idleMs: number) {
          if (isLive(engine.maxTime, nowMs, idleMs, opts.allowedLatenessMs)) engine.advance(nowMs - idleMs - opts.allowedLatenessMs);
        },
        advanceTo(eventTimeMs: number) {
          engine.advance(eventTimeMs - opts.allowedLatenessMs);
        },
        snapshot: () => engine.snapshot(),
        delta: () => engine.delta(),
        restore(full, deltas) {
          const r = engine.restore(full as BaselineSnapshot | null, deltas as BaselineDelta[]);
          last = { ...engine.stats };
          return r;
        },
        close: () => engine.close(),
        takeCounts(): StageCounts {
          const s = engine.stats;
          const c: StageCounts = {
            inputs: s.observations - last.observations,
            outputs,
            late: s.late - last.late,
            suppressed: 0,
            missing_field: s.missingField - last.missingField,
            bad_value: s.badValue - last.badValue,
            evicted: s.evicted - last.evicted,
            live: s.entities,
          };
          outputs = 0;
          last = { ...s };
          return c;
        },
      };
    },
  };
}
