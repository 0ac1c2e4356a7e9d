// Anomaly baseline rules (rules/anomaly/*.yml): the format as a strict schema (the JSON Schema in
// rules/anomaly/anomaly-rule.schema.json is generated from it), and the checker that reads a document
// into an AnomalyRule, reporting every problem with a stable code, file, line and column.

import fs from "node:fs";
import { LineCounter, isMap, isPair, isScalar, parseAllDocuments, type Document, type Node as YamlNode } from "yaml";
import { z } from "zod";
import type { Location, Problem } from "../../platform/errors.ts";
import { LEVELS, type Level } from "../../schema/signal.ts";
import { parseTimespan } from "../correlation/condition.ts";

export const METRICS = ["event_count", "distinct_count", "sum", "first_seen"] as const;
export type Metric = (typeof METRICS)[number];
export const METHODS = ["robust", "ewma", "quantile"] as const;
export type Method = (typeof METHODS)[number];
export const SEASONALITY = ["auto", "none", "hour_of_day", "day_of_week"] as const;
export type Seasonality = (typeof SEASONALITY)[number];

const duration = z.string().regex(/^[0-9]{1,9}[smhdwMy]$/, "a duration: a positive integer and a unit s, m, h, d, w, M or y (e.g. 1h)");
const fieldName = z.string().min(1).max(256);

/** The `anomaly:` block. */
export const anomalySchema = z.strictObject({
  /** Which events count: a Sigma logsource and detection (field mapping applies). Omitted: every event with the entity field. */
  select: z
    .strictObject({
      logsource: z.strictObject({ category: z.string().optional(), product: z.string().optional(), service: z.string().optional() }).optional(),
      detection: z.record(z.string(), z.unknown()),
    })
    .optional()
    .describe("which events count: a Sigma logsource and detection; omitted: every event with the entity field"),
  /** The entity the baseline is kept for: a field, or several (a composite entity). */
  entity: z.union([fieldName, z.array(fieldName).min(1).max(4)]).describe("field (or fields) naming the entity, e.g. user.name, host.name, service.name, source.ip"),
  metric: z.enum(METRICS).describe("event_count, distinct_count (of field), sum (of field) or first_seen (values of field never seen for the entity)"),
  field: fieldName.optional().describe("the field distinct_count, sum and first_seen read"),
  interval: duration.describe("length of one measurement interval, aligned to the epoch (e.g. 1h)"),
  baseline: z
    .strictObject({
      method: z.enum(METHODS).default("robust").describe("robust: median and MAD; ewma: exponentially weighted mean and deviation; quantile: the 5th-95th percentile range"),
      history: duration.default("14d").describe("how far back the baseline reaches (at most 1,000 intervals)"),
      warmup: z.number().int().min(1).optional().describe("intervals of history an entity needs before it can alert (default: one day's worth, at least 3)"),
      seasonality: z.enum(SEASONALITY).default("auto").describe("compare with the same hour of day or weekday once enough history exists (auto picks the finest available)"),
      min_seasonal_samples: z.number().int().min(2).default(4).describe("same-hour (or same-weekday) samples needed before seasonality is used"),
      min_spread: z.number().min(0).optional().describe("lower bound of the spread a score divides by (default 1, or 1% of the center for sum)"),
      alpha: z.number().gt(0).lt(1).optional().describe("ewma smoothing factor (default 2/(warmup+1))"),
    })
    .prefault({}),
  threshold: z
    .strictObject({
      score: z.number().positive().describe("alert when the score (robust z-score, z-score or range distance) reaches this"),
      direction: z.enum(["up", "down", "both"]).default("up").describe("up: unusually high; down: unusually low (intervals with at least one event); both"),
      min_value: z.number().optional().describe("ignore intervals whose observed value is below this (up) / above it (down)"),
    })
    .describe("when an interval is anomalous"),
});

