// Compiles loaded rules and pipelines into an immutable plan: rules indexed by logsource (routes) and
// by the literals a match requires (prefilter), field names resolved to ECS slots, values compiled to
// closures. The per-event path reads fields once into slot caches, scans each prefiltered field value
// once with a literal automaton, and evaluates the candidate rules only.

import { compileString, foldCase, type CompiledString } from "./glob.ts";
import { inNetwork } from "./cidr.ts";
import { EvalContext, FieldReader, keywordPaths, keywordRoots, slotDef, type KeywordPaths, type SlotDef } from "./fields.ts";
import { LiteralIndex } from "./prefilter.ts";
import { Router, type RouteSet } from "./routing.ts";
import { logsourceContains, resolveField, type FieldTarget, type Pipeline, type Route } from "./pipeline.ts";
import { literalString, STAR, type SigmaString, type Token } from "./sigma-string.ts";
import type { CondNode } from "./condition.ts";
import type { DetectionIR, DetectionRule, EntryIR, FilterDoc, Logsource, LoadedRules, RuleMeta, TimePart, ValueIR } from "./types.ts";

export { EvalContext } from "./fields.ts";

/** What a match reports about its rule. */
export interface RuleInfo extends RuleMeta {
  logsource: Logsource;
  file: string;
  line: number;
}

export type Match = (ctx: EvalContext) => boolean;

/** A clause: the rule can only match when one of these (slot, literal) pairs occurs; null = unknown. */
type Req = { slot: number; lit: string }[] | null;
/** Conjunction of clauses (CNF): every clause must hit. Empty = no requirement (always evaluate). */
type Cnf = { slot: number; lit: string }[][];
/** Clauses kept per rule: the most selective ones; a rule is a candidate when all of them hit. */
const MAX_CLAUSES = 4;

export interface CompiledRule {
  index: number;
  info: RuleInfo;
  match: Match;
  /** Prefilter clauses (all must hit); empty: always evaluated. */
  req: Cnf;
  inactive?: string;
}

const KEYWORD_SLOT = -1;
/** Distinct rule sets with a built prefilter; beyond this the cache starts over. */
const MAX_BUCKETS = 256;

// ---------------------------------------------------------------------------------------------
// Value compilation

type Scalar = string | number | boolean;
/** Test of one scalar: its string form, its folded form and the raw value. */
type ScalarTest = (text: string, lower: string, raw: Scalar, ctx: EvalContext) => boolean;

interface ValuePlan {
  /** null: special (null/exists) handled by kind. */
  test: ScalarTest | null;
  kind: "scalar" | "null" | "exists-true" | "exists-false";
  req: Req;
  /** Set when the value is plain equality with these strings (case-folded unless `cased`): set lookups. */
  eq?: { cased: boolean; values: string[] };
  /** Set when the value is startswith (prefix) or endswith (suffix) of these strings: keyed lookups. */
  affix?: { cased: boolean; kind: "prefix" | "suffix"; values: string[] };
}

/** Alternatives of one field that are plain equalities are looked up in a set from this many on. */
const EQ_SET_MIN = 4;
/** From this many startswith (or endswith) values of one field on, they are looked up by their first (last) characters. */
const AFFIX_SET_MIN = 6;
/** Characters of the key of an affix lookup (fewer when a value is shorter). */
const AFFIX_KEY = 4;

/**
 * How often a literal is expected to occur in events: short literals often; literals that many rules
 * use (`\cmd.exe`, `\windows\`) often too, since rules share what is common in real data. Set per
 * build from the rule set being compiled.
 */
let litFreq: Map<string, number> = new Map();

const LIT_COST = (lit: string) => {
  const len = lit.length;
  const shared = (litFreq.get(lit) ?? 0) * 0.01;
  if (/[^\u0000-\u007f]/.test(lit)) return 0.001 + shared;
  return (len >= 8 ? 0.001 : len >= 6 ? 0.005 : len >= 4 ? 0.02 : len === 3 ? 0.1 : len === 2 ? 0.5 : 1) + shared;
};

/** Counts, over a rule set, how many values carry each (case-folded) longest literal. */
function countLiterals(rules: DetectionRule[]): Map<string, number> {
  const out = new Map<string, number>();
  const visit = (d: DetectionIR) => {
    if (d.t === "anyOf") return d.items.forEach(visit);
    for (const e of d.entries)
      for (const v of e.values) {
        if (v.k !== "str") continue;
        for (const a of v.alts) {
          let best = "";
          for (const t of a.tokens) if (typeof t === "string" && t.length > best.length) best = t;
          if (best) {
            const k = best.toLowerCase();
            out.set(k, (out.get(k) ?? 0) + 1);
          }
        }
      }
  };
  for (const r of rules) for (const d of r.identifiers.values()) visit(d);
  return out;
}

function reqCost(r: Req): number {
  if (r === null) return Infinity;
  let c = 0;
  for (const x of r) c += LIT_COST(x.lit);
  return c;
}

