// The correlation engine as a stateful stage of the runner: one engine per `sigil.signals` partition,
// fed by routing copies, publishing correlation signals and forwarding inner hits whose outer group
// lives on another key.

import { derivedId } from "../../schema/event-id.ts";
import type { JsonObject } from "../../schema/ecs.ts";
import { getField } from "../../schema/fields.ts";
import type { Signal } from "../../schema/signal.ts";
import { CorrelationEngine, GroupBudget, type EngineDelta, type EngineOptions, type EngineSnapshot } from "./engine.ts";
import { countWindowEntries, type StageCounts } from "./metrics.ts";
import type { CorrelationPlan } from "./plan.ts";
import type { PartitionPart, StatefulStage } from "./runner.ts";
import { signalFromHit } from "./signal.ts";
import { matchFromRouted } from "./stage.ts";
import type { EngineStats } from "./types.ts";

export interface CorrelationStageOptions extends Omit<EngineOptions, "budget" | "isLocal"> {
  /** Cap on live groups across this process's partitions. */
  maxGroups: number;
  /** event.created on signals. */
  created?: () => string;
}

/** How far behind the wall clock a partition's event time may be and still count as a live stream. */
const LIVE_SLACK_MS = 5 * 60_000;

/**
 * A stream is live when its latest event time is within the idle period, the lateness and some slack
 * of the wall clock. Backfills (old timestamps) are never advanced by the wall clock: that would make
 * every later event of the backfill late.
 */
export function isLive(maxTime: number, nowMs: number, idleMs: number, latenessMs: number): boolean {
  return Number.isFinite(maxTime) && maxTime >= nowMs - idleMs - latenessMs - LIVE_SLACK_MS;
}

export function correlationStage(plan: CorrelationPlan, opts: CorrelationStageOptions): StatefulStage & { budget: GroupBudget } {
  const budget = new GroupBudget(opts.maxGroups);
  return {
    name: "correlation",
    budget,
    open(_partition: number, emit: (s: Signal) => void): PartitionPart {
      let outputs = 0;
      const engine = new CorrelationEngine(
        plan,
        {
          hit: (h) => {
            if (plan.silent.has(h.ruleId)) return;
            outputs++;
            emit(signalFromHit(plan, h, opts.created?.()));
          },
        },
        { ...opts, budget, trackChanges: true, externalTime: true, isLocal: (_outer, outerKey, innerKey) => outerKey === innerKey },
      );
      engine.forwardSink = {
        forward(outer, key, m) {
          // the inner hit travels to the partition of the outer group as a routing copy
          const inner = plan.byId.get(m.ruleId)!;
          const hit = {
            ruleId: inner.id,
            type: inner.rule.type,
            group: {},
            key,
            value: 0,
            firstSeen: m.refs?.[0]?.time ?? m.time,
            lastSeen: m.time,
            timespanMs: inner.rule.timespanMs,
            events: m.refs ?? [],
            eventCount: m.refs?.length ?? 0,
            entity: {},
            id: derivedId("sigil.forward", m.eventId ?? "", outer.id),
          };
          const s = signalFromHit(plan, hit);
          const fields: JsonObject = {};
          for (const p of outer.readPaths.get(inner.id) ?? []) {
            const v = getField(m.event, p);
            if (v !== undefined) fields[p] = v;
          }
          s.signal.route = { correlations: [outer.id], fields };
          Object.assign(s, entityOnly(m.event));
          emit(s);
        },
      };
      const uncount = countWindowEntries(() => engine.entryCount());
      let last: EngineStats = { ...engine.stats };
      return {
        accept(s: Signal): boolean {
          const r = matchFromRouted(s);
          if (!r) return false;
          if (s.signal.type === "correlation") for (const id of r.correlations) engine.onForwarded(id, r.match);
          else engine.onMatch(r.match, r.correlations);
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
          const r = engine.restore(full as EngineSnapshot | null, deltas as EngineDelta[]);
          last = { ...engine.stats };
          return r;
        },
        close() {
          uncount();
          engine.close();
        },
        takeCounts(): StageCounts {
          const s = engine.stats;
          const c: StageCounts = {
            inputs: s.matches - last.matches,
            outputs,
            late: s.late - last.late,
            suppressed: s.suppressed - last.suppressed,
            missing_field: s.missingGroupField - last.missingGroupField,
            bad_value: s.badValue - last.badValue,
            evicted: s.evicted - last.evicted,
            live: s.groups,
          };
          outputs = 0;
          last = { ...s };
          return c;
        },
      };
    },
  };
}

function entityOnly(e: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(e)) if (k !== "@timestamp" && k !== "event" && k !== "rule" && k !== "signal") out[k] = v;
  return out;
}
