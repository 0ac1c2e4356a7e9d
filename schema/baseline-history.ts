// The history of one anomaly baseline (a metric of one entity), written by the baselines stage to the
// store's `state` collection so the console can draw the metric with its expected band and the
// anomalies on it. Bounded: only the most recent intervals are kept.

import { createHash } from "node:crypto";
import type { JsonObject } from "./ecs.ts";

export const BASELINE_HISTORY_KIND = "baseline_history";
/** A small document per baseline for lists (the history documents carry every point). */
export const BASELINE_SUMMARY_KIND = "baseline_summary";

/** Longest id written as is (Elasticsearch refuses ids over 512 bytes); longer ones hash the entity. */
const MAX_PLAIN_ID = 256;

/** `state` id of a baseline's history: one per rule and entity value (readers find it by rule_id and entity). */
export function baselineHistoryId(ruleId: string, entityField: string, entityValue: string): string {
  const id = `baseline:${ruleId}:${entityField}=${entityValue}`;
  if (Buffer.byteLength(id) <= MAX_PLAIN_ID) return id;
  return `baseline:${ruleId.slice(0, 64)}:sha256:${createHash("sha256").update(`${entityField}=${entityValue}`).digest("hex")}`;
}

export interface BaselinePoint extends JsonObject {
  /** Interval start, ISO 8601. */
  t: string;
  observed: number;
  /** The expected band for this interval, when the baseline had learned enough. */
  low: number | null;
  high: number | null;
  center: number | null;
}

export interface BaselineHistory extends JsonObject {
  id: string;
  kind: typeof BASELINE_HISTORY_KIND;
  "@timestamp": string; // last update
  rule_id: string;
  rule_title?: string;
  metric: string; // as AnomalyInfo.metric
  entity: { field: string; value: string };
  interval_ms: number;
  /** Oldest first; at most a few thousand points. */
  points: BaselinePoint[];
}

/** `state` id of a baseline's summary. */
export function baselineSummaryId(historyId: string): string {
  return `summary:${historyId}`;
}

/** What a list of baselines shows, written with every history update (id: baselineSummaryId). */
export interface BaselineSummary extends JsonObject {
  id: string;
  kind: typeof BASELINE_SUMMARY_KIND;
  "@timestamp": string; // last update
  history_id: string;
  rule_id: string;
  rule_title?: string;
  metric: string;
  entity: { field: string; value: string };
  interval_ms: number;
  /** Points in the history document (not `points`: one index holds both kinds, and there it is a list). */
  point_count: number;
  last_point: BaselinePoint | null;
}
