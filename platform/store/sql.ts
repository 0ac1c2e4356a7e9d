// QueryNode → SQLite for the embedded store: parameterized WHERE clauses over the JSONB document,
// FTS5 for free text, with the same semantics as the Elasticsearch translation (see
// docs/decisions/0007-query-language-and-semantics.md). Values are always bound parameters; field paths are
// validated identifiers quoted into JSON path literals so expression indexes can match them.

import { UsageError } from "../errors.ts";
import { MAX_KEYWORD_CHARS, fieldType, foldAscii, idField, parseDate, parseDateBound, tokens, type FieldType } from "./fields.ts";
import { patternParts } from "./query.ts";
import type { Collection, QueryNode } from "./types.ts";

/** Everything the compiler needs besides the query. */
export interface SqlContext {
  collection: Collection;
  /** Where stored documents have arrays: which paths, and which hold objects. */
  arrays: ArrayPaths;
  /** Bound parameters, appended in order of the `?` placeholders. */
  params: unknown[];
  /** Time "now" for date math, epoch ms. */
  now: number;
  /** Unique alias counter for json_each subqueries. */
  alias: number;
}

/** The paths where some stored document of a collection has an array (as remembered on write). */
export interface ArrayPaths {
  /** Some document has an array at this path (of scalars or objects). */
  any(path: string): boolean;
  /** Some document has an array of objects at this path. */
  objects(path: string): boolean;
}

/** Array paths from the remembered rows; `overflow` (too many to remember) makes every path possible. */
export function arrayPathsOf(rows: Array<{ path: string; objects: number }>, overflow: boolean): ArrayPaths {
  if (overflow) return { any: () => true, objects: () => true };
  const any = new Set<string>();
  const objects = new Set<string>();
  for (const r of rows) {
    any.add(r.path);
    if (r.objects) objects.add(r.path);
  }
  return { any: (p) => any.has(p), objects: (p) => objects.has(p) };
}

export const NO_ARRAYS: ArrayPaths = { any: () => false, objects: () => false };

