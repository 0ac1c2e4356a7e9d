// Processing pipelines as data (rules/pipelines/*.yml): which events satisfy which Sigma logsource
// (routes) and how Sigma field names map to ECS fields per logsource (fields), with value maps.
// Files are validated strictly: unknown keys and bad shapes are errors with line and column.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from "yaml";
import { UsageError, type Location, type Problem } from "../../platform/errors.ts";
import type { Logsource } from "./types.ts";

/** The folder of the pipelines that ship with Sigil. */
export const BUILTIN_PIPELINE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../rules/pipelines");

/** A field's target: ordered candidate paths (first present wins); `{a}\{b}` templates join fields. */
export interface FieldTarget {
  candidates: string[];
  /** Rule value rewrites (case-insensitive keys), e.g. Initiated "true" → "egress". */
  values?: Record<string, string>;
}

export interface FieldBlock {
  logsource: Logsource;
  map: Record<string, FieldTarget>;
  /** Templates for unmapped fields, `{field}` stands for the Sigma field name. */
  fallback?: string[];
  /** Order across all pipelines, for tie-breaking (later wins). */
  order: number;
}

export interface Route {
  logsource: Logsource;
  /** Every field must hold one of the values (case-insensitive); `"*"` means present. */
  when: Record<string, string[]>;
  /** Optional: at least one of these holds too (e.g. one of several channels or datasets). */
  pipeline: string;
}

export interface Pipeline {
  name: string;
  description: string;
  file: string;
  routes: Route[];
  fields: FieldBlock[];
}

const LS_KEYS = new Set(["category", "product", "service"]);
const TOP_KEYS = new Set(["name", "description", "routes", "fields"]);
const ROUTE_KEYS = new Set(["logsource", "when"]);
const BLOCK_KEYS = new Set(["logsource", "map", "fallback"]);
const TARGET_KEYS = new Set(["field", "fields", "values"]);

class PipelineProblems {
  list: Problem[] = [];
  constructor(
    readonly file: string,
    readonly lc: LineCounter,
  ) {}
  at(n: Node | Pair | null | undefined): Location {
    const node = (n && "key" in n ? (n.key as Node) : (n as Node)) ?? null;
    const r = node?.range;
    if (!r) return { file: this.file };
    const p = this.lc.linePos(r[0]);
    return { file: this.file, line: p.line, column: p.col };
  }
  err(code: string, message: string, n: Node | Pair | null | undefined) {
    this.list.push({ code, message, severity: "error", location: this.at(n) });
  }
}

function scalarText(n: unknown): string | null {
  if (!isScalar(n)) return null;
  const v = n.value;
  return v === null || typeof v === "object" ? null : String(v);
}

function parseLogsource(n: unknown, pp: PipelineProblems): Logsource | null {
  if (!isMap(n)) {
    pp.err("pipeline_bad_value", "logsource must be a mapping of category, product and/or service", n as Node);
    return null;
  }
  const ls: Logsource = {};
  for (const p of n.items) {
    const k = scalarText(p.key) ?? "";
    if (!LS_KEYS.has(k)) {
      pp.err("pipeline_unknown_key", `unknown logsource key "${k}" (allowed: category, product, service)`, p as Pair);
      continue;
    }
    const v = scalarText(p.value);
    if (v === null) pp.err("pipeline_bad_value", `logsource ${k} must be a string`, p as Pair);
    else ls[k as keyof Logsource] = v.toLowerCase();
  }
  return ls;
}

function stringList(n: unknown, what: string, pp: PipelineProblems, node: Node | Pair): string[] | null {
  if (isSeq(n)) {
    const out: string[] = [];
    for (const x of n.items) {
      const s = scalarText(x);
      if (s === null) {
        pp.err("pipeline_bad_value", `${what} must be strings`, x as Node);
        return null;
      }
      out.push(s);
    }
    if (out.length === 0) pp.err("pipeline_bad_value", `${what} must not be empty`, node);
    return out;
  }
  const s = scalarText(n);
  if (s === null) {
    pp.err("pipeline_bad_value", `${what} must be a string or a list of strings`, node);
    return null;
  }
  return [s];
}

