// QueryNode → Elasticsearch query DSL, with the same semantics as the SQLite translation (sql.ts):
// case-insensitive whole-value terms, wildcards on text values only, numbers as numbers, dates as
// time with the same rounding, free text on the derived `sigil_fts` field tokenized by the same
// function. Field types come from the catalog, else from the index mappings (field_caps).

import { UsageError } from "../errors.ts";
import { parseCidr } from "./cidr.ts";
import { MAX_KEYWORD_CHARS, foldAscii, fieldType, tokens, type FieldType } from "./fields.ts";
import { dateBounds, dateSpan } from "./sql.ts";
import type { Collection, QueryNode } from "./types.ts";

/** The derived free-text field every document carries in Elasticsearch (not in _source). */
export const FTS_FIELD = "sigil_fts";

/** How a field is mapped: one entry per type, with the indices holding it when types conflict. */
export type MappedTypes = Array<{ type: string; indices?: string[] }>;

export interface EsQueryContext {
  collection: Collection;
  now: number;
  /** Mapped types of a field not in the catalog (empty when it is mapped nowhere). */
  dynamicTypes(field: string): MappedTypes;
}

type Dsl = Record<string, unknown>;

const MATCH_NONE: Dsl = { match_none: {} };
const NUMERIC_RE = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const NUMERIC_TYPES = new Set(["long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"]);

function isNumericText(v: string): boolean {
  return NUMERIC_RE.test(v) && Number.isFinite(Number(v));
}

/** The types a field has: the catalog's, else the mapping's (unmapped fields behave as keyword and match nothing). */
export function typesOf(field: string, ctx: EsQueryContext): MappedTypes {
  const ft = fieldType(ctx.collection, field);
  if (ft) return [{ type: ft }];
  const t = ctx.dynamicTypes(field);
  return t.length ? t : [{ type: "keyword" }];
}

/** Maps a type to the field name and kind the query uses (text and ip fields query their keyword sub-field). */
function target(field: string, type: string): { name: string; kind: "keyword" | "numeric" | "date" | "boolean" | "ip" | "other" } {
  if (type === "keyword" || type === "constant_keyword" || type === "unmapped") return { name: field, kind: "keyword" };
  if (type === "text" || type === "match_only_text") return { name: `${field}.keyword`, kind: "keyword" };
  if (type === "ip") return { name: field, kind: "ip" };
  if (NUMERIC_TYPES.has(type)) return { name: field, kind: "numeric" };
  if (type === "date" || type === "date_nanos") return { name: field, kind: "date" };
  if (type === "boolean") return { name: field, kind: "boolean" };
  return { name: field, kind: "other" };
}

/** One query per mapped type; when types conflict, each is limited to the indices that map it so. */
function perType(field: string, ctx: EsQueryContext, build: (t: ReturnType<typeof target>, catalog: FieldType | undefined) => Dsl): Dsl {
  const types = typesOf(field, ctx);
  const catalog = fieldType(ctx.collection, field);
  if (types.length === 1) return build(target(field, types[0].type), catalog);
  const should = types.map((t) => {
    const q = build(target(field, t.type), catalog);
    return t.indices ? { bool: { filter: [{ terms: { _index: t.indices } }, q] } } : q;
  });
  return { bool: { should, minimum_should_match: 1 } };
}

export function toDsl(q: QueryNode | undefined, ctx: EsQueryContext): Dsl {
  if (!q) return { match_all: {} };
  switch (q.op) {
    case "all":
      return { match_all: {} };
    case "and":
      return { bool: { filter: q.args.map((a) => toDsl(a, ctx)) } };
    case "or":
      return { bool: { should: q.args.map((a) => toDsl(a, ctx)), minimum_should_match: 1 } };
    case "not":
      return { bool: { must_not: [toDsl(q.arg, ctx)] } };
    case "exists":
      return existsDsl(q.field, ctx);
    case "term":
      if (q.field === null) return freeText(q.value, q.wildcard);
      return perType(q.field, ctx, (t) => termDsl(t, q.value, q.wildcard, q.caseSensitive === true, ctx));
    case "range":
      return rangeDsl(q, ctx);
  }
}

/**
 * A field that holds a value. Text fields are not indexed as words (free text is `sigil_fts`'s, field
 * matches are their keyword sub-field's: see buildMappings), so their values are found in the keyword
 * sub-field, and those longer than it keeps (ignore_above) in `_ignored`, where Elasticsearch records
 * every value it left unindexed.
 */
function existsDsl(field: string, ctx: EsQueryContext): Dsl {
  if (!typesOf(field, ctx).some((t) => t.type === "text" || t.type === "match_only_text")) return { exists: { field } };
  return { bool: { should: [{ exists: { field: `${field}.keyword` } }, { term: { _ignored: `${field}.keyword` } }], minimum_should_match: 1 } };
}

