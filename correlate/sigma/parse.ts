// Parses Sigma YAML files into rule documents with precise positions: every problem carries a stable
// code, the file, line and column. Multi-document files are classified per document (SIGMA.md 1).

import type { LineCounter } from "yaml";
import type { Location, Problem, Severity } from "../../platform/errors.ts";
import { ConditionError, parseCondition, type CondNode } from "./condition.ts";
import { buildValue, checkChain, ModifierError, type RawValue } from "./modifiers.ts";
import { readExact, readFast, toJs, type YEntry, type YNode } from "./ynode.ts";
import type { CorrelationDoc, DetectionIR, DetectionRule, EntryIR, FilterDoc, Limits, Logsource, OtherDoc, RuleDocument, RuleMeta, ValueIR } from "./types.ts";

export const DEFAULT_LIMITS: Limits = {
  maxValuesPerField: 10_000,
  maxValueLength: 16_384,
  maxWildcardsPerValue: 256,
  maxAlternatives: 4_096,
  maxIdentifiers: 1_024,
  maxEntriesPerMap: 1_024,
  maxRegexLength: 4_096,
  maxFileBytes: 4 * 1024 * 1024,
};

const LEVELS = new Set(["informational", "low", "medium", "high", "critical"]);
const STATUSES = new Set(["stable", "test", "experimental", "deprecated", "unsupported"]);
const TAG_RE = /^[a-z0-9_-]+\.[a-z0-9._-]+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A registered handler for a document kind the detection engine does not evaluate itself. */
export interface DocKindClassifier {
  /** Document kind name, e.g. "anomaly". */
  kind: string;
  /** True when a document (top-level keys) is of this kind. */
  matches(keys: string[]): boolean;
}

const extraKinds: DocKindClassifier[] = [];

/** Lets other parts (anomaly baselines) claim documents by their keys, so the loader keeps them. */
export function registerDocKind(k: DocKindClassifier): void {
  if (!extraKinds.some((x) => x.kind === k.kind)) extraKinds.push(k);
}

export interface ParseContext {
  file: string;
  placeholders: Record<string, string[]>;
  limits: Limits;
}

export interface ParsedFile {
  documents: RuleDocument[];
  problems: Problem[];
}

type Node = YNode;
type Pair = YEntry;
type YAMLMap = Extract<YNode, { k: "map" }>;
const isMap = (n: YNode | null | undefined): n is YAMLMap => !!n && n.k === "map";
const isSeq = (n: YNode | null | undefined): n is Extract<YNode, { k: "seq" }> => !!n && n.k === "seq";
const isScalar = (n: YNode | null | undefined): n is Extract<YNode, { k: "scalar" }> => !!n && n.k === "scalar";

class Collector {
  problems: Problem[] = [];
  constructor(
    private readonly file: string,
    private readonly lc: LineCounter | null,
  ) {}
  loc(node: Node | Pair | null | undefined, colOffset = 0): Location {
    const pos = !node ? -1 : "keyPos" in node ? node.keyPos : node.pos;
    if (pos < 0 || !this.lc) return { file: this.file };
    const p = this.lc.linePos(pos);
    return { file: this.file, line: p.line, column: p.col + colOffset };
  }
  add(severity: Severity, code: string, message: string, at: Location, hint?: string) {
    this.problems.push({ code, message, severity, location: at, hint });
  }
}

/** Parses the text of one rule file. Never throws: problems are collected. */
export function parseRuleText(text: string, ctx: ParseContext): ParsedFile {
  if (text.length > ctx.limits.maxFileBytes) {
    const problems: Problem[] = [{ code: "rule_file_too_large", message: `file is ${text.length} bytes; the limit is ${ctx.limits.maxFileBytes}`, severity: "error", location: { file: ctx.file, line: 1, column: 1 } }];
    return { documents: [], problems };
  }
  // Fast reader first; a file with anything to report is read again exactly, for positions.
  const fast = readFast(text);
  if (fast) {
    const col = new Collector(ctx.file, null);
    const documents: RuleDocument[] = [];
    if (fast.root && !(isScalar(fast.root) && fast.root.value === null)) {
      const d = isMap(fast.root) ? parseDocument(fast.root, col, ctx, firstKeyLine(text)) : null;
      if (d && col.problems.length === 0) documents.push(d);
      else return parseExact(text, ctx);
    }
    return { documents, problems: [] };
  }
  return parseExact(text, ctx);
}

