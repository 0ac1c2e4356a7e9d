// Compiles checked correlation rules into an immutable plan: references resolved (ids, then names),
// correlation chains ordered and cycle-free, aliases turned into per-rule field paths, so the
// per-event path only looks things up.

import { createHash } from "node:crypto";
import type { Problem } from "../../platform/errors.ts";
import type { JsonObject, JsonValue } from "../../schema/ecs.ts";
import { getField, splitPath } from "../../schema/fields.ts";
import { firingMode, resolveExpression } from "./condition.ts";
import type { CorrelationRule } from "./rule.ts";
import type { RuleInfo } from "./types.ts";

export interface CompiledCorrelation {
  /** Position in plan.correlations (inner correlations come before the ones that consume them). */
  index: number;
  id: string;
  rule: CorrelationRule;
  /** Resolved ids of the referenced rules, in listed order (position = index). */
  refIds: string[];
  /** Referenced rule id → its position in `rules`. */
  positionOf: Map<string, number>;
  /** Referenced rule id → one field reader per group-by entry (aliases and field mapping applied). */
  groupPaths: Map<string, Accessor[]>;
  /** Referenced rule id → the value field reader(s) for value_* types. */
  valuePaths: Map<string, Accessor[]>;
  /** Referenced rule id → every event field path the correlation reads (for routing projections). */
  readPaths: Map<string, string[]>;
  /** Output names of the group-by entries (the alias or field as written). */
  groupNames: string[];
  mode: "arrival" | "close";
  /** Hash of everything that shapes window state: checkpoints of another shape are not restored. */
  fingerprint: string;
  /** Authors of this rule and of every rule it involves, deduplicated (DRL 1.1). */
  authors: string[];
  /** Correlations that reference this one (chaining). */
  consumers: CompiledCorrelation[];
}

/** One referenced rule of one correlation, with its field readers resolved (the per-match lookup). */
export interface Edge {
  c: CompiledCorrelation;
  group: Accessor[];
  value: Accessor[];
  /** Position of the rule in the correlation's `rules`. */
  pos: number;
}

export interface CorrelationPlan {
  correlations: CompiledCorrelation[];
  byId: Map<string, CompiledCorrelation>;
  /** Rule id → the edges of the correlations that reference it. */
  edges: Map<string, Edge[]>;
  /** Rule id (detection or correlation) → correlations that reference it directly. */
  byRule: Map<string, CompiledCorrelation[]>;
  /** Every rule the plan knows, by id. */
  rules: Map<string, RuleInfo>;
  /**
   * Rules that must not alert on their own: every correlation that references them has
   * `generate: false` (SIGMA.md 7.2). Rules referenced by no correlation alert normally.
   */
  silent: Set<string>;
  fingerprint: string;
}

/** Reads one field of an event (compiled once per rule and field). */
export type Accessor = (event: JsonObject) => JsonValue | undefined;

/**
 * Maps a Sigma field name, as used by a referenced detection rule, to candidate ECS paths (first
 * present wins; `{a}\{b}` templates join fields). The Sigma field-mapping pipelines provide it.
 */
export type FieldResolver = (field: string, ruleId: string) => string[];

/** A reader trying candidate paths in order; `{path}` templates are filled from the event. */
export function compileAccessor(candidates: string[]): Accessor {
  const readers = candidates.map((c): Accessor => {
    if (!c.includes("{")) {
      const p = splitPath(c);
      // fast paths for the usual one- and two-level fields (own data properties of plain objects);
      // anything else (literal dotted keys, deeper paths) goes through getField
      if (p.length === 1) {
        const k = p[0];
        return (e) => (Object.prototype.hasOwnProperty.call(e, k) ? e[k] : getField(e, p));
      }
      if (p.length === 2) {
        const [k0, k1] = p;
        return (e) => {
          const o = Object.prototype.hasOwnProperty.call(e, k0) ? e[k0] : undefined;
          if (o !== null && typeof o === "object" && !Array.isArray(o) && Object.prototype.hasOwnProperty.call(o, k1)) {
            const v = (o as JsonObject)[k1];
            if (v !== undefined) return v;
          }
          return getField(e, p);
        };
      }
      return (e) => getField(e, p);
    }
    const parts = c.split(/(\{[^{}]+\})/).filter((x) => x !== "");
    const comp = parts.map((x) => (x.startsWith("{") && x.endsWith("}") ? splitPath(x.slice(1, -1)) : x));
    return (e) => {
      let out = "";
      for (const x of comp) {
        if (typeof x === "string") out += x;
        else {
          const v = getField(e, x);
          if (v === undefined || v === null || typeof v === "object") return undefined;
          out += String(v);
        }
      }
      return out;
    };
  });
  if (readers.length === 1) return readers[0];
  return (e) => {
    for (const r of readers) {
      const v = r(e);
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  };
}

/** The field paths a candidate reads: itself, or the `{path}` parts of a template. */
export function pathsOf(candidate: string): string[] {
  if (!candidate.includes("{")) return [candidate];
  return [...candidate.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1]);
}