function reqUnion(rs: Req[]): Req {
  const out: { slot: number; lit: string }[] = [];
  for (const r of rs) {
    if (r === null) return null;
    out.push(...r);
  }
  return usable(out);
}


/**
 * Requirements with a one-character ASCII literal are not worth indexing (nearly every value holds
 * one), except the symbols benign values almost never carry and obfuscated command lines do: the
 * PowerShell escape ` and the cmd escape ^ (PowerShell token obfuscation's regexes need one of them,
 * or `"{` or `${`: with them the rule leaves the always-evaluated list).
 */
function usable(r: { slot: number; lit: string }[]): Req {
  if (r.length === 0) return null;
  for (const x of r) if (x.lit.length < 2 && !/[^\u0000-\u007f]/.test(x.lit) && !RARE_SYMBOLS.includes(x.lit)) return null;
  return r;
}

const RARE_SYMBOLS = "`^";


/**
 * OR of conjunctions, distributed: (A∧B) ∨ C = (A∨C) ∧ (B∨C), keeping the most selective clauses
 * at each step so the product stays small.
 */
function cnfOr(cnfs: Cnf[]): Cnf {
  if (cnfs.length === 0) return [];
  let acc: Cnf = cnfCap(cnfs[0], 3);
  // (distribution keeps at most 3 clauses per side, so the product stays at most 9 before capping)
  for (let i = 1; i < cnfs.length; i++) {
    const next = cnfCap(cnfs[i], 3);
    if (acc.length === 0 || next.length === 0) return [];
    const prod: Cnf = [];
    for (const a of acc)
      for (const b of next) {
        const u = reqUnion([a, b]);
        if (u !== null) prod.push(u);
      }
    acc = cnfCap(prod, MAX_CLAUSES);
  }
  return acc;
}

function cnfAnd(cnfs: Cnf[]): Cnf {
  const out: Cnf = [];
  for (const c of cnfs) out.push(...c);
  return out;
}

/** The `max` most selective clauses. */
function cnfCap(cnf: Cnf, max = MAX_CLAUSES): Cnf {
  if (cnf.length <= max) return cnf;
  return [...cnf].sort((a, b) => reqCost(a) - reqCost(b)).slice(0, max);
}

function longest(lits: string[]): string | null {
  let best: string | null = null;
  for (const l of lits) if (best === null || l.length > best.length) best = l;
  return best;
}

function timePart(v: Scalar, part: TimePart): number | null {
  const t = typeof v === "number" ? v : Date.parse(typeof v === "string" && /^\d{4}-\d{2}-\d{2} \d/.test(v) ? v.replace(" ", "T") + (/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? "" : "Z") : String(v));
  if (!Number.isFinite(t)) return null;
  const d = new Date(t);
  switch (part) {
    case "minute":
      return d.getUTCMinutes();
    case "hour":
      return d.getUTCHours();
    case "day":
      return d.getUTCDate();
    case "month":
      return d.getUTCMonth() + 1;
    case "year":
      return d.getUTCFullYear();
    case "week": {
      // ISO-8601 week number, UTC.
      const day = (d.getUTCDay() + 6) % 7;
      const th = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3));
      const firstTh = new Date(Date.UTC(th.getUTCFullYear(), 0, 4));
      return 1 + Math.round(((th.getTime() - firstTh.getTime()) / 86400000 - 3 + ((firstTh.getUTCDay() + 6) % 7)) / 7);
    }
  }
}