function freeText(value: string, wildcard: boolean): Dsl {
  const literal = wildcard ? value.slice(0, -1) : value;
  const toks = tokens(literal);
  if (toks.length === 0) return MATCH_NONE;
  if (toks.length === 1) return wildcard ? { prefix: { [FTS_FIELD]: { value: toks[0] } } } : { term: { [FTS_FIELD]: toks[0] } };
  const clauses: Dsl[] = toks.map((t) => ({ span_term: { [FTS_FIELD]: t } }));
  if (wildcard) clauses[clauses.length - 1] = { span_multi: { match: { prefix: { [FTS_FIELD]: { value: toks[toks.length - 1] } } } } };
  return { span_near: { clauses, slop: 0, in_order: true } };
}

function termDsl(t: ReturnType<typeof target>, value: string, wildcard: boolean, caseSensitive: boolean, ctx: EsQueryContext): Dsl {
  switch (t.kind) {
    case "date": {
      if (wildcard) return MATCH_NONE;
      const span = dateSpan(value, ctx.now);
      return span ? { range: { [t.name]: { gte: span[0], lte: span[1], format: "epoch_millis" } } } : MATCH_NONE;
    }
    case "boolean": {
      if (wildcard) return MATCH_NONE;
      const b = foldAscii(value);
      return b === "true" || b === "false" ? { term: { [t.name]: b === "true" } } : MATCH_NONE;
    }
    case "numeric":
      return !wildcard && isNumericText(value) ? { term: { [t.name]: Number(value) } } : MATCH_NONE;
    case "ip":
      if (!wildcard && value.includes("/")) return parseCidr(value) ? { term: { [t.name]: value } } : MATCH_NONE;
      return keywordTerm(`${t.name}.keyword`, value, wildcard, caseSensitive);
    case "keyword":
      return keywordTerm(t.name, value, wildcard, caseSensitive);
    default:
      return MATCH_NONE;
  }
}

function keywordTerm(name: string, value: string, wildcard: boolean, caseSensitive: boolean): Dsl {
  if (wildcard) return { wildcard: { [name]: { value, case_insensitive: !caseSensitive } } };
  if (value.length > MAX_KEYWORD_CHARS) return MATCH_NONE;
  return { term: { [name]: caseSensitive ? { value } : { value, case_insensitive: true } } };
}

type RangeNode = Extract<QueryNode, { op: "range" }>;
const BOUNDS = ["gt", "gte", "lt", "lte"] as const;

function rangeDsl(q: RangeNode, ctx: EsQueryContext): Dsl {
  const bounds = BOUNDS.filter((k) => q[k] !== undefined);
  if (bounds.length === 0) return { exists: { field: q.field } };
  const catalog = fieldType(ctx.collection, q.field);
  if (catalog === "date") return { range: { [q.field]: { ...dateBounds(q, ctx.now), format: "epoch_millis" } } };
  if (catalog === "long" || catalog === "double") {
    for (const k of bounds) {
      if (typeof q[k] !== "number") throw new UsageError("query_bad_range", `${q.field} is numeric; the range bound '${String(q[k])}' is not a number`, { location: { key: q.field } });
    }
  }
  const allNumeric = bounds.every((k) => typeof q[k] === "number");
  return perType(q.field, ctx, (t) => {
    const r: Record<string, unknown> = {};
    switch (t.kind) {
      case "numeric":
        if (!allNumeric) return MATCH_NONE;
        for (const k of bounds) r[k] = q[k];
        return { range: { [t.name]: r } };
      case "date": {
        // a date field the catalog does not know (mapped by hand): compare as time
        return { range: { [t.name]: { ...dateBounds(q, ctx.now), format: "epoch_millis" } } };
      }
      case "keyword":
      case "ip": {
        for (const k of bounds) r[k] = String(q[k]);
        return { range: { [t.kind === "ip" ? `${t.name}.keyword` : t.name]: r } };
      }
      default:
        return MATCH_NONE;
    }
  });
}

/** The field (and its mapped kind) to sort or aggregate on: keyword sub-fields for text and ip. */
export function sortField(field: string, ctx: EsQueryContext): { name: string; unmappedType: string } {
  const types = typesOf(field, ctx);
  const t = target(field, types[0].type);
  if (types[0].type === "ip") return { name: `${field}.keyword`, unmappedType: "keyword" };
  const unmapped = t.kind === "numeric" ? types[0].type : t.kind === "date" ? "date" : t.kind === "boolean" ? "boolean" : "keyword";
  return { name: t.name, unmappedType: unmapped };
}