function firstKeyLine(text: string): number {
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const end = text.indexOf("\n", i);
    const l = text.slice(i, end < 0 ? text.length : end).trim();
    if (l && !l.startsWith("#") && l !== "---") return line;
    if (end < 0) break;
    i = end + 1;
    line++;
  }
  return 1;
}

function parseExact(text: string, ctx: ParseContext): ParsedFile {
  const { docs, issues, lc } = readExact(text);
  const col = new Collector(ctx.file, lc);
  const documents: RuleDocument[] = [];
  for (const i of issues) {
    const p = lc.linePos(i.pos);
    col.add(i.severity, i.code ?? (i.severity === "error" ? "yaml_syntax" : "yaml_warning"), i.message, { file: ctx.file, line: p.line, column: p.col });
  }
  for (const doc of docs) {
    const root = doc.root;
    if (root === null || (isScalar(root) && root.value === null)) continue; // empty document (e.g. trailing ---)
    if (!isMap(root)) {
      col.add("error", "rule_not_mapping", "a rule document must be a YAML mapping", col.loc(root));
      continue;
    }
    const parsed = parseDocument(root, col, ctx, lc.linePos(root.pos).line);
    if (parsed) documents.push(parsed);
  }
  return { documents, problems: col.problems };
}

function keyOf(p: Pair): string {
  return p.key;
}

function get(map: YAMLMap, key: string): Pair | undefined {
  return map.entries.find((p) => p.key === key);
}

function str(p: Pair | undefined): string | undefined {
  if (!p || !isScalar(p.value)) return undefined;
  const v = p.value.value;
  return v === null || v === undefined ? undefined : String(v);
}

function strList(p: Pair | undefined): string[] | undefined {
  if (!p) return undefined;
  if (isSeq(p.value)) return p.value.items.map((x) => (isScalar(x) ? String(x.value) : JSON.stringify(toJs(x))));
  const s = str(p);
  return s === undefined ? undefined : [s];
}

function lineOf(col: Collector, node: Node | Pair): number {
  return col.loc(node).line ?? 1;
}

function parseDocument(root: YAMLMap, col: Collector, ctx: ParseContext, line: number): RuleDocument | null {
  const keys = root.entries.map(keyOf);
  const action = str(get(root, "action"));
  if (action === "global" || action === "reset" || action === "repeat") {
    col.add("error", "rule_legacy_collection", `legacy multi-document "action: ${action}" collections are not supported`, col.loc(get(root, "action")), "split the file into complete, independent rule documents");
    return null;
  }
  if (keys.includes("correlation")) return parseCorrelation(root, col, ctx, line);
  if (keys.includes("filter")) return parseFilter(root, col, ctx, line);
  if (keys.includes("detection")) return parseDetectionRule(root, col, ctx, line);
  for (const k of extraKinds) if (k.matches(keys)) return { kind: "other", docKind: k.kind, doc: toJs(root) as Record<string, unknown>, file: ctx.file, line } satisfies OtherDoc;
  col.add("error", "rule_unknown_kind", "document is neither a detection rule (detection), a correlation (correlation) nor a filter (filter)", col.loc(root));
  return null;
}