const SEGMENT_RE = /^[\p{L}\p{N}_@$#-]+$/u;

/** Table name of a collection (collections are a fixed list, so names never come from input). */
export function table(c: Collection): string {
  return `"c_${c}"`;
}
export function ftsTable(c: Collection): string {
  return `"c_${c}_fts"`;
}

/** A JSON path literal for SQL: '$."a"."b"'. Segments are validated, never user-quoted. */
export function jsonPath(segs: readonly string[]): string {
  for (const s of segs) {
    if (!SEGMENT_RE.test(s)) throw new UsageError("query_bad_field", `'${s}' is not a valid field name segment`, { hint: "field names are letters, digits and _ @ $ # - separated by dots" });
  }
  return segs.length === 0 ? "'$'" : `'$.${segs.map((s) => `"${s}"`).join(".")}'`;
}

/** Compiles a query to a boolean SQL expression over table alias `d` (columns rowid, id, ts, body). */
export function compileWhere(q: QueryNode | undefined, ctx: SqlContext): string {
  if (!q) return "1";
  return compile(q, ctx);
}

function compile(q: QueryNode, ctx: SqlContext): string {
  switch (q.op) {
    case "all":
      return "1";
    case "and":
      return `(${q.args.map((a) => compile(a, ctx)).join(" AND ")})`;
    case "or":
      return `(${q.args.map((a) => compile(a, ctx)).join(" OR ")})`;
    case "not":
      return `(NOT IFNULL(${compile(q.arg, ctx)}, 0))`;
    case "term":
      if (q.field === null) return freeText(q.value, q.wildcard, ctx);
      return fieldCond(q.field, ctx, (src, path, elem) => termCond(q.field!, q.value, q.wildcard, q.caseSensitive === true, ctx, src, path, elem));
    case "exists":
      return fieldCond(q.field, ctx, (src, path, elem) => existsCond(src, path, elem));
    case "range":
      return rangeCond(q, ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// Free text

/** The FTS5 MATCH expression for a free-text term (exported for tests), or null when it has no tokens. */
export function ftsExpression(value: string, wildcard: boolean): string | null {
  const literal = wildcard ? value.slice(0, -1) : value;
  const toks = tokens(literal);
  if (toks.length === 0) return null;
  return `"${toks.join(" ")}"${wildcard ? " *" : ""}`;
}

function freeText(value: string, wildcard: boolean, ctx: SqlContext): string {
  const expr = ftsExpression(value, wildcard);
  if (expr === null) return "0";
  ctx.params.push(expr);
  return `d.rowid IN (SELECT rowid FROM ${ftsTable(ctx.collection)} WHERE ${ftsTable(ctx.collection)} MATCH ?)`;
}

// ---------------------------------------------------------------------------------------------
// Field access through arrays of objects

/**
 * A leaf condition at (src, path): `elem` is false for the value at the path (which may itself be
 * an array of scalars) and true when called on one json_each element (columns `value`, `type` of alias src).
 */
type LeafFn = (src: string, path: string, elem: false | string) => string;

/**
 * Builds the condition for a field, descending into arrays of objects where documents have them
 * (`signal.events.id` matches when any element of signal.events has that id, as in Elasticsearch).
 */
function fieldCond(field: string, ctx: SqlContext, leaf: LeafFn): string {
  const segs = field.split(".");
  // the array branch is only needed where some document ever had an array at this path
  const arrays = ctx.arrays.any(field);
  return descend("d.body", [], segs, 0, ctx, (src, path) => (arrays ? leafWithArrays(src, path, ctx, leaf) : leaf(src, path, false)));
}

function descend(src: string, consumed: string[], rest: string[], from: number, ctx: SqlContext, at: (src: string, path: string) => string): string {
  for (let i = Math.max(from, 1); i < rest.length; i++) {
    const prefix = [...consumed, ...rest.slice(0, i)].join(".");
    if (!ctx.arrays.objects(prefix)) continue;
    const p = jsonPath(rest.slice(0, i));
    const j = `j${ctx.alias++}`;
    const inner = descend(`${j}.value`, [...consumed, ...rest.slice(0, i)], rest.slice(i), 1, ctx, at);
    const other = descend(src, consumed, rest, i + 1, ctx, at);
    return `(CASE json_type(${src}, ${p}) WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each(${src}, ${p}) AS ${j} WHERE ${j}.type = 'object' AND ${inner}) ELSE ${other} END)`;
  }
  return at(src, jsonPath(rest));
}

/** The leaf condition on a scalar value, or on any element when the value is an array of scalars. */
function leafWithArrays(src: string, path: string, ctx: SqlContext, leaf: LeafFn): string {
  const scalar = leaf(src, path, false);
  if (scalar === "0") return "0";
  // (testing the first element directly before json_each was measured slower: each JSON path walks from the root)
  const j = `j${ctx.alias++}`;
  const elem = leaf(j, "", j);
  return `(${scalar} OR (json_type(${src}, ${path}) = 'array' AND EXISTS (SELECT 1 FROM json_each(${src}, ${path}) AS ${j} WHERE ${elem})))`;
}

/** Value, JSON type and text-ness at a leaf: the extracted value or the json_each element's columns. */
function access(src: string, path: string, elem: false | string): { x: string; t: string } {
  if (elem) return { x: `${elem}.value`, t: `${elem}.type` };
  return { x: `json_extract(${src}, ${path})`, t: `json_type(${src}, ${path})` };
}

// ---------------------------------------------------------------------------------------------
// Terms

const NUMERIC_RE = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function isNumericText(v: string): boolean {
  return NUMERIC_RE.test(v) && Number.isFinite(Number(v));
}

function termCond(field: string, value: string, wildcard: boolean, caseSensitive: boolean, ctx: SqlContext, src: string, path: string, elem: false | string): string {
  const ft = fieldType(ctx.collection, field);
  const { x, t } = access(src, path, elem);
  if (ft === "date") {
    if (wildcard) return "0";
    const span = dateSpan(value, ctx.now);
    if (!span) return "0";
    ctx.params.push(span[0], span[1]);
    return `(${dateExpr(x, t)} BETWEEN ? AND ?)`;
  }
  if (ft === "boolean") {
    if (wildcard) return "0";
    const b = foldAscii(value);
    if (b !== "true" && b !== "false") return "0";
    return `(${t} = '${b}')`;
  }
  if (ft === "long" || ft === "double") {
    if (wildcard || !isNumericText(value)) return "0";
    ctx.params.push(Number(value));
    return `(${t} IN ('integer', 'real') AND ${x} = ?)`;
  }
  if (ft === "ip" && !wildcard && value.includes("/")) {
    ctx.params.push(value);
    return `(${t} = 'text' AND sigil_cidr(${x}, ?))`;
  }
  if (wildcard) return wildcardCond(value, caseSensitive, x, t, ctx);
  if (value.length > MAX_KEYWORD_CHARS) return "0";
  const parts: string[] = [];
  if (caseSensitive) {
    ctx.params.push(value);
    parts.push(`(${t} = 'text' AND ${x} = ?)`);
  } else {
    // SQLite's lower() folds ASCII letters only, as Elasticsearch's case_insensitive does
    ctx.params.push(foldAscii(value));
    parts.push(`(${t} = 'text' AND lower(${x}) = ?)`);
  }
  if (ft === undefined) {
    // Dynamically typed fields: numbers compare as numbers, booleans as true/false (Elasticsearch maps them so).
    if (isNumericText(value)) {
      ctx.params.push(Number(value));
      parts.push(`(${t} IN ('integer', 'real') AND ${x} = ?)`);
    }
    const b = foldAscii(value);
    if (b === "true" || b === "false") parts.push(`(${t} = '${b}')`);
  } else if (ft === "keyword" || ft === "text" || ft === "ip") {
    // numbers stored in string fields are indexed by Elasticsearch as their text
    if (isNumericText(value) && String(Number(value)) === value) {
      ctx.params.push(Number(value));
      parts.push(`(${t} IN ('integer', 'real') AND ${x} = ?)`);
    }
  }
  return parts.length === 1 ? parts[0] : `(${parts.join(" OR ")})`;
}

/** SQLite GLOB pattern of a wildcard pattern, with literal parts folded (when not case-sensitive). */
export function globOf(pattern: string, fold: boolean): { glob: string; prefix: string | null } {
  const parts = patternParts(pattern);
  let glob = "";
  let prefix: string | null = null;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if ("lit" in p) {
      const lit = fold ? foldAscii(p.lit) : p.lit;
      if (i === 0) prefix = lit;
      glob += lit.replace(/[[*?]/g, (c) => `[${c}]`);
    } else glob += "any" in p ? "*" : "?";
  }
  // a prefix range is only exact when the pattern is `literal*`
  const simplePrefix = parts.length === 2 && "lit" in parts[0] && "any" in parts[1] ? prefix : null;
  return { glob, prefix: simplePrefix };
}

function wildcardCond(pattern: string, caseSensitive: boolean, x: string, t: string, ctx: SqlContext): string {
  const { glob, prefix } = globOf(pattern, !caseSensitive);
  const v = caseSensitive ? x : `lower(${x})`;
  let cond = `${t} = 'text' AND length(${x}) <= ${MAX_KEYWORD_CHARS} AND ${v} GLOB ?`;
  ctx.params.push(glob);
  if (prefix) {
    // `abc*` as a range too, so an expression index on the folded field can serve it
    const hi = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    ctx.params.push(prefix, hi);
    cond += ` AND ${v} >= ? AND ${v} < ?`;
  }
  return `(${cond})`;
}

/** [first, last] epoch ms covered by a date value: a day for 2026-01-02, a minute for ...T10:05, one ms for a full time. */
export function dateSpan(value: string, now: number): [number, number] | null {
  const lo = parseDateBound(value, now);
  if (lo === null) return null;
  return [lo, roundUpDate(value, lo)];
}

/** The last millisecond of the unit a date string names (Elasticsearch's rounding for lte and gt). */
export function roundUpDate(value: string | number, t: number): number {
  if (typeof value !== "string") return t;
  const m = /^\d{4}-\d{2}-\d{2}(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?/.exec(value);
  if (!m) return t;
  if (m[1] === undefined) return t + 86_400_000 - 1;
  if (m[3] === undefined) return t + 60_000 - 1;
  if (m[4] === undefined) return t + 1000 - 1;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Exists and ranges

function existsCond(src: string, path: string, elem: false | string): string {
  const { t } = access(src, path, elem);
  if (elem) return `(${t} <> 'null')`;
  return `(${t} IS NOT NULL AND ${t} NOT IN ('null', 'array'))`;
}

/** A date value as epoch ms: numbers as they are, text parsed by the registered sigil_date (same parser as on write). */
export function dateExpr(x: string, t: string): string {
  return `(CASE WHEN ${t} IN ('integer', 'real') THEN CAST(${x} AS INTEGER) WHEN ${t} = 'text' THEN sigil_date(${x}) END)`;
}

type RangeNode = Extract<QueryNode, { op: "range" }>;

function rangeCond(q: RangeNode, ctx: SqlContext): string {
  const ft = fieldType(ctx.collection, q.field);
  const bounds = (["gt", "gte", "lt", "lte"] as const).filter((k) => q[k] !== undefined);
  if (bounds.length === 0) return fieldCond(q.field, ctx, (src, path, elem) => existsCond(src, path, elem));
  if (ft === "date") {
    const b = dateBounds(q, ctx.now);
    if (q.field === "@timestamp") return timeColumnCond("d.ts", b, ctx);
    return fieldCond(q.field, ctx, (src, path, elem) => {
      const { x, t } = access(src, path, elem);
      return timeColumnCond(dateExpr(x, t), b, ctx);
    });
  }
  if (ft === "long" || ft === "double") {
    for (const k of bounds) {
      if (typeof q[k] !== "number") throw new UsageError("query_bad_range", `${q.field} is numeric; the range bound '${String(q[k])}' is not a number`, { location: { key: q.field } });
    }
  }
  const typed = ft !== undefined && ft !== "long" && ft !== "double";
  return fieldCond(q.field, ctx, (src, path, elem) => {
    const { x, t } = access(src, path, elem);
    const allNumeric = bounds.every((k) => typeof q[k] === "number");
    const parts: string[] = [];
    // text values compare as text (byte order, like Elasticsearch keyword ranges), numbers as numbers
    if (!(ft === "long" || ft === "double")) {
      const cmp = bounds.map((k) => {
        ctx.params.push(String(q[k]));
        return `${x} ${OPS[k]} ?`;
      });
      parts.push(`(${t} = 'text' AND length(${x}) <= ${MAX_KEYWORD_CHARS} AND ${cmp.join(" AND ")})`);
      if (typed) {
        // a number in a string field is indexed by Elasticsearch as its text
        const ncmp = bounds.map((k) => {
          ctx.params.push(String(q[k]));
          return `CAST(${x} AS TEXT) ${OPS[k]} ?`;
        });
        parts.push(`(${t} IN ('integer', 'real') AND ${ncmp.join(" AND ")})`);
      }
    }
    if (!typed && allNumeric) {
      const cmp = bounds.map((k) => {
        ctx.params.push(q[k]);
        return `${x} ${OPS[k]} ?`;
      });
      parts.push(`(${t} IN ('integer', 'real') AND ${cmp.join(" AND ")})`);
    }
    if (parts.length === 0) return "0";
    return parts.length === 1 ? parts[0] : `(${parts.join(" OR ")})`;
  });
}

const OPS = { gt: ">", gte: ">=", lt: "<", lte: "<=" } as const;

export interface DateBounds {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

/** Range bounds on a date field as epoch ms, with Elasticsearch's rounding (lte and gt round up to the unit's end). */
export function dateBounds(q: RangeNode, now: number): DateBounds {
  const out: DateBounds = {};
  for (const k of ["gt", "gte", "lt", "lte"] as const) {
    const v = q[k];
    if (v === undefined) continue;
    const t = parseDateBound(v, now);
    if (t === null) {
      throw new UsageError("query_bad_range", `'${String(v)}' is not a date for ${q.field}`, {
        location: { key: q.field },
        hint: "use an ISO 8601 date or time (2026-01-02, 2026-01-02T10:00:00Z), epoch milliseconds, or now-15m",
      });
    }
    out[k] = k === "lte" || k === "gt" ? roundUpDate(v, t) : t;
  }
  return out;
}

function timeColumnCond(col: string, b: DateBounds, ctx: SqlContext): string {
  const parts: string[] = [];
  for (const k of ["gt", "gte", "lt", "lte"] as const) {
    if (b[k] === undefined) continue;
    ctx.params.push(b[k]);
    parts.push(`${col} ${OPS[k]} ?`);
  }
  return parts.length ? `(${parts.join(" AND ")})` : "1";
}

// ---------------------------------------------------------------------------------------------
// Sorting, time fields, aggregations

/** SQL expression to sort by or aggregate a field; throws for fields inside arrays of objects. */
export function valueExpr(field: string, ctx: SqlContext): { expr: string; type: FieldType | undefined } {
  const ft = fieldType(ctx.collection, field);
  if (field === "@timestamp") return { expr: "d.ts", type: "date" };
  if (field === idField(ctx.collection)) return { expr: "d.id", type: "keyword" };
  const segs = field.split(".");
  for (let i = 1; i < segs.length; i++) {
    if (ctx.arrays.objects(segs.slice(0, i).join("."))) {
      throw new UsageError("store_unsupported", `the embedded store cannot sort or aggregate on ${field}: it is inside an array of objects`, { location: { key: field }, hint: "filter on it instead, or use the Elasticsearch store" });
    }
  }
  const p = jsonPath(segs);
  const x = `json_extract(d.body, ${p})`;
  if (ft === "date") return { expr: dateExpr(x, `json_type(d.body, ${p})`), type: ft };
  return { expr: x, type: ft };
}

/** Epoch-ms expression of the time field a request filters on. */
export function timeExpr(field: string, ctx: SqlContext): string {
  if (field === "@timestamp") return "d.ts";
  if (fieldType(ctx.collection, field) !== "date") {
    throw new UsageError("store_bad_time_field", `${field} is not a date field of ${ctx.collection}`, { location: { key: field }, hint: "use @timestamp or another date field" });
  }
  return valueExpr(field, ctx).expr;
}

/** Parses a request's from/to (ISO 8601 or epoch ms). */
export function timeBound(v: string | number | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const t = parseDate(v);
  if (t === null) throw new UsageError("store_bad_time", `${what} '${String(v)}' is not an ISO 8601 time or epoch milliseconds`, { hint: "e.g. 2026-01-02T10:00:00Z" });
  return t;
}
