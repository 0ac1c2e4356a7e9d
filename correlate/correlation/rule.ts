// Reads a Sigma correlation document (SIGMA.md 7) into a checked CorrelationRule, collecting every
// problem with a stable code and the line of the key at fault (lint mode: all problems at once).

import type { Location, Problem } from "../../platform/errors.ts";
import { LEVELS, type Level } from "../../schema/signal.ts";
import type { CorrelationDoc } from "../sigma/types.ts";
import {
  CONDITION_OPS,
  ExpressionError,
  expressionRefs,
  hasNegation,
  parseExpression,
  parseTimespan,
  toNnf,
  type Condition,
  type ConditionOp,
} from "./condition.ts";
import { CORRELATION_TYPES, type CorrelationType, type RuleInfo } from "./types.ts";

/** A correlation rule as written, checked but not yet resolved against other rules. */
export interface CorrelationRule {
  meta: RuleInfo & { level: Level };
  type: CorrelationType;
  /** Referenced rules (ids or names) in listed order. */
  rules: string[];
  /** Group-by fields or aliases; empty: one global group. */
  groupBy: string[];
  timespanMs: number;
  timespan: string;
  condition: Condition;
  /** Value field(s) for value_* types (value_count with several fields counts distinct tuples). */
  field: string[];
  /** Percentile for value_percentile (value_median: 50). */
  percentile: number | null;
  /** alias → (rule reference → field in that rule's events). */
  aliases: Record<string, Record<string, string>>;
  generate: boolean;
  file: string;
  line: number;
  /** Line of each key, for later (plan-level) problems. */
  keyLines: Record<string, number>;
}

const CORRELATION_KEYS = new Set(["type", "rules", "group-by", "timespan", "condition", "generate", "aliases", "field"]);
/** Top-level attributes Sigma defines for rule documents; anything else is reported as a warning. */
const TOP_KEYS = new Set([
  "title", "id", "name", "status", "description", "author", "references", "date", "modified", "tags", "level",
  "falsepositives", "fields", "license", "related", "taxonomy", "correlation", "scope", "generate",
]);
const VALUE_TYPES: CorrelationType[] = ["value_count", "value_sum", "value_avg", "value_percentile", "value_median"];
const TEMPORAL_TYPES: CorrelationType[] = ["temporal", "temporal_ordered"];
/** Bounds that keep one rule from costing unbounded memory or time. */
export const CORRELATION_LIMITS = { maxRules: 32, maxGroupBy: 8, maxTimespanMs: 366 * 86_400_000, maxAliases: 32, maxFields: 8 };

export interface ParseCorrelationResult {
  rule: CorrelationRule | null;
  problems: Problem[];
}