function parseMeta(root: YAMLMap, col: Collector, requireId: boolean): RuleMeta | null {
  let ok = true;
  const titleP = get(root, "title");
  const title = str(titleP);
  if (!title) {
    col.add("error", "rule_missing_title", "the rule has no title", col.loc(root));
    ok = false;
  } else if (title.length > 256) col.add("warning", "rule_long_title", `title is ${title.length} characters; Sigma allows 256`, col.loc(titleP?.value));
  const idP = get(root, "id");
  const id = str(idP);
  if (id !== undefined && !UUID_RE.test(id)) col.add("warning", "rule_bad_id", `id ${JSON.stringify(id)} is not a UUID`, col.loc(idP?.value));
  if (id === undefined && requireId) col.add("warning", "rule_missing_id", "the rule has no id; alerts and correlations reference rules by id", col.loc(root));
  const levelP = get(root, "level");
  const level = str(levelP);
  if (level !== undefined && !LEVELS.has(level)) {
    col.add("error", "rule_bad_level", `level ${JSON.stringify(level)} is not one of ${[...LEVELS].join(", ")}`, col.loc(levelP?.value));
    ok = false;
  }
  const statusP = get(root, "status");
  const status = str(statusP);
  if (status !== undefined && !STATUSES.has(status)) col.add("warning", "rule_bad_status", `status ${JSON.stringify(status)} is not one of ${[...STATUSES].join(", ")}`, col.loc(statusP?.value));
  const tagsP = get(root, "tags");
  const tags = strList(tagsP) ?? [];
  if (tagsP && isSeq(tagsP.value))
    tagsP.value.items.forEach((t, i) => {
      if (!TAG_RE.test(tags[i])) col.add("warning", "rule_bad_tag", `tag ${JSON.stringify(tags[i])} is not lower-case "namespace.name"`, col.loc(t));
    });
  if (!ok || !title) return null;
  const authorP = get(root, "author");
  const author = authorP && isSeq(authorP.value) ? strList(authorP)?.join(", ") : str(authorP);
  return {
    id: id ?? "",
    name: str(get(root, "name")),
    title,
    level: level ?? "medium",
    status,
    tags,
    author,
    description: str(get(root, "description")),
    references: strList(get(root, "references")),
    falsepositives: strList(get(root, "falsepositives")),
    date: str(get(root, "date")),
    modified: str(get(root, "modified")),
  };
}

function parseLogsource(root: YAMLMap, col: Collector): Logsource | null {
  const p = get(root, "logsource");
  if (!p) {
    col.add("error", "rule_missing_logsource", "the rule has no logsource", col.loc(root));
    return null;
  }
  if (!isMap(p.value)) {
    col.add("error", "rule_bad_logsource", "logsource must be a mapping (category, product, service)", col.loc(p.value));
    return null;
  }
  const ls: Logsource = {};
  for (const item of p.value.entries) {
    const k = keyOf(item);
    if (k === "category" || k === "product" || k === "service") {
      const v = str(item as Pair);
      if (v === undefined) col.add("error", "rule_bad_logsource", `logsource ${k} must be a string`, col.loc(item as Pair));
      else ls[k] = v.toLowerCase();
    }
  }
  if (!ls.category && !ls.product && !ls.service) col.add("warning", "logsource_empty", "logsource names no category, product or service; the rule sees every event", col.loc(p.value));
  return ls;
}

function parseDetectionRule(root: YAMLMap, col: Collector, ctx: ParseContext, line: number): DetectionRule | null {
  const before = col.problems.filter((p) => p.severity === "error").length;
  const meta = parseMeta(root, col, true);
  const logsource = parseLogsource(root, col);
  const taxonomy = str(get(root, "taxonomy"));
  if (taxonomy && taxonomy !== "sigma") col.add("warning", "rule_taxonomy_unsupported", `taxonomy "${taxonomy}" is not mapped; field names are used as written`, col.loc(get(root, "taxonomy")?.value));
  const detP = get(root, "detection");
  const missing: string[] = [];
  const det = detP ? parseDetection(detP, col, ctx, missing, false) : null;
  const errors = col.problems.filter((p) => p.severity === "error").length - before;
  if (!meta || !logsource || !det || errors > 0) return null;
  const rule: DetectionRule = {
    kind: "detection",
    meta,
    logsource,
    identifiers: det.identifiers,
    conditions: det.conditions,
    file: ctx.file,
    line,
    raw: toJs(detP?.value ?? null) as Record<string, unknown>,
  };
  if (missing.length) {
    const names = [...new Set(missing)];
    rule.inactiveReason = `placeholders without configured values: ${names.join(", ")}`;
    col.add("warning", "placeholder_unresolved", `the rule stays inactive until correlate.placeholders defines ${names.map((n) => `%${n}%`).join(", ")}`, col.loc(detP), "add the values under correlate.placeholders in the config");
  }
  return rule;
}