/** A whole anomaly rule document (Sigma-style metadata plus `anomaly:`). */
export const anomalyRuleSchema = z.strictObject({
  title: z.string().min(1).max(256),
  id: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "a UUID"),
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/).optional(),
  status: z.enum(["stable", "test", "experimental", "deprecated", "unsupported"]).optional(),
  description: z.string().optional(),
  author: z.string().optional(),
  references: z.array(z.string()).optional(),
  date: z.union([z.string(), z.date()]).optional(),
  modified: z.union([z.string(), z.date()]).optional(),
  tags: z.array(z.string().regex(/^[a-z0-9_-]+\.[a-z0-9._-]+$/)).optional(),
  level: z.enum(LEVELS).default("medium"),
  falsepositives: z.array(z.string()).optional(),
  license: z.string().optional(),
  anomaly: anomalySchema,
});
export type AnomalyRuleDoc = z.infer<typeof anomalyRuleSchema>;

export interface AnomalyRule {
  id: string;
  name?: string;
  title: string;
  level: Level;
  author?: string;
  tags: string[];
  description?: string;
  references?: string[];
  status?: string;
  select: { logsource: Record<string, string>; detection: Record<string, unknown> } | null;
  entity: string[];
  metric: Metric;
  field: string | null;
  intervalMs: number;
  method: Method;
  historyIntervals: number;
  warmup: number;
  seasonality: Seasonality;
  minSeasonalSamples: number;
  minSpread: number | null;
  alpha: number;
  score: number;
  direction: "up" | "down" | "both";
  minValue: number | null;
  file: string;
  line: number;
  /** Line of `anomaly.select`, where selection problems are reported. */
  selectLine: number;
}

/** The JSON Schema of anomaly rule files (written to rules/anomaly/anomaly-rule.schema.json). */
export function anomalyJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(anomalyRuleSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return {
    $comment: "Generated from correlate/baselines/rule.ts by `npx tsx correlate/baselines/write-schema.ts`; do not edit.",
    title: "Sigil anomaly baseline rule",
    ...s,
  };
}

/** Where a key path is in one YAML document: its line and column. */
function locate(doc: Document | undefined, lc: LineCounter, path: (string | number)[], fallbackLine: number): { line: number; column: number } {
  let node: unknown = doc?.contents;
  let offset: number | undefined = (node as YamlNode | null)?.range?.[0];
  for (const key of path) {
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
    if (!pair) break;
    offset = (pair.key as YamlNode).range?.[0] ?? offset;
    node = pair.value;
  }
  if (offset === undefined) return { line: fallbackLine, column: 1 };
  const p = lc.linePos(offset);
  return { line: p.line, column: p.col };
}

/** The YAML document of a file that starts at (or contains) a line, with positions. */
function documentAt(file: string, line: number, text?: string): { doc?: Document; lc: LineCounter } {
  const lc = new LineCounter();
  let src = text;
  if (src === undefined) {
    try {
      src = fs.readFileSync(file, "utf8");
    } catch {
      return { lc };
    }
  }
  const docs = parseAllDocuments(src, { lineCounter: lc });
  if (!Array.isArray(docs)) return { lc };
  let best: Document | undefined;
  for (const d of docs) {
    const start = d.contents?.range?.[0];
    if (start === undefined) continue;
    if (lc.linePos(start).line <= line) best = d as Document;
  }
  return { doc: best, lc };
}

export interface ParseAnomalyResult {
  rule: AnomalyRule | null;
  problems: Problem[];
}

/**
 * Checks one anomaly document (plain JS, as the rule loader keeps it) against the schema and the
 * rules the schema cannot say (field needed by the metric, seasonality that fits the interval).
 */