function toNumber(v: Scalar): number | null {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

class Compiler {
  readonly slots: SlotDef[] = [];
  private readonly slotByKey = new Map<string, number>();

  constructor(
    private readonly pipelines: Pipeline[],
    private readonly reader: FieldReader,
  ) {}

  /** The slot of a candidate list: one per distinct list, its fields resolved to reader path ids. */
  slotFor(candidates: string[]): number {
    const key = candidates.join("\u0001");
    let id = this.slotByKey.get(key);
    if (id === undefined) {
      id = this.slots.length;
      this.slots.push(slotDef(this.reader, candidates));
      this.slotByKey.set(key, id);
    }
    return id;
  }

  target(field: string, ls: Logsource): FieldTarget {
    return resolveField(field, ls, this.pipelines);
  }

  value(v: ValueIR, slot: number, ls: Logsource, valueMap: Record<string, string> | undefined): ValuePlan {
    // Pipeline value rewrites (e.g. Initiated true → egress) apply to plain values.
    if (valueMap && (v.k === "str" || v.k === "num" || v.k === "bool")) {
      const plain = v.k === "str" ? v.plain : v.k === "num" ? v.text : String(v.b);
      if (plain !== undefined && Object.prototype.hasOwnProperty.call(valueMap, plain.toLowerCase())) v = { k: "str", alts: [literalString(valueMap[plain.toLowerCase()])], cased: false };
    }
    switch (v.k) {
      case "null":
        return { test: null, kind: "null", req: null };
      case "exists":
        return { test: null, kind: v.want ? "exists-true" : "exists-false", req: null };
      case "str": {
        const compiled: CompiledString[] = v.alts.map((a) => compileString(v.cased ? a : foldCase(a)));
        const reqs: Req[] = compiled.map((c) => {
          const l = longest(c.literals);
          return l === null ? null : [{ slot, lit: l.toLowerCase() }];
        });
        const req = compiled.length === 0 ? null : reqUnion(reqs);
        if (compiled.length === 0) return { test: () => false, kind: "scalar", req: null };
        const eq = compiled.every((c) => c.shape === "eq") ? { cased: v.cased, values: compiled.map((c) => c.eqText as string) } : undefined;
        const shape0 = compiled[0].shape;
        const affix =
          (shape0 === "prefix" || shape0 === "suffix") && compiled.every((c) => c.shape === shape0 && c.affixText)
            ? { cased: v.cased, kind: shape0, values: compiled.map((c) => c.affixText as string) }
            : undefined;
        if (compiled.length === 1) {
          const t = compiled[0].test;
          return { test: v.cased ? (text) => t(text) : (_t, lower) => t(lower), kind: "scalar", req, eq, affix };
        }
        const tests = compiled.map((c) => c.test);
        return {
          test: v.cased
            ? (text) => {
                for (let i = 0; i < tests.length; i++) if (tests[i](text)) return true;
                return false;
              }
            : (_t, lower) => {
                for (let i = 0; i < tests.length; i++) if (tests[i](lower)) return true;
                return false;
              },
          kind: "scalar",
          req,
          eq,
          affix,
        };
      }
      case "num": {
        const n = v.n;
        const t = v.text.toLowerCase();
        return { test: (_text, lower, raw) => (typeof raw === "number" ? raw === n : lower === t), kind: "scalar", req: usable([{ slot, lit: t }]) };
      }
      case "bool": {
        const b = v.b;
        const t = String(b);
        return { test: (_text, lower, raw) => (typeof raw === "boolean" ? raw === b : typeof raw === "string" && lower === t), kind: "scalar", req: usable([{ slot, lit: t }]) };
      }
      case "re": {
        const re = v.re;
        const l = longest(re.literals);
        return { test: (text) => re.test(text), kind: "scalar", req: l === null ? null : usable([{ slot, lit: l }]) };
      }
      case "cidr": {
        const net = v.net;
        return { test: (text, _l, raw) => typeof raw === "string" && inNetwork(text, net), kind: "scalar", req: null };
      }
      case "cmp": {
        const { op, n, part } = v;
        const cmp = op === "gt" ? (x: number) => x > n : op === "gte" ? (x: number) => x >= n : op === "lt" ? (x: number) => x < n : op === "lte" ? (x: number) => x <= n : (x: number) => x === n;
        return {
          test: (_t, _l, raw) => {
            const x = part ? timePart(raw, part) : toNumber(raw);
            return x !== null && cmp(x);
          },
          kind: "scalar",
          req: null,
        };
      }
      case "fieldref": {
        const other = this.slotFor(this.target(v.field, ls).candidates);
        const { shape, cased } = v;
        return {
          test: (text, lower, _raw, ctx) => {
            const o = cased ? ctx.text(other) : ctx.lower(other);
            if (o === null) return false;
            const s = cased ? text : lower;
            return shape === "eq" ? s === o : shape === "contains" ? s.includes(o) : shape === "prefix" ? s.startsWith(o) : s.endsWith(o);
          },
          kind: "scalar",
          req: null,
        };
      }
    }
  }

  entry(e: EntryIR, ls: Logsource): { match: Match; req: Cnf } {
    if (e.field === null) return this.keywordEntry(e);
    const target = this.target(e.field, ls);
    const slot = this.slotFor(target.candidates);
    const plans = e.values.map((v) => this.value(v, slot, ls, target.values));
    const one = (p: ValuePlan): Match => {
      switch (p.kind) {
        case "null":
          return (ctx) => {
            const v = ctx.value(slot);
            return v === undefined || v === null;
          };
        case "exists-true":
          return (ctx) => ctx.value(slot) !== undefined;
        case "exists-false":
          return (ctx) => ctx.value(slot) === undefined;
        default: {
          const test = p.test as ScalarTest;
          return (ctx) => {
            const text = ctx.text(slot);
            if (text !== null) return test(text, ctx.lower(slot) as string, ctx.value(slot) as Scalar, ctx);
            const v = ctx.value(slot);
            if (!Array.isArray(v)) return false;
            for (const x of v) {
              if (x === null || typeof x === "object") continue;
              const t = String(x);
              if (test(t, t.toLowerCase(), x, ctx)) return true;
            }
            return false;
          };
        }
      }
    };
    let rest = plans;
    const grouped: Match[] = [];
    const eqPlans = e.all ? [] : plans.filter((p) => p.kind === "scalar" && p.eq !== undefined);
    if (eqPlans.length >= EQ_SET_MIN) {
      // Many plain equalities (`OriginalFileName: [a list]`): one set lookup per case mode instead of a test each.
      rest = rest.filter((p) => !eqPlans.includes(p));
      for (const cased of [false, true]) {
        const set = new Set<string>();
        for (const p of eqPlans) if (p.eq?.cased === cased) for (const x of p.eq.values) set.add(x);
        if (set.size > 0) grouped.push(eqSetMatch(slot, set, cased));
      }
    }
    // Many startswith / endswith values (`Image|endswith: [55 binaries]`): one keyed lookup per kind and case mode.
    if (!e.all)
      for (const kind of ["suffix", "prefix"] as const)
        for (const cased of [false, true]) {
          const group = rest.filter((p) => p.kind === "scalar" && p.affix?.kind === kind && p.affix.cased === cased);
          const values = group.flatMap((p) => p.affix?.values ?? []);
          if (values.length < AFFIX_SET_MIN) continue;
          rest = rest.filter((p) => !group.includes(p));
          grouped.push(affixSetMatch(slot, kind, values, cased));
        }
    const matches: Match[] = [...grouped, ...rest.map(one)];
    let match: Match;
    if (matches.length === 1) match = matches[0];
    else if (e.all)
      match = (ctx) => {
        for (let i = 0; i < matches.length; i++) if (!matches[i](ctx)) return false;
        return true;
      };
    else
      match = (ctx) => {
        for (let i = 0; i < matches.length; i++) if (matches[i](ctx)) return true;
        return false;
      };
    let req: Cnf = e.all ? (plans.map((p) => p.req).filter((r) => r !== null) as Cnf) : toCnf(reqUnion(plans.map((p) => p.req)));
    if (e.negate) {
      const inner = match;
      match = (ctx) => !inner(ctx);
      req = [];
    }
    return { match, req };
  }

  private keywordEntry(e: EntryIR): { match: Match; req: Cnf } {
    const tests: { test: (s: string) => boolean; cased: boolean; re: boolean }[] = [];
    const reqs: Req[] = [];
    for (const v of e.values) {
      if (v.k === "re") {
        const re = v.re;
        tests.push({ test: (s) => re.test(s), cased: true, re: true });
        const l = longest(re.literals);
        reqs.push(l === null ? null : usable([{ slot: KEYWORD_SLOT, lit: l }]));
        continue;
      }
      const alts = v.k === "str" ? v.alts : [literalString(v.k === "num" ? v.text : v.k === "bool" ? String(v.b) : "")];
      const cased = v.k === "str" && v.cased;
      // Implicit contains: *keyword*
      const compiled = alts.map((a) => compileString(foldOr({ tokens: [STAR, ...a.tokens, STAR] }, cased)));
      tests.push({ test: (s) => compiled.some((c) => c.test(s)), cased, re: false });
      reqs.push(reqUnion(compiled.map((c) => (longest(c.literals) === null ? null : [{ slot: KEYWORD_SLOT, lit: (longest(c.literals) as string).toLowerCase() }]))));
    }
    const one = (t: (typeof tests)[number]): Match =>
      (ctx) => {
        const texts = t.cased ? ctx.allTexts() : ctx.allTextsLower();
        for (let i = 0; i < texts.length; i++) if (t.test(texts[i])) return true;
        return false;
      };
    const matches = tests.map(one);
    let match: Match = e.all ? (ctx) => matches.every((m) => m(ctx)) : (ctx) => matches.some((m) => m(ctx));
    let req: Cnf = e.all ? (reqs.filter((r) => r !== null) as Cnf) : toCnf(reqUnion(reqs));
    if (e.negate) {
      const inner = match;
      match = (ctx) => !inner(ctx);
      req = [];
    }
    return { match, req };
  }

  detection(d: DetectionIR, ls: Logsource): { match: Match; req: Cnf } {
    if (d.t === "map") {
      const parts = d.entries.map((e) => this.entry(e, ls));
      const ms = parts.map((p) => p.match);
      const req = cnfAnd(parts.map((p) => p.req));
      if (ms.length === 1) return { match: ms[0], req };
      return {
        match: (ctx) => {
          for (let i = 0; i < ms.length; i++) if (!ms[i](ctx)) return false;
          return true;
        },
        req,
      };
    }
    const parts = d.items.map((x) => this.detection(x, ls));
    const ms = parts.map((p) => p.match);
    return {
      match: (ctx) => {
        for (let i = 0; i < ms.length; i++) if (ms[i](ctx)) return true;
        return false;
      },
      req: cnfOr(parts.map((p) => p.req)),
    };
  }

  condition(c: CondNode, ids: Map<string, { match: Match; req: Cnf }>): { match: Match; req: Cnf } {
    switch (c.t) {
      case "id":
        return ids.get(c.name) as { match: Match; req: Cnf };
      case "not": {
        const inner = this.condition(c.item, ids).match;
        return { match: (ctx) => !inner(ctx), req: [] };
      }
      case "and":
      case "or":
      case "of": {
        const parts = c.t === "of" ? c.names.map((n) => ids.get(n) as { match: Match; req: Cnf }) : c.items.map((x) => this.condition(x, ids));
        const all = c.t === "and" || (c.t === "of" && c.all);
        const ms = parts.map((p) => p.match);
        if (ms.length === 1) return parts[0];
        const match: Match = all
          ? (ctx) => {
              for (let i = 0; i < ms.length; i++) if (!ms[i](ctx)) return false;
              return true;
            }
          : (ctx) => {
              for (let i = 0; i < ms.length; i++) if (ms[i](ctx)) return true;
              return false;
            };
        return { match, req: all ? cnfAnd(parts.map((p) => p.req)) : cnfOr(parts.map((p) => p.req)) };
      }
    }
  }

  rule(r: DetectionRule, filters: FilterDoc[]): { match: Match; req: Cnf } {
    const ids = new Map<string, { match: Match; req: Cnf }>();
    for (const [name, d] of r.identifiers) ids.set(name, this.detection(d, r.logsource));
    const conds = r.conditions.map((c) => this.condition(c, ids));
    let match: Match;
    let req: Cnf;
    if (conds.length === 1) ({ match, req } = conds[0]);
    else {
      const ms = conds.map((c) => c.match);
      match = (ctx) => ms.some((m) => m(ctx));
      req = cnfOr(conds.map((c) => c.req));
    }
    // Meta filters: (condition) and (filter condition), evaluated with the rule's logsource mapping.
    for (const f of filters) {
      const fids = new Map<string, { match: Match; req: Cnf }>();
      for (const [name, d] of f.identifiers) fids.set(name, this.detection(d, r.logsource));
      const fm = this.condition(f.condition, fids).match;
      const inner = match;
      match = (ctx) => inner(ctx) && fm(ctx);
    }
    return { match, req: cnfCap(req) };
  }
}

/**
 * Whether `test` accepts the slot's scalar or a scalar element of its list, case-folded unless `cased`:
 * what the per-value tests of a field would say, for the matchers that replace many of them by one lookup.
 */
function scalarOrElementMatch(slot: number, cased: boolean, test: (s: string) => boolean): Match {
  return (ctx) => {
    const text = ctx.text(slot);
    if (text !== null) return test(cased ? text : (ctx.lower(slot) as string));
    const v = ctx.value(slot);
    if (!Array.isArray(v)) return false;
    for (const x of v) {
      if (x === null || typeof x === "object") continue;
      const t = String(x);
      if (test(cased ? t : t.toLowerCase())) return true;
    }
    return false;
  };
}

/** Whether the slot's scalar (or a scalar element of its list) is in the set, as the per-value tests would say. */
function eqSetMatch(slot: number, set: Set<string>, cased: boolean): Match {
  return scalarOrElementMatch(slot, cased, (s) => set.has(s));
}

/**
 * Whether the slot's scalar (or a scalar element of its list) starts (kind prefix) or ends (suffix)
 * with one of the values, as their per-value tests would say: the values are keyed by their first
 * (last) k characters, k the shortest value's length up to AFFIX_KEY, so a value is only compared when
 * the text's own first (last) k characters are its key.
 */
function affixSetMatch(slot: number, kind: "prefix" | "suffix", values: string[], cased: boolean): Match {
  let k = AFFIX_KEY;
  for (const v of values) if (v.length < k) k = v.length;
  const any = k === 0;
  const keyOf = kind === "prefix" ? (s: string) => s.slice(0, k) : (s: string) => s.slice(s.length - k);
  const has = kind === "prefix" ? (s: string, v: string) => s.startsWith(v) : (s: string, v: string) => s.endsWith(v);
  const byKey = new Map<string, string[]>();
  for (const v of new Set(values)) {
    const key = keyOf(v);
    const list = byKey.get(key);
    if (list) list.push(v);
    else byKey.set(key, [v]);
  }
  const test = (s: string): boolean => {
    if (any) return true;
    if (s.length < k) return false;
    const list = byKey.get(keyOf(s));
    if (list === undefined) return false;
    for (let i = 0; i < list.length; i++) if (has(s, list[i])) return true;
    return false;
  };
  return scalarOrElementMatch(slot, cased, test);
}

function toCnf(r: Req): Cnf {
  return r === null ? [] : [r];
}

/** `*keyword*` with doubled stars collapsed, case-folded unless `cased`. */
function foldOr(s: SigmaString, cased: boolean): SigmaString {
  const norm: Token[] = [];
  for (const t of s.tokens) if (!(t === STAR && norm[norm.length - 1] === STAR)) norm.push(t);
  return cased ? { tokens: norm } : foldCase({ tokens: norm });
}


// ---------------------------------------------------------------------------------------------
// Buckets: the rules an event of a given logsource combination can match, with their prefilter.

interface Scan {
  slot: number;
  index: LiteralIndex;
  /** Per literal: packed (rule index << 3 | clause index) of the clauses it satisfies. */
  litHits: Int32Array[];
}

/** Keyword haystacks are bounded like EvalContext.allTexts (same strings, same order). */
const MAX_TEXTS = 10_000;
const MAX_DEPTH = 32;

class Bucket {
  /** Rules without a usable literal requirement: always evaluated. */
  readonly always: Int32Array;
  readonly scans: Scan[] = [];
  readonly keyword: Scan | null = null;
  /** Per rule: bit mask of clauses hit in this event, stamped per event; and the full mask. */
  private readonly mask: Uint8Array;
  private readonly full: Uint8Array;
  private readonly seen: Uint32Array;
  private stamp = 0;
  readonly candidates: Int32Array;
  ncand = 0;
  private readonly onHit: (id: number) => void;
  private curHits: Int32Array[] = [];
  private texts = 0;
  /**
   * EventData names whose value a slot scan reads first (`winlog.event_data.<name>`): those slots'
   * automata carry the keyword literals too, so the keyword pass skips the values they scanned.
   */
  private readonly covered: Map<string, number> | null = null;

  constructor(
    readonly rules: CompiledRule[],
    totalRules: number,
    eventDataKeys: (string | null)[] = [],
  ) {
    const always: number[] = [];
    this.full = new Uint8Array(totalRules);
    // literal → packed (rule index << 3 | clause index), per slot
    const bySlot = new Map<number, Map<string, number[]>>();
    for (const r of rules) {
      if (r.inactive) continue;
      if (r.req.length === 0) {
        always.push(r.index);
        continue;
      }
      this.full[r.index] = (1 << r.req.length) - 1;
      r.req.forEach((clause, ci) => {
        for (const { slot, lit } of clause) {
          let m = bySlot.get(slot);
          if (!m) bySlot.set(slot, (m = new Map()));
          const packed = (r.index << 3) | ci;
          const list = m.get(lit);
          if (!list) m.set(lit, [packed]);
          else if (!list.includes(packed)) list.push(packed);
        }
      });
    }
    this.always = Int32Array.from(always);
    const kw = bySlot.get(KEYWORD_SLOT);
    if (kw !== undefined) {
      const covered = new Map<string, number>();
      for (const [slot, m] of bySlot) {
        const key = slot >= 0 ? eventDataKeys[slot] : null;
        if (key === null || key === undefined || covered.has(key)) continue;
        covered.set(key, slot);
        for (const [lit, packed] of kw) {
          const list = m.get(lit);
          if (!list) m.set(lit, [...packed]);
          else for (const p of packed) if (!list.includes(p)) list.push(p);
        }
      }
      if (covered.size) this.covered = covered;
    }
    for (const [slot, m] of bySlot) {
      const lits = [...m.keys()];
      const scan: Scan = { slot, index: new LiteralIndex(lits), litHits: lits.map((l) => Int32Array.from(m.get(l) as number[])) };
      if (slot === KEYWORD_SLOT) this.keyword = scan;
      else this.scans.push(scan);
    }
    this.mask = new Uint8Array(totalRules);
    this.seen = new Uint32Array(totalRules);
    this.candidates = new Int32Array(rules.length);
    this.onHit = (id) => {
      const hs = this.curHits[id];
      for (let i = 0; i < hs.length; i++) {
        const r = hs[i] >>> 3;
        const bit = 1 << (hs[i] & 7);
        if (this.seen[r] !== this.stamp) {
          this.seen[r] = this.stamp;
          this.mask[r] = 0;
        }
        const m = this.mask[r];
        if (m & bit) continue;
        const nm = m | bit;
        this.mask[r] = nm;
        if (nm === this.full[r]) this.candidates[this.ncand++] = r;
      }
    };
  }

  /** Fills `candidates` with the rules all of whose prefilter clauses hit in the event. */
  prefilter(ctx: EvalContext, kw: KeywordPaths): void {
    this.stamp = (this.stamp + 1) >>> 0 || 1;
    this.ncand = 0;
    const scans = this.scans;
    for (let i = 0; i < scans.length; i++) {
      const s = scans[i];
      const v = ctx.value(s.slot);
      if (v === undefined || v === null) continue;
      this.curHits = s.litHits;
      s.index.next();
      if (typeof v === "string") s.index.scan(v, this.onHit);
      else if (typeof v !== "object") s.index.scan(String(v), this.onHit);
      else if (Array.isArray(v))
        // the matcher tests list elements one by one: scan each scalar element
        for (let j = 0; j < v.length; j++) {
          const x = v[j];
          if (typeof x === "string") s.index.scan(x, this.onHit);
          else if (x !== null && typeof x !== "object") s.index.scan(String(x), this.onHit);
        }
    }
    const k = this.keyword;
    if (k !== null) {
      this.curHits = k.litHits;
      k.index.next();
      this.texts = 0;
      const roots = keywordRoots(ctx.reader, kw);
      if (roots === null) this.scanTexts(k.index, ctx.event, 0);
      else {
        const ed = this.covered === null ? undefined : ctx.reader.object(kw.eventData);
        for (let i = 0; i < roots.length; i++) {
          if (roots[i] === ed) this.scanEventData(k.index, ed as Record<string, unknown>, ctx);
          else this.scanTexts(k.index, roots[i], 0);
        }
      }
    }
  }

  /** The keyword pass over EventData: scalars a slot scan already read (with the keyword literals) are skipped. */
  private scanEventData(index: LiteralIndex, ed: Record<string, unknown>, ctx: EvalContext): void {
    const covered = this.covered as Map<string, number>;
    for (const key in ed) {
      if (this.texts > MAX_TEXTS) return;
      const v = ed[key];
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        const slot = covered.get(key);
        if (slot !== undefined && ctx.value(slot) === v) {
          this.texts++;
          continue;
        }
      }
      this.scanTexts(index, v, 1);
    }
  }

  /** Scans the strings collectTexts would collect from `v`, in place (no list, no joined copy). */
  private scanTexts(index: LiteralIndex, v: unknown, depth: number): void {
    if (depth > MAX_DEPTH || this.texts > MAX_TEXTS) return;
    if (typeof v === "string") {
      this.texts++;
      index.scan(v, this.onHit);
    } else if (typeof v === "number" || typeof v === "boolean") {
      this.texts++;
      index.scan(String(v), this.onHit);
    } else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) this.scanTexts(index, v[i], depth + 1);
    else if (v !== null && typeof v === "object") for (const key in v as Record<string, unknown>) this.scanTexts(index, (v as Record<string, unknown>)[key], depth + 1);
  }

  /** Literals indexed over all scanned fields (for explain and the benchmark). */
  get literals(): number {
    let n = this.keyword?.index.literals.length ?? 0;
    for (const s of this.scans) n += s.index.literals.length;
    return n;
  }
}