interface ParsedDetection {
  identifiers: Map<string, DetectionIR>;
  conditions: CondNode[];
}

function parseDetection(detP: Pair, col: Collector, ctx: ParseContext, missing: string[], isFilter: boolean): ParsedDetection | null {
  if (!isMap(detP.value)) {
    col.add("error", "detection_not_mapping", "detection must be a mapping of search identifiers and a condition", col.loc(detP.value));
    return null;
  }
  const identifiers = new Map<string, DetectionIR>();
  let condP: Pair | undefined;
  const condKey = "condition";
  // `timeframe` is the obsolete aggregation window; `rules` lists a filter's targets.
  const excluded = new Set(isFilter ? ["condition", "rules"] : ["condition", "timeframe"]);
  for (const pair of detP.value.entries) {
    const name = keyOf(pair);
    if (name === condKey) {
      condP = pair;
      continue;
    }
    if (excluded.has(name)) continue;
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      // pySigma accepts any name; such an identifier can only be selected by an `x of` pattern.
      col.add("warning", "detection_odd_identifier", `search identifier "${name}" has characters a condition cannot name directly (only \`x of\` patterns select it)`, col.loc(pair));
    }
    if (identifiers.size >= ctx.limits.maxIdentifiers) {
      col.add("error", "rule_too_large", `more than ${ctx.limits.maxIdentifiers} search identifiers`, col.loc(pair));
      break;
    }
    const ir = parseSearch(pair.value, col, ctx, missing);
    if (ir) identifiers.set(name, ir);
  }
  if (!condP) {
    col.add("error", "rule_missing_condition", `${isFilter ? "filter" : "detection"} has no condition`, col.loc(detP));
    return null;
  }
  const conds: { text: string; node: Node }[] = [];
  if (isSeq(condP.value)) for (const c of condP.value.items) conds.push({ text: isScalar(c) ? String(c.value) : "", node: c });
  else if (isScalar(condP.value) && typeof condP.value.value === "string") conds.push({ text: condP.value.value, node: condP.value });
  else {
    col.add("error", "condition_syntax", "condition must be a string or a list of strings", col.loc(condP.value));
    return null;
  }
  const conditions: CondNode[] = [];
  // Identifiers that failed to parse still count as names, so one bad value is one error, not two.
  const names = detP.value.entries.map((e) => e.key).filter((k) => !excluded.has(k));
  for (const c of conds) {
    try {
      conditions.push(parseCondition(c.text, names));
    } catch (err) {
      if (err instanceof ConditionError) {
        const at = col.loc(c.node);
        // Plain scalars start at the text; quoted ones one column later.
        const quote = isScalar(c.node) && c.node.quoted ? 1 : 0;
        col.add("error", err.code, err.message, { ...at, column: (at.column ?? 1) + quote + err.column });
      } else throw err;
    }
  }
  if (conditions.length !== conds.length || names.length !== identifiers.size) return null;
  return { identifiers, conditions };
}

function scalarRaw(n: Node): RawValue {
  if (!isScalar(n)) return { value: null };
  return { value: n.value };
}