export function parseAnomalyDoc(input: { doc: Record<string, unknown>; file: string; line: number; text?: string }): ParseAnomalyResult {
  const problems: Problem[] = [];
  const { doc: ydoc, lc } = documentAt(input.file, input.line, input.text);
  const at = (path: (string | number)[]): Location => ({ file: input.file, ...locate(ydoc, lc, path, input.line) });
  const parsed = anomalyRuleSchema.safeParse(input.doc);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys)
          problems.push({ code: "anomaly_unknown_key", severity: "error", message: `unknown key "${[...issue.path, k].join(".")}"`, location: at([...issue.path.map(String), k]), hint: "see rules/anomaly/README.md for the format" });
      } else {
        const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
        const missing = issue.code === "invalid_type" && issue.input === undefined;
        problems.push({
          code: missing ? "anomaly_missing_key" : "anomaly_bad_value",
          severity: "error",
          message: `${path.join(".") || "(document)"}: ${missing ? "required" : issue.message}`,
          location: at(missing ? path.slice(0, -1) : path),
        });
      }
    }
    return { rule: null, problems };
  }
  const d = parsed.data;
  const a = d.anomaly;
  const err = (code: string, message: string, path: string[], hint?: string) => problems.push({ code, message, severity: "error", location: at(path), hint });
  const intervalMs = parseTimespan(a.interval)!;
  const historyMs = parseTimespan(a.baseline.history)!;
  if (intervalMs < 60_000) err("anomaly_interval_too_short", "interval must be at least 1m", ["anomaly", "interval"]);
  const historyIntervals = Math.floor(historyMs / intervalMs);
  if (historyIntervals < 3) err("anomaly_history_too_short", `history ${a.baseline.history} holds fewer than 3 intervals of ${a.interval}`, ["anomaly", "baseline", "history"]);
  if (historyIntervals > 1_000) err("anomaly_history_too_long", `history ${a.baseline.history} holds ${historyIntervals} intervals of ${a.interval}; at most 1,000`, ["anomaly", "baseline", "history"], "lengthen the interval or shorten the history");
  if (a.metric !== "event_count" && !a.field) err("anomaly_field_missing", `metric ${a.metric} needs anomaly.field`, ["anomaly", "metric"]);
  if (a.metric === "event_count" && a.field) problems.push({ code: "anomaly_field_unused", message: "event_count does not read anomaly.field", severity: "warning", location: at(["anomaly", "field"]) });
  const day = 86_400_000;
  if (a.baseline.seasonality === "hour_of_day" && (intervalMs >= day || day % intervalMs !== 0)) err("anomaly_seasonality_interval", "hour_of_day seasonality needs an interval that divides a day (e.g. 1h)", ["anomaly", "baseline", "seasonality"]);
  if (a.baseline.seasonality === "day_of_week" && (7 * day) % intervalMs !== 0) err("anomaly_seasonality_interval", "day_of_week seasonality needs an interval that divides a week (e.g. 1h or 1d)", ["anomaly", "baseline", "seasonality"]);
  const warmup = a.baseline.warmup ?? Math.max(3, Math.min(historyIntervals, Math.round(day / intervalMs)));
  if (warmup > historyIntervals) err("anomaly_warmup_too_long", `warmup ${warmup} is longer than the history (${historyIntervals} intervals)`, ["anomaly", "baseline", "warmup"]);
  if (a.metric === "first_seen" && a.threshold.direction !== "up") err("anomaly_direction_invalid", "first_seen only alerts upward (new values)", ["anomaly", "threshold", "direction"]);
  if (a.select) {
    const det = a.select.detection;
    if (!("condition" in det)) err("anomaly_select_invalid", "anomaly.select.detection needs a condition", ["anomaly", "select", "detection"]);
  }
  const entity = typeof a.entity === "string" ? [a.entity] : a.entity;
  if (problems.some((p) => p.severity === "error")) return { rule: null, problems };
  return {
    rule: {
      id: d.id.toLowerCase(),
      name: d.name,
      title: d.title,
      level: d.level,
      author: d.author,
      tags: d.tags ?? [],
      description: d.description,
      references: d.references,
      status: d.status,
      select: a.select ? { logsource: (a.select.logsource ?? {}) as Record<string, string>, detection: a.select.detection } : null,
      entity,
      metric: a.metric,
      field: a.field ?? null,
      intervalMs,
      method: a.baseline.method,
      historyIntervals,
      warmup,
      seasonality: a.baseline.seasonality,
      minSeasonalSamples: a.baseline.min_seasonal_samples,
      minSpread: a.baseline.min_spread ?? null,
      alpha: a.baseline.alpha ?? 2 / (warmup + 1),
      score: a.threshold.score,
      direction: a.threshold.direction,
      minValue: a.threshold.min_value ?? null,
      file: input.file,
      line: input.line,
      selectLine: at(["anomaly", "select"]).line ?? input.line,
    },
    problems,
  };
}

/** True for top-level keys of an anomaly document (the rule loader's classifier). */
export function isAnomalyDocument(keys: string[]): boolean {
  return keys.includes("anomaly") && !keys.includes("detection") && !keys.includes("correlation");
}