export interface PlanStats {
  rules: number;
  inactive: number;
  alwaysEvaluated: number;
  slots: number;
  routes: number;
  compileMs: number;
}

export type MatchCallback = (rule: RuleInfo, event: Record<string, unknown>) => void;

/** The immutable compiled rule set. Build with buildPlan; evaluate with match(). */
export class Plan {
  /** Buckets by the set of rules they hold (bounded by MAX_BUCKETS). */
  private readonly bucketBySet = new Map<string, Bucket>();
  /** Buckets of events that carry their own logsource tags, by route set and tags. */
  private readonly taggedCache = new Map<string, Bucket>();
  private readonly ctx: EvalContext;
  private readonly router: Router;
  private readonly kw: KeywordPaths;
  private readonly matched: number[] = [];
  /** Per slot: the EventData name it reads first, when it reads one (keyword pass sharing). */
  private readonly eventDataKeys: (string | null)[];

  constructor(
    readonly rules: CompiledRule[],
    readonly routes: Route[],
    private readonly reader: FieldReader,
    slots: SlotDef[],
    readonly stats: PlanStats,
    readonly correlations: LoadedRules["correlations"],
    readonly loaded: LoadedRules,
  ) {
    this.kw = keywordPaths(reader);
    this.router = new Router(routes, reader);
    this.ctx = new EvalContext(reader, slots, this.kw);
    this.eventDataKeys = slots.map((d) => {
      const first = d.candidates[0];
      if (typeof first !== "number") return null;
      const m = /^winlog\.event_data\.([^.]+)$/.exec(reader.paths[first]);
      return m ? m[1] : null;
    });
    Object.freeze(this.rules);
  }