function parseSearch(node: Node, col: Collector, ctx: ParseContext, missing: string[]): DetectionIR | null {
  if (isMap(node)) return parseMapSearch(node, col, ctx, missing);
  if (isSeq(node)) {
    const maps = node.items.filter((x) => isMap(x));
    const scalars = node.items.filter((x) => isScalar(x));
    if (maps.length && scalars.length) {
      col.add("error", "detection_mixed_list", "a search identifier list mixes field maps and keywords; split it into two identifiers", col.loc(node));
      return null;
    }
    if (node.items.some((x) => isSeq(x))) {
      col.add("error", "detection_bad_value", "nested lists are not allowed in a search identifier", col.loc(node));
      return null;
    }
    if (maps.length) {
      const items: DetectionIR[] = [];
      for (const m of maps) {
        const ir = parseMapSearch(m as YAMLMap, col, ctx, missing);
        if (!ir) return null;
        items.push(ir);
      }
      return { t: "anyOf", items };
    }
    const entry = buildEntry(null, [], node.items, col.loc(node), col, ctx, missing, node);
    return entry ? { t: "map", entries: [entry] } : null;
  }
  if (isScalar(node)) {
    if (node.value === null) {
      col.add("error", "detection_bad_value", "a search identifier must not be empty", col.loc(node));
      return null;
    }
    const entry = buildEntry(null, [], [node], col.loc(node), col, ctx, missing, node);
    return entry ? { t: "map", entries: [entry] } : null;
  }
  col.add("error", "detection_bad_value", "a search identifier must be a map, a list of maps or keywords", col.loc(node));
  return null;
}

function parseMapSearch(map: YAMLMap, col: Collector, ctx: ParseContext, missing: string[]): DetectionIR | null {
  const entries: EntryIR[] = [];
  if (map.entries.length > ctx.limits.maxEntriesPerMap) {
    col.add("error", "rule_too_large", `more than ${ctx.limits.maxEntriesPerMap} fields in one map`, col.loc(map));
    return null;
  }
  let ok = true;
  for (const pair of map.entries) {
    const key = keyOf(pair);
    const [field, ...mods] = key.split("|");
    const at = col.loc(pair);
    const valueNode = pair.value;
    let items: Node[];
    if (isScalar(valueNode) && valueNode.value === null) items = [];
    else if (isSeq(valueNode)) {
      if (valueNode.items.some((x) => !isScalar(x))) {
        col.add("error", "detection_bad_value", `values of "${key}" must be scalars (strings, numbers, booleans or null)`, col.loc(valueNode));
        ok = false;
        continue;
      }
      items = valueNode.items;
    } else if (isScalar(valueNode)) items = [valueNode];
    else {
      col.add("error", "detection_bad_value", `value of "${key}" must be a scalar or a list of scalars`, col.loc(valueNode));
      ok = false;
      continue;
    }
    const entry = buildEntry(field === "" ? null : field, mods, items, at, col, ctx, missing, valueNode);
    if (!entry) ok = false;
    else entries.push(entry);
  }
  return ok ? { t: "map", entries } : null;
}