/** Parses and validates one pipeline file's text. */
export function parsePipelineText(text: string, file: string, order0 = 0): { pipeline: Pipeline | null; problems: Problem[] } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  const pp = new PipelineProblems(file, lc);
  for (const e of doc.errors) {
    const p = lc.linePos(e.pos[0]);
    pp.list.push({ code: "yaml_syntax", message: e.message.split("\n")[0], severity: "error", location: { file, line: p.line, column: p.col } });
  }
  if (doc.errors.length) return { pipeline: null, problems: pp.list };
  const root = doc.contents;
  if (!isMap(root)) {
    pp.err("pipeline_not_mapping", "a pipeline file must be a mapping with name, description, routes and fields", root as Node);
    return { pipeline: null, problems: pp.list };
  }
  const pipeline: Pipeline = { name: "", description: "", file, routes: [], fields: [] };
  let order = order0;
  for (const p of root.items) {
    const k = scalarText(p.key) ?? "";
    if (!TOP_KEYS.has(k)) {
      pp.err("pipeline_unknown_key", `unknown key "${k}" (allowed: ${[...TOP_KEYS].join(", ")})`, p as Pair);
      continue;
    }
    if (k === "name" || k === "description") {
      const v = scalarText(p.value);
      if (v === null) pp.err("pipeline_bad_value", `${k} must be a string`, p as Pair);
      else pipeline[k] = v;
    } else if (k === "routes") {
      if (!isSeq(p.value)) {
        pp.err("pipeline_bad_value", "routes must be a list", p as Pair);
        continue;
      }
      for (const item of p.value.items) {
        if (!isMap(item)) {
          pp.err("pipeline_bad_value", "a route must be a mapping with logsource and when", item as Node);
          continue;
        }
        let ls: Logsource | null = null;
        const when: Record<string, string[]> = {};
        for (const rp of item.items) {
          const rk = scalarText(rp.key) ?? "";
          if (!ROUTE_KEYS.has(rk)) pp.err("pipeline_unknown_key", `unknown route key "${rk}" (allowed: logsource, when)`, rp as Pair);
          else if (rk === "logsource") ls = parseLogsource(rp.value, pp);
          else if (!isMap(rp.value) || rp.value.items.length === 0) pp.err("pipeline_bad_value", "when must be a non-empty mapping of event field to value(s)", rp as Pair);
          else
            for (const wp of rp.value.items) {
              const field = scalarText(wp.key) ?? "";
              const vals = stringList(wp.value, `values of when.${field}`, pp, wp as Pair);
              if (vals) when[field] = vals.map((v) => v.toLowerCase());
            }
        }
        if (!ls) pp.err("pipeline_bad_value", "a route needs a logsource", item);
        else if (Object.keys(when).length === 0) pp.err("pipeline_bad_value", "a route needs a when condition", item);
        else pipeline.routes.push({ logsource: ls, when, pipeline: pipeline.name });
      }
    } else if (k === "fields") {
      if (!isSeq(p.value)) {
        pp.err("pipeline_bad_value", "fields must be a list of blocks (logsource, map, fallback)", p as Pair);
        continue;
      }
      for (const item of p.value.items) {
        if (!isMap(item)) {
          pp.err("pipeline_bad_value", "a fields block must be a mapping with logsource, map and/or fallback", item as Node);
          continue;
        }
        const block: FieldBlock = { logsource: {}, map: Object.create(null) as FieldBlock["map"], order: order++ };
        for (const bp of item.items) {
          const bk = scalarText(bp.key) ?? "";
          if (!BLOCK_KEYS.has(bk)) pp.err("pipeline_unknown_key", `unknown fields-block key "${bk}" (allowed: logsource, map, fallback)`, bp as Pair);
          else if (bk === "logsource") block.logsource = parseLogsource(bp.value, pp) ?? {};
          else if (bk === "fallback") {
            const l = stringList(bp.value, "fallback", pp, bp as Pair);
            if (l) {
              for (const t of l) if (!t.includes("{field}")) pp.err("pipeline_bad_value", `fallback template "${t}" must contain {field}`, bp as Pair);
              block.fallback = l;
            }
          } else if (!isMap(bp.value)) pp.err("pipeline_bad_value", "map must be a mapping of Sigma field to ECS field(s)", bp as Pair);
          else
            for (const mp of bp.value.items) {
              const sigmaField = scalarText(mp.key) ?? "";
              const t = parseTarget(mp.value, pp, mp as Pair);
              if (t) block.map[sigmaField] = t;
            }
        }
        pipeline.fields.push(block);
      }
    }
  }
  if (!pipeline.name) pp.err("pipeline_missing_name", "the pipeline has no name", root);
  for (const r of pipeline.routes) r.pipeline = pipeline.name;
  return { pipeline: pp.list.length ? null : pipeline, problems: pp.list };
}