  /** The Sigma logsources an event satisfies: by the pipelines' routes, plus `sigil.logsource` tags. */
  logsourcesOf(event: Record<string, unknown>): Logsource[] {
    this.reader.reset(event);
    return this.logsources(event);
  }

  private logsources(event: Record<string, unknown>): Logsource[] {
    const out: Logsource[] = this.router.routesOf().map((i) => this.routes[i].logsource);
    const tags = eventTags(event);
    if (tags)
      for (const t of tags)
        if (t && typeof t === "object") {
          const o = t as Record<string, unknown>;
          const ls: Logsource = {};
          for (const k of ["category", "product", "service"] as const) if (typeof o[k] === "string") ls[k] = (o[k] as string).toLowerCase();
          out.push(ls);
        }
    return out;
  }

  /** Starts an event: resets the per-event caches and returns its bucket. */
  private enter(event: Record<string, unknown>): Bucket {
    this.reader.reset(event);
    this.ctx.reset(event);
    const tags = eventTags(event);
    if (tags === null) {
      const set: RouteSet = this.router.lookup();
      return (set.bucket as Bucket | null) ?? (set.bucket = this.bucketOf(event));
    }
    // An event's own logsource tags (rare): cached by route set and tags.
    const key = this.router.routesOf().join(",") + JSON.stringify(tags);
    let b = this.taggedCache.get(key);
    if (!b) {
      b = this.bucketOf(event);
      if (this.taggedCache.size >= MAX_BUCKETS) this.taggedCache.clear();
      this.taggedCache.set(key, b);
    }
    return b;
  }