function buildEntry(field: string | null, mods: string[], items: Node[], at: Location, col: Collector, ctx: ParseContext, missing: string[], valueNode: Node | Pair): EntryIR | null {
  let info;
  try {
    info = checkChain(mods);
  } catch (err) {
    if (err instanceof ModifierError) {
      col.add("error", err.code, `${field ?? "(keywords)"}|${mods.join("|")}: ${err.message}`, at, `modifiers: ${[...new Set(["contains", "startswith", "endswith", "all", "re", "cidr", "windash", "base64offset", "exists", "..."])].join(", ")}`);
      return null;
    }
    throw err;
  }
  if (items.length > ctx.limits.maxValuesPerField) {
    col.add("error", "rule_too_large", `${items.length} values for one field; the limit is ${ctx.limits.maxValuesPerField}`, at);
    return null;
  }
  const raws = items.map(scalarRaw);
  if (raws.length === 0) raws.push({ value: null }); // `Field: []` / `Field:` behave like null (pySigma)
  if (raws.length > 1 && raws.some((r) => r.value === null)) {
    col.add("error", "detection_null_in_list", "null must be its own selection, not an element of a value list", col.loc(valueNode));
    return null;
  }
  if (info.all && raws.length === 1 && field !== null) col.add("warning", "modifier_all_single_value", `"all" with a single value has no effect`, at);
  const values: ValueIR[] = [];
  for (let i = 0; i < raws.length; i++) {
    try {
      values.push(buildValue(mods, raws[i], ctx.limits, ctx.placeholders, missing));
    } catch (err) {
      if (err instanceof ModifierError) {
        col.add("error", err.code, `${field ?? "(keywords)"}${mods.length ? "|" + mods.join("|") : ""}: ${err.message}`, items[i] ? col.loc(items[i]) : at);
        return null;
      }
      throw err;
    }
  }
  if (field === null) {
    // Keywords are an implicit "contains" (pySigma's Elasticsearch backend emits *keyword*).
    for (const v of values) {
      if (v.k === "num" || v.k === "bool") continue;
      if (v.k !== "str" && v.k !== "re") {
        col.add("error", "detection_bad_value", `keyword searches take strings or regular expressions, not ${v.k}`, at);
        return null;
      }
    }
  }
  return { field, modifiers: mods, values, all: info.all, negate: info.negate, loc: at };
}

function parseCorrelation(root: YAMLMap, col: Collector, ctx: ParseContext, line: number): CorrelationDoc | null {
  const meta = parseMeta(root, col, false);
  // no prototype: a rule's own key named __proto__ or constructor gets its line like any other key
  const keyLines = Object.create(null) as Record<string, number>;
  for (const p of root.entries) keyLines[keyOf(p)] = lineOf(col, p);
  const c = get(root, "correlation");
  if (c && isMap(c.value)) for (const p of c.value.entries) keyLines[`correlation.${keyOf(p)}`] = lineOf(col, p);
  else col.add("error", "correlation_not_mapping", "correlation must be a mapping (type, rules, group-by, timespan, condition)", col.loc(c?.value));
  return {
    kind: "correlation",
    id: str(get(root, "id")),
    name: str(get(root, "name")),
    title: meta?.title ?? str(get(root, "title")),
    doc: toJs(root) as Record<string, unknown>,
    file: ctx.file,
    line,
    keyLines,
  };
}

function parseFilter(root: YAMLMap, col: Collector, ctx: ParseContext, line: number): FilterDoc | null {
  const before = col.problems.filter((p) => p.severity === "error").length;
  const meta = parseMeta(root, col, false);
  const logsource = parseLogsource(root, col);
  const fP = get(root, "filter") as Pair;
  if (!isMap(fP.value)) {
    col.add("error", "filter_not_mapping", "filter must be a mapping with rules, search identifiers and a condition", col.loc(fP.value));
    return null;
  }
  const rulesP = get(fP.value, "rules");
  let rules: string[] | "any" = "any";
  if (rulesP) {
    const list = strList(rulesP) ?? [];
    rules = list.length === 0 || (list.length === 1 && list[0] === "any") ? "any" : list;
  } else col.add("error", "filter_missing_rules", "filter has no rules list (ids or names of the rules it applies to, or any)", col.loc(fP));
  const condP = get(fP.value, "condition");
  if (condP && isSeq(condP.value)) col.add("error", "filter_bad_condition", "a filter takes exactly one string condition", col.loc(condP.value));
  const missing: string[] = [];
  const det = parseDetection(fP, col, ctx, missing, true);
  if (missing.length) col.add("error", "placeholder_unresolved", `filter uses placeholders without values: ${missing.join(", ")}`, col.loc(fP));
  const errors = col.problems.filter((p) => p.severity === "error").length - before;
  if (!meta || !logsource || !det || errors > 0) return null;
  return { kind: "filter", id: meta.id || undefined, name: meta.name, title: meta.title, logsource, rules, identifiers: det.identifiers, condition: det.conditions[0], file: ctx.file, line };
}