export interface CompileResult {
  plan: CorrelationPlan;
  problems: Problem[];
}

/**
 * Builds the plan. Correlations whose references do not resolve, or that sit on a reference cycle,
 * are left out with an error; the rest still compile (the engine runs what is valid).
 */
export function compileCorrelations(detection: RuleInfo[], correlations: CorrelationRule[], resolveField?: FieldResolver): CompileResult {
  const problems: Problem[] = [];
  const byId = new Map<string, RuleInfo & { corr?: CorrelationRule }>();
  const byName = new Map<string, RuleInfo & { corr?: CorrelationRule }>();
  for (const r of detection) {
    byId.set(r.id, r);
    if (r.name) byName.set(r.name, r);
  }
  for (const c of correlations) {
    const info = { ...c.meta, corr: c };
    byId.set(c.meta.id, info);
    if (c.meta.name) byName.set(c.meta.name, info);
  }
  const resolve = (ref: string) => byId.get(ref) ?? byName.get(ref);
  const at = (c: CorrelationRule, key: string) => ({ file: c.file, line: c.keyLines[key] ?? c.line, column: 1 });

  // resolve references; drop correlations with unresolved ones
  const ok = new Map<string, CorrelationRule>();
  for (const c of correlations) {
    let good = true;
    for (const ref of c.rules) {
      if (!resolve(ref)) {
        problems.push({
          code: "correlation_rule_unresolved",
          severity: "error",
          message: `correlation "${c.meta.title}" references "${ref}", which is no loaded rule id or name`,
          location: at(c, "correlation.rules"),
          hint: "load the directory holding that rule too, or fix the reference",
        });
        good = false;
      }
    }
    if (good) ok.set(c.meta.id, c);
  }

  // order inner before outer; report cycles
  const order: CorrelationRule[] = [];
  const state = new Map<string, 1 | 2>();
  const cyclic = new Set<string>();
  const visit = (c: CorrelationRule, stack: string[]): boolean => {
    const s = state.get(c.meta.id);
    if (s === 2) return !cyclic.has(c.meta.id);
    if (s === 1) {
      for (const id of stack.slice(stack.indexOf(c.meta.id))) cyclic.add(id);
      return false;
    }
    state.set(c.meta.id, 1);
    let fine = true;
    for (const ref of c.rules) {
      const t = resolve(ref);
      if (t?.corr) {
        const inner = ok.get(t.corr.meta.id);
        if (!inner || !visit(inner, [...stack, c.meta.id])) fine = false;
      }
    }
    state.set(c.meta.id, 2);
    if (fine && !cyclic.has(c.meta.id)) order.push(c);
    else cyclic.add(c.meta.id);
    return fine && !cyclic.has(c.meta.id);
  };
  for (const c of ok.values()) visit(c, []);
  for (const id of cyclic) {
    const c = ok.get(id);
    if (!c) continue;
    problems.push({
      code: "correlation_cycle",
      severity: "error",
      message: `correlation "${c.meta.title}" is part of a reference cycle or references a correlation that failed`,
      location: at(c, "correlation.rules"),
      hint: "correlations may reference other correlations, but never themselves through a chain",
    });
  }

  const compiled: CompiledCorrelation[] = [];
  const compiledById = new Map<string, CompiledCorrelation>();
  for (const c of order) {
    const refIds = c.rules.map((r) => resolve(r)!.id);
    const positionOf = new Map<string, number>();
    refIds.forEach((id, i) => positionOf.set(id, i));
    const groupPaths = new Map<string, Accessor[]>();
    const valuePaths = new Map<string, Accessor[]>();
    const candidates = new Map<string, string[][]>();
    const readPaths = new Map<string, string[]>();
    c.rules.forEach((ref, i) => {
      const target = resolve(ref)!;
      const pick = (name: string): string => {
        const a = c.aliases[name];
        if (!a) return name;
        return a[ref] ?? (target.name ? a[target.name] : undefined) ?? a[target.id] ?? name;
      };
      // inner correlations expose their group-by names as fields; detection rules go through field mapping
      const map = (f: string) => (target.corr || !resolveField ? [f] : resolveField(f, target.id));
      const gc = c.groupBy.map((g) => map(pick(g)));
      candidates.set(refIds[i], gc);
      groupPaths.set(refIds[i], gc.map(compileAccessor));
      const vc = c.field.map((f) => map(pick(f)));
      valuePaths.set(refIds[i], vc.map(compileAccessor));
      readPaths.set(refIds[i], [...new Set([...gc, ...vc].flat().flatMap(pathsOf))]);
    });
    if (c.condition.kind === "expression") {
      const missing = resolveExpression(c.condition.expr, new Map(c.rules.map((r, i) => [r, i])));
      if (missing.length) continue; // reported by the rule checker already
    }
    const authors: string[] = [];
    const addAuthors = (a: string | undefined) => {
      if (!a) return;
      for (const part of a.split(/\s*,\s*/)) if (part && !authors.includes(part)) authors.push(part);
    };
    addAuthors(c.meta.author);
    for (const id of refIds) {
      const inner = compiledById.get(id);
      if (inner) inner.authors.forEach(addAuthors);
      else addAuthors(byId.get(id)?.author);
    }
    const fp = createHash("sha256")
      .update(
        JSON.stringify([
          c.type,
          refIds,
          c.groupBy,
          [...candidates.values()],
          c.timespanMs,
          c.condition.kind === "expression" ? c.condition.source : c.condition.clauses,
          c.field,
          c.percentile,
        ]),
      )
      .digest("hex")
      .slice(0, 16);
    const cc: CompiledCorrelation = {
      index: compiled.length,
      id: c.meta.id,
      rule: c,
      refIds,
      positionOf,
      groupPaths,
      valuePaths,
      readPaths,
      groupNames: c.groupBy,
      mode: firingMode(c.condition),
      fingerprint: fp,
      authors,
      consumers: [],
    };
    compiled.push(cc);
    compiledById.set(cc.id, cc);
  }
  const byRule = new Map<string, CompiledCorrelation[]>();
  const edges = new Map<string, Edge[]>();
  const referencedBy = new Map<string, CompiledCorrelation[]>();
  for (const cc of compiled) {
    for (const id of cc.refIds) {
      if (!byRule.has(id)) byRule.set(id, []);
      byRule.get(id)!.push(cc);
      if (!edges.has(id)) edges.set(id, []);
      edges.get(id)!.push({ c: cc, group: cc.groupPaths.get(id)!, value: cc.valuePaths.get(id)!, pos: cc.positionOf.get(id)! });
      const inner = compiledById.get(id);
      if (inner) inner.consumers.push(cc);
      if (!referencedBy.has(id)) referencedBy.set(id, []);
      referencedBy.get(id)!.push(cc);
    }
  }
  const silent = new Set<string>();
  for (const [id, refs] of referencedBy) if (refs.every((c) => !c.rule.generate)) silent.add(id);
  const rules = new Map<string, RuleInfo>();
  for (const [id, r] of byId) {
    const { corr: _corr, ...info } = r;
    rules.set(id, info);
  }
  const fingerprint = createHash("sha256").update(compiled.map((c) => `${c.id}:${c.fingerprint}`).join(",")).digest("hex").slice(0, 16);
  return { plan: { correlations: compiled, byId: compiledById, byRule, edges, rules, silent, fingerprint }, problems };
}