function parseTarget(n: unknown, pp: PipelineProblems, at: Pair): FieldTarget | null {
  if (isMap(n)) {
    const t: FieldTarget = { candidates: [] };
    for (const p of n.items) {
      const k = scalarText(p.key) ?? "";
      if (!TARGET_KEYS.has(k)) pp.err("pipeline_unknown_key", `unknown field-target key "${k}" (allowed: field, fields, values)`, p as Pair);
      else if (k === "values") {
        if (!isMap(p.value)) pp.err("pipeline_bad_value", "values must map rule values to event values", p as Pair);
        else {
          t.values = {};
          for (const vp of p.value.items) {
            const from = scalarText(vp.key);
            const to = scalarText(vp.value);
            if (from === null || to === null) pp.err("pipeline_bad_value", "value map entries must be scalars", vp as Pair);
            else t.values[from.toLowerCase()] = to;
          }
        }
      } else {
        const l = stringList(p.value, k, pp, p as Pair);
        if (l) t.candidates.push(...l);
      }
    }
    if (t.candidates.length === 0) pp.err("pipeline_bad_value", "a field target needs field or fields", at);
    return t;
  }
  const l = stringList(n, "a field target", pp, at);
  return l ? { candidates: l } : null;
}

/** Loads pipelines by name (from the built-in folder or extra dirs) or by path. Throws UsageError. */
export function loadPipelines(names: string[] | "all", dirs: string[] = [BUILTIN_PIPELINE_DIR]): Pipeline[] {
  const files: string[] = [];
  if (names === "all") {
    for (const d of dirs) {
      if (!fs.existsSync(d)) continue;
      for (const f of fs.readdirSync(d).sort()) if (/\.ya?ml$/.test(f) && !f.endsWith(".tests.yml")) files.push(path.join(d, f));
    }
  } else
    for (const n of names) {
      if (n.includes("/") || /\.ya?ml$/.test(n)) {
        files.push(n);
        continue;
      }
      const found = dirs.map((d) => path.join(d, `${n}.yml`)).find((f) => fs.existsSync(f));
      if (!found) {
        const known = dirs.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith(".yml")).map((f) => f.slice(0, -4)) : []));
        throw new UsageError("pipeline_unknown", `no pipeline named "${n}"`, { hint: `known pipelines: ${known.join(", ")}; or give a path to a .yml file` });
      }
      files.push(found);
    }
  const out: Pipeline[] = [];
  const problems: Problem[] = [];
  let order = 0;
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, "utf8");
    } catch (err) {
      throw new UsageError("pipeline_unreadable", `cannot read pipeline ${f}: ${(err as Error).message}`, { location: { file: f } });
    }
    const r = parsePipelineText(text, f, order);
    order += 1000;
    problems.push(...r.problems);
    if (r.pipeline) out.push(r.pipeline);
  }
  if (problems.length) {
    const first = problems[0];
    const err = new UsageError(first.code, `${problems.length} problem(s) in pipelines; first: ${first.message}`, { location: first.location, hint: "run `sigil rules lint` on the pipeline folder for the full list" });
    (err as UsageError & { problems?: Problem[] }).problems = problems;
    throw err;
  }
  return out;
}

/** True when every attribute `cond` specifies equals the one in `ls`. */
export function logsourceContains(cond: Logsource, ls: Logsource): boolean {
  return (!cond.category || cond.category === ls.category) && (!cond.product || cond.product === ls.product) && (!cond.service || cond.service === ls.service);
}

function specificity(ls: Logsource): number {
  return (ls.category ? 1 : 0) + (ls.product ? 1 : 0) + (ls.service ? 1 : 0);
}

/** Resolves a Sigma field name for a rule's logsource through the pipelines (SIGMA.md 11). */
export function resolveField(field: string, ruleLs: Logsource, pipelines: Pipeline[]): FieldTarget {
  let best: { t: FieldTarget; spec: number; order: number } | null = null;
  let fb: { f: string[]; spec: number; order: number } | null = null;
  for (const p of pipelines)
    for (const b of p.fields) {
      if (!logsourceContains(b.logsource, ruleLs)) continue;
      const spec = specificity(b.logsource);
      // own keys only: a rule field named constructor or __proto__ is a field, not Object.prototype's
      const t = Object.prototype.hasOwnProperty.call(b.map, field) ? b.map[field] : undefined;
      if (t && (!best || spec > best.spec || (spec === best.spec && b.order > best.order))) best = { t, spec, order: b.order };
      if (b.fallback && (!fb || spec > fb.spec || (spec === fb.spec && b.order > fb.order))) fb = { f: b.fallback, spec, order: b.order };
    }
  if (best) return best.t;
  if (fb && !field.includes(".")) return { candidates: fb.f.map((t) => t.replace(/\{field\}/g, field)) };
  if (fb && field.includes(".")) return { candidates: [field, ...fb.f.map((t) => t.replace(/\{field\}/g, field))] };
  return { candidates: [field] };
}

/** Whether any route of the pipelines can produce an event this logsource applies to. */
export function logsourceRouted(ls: Logsource, pipelines: Pipeline[]): boolean {
  return pipelines.some((p) => p.routes.some((r) => logsourceContains(ls, r.logsource)));
}