  /**
   * The bucket of the rules the event's logsources select. Buckets are shared by every route set that
   * selects the same rules, so events that vary their own logsource tags cannot make the plan build
   * (and hold) more prefilter automata than rule sets.
   */
  private bucketOf(event: Record<string, unknown>): Bucket {
    const lss = this.logsources(event);
    const rules = lss.length === 0 ? [] : this.rules.filter((r) => lss.some((ls) => logsourceContains(r.info.logsource, ls)));
    const ruleKey = rules.map((r) => r.index).join(",");
    let b = this.bucketBySet.get(ruleKey);
    if (!b) {
      b = new Bucket(rules, this.rules.length, this.eventDataKeys);
      if (this.bucketBySet.size >= MAX_BUCKETS) this.bucketBySet.clear();
      this.bucketBySet.set(ruleKey, b);
    }
    return b;
  }

  /**
   * Evaluates one normalized event; calls onMatch for each matching rule in rule order. Returns the
   * number of matches. Not re-entrant (the plan owns one evaluation context).
   */
  match(event: Record<string, unknown>, onMatch: MatchCallback): number {
    const b = this.enter(event);
    const ctx = this.ctx;
    const rules = this.rules;
    const matched = this.matched;
    matched.length = 0;
    const always = b.always;
    for (let i = 0; i < always.length; i++) if (rules[always[i]].match(ctx)) matched.push(always[i]);
    if (b.scans.length || b.keyword) {
      b.prefilter(ctx, this.kw);
      const c = b.candidates;
      for (let i = 0; i < b.ncand; i++) if (rules[c[i]].match(ctx)) matched.push(c[i]);
    }
    if (matched.length === 0) return 0;
    if (matched.length > 1) matched.sort((x, y) => x - y);
    for (let i = 0; i < matched.length; i++) onMatch(rules[matched[i]].info, event);
    return matched.length;
  }