/** Checks one correlation document. Returns the rule when it has no errors. */
export function parseCorrelationDoc(d: CorrelationDoc): ParseCorrelationResult {
  const problems: Problem[] = [];
  const doc = d.doc;
  const at = (key?: string): Location => ({ file: d.file, line: (key && d.keyLines[key]) || d.line, column: 1 });
  const err = (code: string, message: string, key?: string, hint?: string) =>
    problems.push({ code, message, severity: "error", location: at(key), hint });
  const warn = (code: string, message: string, key?: string, hint?: string) =>
    problems.push({ code, message, severity: "warning", location: at(key), hint });

  for (const k of Object.keys(doc)) {
    if (!TOP_KEYS.has(k)) warn("correlation_unknown_attribute", `unknown top-level attribute "${k}"`, k, "custom attributes are kept but ignored; check for a typo");
  }
  const title = typeof doc.title === "string" ? doc.title : "";
  if (!title) err("correlation_title_missing", "the correlation rule has no title", "title");
  const id = typeof doc.id === "string" ? doc.id : typeof doc.id === "number" ? String(doc.id) : "";
  const name = typeof doc.name === "string" ? doc.name : undefined;
  if (!id) err("correlation_id_missing", "the correlation rule has no id", "id", "give it a UUID: signals and checkpoints are keyed by it");
  let level: Level = "medium";
  if (doc.level !== undefined) {
    if (typeof doc.level === "string" && (LEVELS as readonly string[]).includes(doc.level)) level = doc.level as Level;
    else err("correlation_level_invalid", `level must be one of ${LEVELS.join(", ")}`, "level");
  }
  const tags = Array.isArray(doc.tags) ? doc.tags.filter((t): t is string => typeof t === "string") : [];
  const author = typeof doc.author === "string" ? doc.author : Array.isArray(doc.author) ? doc.author.map(String).join(", ") : undefined;

  const c = doc.correlation;
  if (c === null || typeof c !== "object" || Array.isArray(c)) {
    err("correlation_not_mapping", "correlation must be a mapping (type, rules, group-by, timespan, condition)", "correlation");
    return { rule: null, problems };
  }
  const corr = c as Record<string, unknown>;
  for (const k of Object.keys(corr)) {
    if (!CORRELATION_KEYS.has(k)) err("correlation_unknown_key", `unknown key "correlation.${k}"`, `correlation.${k}`, `allowed: ${[...CORRELATION_KEYS].join(", ")}`);
  }

  // type
  let type: CorrelationType | null = null;
  if (corr.type === undefined) err("correlation_type_missing", "correlation.type is required", "correlation");
  else if (typeof corr.type !== "string" || !(CORRELATION_TYPES as readonly string[]).includes(corr.type)) {
    err("correlation_type_unknown", `unknown correlation type "${String(corr.type)}"`, "correlation.type", `one of ${CORRELATION_TYPES.join(", ")}`);
  } else type = corr.type as CorrelationType;
  const temporal = type !== null && TEMPORAL_TYPES.includes(type);

  // rules
  let rules: string[] = [];
  if (corr.rules === undefined) {
    if (!(temporal && typeof corr.condition === "string")) err("correlation_rules_missing", "correlation.rules is required", "correlation");
  } else if (typeof corr.rules === "string") rules = [corr.rules];
  else if (Array.isArray(corr.rules) && corr.rules.every((r) => typeof r === "string" && r.length > 0)) rules = corr.rules as string[];
  else err("correlation_rules_invalid", "correlation.rules must be a rule id or name, or a list of them", "correlation.rules");
  if (new Set(rules).size !== rules.length) err("correlation_rules_duplicate", "a rule is listed twice in correlation.rules", "correlation.rules");
  if (rules.length > CORRELATION_LIMITS.maxRules) err("correlation_rules_too_many", `at most ${CORRELATION_LIMITS.maxRules} rules per correlation`, "correlation.rules");
  if (Array.isArray(corr.rules) && corr.rules.length === 0) err("correlation_rules_missing", "correlation.rules is empty", "correlation.rules");

  // group-by
  let groupBy: string[] = [];
  if (corr["group-by"] !== undefined && corr["group-by"] !== null) {
    const g = corr["group-by"];
    if (typeof g === "string") groupBy = [g];
    else if (Array.isArray(g) && g.every((x) => typeof x === "string" && x.length > 0)) groupBy = g as string[];
    else err("correlation_group_by_invalid", "correlation.group-by must be a field name or a list of field names", "correlation.group-by");
    if (new Set(groupBy).size !== groupBy.length) err("correlation_group_by_invalid", "a field is listed twice in correlation.group-by", "correlation.group-by");
    if (groupBy.length > CORRELATION_LIMITS.maxGroupBy) err("correlation_group_by_invalid", `at most ${CORRELATION_LIMITS.maxGroupBy} group-by fields`, "correlation.group-by");
  } else if (type !== null) {
    warn("correlation_group_by_missing", "no group-by: every matching event falls into one global group", "correlation", "group by the entity the correlation is about (user, host, source IP)");
  }

  // timespan
  let timespanMs = 0;
  const timespan = typeof corr.timespan === "string" ? corr.timespan : String(corr.timespan ?? "");
  if (corr.timespan === undefined) err("correlation_timespan_missing", "correlation.timespan is required", "correlation");
  else {
    const ms = parseTimespan(corr.timespan);
    if (ms === null) err("correlation_timespan_invalid", `timespan "${timespan}" is invalid`, "correlation.timespan", "a positive integer and a unit: s, m, h, d, w, M (month) or y, e.g. 5m");
    else if (ms > CORRELATION_LIMITS.maxTimespanMs) err("correlation_timespan_invalid", `timespan "${timespan}" is longer than a year`, "correlation.timespan");
    else timespanMs = ms;
  }

  // generate
  let generate = false;
  if (corr.generate !== undefined) {
    if (typeof corr.generate === "boolean") generate = corr.generate;
    else err("correlation_generate_invalid", "correlation.generate must be true or false", "correlation.generate");
  }

  // aliases
  const aliases: Record<string, Record<string, string>> = {};
  if (corr.aliases !== undefined && corr.aliases !== null) {
    const a = corr.aliases;
    if (typeof a !== "object" || Array.isArray(a)) err("correlation_alias_invalid", "correlation.aliases must map alias names to {rule: field}", "correlation.aliases");
    else {
      const entries = Object.entries(a as Record<string, unknown>);
      if (entries.length > CORRELATION_LIMITS.maxAliases) err("correlation_alias_invalid", `at most ${CORRELATION_LIMITS.maxAliases} aliases`, "correlation.aliases");
      for (const [alias, mapping] of entries) {
        if (mapping === null || typeof mapping !== "object" || Array.isArray(mapping) || !Object.values(mapping).every((f) => typeof f === "string" && f.length > 0)) {
          err("correlation_alias_invalid", `alias "${alias}" must map rule names to field names`, "correlation.aliases");
          continue;
        }
        aliases[alias] = { ...(mapping as Record<string, string>) };
        for (const r of Object.keys(mapping)) {
          if (rules.length && !rules.includes(r)) err("correlation_alias_rule_unknown", `alias "${alias}" names rule "${r}", which is not in correlation.rules`, "correlation.aliases");
        }
      }
    }
  }

  // condition and field
  let condition: Condition | null = null;
  let field: string[] = [];
  let percentile: number | null = type === "value_median" ? 50 : null;
  const cond = corr.condition;
  if (cond === undefined || cond === null) {
    if (temporal) condition = { kind: "numeric", clauses: [{ op: "gte", value: rules.length }] };
    else if (type !== null) err("correlation_condition_missing", `correlation.condition is required for ${type}`, "correlation", "e.g. condition: {gte: 10}");
  } else if (typeof cond === "string") {
    if (!temporal) err("correlation_condition_invalid", "an expression condition is only allowed for temporal and temporal_ordered", "correlation.condition", "use a map such as {gte: 3}");
    else {
      try {
        const expr = parseExpression(cond);
        const refs = expressionRefs(expr);
        if (corr.rules === undefined) rules = refs;
        const unused = rules.filter((r) => !refs.includes(r));
        const unknown = refs.filter((r) => !rules.includes(r));
        if (unused.length) err("correlation_expression_rule_unused", `rules listed but not used in the condition: ${unused.join(", ")}`, "correlation.condition");
        if (unknown.length) err("correlation_expression_rule_unknown", `the condition names rules not listed in correlation.rules: ${unknown.join(", ")}`, "correlation.condition");
        if (refs.length > 30) err("correlation_rules_too_many", "an expression condition may name at most 30 rules", "correlation.condition");
        const nnf = toNnf(expr);
        condition = { kind: "expression", source: cond, expr, nnf, hasNegation: hasNegation(nnf) };
      } catch (e) {
        if (!(e instanceof ExpressionError)) throw e;
        problems.push({ code: "correlation_expression_invalid", message: `condition: ${e.message}`, severity: "error", location: { ...at("correlation.condition"), column: undefined }, hint: `column ${e.column} of the expression; names, and, or, not and parentheses are allowed` });
      }
    }
  } else if (typeof cond === "object" && !Array.isArray(cond)) {
    const cm = cond as Record<string, unknown>;
    const clauses: { op: ConditionOp; value: number }[] = [];
    for (const [k, v] of Object.entries(cm)) {
      if ((CONDITION_OPS as readonly string[]).includes(k)) {
        const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
        if (!Number.isFinite(n)) err("correlation_condition_invalid", `condition ${k}: "${String(v)}" is not a number`, "correlation.condition");
        else clauses.push({ op: k as ConditionOp, value: n });
      } else if (k === "field") {
        if (typeof v === "string" && v) field = [v];
        else if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string" && x)) field = v as string[];
        else err("correlation_field_invalid", "condition.field must be a field name or a list of field names", "correlation.condition");
      } else if (k === "percentile") {
        const n = typeof v === "number" ? v : Number(v);
        if (!Number.isFinite(n) || n < 0 || n > 100) err("correlation_percentile_invalid", "condition.percentile must be a number from 0 to 100", "correlation.condition");
        else percentile = n;
      } else err("correlation_condition_operator", `unknown condition key "${k}"`, "correlation.condition", `operators: ${CONDITION_OPS.join(", ")}; also field, percentile`);
    }
    if (clauses.length === 0) err("correlation_condition_invalid", "the condition has no operator", "correlation.condition", "e.g. {gte: 3}");
    else condition = { kind: "numeric", clauses };
  } else err("correlation_condition_invalid", "correlation.condition must be a map such as {gte: 3} (or, for temporal types, an expression)", "correlation.condition");
  if (corr.field !== undefined) {
    // Some writers put `field` beside the condition instead of inside it: accept, but say where it belongs.
    if (typeof corr.field === "string" && corr.field) field = field.length ? field : [corr.field];
    else err("correlation_field_invalid", "field must be a field name", "correlation.field");
    warn("correlation_field_placement", "field belongs inside correlation.condition", "correlation.field");
  }
  if (type !== null && VALUE_TYPES.includes(type) && field.length === 0) {
    err("correlation_field_missing", `${type} needs condition.field: the field whose values are aggregated`, "correlation.condition");
  }
  if (type !== null && !VALUE_TYPES.includes(type) && field.length > 0) {
    warn("correlation_field_unused", `${type} does not use condition.field`, "correlation.condition");
  }
  if (type !== "value_count" && field.length > 1) err("correlation_field_invalid", "only value_count accepts several fields (distinct tuples)", "correlation.condition");
  if (field.length > CORRELATION_LIMITS.maxFields) err("correlation_field_invalid", `at most ${CORRELATION_LIMITS.maxFields} fields`, "correlation.condition");
  if (type === "value_percentile" && percentile === null) err("correlation_percentile_missing", "value_percentile needs condition.percentile (0-100)", "correlation.condition");
  if (condition && condition.kind === "numeric" && temporal) {
    const max = condition.clauses.find((c) => (c.op === "gte" || c.op === "gt" || c.op === "eq") && c.value > rules.length);
    if (max) warn("correlation_condition_unreachable", `the condition needs more distinct rules (${max.value}) than are listed (${rules.length})`, "correlation.condition");
  }
  const errors = problems.some((p) => p.severity === "error");
  if (errors || type === null || condition === null) return { rule: null, problems };
  return {
    rule: {
      meta: {
        id,
        name,
        title,
        level,
        author,
        tags,
        description: typeof doc.description === "string" ? doc.description : undefined,
        references: Array.isArray(doc.references) ? doc.references.map(String) : undefined,
        status: typeof doc.status === "string" ? doc.status : undefined,
        file: d.file,
        line: d.line,
      },
      type,
      rules,
      groupBy,
      timespanMs,
      timespan,
      condition,
      field,
      percentile,
      aliases,
      generate,
      file: d.file,
      line: d.line,
      keyLines: d.keyLines,
    },
    problems,
  };
}
