// The correlation engine's vocabulary: what goes in (a rule match in event time), what comes out
// (a correlation hit, a late-event report, a match forwarded to the partition that owns its group).

import type { JsonObject } from "../../schema/ecs.ts";
import type { Level } from "../../schema/signal.ts";

/** A single-event rule match (or an inner correlation hit) fed to the correlation engine. */
export interface Match {
  /** Id of the rule that matched: a detection rule, or a correlation rule for chained hits. */
  ruleId: string;
  /** The rule's `name`, when it has one (correlations may reference rules by name). */
  ruleName?: string;
  /** The normalized event; group-by and value fields are read from it. */
  event: JsonObject;
  /** Event time, epoch milliseconds (the event's `@timestamp`). */
  time: number;
  /** The event's `event.id`, when known. */
  eventId?: string;
  /** Input file and 1-based line, for offline runs (sigil detect, rules test, replay). */
  file?: string;
  line?: number;
  /** For chained correlations: the events behind an inner hit, carried into the outer hit. */
  refs?: HitEventRef[];
}

/** One event behind a hit: its id, time and where it came from. */
export interface HitEventRef {
  id: string;
  time: number;
  file?: string;
  line?: number;
}

/** Metadata of any rule the engine reports about (detection or correlation). */
export interface RuleInfo {
  id: string;
  name?: string;
  title: string;
  level?: Level;
  author?: string;
  tags?: string[];
  description?: string;
  references?: string[];
  status?: string;
  file?: string;
  line?: number;
}

export const CORRELATION_TYPES = [
  "event_count",
  "value_count",
  "temporal",
  "temporal_ordered",
  "value_sum",
  "value_avg",
  "value_percentile",
  "value_median",
] as const;
export type CorrelationType = (typeof CORRELATION_TYPES)[number];

/** A correlation rule hit: one group's window satisfied the condition. */
export interface CorrelationHit {
  /** The correlation rule that fired. */
  ruleId: string;
  type: CorrelationType;
  /** Group-by field (or alias) → value. */
  group: Record<string, string>;
  /** The group key: the group-by values joined; also the partition key on `sigil.signals`. */
  key: string;
  /** The aggregate that satisfied the condition (count, distinct count, sum, average, percentile, rules). */
  value: number;
  /** Event time of the first and last contributing event, epoch ms. */
  firstSeen: number;
  lastSeen: number;
  timespanMs: number;
  /** Every event that makes up the hit, in event-time order (capped by max_event_refs). */
  events: HitEventRef[];
  /** Number of contributing events (may exceed events.length when capped). */
  eventCount: number;
  /** Entity fields of the last contributing event (see entityFieldsOf). */
  entity: JsonObject;
  /** Deterministic signal id: the same hit always gets the same id, across restarts and replays. */
  id: string;
}

/** Why a match was not added to a window. */
export type DropReason = "late" | "suppressed" | "missing_group_field" | "bad_value" | "evicted";

/** A match the engine could not use, with the reason (late events are reported, never silently lost). */
export interface DroppedMatch {
  reason: DropReason;
  ruleId: string;
  correlationId?: string;
  time: number;
  file?: string;
  line?: number;
  eventId?: string;
  /** For late events: how far behind the watermark the event was, ms. */
  behindMs?: number;
  detail?: string;
}

/** Where the engine reports what it produces. */
export interface EngineSink {
  hit(hit: CorrelationHit): void;
  dropped?(d: DroppedMatch): void;
}

/** Counters the engine keeps (also exported as metrics by the runner). */
export interface EngineStats {
  matches: number;
  hits: number;
  late: number;
  suppressed: number;
  missingGroupField: number;
  badValue: number;
  evicted: number;
  expired: number;
  groups: number;
}