  /** Every rule routed to the event evaluated without the prefilter (tests prove the prefilter loses nothing). */
  matchExhaustive(event: Record<string, unknown>, onMatch: MatchCallback): number {
    const b = this.enter(event);
    let n = 0;
    for (const r of b.rules) {
      if (r.inactive) continue;
      if (r.match(this.ctx)) {
        n++;
        onMatch(r.info, event);
      }
    }
    return n;
  }

  /** How many rules an event of this shape is routed to and how many the prefilter leaves (for explain/bench). */
  explain(event: Record<string, unknown>): { logsources: Logsource[]; routed: number; always: number; candidates: number; literals: number } {
    const b = this.enter(event);
    b.prefilter(this.ctx, this.kw);
    return { logsources: this.logsources(event), routed: b.rules.length, always: b.always.length, candidates: b.ncand, literals: b.literals };
  }
}

/** An event's own `sigil.logsource` tags, when well-formed and small (at most 8); otherwise none. */
function eventTags(event: Record<string, unknown>): unknown[] | null {
  const sigil = event.sigil;
  if (sigil === null || typeof sigil !== "object") return null;
  const tags = (sigil as Record<string, unknown>).logsource;
  if (!Array.isArray(tags) || tags.length === 0 || tags.length > 8) return null;
  for (const t of tags) {
    if (t === null || typeof t !== "object") return null;
    for (const v of Object.values(t as Record<string, unknown>)) if (typeof v !== "string" || v.length > 64) return null;
  }
  return tags;
}

/** Compiles loaded rules with the given pipelines into a plan. */
export function buildPlan(loaded: LoadedRules, pipelines: Pipeline[]): Plan {
  const t0 = performance.now();
  litFreq = countLiterals(loaded.rules);
  const reader = new FieldReader();
  const c = new Compiler(pipelines, reader);
  const compiled: CompiledRule[] = [];
  for (const r of loaded.rules) {
    const targeted = loaded.filters.filter((f) => (f.rules === "any" || f.rules.includes(r.meta.id) || (r.meta.name !== undefined && f.rules.includes(r.meta.name))) && logsourceContains(f.logsource, r.logsource));
    const { match, req } = c.rule(r, targeted);
    compiled.push({
      index: compiled.length,
      info: Object.freeze({ ...r.meta, logsource: r.logsource, file: r.file, line: r.line }),
      match,
      req,
      inactive: r.inactiveReason,
    });
  }
  const routes = pipelines.flatMap((p) => p.routes);
  const stats: PlanStats = {
    rules: compiled.length,
    inactive: compiled.filter((r) => r.inactive).length,
    alwaysEvaluated: compiled.filter((r) => !r.inactive && r.req.length === 0).length,
    slots: c.slots.length,
    routes: routes.length,
    compileMs: performance.now() - t0,
  };
  return new Plan(compiled, routes, reader, c.slots, stats, loaded.correlations, loaded);
}
